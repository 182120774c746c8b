"""`make bench`: run every benchmark on PostgreSQL and print ratios to a raw-SQL floor.

Benchmarks are not tests: they print figures, they do not pass or fail. The
database is BENCH_DATABASE_URL (default: a `dermgmt_bench` database on the local
PostgreSQL, created and migrated on first use).
"""

from __future__ import annotations

import importlib
import sys

from bench.common import setup

BENCHMARKS = [
    "bench.ingest",
    "bench.dispatch",
    "bench.fleet",
    "bench.forecast",
    "bench.report",
    "bench.api",
    "bench.dashboard",
    "bench.imports",
]


def main(names: list[str]) -> None:
    setup()
    for name in names or BENCHMARKS:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        print(f"\n## {module.__name__}: {module.__doc__.strip().splitlines()[0]}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
