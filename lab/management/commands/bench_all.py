"""``python manage.py bench_all [ARGS]``: the benchmark suite, ``python -m lab.benchmarks [ARGS]``.

The suite runs in its own process because it points Django at its own
database before the settings load; ``python -m lab.benchmarks --help`` lists ARGS,
which are passed on untouched.
"""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def run_suite(suite_args: list[str]) -> int:
    return subprocess.call([sys.executable, "-m", "lab.benchmarks", *suite_args], cwd=settings.BASE_DIR)


class Command(BaseCommand):
    help = "Run the benchmark suite (python -m lab.benchmarks); every argument is passed on."

    def run_from_argv(self, argv):
        # argv = [manage.py, bench_all, ...]: the suite parses its own options
        sys.exit(run_suite(argv[2:]))

    def add_arguments(self, parser):
        parser.add_argument("suite_args", nargs="*", help="arguments of python -m lab.benchmarks")

    def handle(self, *args, suite_args, **opts):
        code = run_suite(suite_args)
        if code:
            raise CommandError(f"the benchmark suite exited with {code}")
