"""The benchmark suite: one command, ``python -m lab.benchmarks`` (or
``python manage.py bench_all``), that measures on a database of its own:

    seed      ingest rate of seed_world's loader (metadata world, COPY)    -> interactions/s
    cf        CF refit from the database vs. a bare implicit fit            -> seconds, ratio
    serving   recommendation latency and HTTP throughput (manage.py bench_serving)
    ingest    interactions/s through POST /api/interactions/batch over HTTP (gunicorn, requests)
    embed     embedding throughput (python -m videobert_engine bench)

Figures are printed, and with ``--json PATH`` written as JSON. Nothing here
asserts a speed; docs/BENCHMARKS.md records what was measured, where and when.
"""
