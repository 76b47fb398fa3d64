"""``manage.py bench_pipeline``: the embedding pipeline benchmark of ``lab.benchmarks.pipeline``."""

from lab.benchmarks.pipeline import PipelineBenchmark as Command  # noqa: F401
