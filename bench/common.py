"""Shared plumbing for benchmarks: a PostgreSQL database, timing, printing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dermgmt_bench"


def setup() -> None:
    """Point Django at the benchmark database, create and migrate it."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermgmt.settings.development")
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def median_s(run: Callable[[], object], *, repeat: int = 5, before=None) -> float:
    """Median wall time of `run` over `repeat` runs; `before` resets state untimed."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(label: str, seconds: float, rows: int, floor_s: float | None = None) -> None:
    rate = rows / seconds if seconds else float("inf")
    ratio = f"  {seconds / floor_s:5.2f}x floor" if floor_s else ""
    print(f"  {label:<44} {seconds * 1000:9.1f} ms  {rate:>11,.0f} rows/s{ratio}")
