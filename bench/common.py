"""Shared plumbing for benchmarks: a PostgreSQL database, timing, printing."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dermgmt_bench"


def setup() -> None:
    """Point Django at the benchmark database, create and migrate it."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermgmt.settings.development")
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    # Tasks the measured code sends after commit (notifications) go nowhere.
    os.environ["CELERY_BROKER_URL"] = "memory://"
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


def bench_substation(code: str, *, import_capacity_kw: float = 0.0):
    """A benchmark substation with one sensor (created once, then reused)."""
    from grid.models import GridSensor, Substation

    substation, _ = Substation.objects.get_or_create(
        code=code,
        defaults={
            "name": code,
            "nominal_voltage_v": 12_470,
            "import_capacity_kw": import_capacity_kw,
            "latitude": 40,
            "longitude": -105,
        },
    )
    GridSensor.objects.get_or_create(uid=f"{code}-pmu", substation=substation)
    return substation


def bench_batteries(substations, per_substation: int) -> None:
    """Top each substation up to `per_substation` identical 5 kW / 13.5 kWh batteries
    at 80 % state of charge (reserve 20 %), in bulk."""
    from django.db.models import Count

    from assets.models import AssetKind, DERAsset, Owner

    owner, _ = Owner.objects.get_or_create(
        email="bench@example.org", defaults={"name": "Bench"}
    )
    have_by_substation = dict(
        DERAsset.objects.filter(substation__in=substations)
        .values_list("substation")
        .annotate(n=Count("pk"))
    )
    batch = []
    for substation in substations:
        have = have_by_substation.get(substation.pk, 0)
        batch += [
            DERAsset(
                uid=f"{substation.code}-{i}",
                name="bench",
                kind=AssetKind.BATTERY,
                owner=owner,
                substation=substation,
                max_discharge_power=5,
                energy_capacity_kwh=13.5,
                state_of_charge=80,
                min_soc_reserve=20,
            )
            for i in range(have, per_substation)
        ]
        if len(batch) >= 20_000:
            DERAsset.objects.bulk_create(batch, batch_size=5000)
            batch = []
    DERAsset.objects.bulk_create(batch, batch_size=5000)


CHILD = """
import json
from bench.common import setup
setup()
from {module} import {step}
print(json.dumps({step}()))
"""


def in_child(module: str, step: str, *, database: str) -> dict:
    """Run `module.step()` in a fresh process on a benchmark database of its own
    (so its data, and its peak memory, are its own); return what it returned.
    Lines it prints before its result are passed through."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": url.rsplit("/", 1)[0] + f"/{database}",
        "FLEET_TIME_ZONE": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(module=module, step=step)],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.exit(f"{module}.{step} failed:\n{result.stderr}")
    *notes, last = result.stdout.strip().splitlines()
    for note in notes:
        print(note)
    return json.loads(last)
