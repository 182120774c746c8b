"""The operator dashboard's JSON endpoint on the demo grid with a day behind it.

The demo's three substations and 330 assets, the last 24 hours from
dermgmt.history (readings every 5 s, a run every cycle, setpoints, incidents,
forecasts), in a fresh process on its own database. GET /dashboard.json as an
operator through Django's test client, p50 and p95 of 200 after a warm-up,
next to a floor: the newest reading of each substation in one raw query.
Target: p50 under 50 ms, a constant number of queries.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.common import in_child

REQUESTS = 200
DATABASE = "dermgmt_bench_dashboard"


def prepare() -> dict:
    from django.contrib.auth import get_user_model

    from dermgmt.demo import demo_build
    from dermgmt.history import history_write
    from grid.models import GridReading, Substation

    demo_build()
    now = timezone.now()
    if not GridReading.objects.filter(measured_at__gte=now - timedelta(hours=2)):
        print("  writing the last 24 hours (once per run) ...", flush=True)
        GridReading.objects.all().delete()
        from dispatch.models import DispatchRun

        DispatchRun.objects.all().delete()
        history_write(
            substations=list(Substation.objects.order_by("code")),
            start=now - timedelta(hours=24),
        )
    operator = get_user_model().objects.get(username="operator")
    return {"operator_id": operator.pk}


def measure() -> dict:
    from django.contrib.auth import get_user_model

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="operator"))
    for _ in range(10):
        client.get("/dashboard.json")
    times = []
    for _ in range(REQUESTS):
        begin = time.perf_counter()
        response = client.get("/dashboard.json")
        times.append(time.perf_counter() - begin)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get("/dashboard.json")
    floor = []
    for _ in range(REQUESTS):
        begin = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (substation_id) substation_id, frequency_hz "
                "FROM grid_gridreading ORDER BY substation_id, measured_at DESC"
            )
            cursor.fetchall()
        floor.append(time.perf_counter() - begin)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95)],
        "queries": len(queries.captured_queries),
        "floor": statistics.median(floor),
    }


def main() -> None:
    in_child("bench.dashboard", "prepare", database=DATABASE)
    figures = in_child("bench.dashboard", "measure", database=DATABASE)
    floor_ms = figures["floor"] * 1000
    print(f"  floor: newest reading per substation, raw SQL   {floor_ms:7.2f} ms")
    print(
        f"  GET /dashboard.json p50 {figures['p50'] * 1000:6.1f} ms, "
        f"p95 {figures['p95'] * 1000:6.1f} ms, {figures['queries']} queries "
        f"(target p50 < 50 ms)"
    )
