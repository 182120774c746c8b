"""REST API: a 10,000-reading ingest in one POST, and a page of 100 assets.

(a) POST /api/v1/grid-readings/ with 10,000 readings (100 sensors x 100
samples, fresh times every round so none is skipped as a re-send), through
Django's test client and the real URL routing, middleware, token
authentication, JSON parsing, validation and insert; the median of 5 after a
warm-up. Floor, in the same run: COPY of the same 10,000 rows into
grid_gridreading through psycopg, in one transaction. Target: < 1 s.

(b) GET /api/v1/assets/?page_size=100 as an operator (who sees every asset):
p50 and p95 of 200 requests after a warm-up, and the queries one request
makes. Floor: those same queries sent raw through the cursor. Target: p50 < 25 ms.

Run with DEBUG off (no query log), as in production. The rows are reused from
one run to the next: a substation `bench-api` with 100 sensors and 10,000
batteries, a user `bench-api-operator` (Operators) and its token.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime, timedelta

from django.db import connection, transaction

N = 10_000
SENSORS = 100
SAMPLE = timedelta(milliseconds=10)  # 100 samples per sensor: 1 s per round
ASSETS = 10_000  # a utility-sized registry: the page is counted over all of it
GETS = 200
WARM_UP = 20
HOST = "localhost"  # development settings: ALLOWED_HOSTS has no "testserver"
SCOPES = ["read", "ingest"]


def line(label: str, seconds: float, rows: int = 0, floor_s: float | None = None):
    """Like bench.common.report, in readings/s (or no rate, for a request)."""
    rate = f"  {rows / seconds:>11,.0f} readings/s" if rows else ""
    ratio = f"  {seconds / floor_s:5.2f}x floor" if floor_s else ""
    print(f"  {label:<48} {seconds * 1000:9.2f} ms{rate}{ratio}")


def build():
    """The substation, its sensors and batteries, the operator and a fresh token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from bench.common import bench_batteries, bench_substation
    from dermgmt import roles
    from dermgmt.api.auth import token_create
    from dermgmt.models import ApiToken
    from grid.models import GridSensor

    substation = bench_substation("bench-api", import_capacity_kw=10_000)
    uids = [f"bench-api-{i:03d}" for i in range(SENSORS)]
    GridSensor.objects.bulk_create(
        [GridSensor(substation=substation, uid=uid) for uid in uids],
        ignore_conflicts=True,
    )
    sensors = list(
        GridSensor.objects.filter(uid__in=uids).order_by("uid").values_list("pk", "uid")
    )
    bench_batteries([substation], ASSETS)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-api-operator", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name=roles.OPERATORS))
    ApiToken.objects.filter(user=user, name="bench-api").delete()
    _, key = token_create(name="bench-api", user=user, scopes=SCOPES)
    return substation, sensors, key


class Clock:
    """Reading times never used before (the ingest would skip them, COPY would
    fail on them): each round takes the next second after the newest stored."""

    def __init__(self, sensor_pks: list[int]):
        from django.db.models import Max
        from django.utils import timezone

        from grid.models import GridReading

        newest = GridReading.objects.filter(sensor_id__in=sensor_pks).aggregate(
            at=Max("measured_at")
        )["at"]
        start = timezone.now() - timedelta(hours=1)
        self.next = max(start, newest + SAMPLE) if newest else start

    def round(self) -> list[datetime]:
        times = [self.next + SAMPLE * i for i in range(N // SENSORS)]
        self.next = times[-1] + SAMPLE
        return times


def readings(sensors, times) -> list[tuple[int, str, datetime, float, float, float]]:
    """10,000 rows: every sensor at every time, with plausible values."""
    return [
        (pk, uid, at, 60.0 + (i % 7) * 0.001, 1.0 + (i % 5) * 0.001, 500.0 + i % 100)
        for at in times
        for i, (pk, uid) in enumerate(sensors)
    ]


def body(rows) -> bytes:
    return json.dumps(
        [
            {
                "sensor": uid,
                "measured_at": at.isoformat(),
                "frequency_hz": hz,
                "voltage_pu": pu,
                "voltage_v": pu * 12_470,
                "load_kw": kw,
            }
            for _, uid, at, hz, pu, kw in rows
        ]
    ).encode()


def floor_copy(substation_id: int, rows) -> None:
    """Hand-written: COPY the rows into grid_gridreading, in one transaction."""
    from django.utils import timezone

    now = timezone.now()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy(
            "COPY grid_gridreading (substation_id, sensor_id, measured_at, "
            "received_at, frequency_hz, voltage_pu, voltage_v, load_kw) FROM STDIN"
        ) as copy,
    ):
        for pk, _, at, hz, pu, kw in rows:
            copy.write_row((substation_id, pk, at, now, hz, pu, pu * 12_470, kw))


def ingest(client, substation, sensors) -> None:
    from bench.common import median_s
    from grid.models import GridReading

    clock = Clock([pk for pk, _ in sensors])
    before = GridReading.objects.filter(substation=substation).count()

    def copy_rows():
        floor_copy(substation.pk, readings(sensors, clock.round()))

    prepared = {}

    def prepare():
        prepared["body"] = body(readings(sensors, clock.round()))

    def post():
        response = client.post(
            "/api/v1/grid-readings/", prepared["body"], content_type="application/json"
        )
        if response.status_code != 201 or response.json() != {"received": N}:
            raise RuntimeError(
                f"ingest: {response.status_code} {response.content[:300]!r}"
            )

    copy_rows()  # warm-up, untimed
    floor_s = median_s(copy_rows)
    prepare()
    post()  # warm-up, untimed
    ours_s = median_s(post, before=prepare)
    stored = GridReading.objects.filter(substation=substation).count() - before
    print(f"  {N:,} readings per round ({SENSORS} sensors x {N // SENSORS} samples)")
    line("floor: COPY into grid_gridreading (median of 5)", floor_s, N)
    line("POST /api/v1/grid-readings/ (median of 5)", ours_s, N, floor_s)
    # 6 COPY and 6 POST rounds (each with its warm-up): nothing skipped.
    print(f"  readings stored: {stored:,} of {12 * N:,} written")


def assets_page(client) -> None:
    from django.test.utils import CaptureQueriesContext

    from assets.models import DERAsset

    url = "/api/v1/assets/?page_size=100"

    def get():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(
                f"assets: {response.status_code} {response.content[:300]!r}"
            )
        return response

    for _ in range(WARM_UP):
        get()
    with CaptureQueriesContext(connection) as captured:
        page = get().json()
    queries = [q["sql"] for q in captured.captured_queries]
    times = []
    for _ in range(GETS):
        start = time.perf_counter()
        get()
        times.append(time.perf_counter() - start)

    def raw():
        with connection.cursor() as cursor:
            for sql in queries:
                cursor.execute(sql)
                if cursor.description:
                    cursor.fetchall()

    for _ in range(WARM_UP):
        raw()
    floor_times = []
    for _ in range(GETS):
        start = time.perf_counter()
        raw()
        floor_times.append(time.perf_counter() - start)

    p50, p95 = percentiles(times)
    f50, f95 = percentiles(floor_times)
    print(
        f"  {len(page['results'])} of {page['count']:,} assets per page "
        f"({DERAsset.objects.count():,} in the database, all visible to an operator)"
    )
    line(f"floor: the same {len(queries)} queries raw, p50", f50)
    line(f"floor: the same {len(queries)} queries raw, p95", f95)
    line(f"GET {url}, p50 of {GETS}", p50, floor_s=f50)
    line(f"GET {url}, p95 of {GETS}", p95, floor_s=f95)
    print(f"  queries per request: {len(queries)}")
    for sql in queries:
        print(f"    {sql[:110]}")


def percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times), cuts[18]


def main() -> None:
    from django.test import Client
    from django.test.utils import override_settings

    with override_settings(DEBUG=False):
        substation, sensors, key = build()
        client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Token {key}")
        ingest(client, substation, sensors)
        assets_page(client)
