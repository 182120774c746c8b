"""One round of cycles for 1,000 substations x 100 batteries through Celery.

Two worker processes (`celery worker --concurrency 2`) on Redis, PostgreSQL
as the database. The round starts when the fan-out task is sent (as beat sends
it) and ends when all 1,000 runs are recorded; the median of three rounds
after a warm-up is the figure. Every cycle dispatches all 100 of
its batteries. Other substations of the benchmark database are paused meanwhile.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

SUBSTATIONS = 1000
BATTERIES = 100
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")
PREFIX = "bench-fleet-"
ROUNDS = 3


def build() -> list[int]:
    from bench.common import bench_batteries
    from dispatch.models import DispatchPolicy
    from grid.models import GridSensor, Substation

    Substation.objects.bulk_create(
        [
            Substation(
                code=f"{PREFIX}{i:04d}",
                name=f"Bench fleet {i}",
                nominal_voltage_v=12_470,
                import_capacity_kw=1000,
                latitude=40,
                longitude=-105,
            )
            for i in range(SUBSTATIONS)
        ],
        ignore_conflicts=True,
    )
    substations = list(Substation.objects.filter(code__startswith=PREFIX))
    GridSensor.objects.bulk_create(
        [GridSensor(substation=s, uid=f"{s.code}-pmu") for s in substations],
        ignore_conflicts=True,
    )
    bench_batteries(substations, BATTERIES)
    ids = [s.pk for s in substations]
    DispatchPolicy.objects.bulk_create(
        [DispatchPolicy(substation_id=pk) for pk in ids], ignore_conflicts=True
    )
    # A slot longer than one round, so no queued cycle expires mid-round, and
    # readings that stay fresh through it (in the field they keep arriving), so
    # every cycle does the full work.
    DispatchPolicy.objects.filter(substation_id__in=ids).update(
        enabled=True, cycle_s=30, max_reading_age_s=60, enqueued_slot_at=None
    )
    DispatchPolicy.objects.exclude(substation_id__in=ids).update(enabled=False)
    return ids


def fresh_state(ids: list[int]) -> None:
    """A reading per substation, fresh telemetry, setpoints at 0."""
    from django.utils import timezone

    from assets.models import DERAsset
    from grid.models import GridReading, GridSensor

    now = timezone.now()
    # Setpoints back to 0 (untimed set-up, not audited) so every cycle dispatches.
    DERAsset.objects.filter(substation_id__in=ids).update(
        last_telemetry_at=now, target_output_kw=0, setpoint_expires_at=None
    )
    sensors = GridSensor.objects.filter(substation_id__in=ids)
    load = 1000 + BATTERIES * 3.0
    GridReading.objects.bulk_create(
        [
            GridReading(
                substation_id=sensor.substation_id,
                sensor=sensor,
                measured_at=now - timedelta(seconds=1),
                frequency_hz=60.0,
                voltage_pu=1.0,
                load_kw=load,
            )
            for sensor in sensors
        ]
    )


def start_workers() -> list[subprocess.Popen]:
    """One `celery worker --concurrency 2`: two worker processes, as in production
    (prefork, so the cycle's time limits are enforced)."""
    env = os.environ | {
        "CELERY_BROKER_URL": BROKER,
        "DERMGMT_SIMULATOR": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",  # as in production: no per-query debug logging
    }
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    log = open(os.environ.get("BENCH_WORKER_LOG", os.devnull), "w")  # noqa: SIM115
    command = [
        celery,
        "-A",
        "dermgmt",
        "worker",
        "--concurrency=2",
        "--loglevel=" + os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
        "--without-gossip",
        "--without-mingle",
    ]
    return [subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)]


def main() -> None:
    from django.db import connection

    from dermgmt.celery import app
    from dispatch.models import DispatchRun

    os.environ["CELERY_BROKER_URL"] = BROKER  # Celery reads it before its config
    app.conf.broker_url = BROKER
    app.conf.broker_transport = None
    app.conf.broker_transport_options = {}
    ids = build()
    workers = start_workers()
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
        times = []
        for step in range(1 + ROUNDS):  # the first round warms the workers up
            last = DispatchRun.objects.order_by("-pk").values_list("pk", flat=True)
            last_pk = last.first() or 0
            fresh_state(ids)
            with connection.cursor() as cursor:  # what autovacuum would do, untimed
                cursor.execute("VACUUM (ANALYZE) assets_derasset")
            # Start with a new 30 s slot, as beat would: a cycle is dropped if it
            # has not started by the end of its slot.
            time.sleep(30 - time.time() % 30 + 0.2)
            started = time.perf_counter()
            app.send_task("dispatch.tasks.cycles_fan_out")
            round_runs = DispatchRun.objects.filter(pk__gt=last_pk)
            while round_runs.count() < len(ids):  # cheap: a range of the primary key
                if time.perf_counter() - started > 60:
                    raise RuntimeError("the round did not finish in 60 s")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            outcomes = Counter(round_runs.values_list("outcome", flat=True))
            label = "warm-up round" if step == 0 else f"round {step}"
            print(
                f"  {label}: {len(ids)} substations x {BATTERIES} batteries in "
                f"{elapsed:.2f} s ({len(ids) / elapsed:.0f} cycles/s), {dict(outcomes)}"
            )
            if step:
                times.append(elapsed)
        print(f"  median of {ROUNDS} rounds: {statistics.median(times):.2f} s")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        from dispatch.models import DispatchPolicy

        DispatchPolicy.objects.exclude(substation_id__in=ids).update(enabled=True)
