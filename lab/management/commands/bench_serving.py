"""``manage.py bench_serving``: the serving benchmark of ``lab.benchmarks.serving``."""

from lab.benchmarks.serving import ServingBenchmark as Command  # noqa: F401
