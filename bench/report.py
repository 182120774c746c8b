"""A fleet stability report for a day of 1-second readings at 3 substations.

About 260,000 readings (plus a run every 5 s, setpoints, incidents, forecasts,
from dermgmt.history), written once. `report_render` for the fleet (figures,
four SVG charts, the 4-page PDF) runs in a fresh process, median of 3 after a
warm-up, and that process's peak resident memory is printed, next to a floor:
reading the day's readings with one raw query. Targets: under 5 s, under 500 MB.
"""

from __future__ import annotations

import resource
import statistics
import time
from datetime import date, datetime

from django.db import connection

from bench.common import in_child

CODES = ["bench-report-a", "bench-report-b", "bench-report-c"]
DAY = "2026-06-21"
BATTERIES = 100
PV = 50


def sites():
    """Three substations with batteries and PV, and their day, written once."""
    from assets.models import AssetKind, DERAsset, Owner
    from bench.common import bench_batteries, bench_substation
    from dermgmt.history import history_write
    from grid.models import GridReading

    substations = [bench_substation(code, import_capacity_kw=2_000) for code in CODES]
    for substation in substations:
        if substation.time_zone != "America/Denver":
            substation.time_zone = "America/Denver"
            substation.save(update_fields=["time_zone"])
    bench_batteries(substations, BATTERIES)
    owner = Owner.objects.get(email="bench@example.org")
    DERAsset.objects.bulk_create(
        [
            DERAsset(
                uid=f"{s.code}-pv-{i}",
                name="bench PV",
                kind=AssetKind.PV,
                owner=owner,
                substation=s,
                max_discharge_power=0,
                energy_capacity_kwh=0,
                state_of_charge=0,
                pv_dc_kwp=6.0,
            )
            for s in substations
            for i in range(PV)
        ],
        ignore_conflicts=True,
    )
    start = datetime.fromisoformat(f"{DAY}T00:00").replace(tzinfo=substations[0].zone)
    if not GridReading.objects.filter(substation__in=substations).exists():
        print("  writing the day (once): 3 x 86,400 readings ...", flush=True)
        history_write(substations=substations, start=start, reading_period_s=1.0)
    return substations, start


def floor_s(substations, start) -> float:
    """One raw query fetching the day's readings of the three substations."""
    ids = ", ".join(str(s.pk) for s in substations)
    sql = (
        "SELECT substation_id, EXTRACT(EPOCH FROM measured_at)::float8, "
        "frequency_hz, voltage_pu, load_kw FROM grid_gridreading "
        f"WHERE substation_id IN ({ids}) AND measured_at >= %s "
        "AND measured_at < %s + interval '1 day' ORDER BY substation_id, measured_at"
    )
    times = []
    for _ in range(3):
        begin = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, [start, start])
            cursor.fetchall()
        times.append(time.perf_counter() - begin)
    return sorted(times)[1]


def prepare() -> dict:
    """Child 1: the data (once) and the floor."""
    substations, start = sites()
    return {"floor_s": floor_s(substations, start)}


def render() -> dict:
    """Child 2: the fleet report, warm-up then median of 3, and peak memory."""
    from reports.services import report_render

    day = date.fromisoformat(DAY)
    report_render(day=day, substation=None)
    times = []
    for _ in range(3):
        begin = time.perf_counter()
        figures, pdf, pages = report_render(day=day, substation=None)
        times.append(time.perf_counter() - begin)
    return {
        "seconds": statistics.median(times),
        "pages": pages,
        "bytes": len(pdf),
        "readings": figures["readings"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    # Fresh processes on a database of their own: the fleet is these three
    # substations (the other benchmarks add a thousand), the memory the report's.
    floor = in_child("bench.report", "prepare", database="dermgmt_bench_report")
    figures = in_child("bench.report", "render", database="dermgmt_bench_report")
    floor = floor["floor_s"]
    seconds = figures["seconds"]
    print(f"  floor: the day's readings in one raw query     {floor * 1000:9.1f} ms")
    print(
        f"  fleet report (median of 3, fresh process)    {seconds * 1000:9.1f} ms"
        f"  {seconds / floor:5.1f}x floor"
    )
    print(
        f"  {figures['readings']:,} readings, {figures['pages']} pages, "
        f"{figures['bytes']:,} bytes; peak memory {figures['max_rss_mb']:.0f} MB "
        "(targets: < 5 s, < 500 MB)"
    )
