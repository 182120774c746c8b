"""What the operator dashboard shows, as one JSON document (docs/dashboard.md).

A fixed number of queries whatever the number of substations, runs or alerts:
the newest reading and run of every substation by subquery, the last hour per
minute grouped in SQL, lists capped. Never NaN or Infinity (not JSON: the page
would stay on "Loading..."): a non-finite figure is null, shown as "—".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from assets.models import AssetKind, DERAsset
from dermgmt.api.renderers import finite
from dispatch.models import DispatchPolicy, DispatchRun
from forecasting.models import EnergyForecast
from grid.models import GridReading, Substation
from grid.selectors import fleet_zone
from incidents.models import PENDING_TASK, ActiveAlert, TechnicianTask
from incidents.rules import RANGE_A_PU
from reports.models import ReportStatus, StabilityReport
from reports.selectors import SQL_DIALECT

SPARK_MINUTES = 60
LIST_LENGTH = 15
RUNS_SHOWN = 12
# A cycle is "not running" when the newest run is older than this many periods.
CYCLE_STALE_PERIODS = 3


def dashboard(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    substations = substations_now(now=now)
    sparks = sparklines(now=now, ids=[site["id"] for site in substations])
    for site in substations:
        site["sparkline"] = sparks.get(
            site["id"], {"frequency_hz": [], "voltage_pu": []}
        )
    # A sum of stored figures can still overflow (rows from before the ingest's
    # bounds): the page and its JSON get null for it, never Infinity.
    return finite(
        {
            "now": now.isoformat(),
            "time_zone": str(fleet_zone()),
            "substations": substations,
            "fleet": fleet_totals(substations),
            "alerts": alerts(),
            "tasks": open_tasks(),
            "runs": last_runs(),
            "forecast": forecast_window(now=now),
            "report": yesterdays_report(),
        }
    )


def substations_now(*, now: datetime) -> list[dict[str, Any]]:
    """Each substation with its newest reading and run, policy and discharging
    batteries: four queries."""
    newest_reading = GridReading.objects.filter(substation=OuterRef("pk")).order_by(
        "-measured_at"
    )
    newest_run = DispatchRun.objects.filter(substation=OuterRef("pk")).order_by(
        "-slot_at"
    )
    sites = list(
        Substation.objects.order_by("code").annotate(
            reading_id=Subquery(newest_reading.values("pk")[:1]),
            run_id=Subquery(newest_run.values("pk")[:1]),
        )
    )
    readings = GridReading.objects.in_bulk(
        [s.reading_id for s in sites if s.reading_id]
    )
    runs = DispatchRun.objects.in_bulk([s.run_id for s in sites if s.run_id])
    policies = {
        p.substation_id: p
        for p in DispatchPolicy.objects.filter(substation__in=[s.pk for s in sites])
    }
    discharging = dict(
        DERAsset.objects.filter(kind=AssetKind.BATTERY, target_output_kw__gt=0)
        .values_list("substation_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    default = DispatchPolicy()
    result = []
    for site in sites:
        policy = policies.get(site.pk, default)
        reading = readings.get(site.reading_id)
        run = runs.get(site.run_id)
        result.append(
            {
                "id": site.pk,
                "code": site.code,
                "name": site.name,
                "nominal_frequency_hz": site.nominal_frequency_hz,
                "deadband_hz": policy.deadband_hz,
                "range_a_pu": RANGE_A_PU,
                "reading": reading_now(
                    reading, now=now, max_age_s=policy.max_reading_age_s
                ),
                "cycle": cycle_now(run, now=now, cycle_s=policy.cycle_s),
                "discharging": discharging.get(site.pk, 0),
                "admin_url": reverse("admin:grid_substation_change", args=[site.pk]),
            }
        )
    return result


def reading_now(reading, *, now: datetime, max_age_s: float) -> dict | None:
    if reading is None:
        return None
    age_s = (now - reading.measured_at).total_seconds()
    return {
        "measured_at": reading.measured_at.isoformat(),
        "age_s": round(age_s, 1),
        "stale": age_s > max_age_s,
        "frequency_hz": reading.frequency_hz,
        "voltage_pu": reading.voltage_pu,
        "load_kw": reading.load_kw,
    }


def cycle_now(run, *, now: datetime, cycle_s: int) -> dict:
    if run is None:
        return {"running": False, "age_s": None}
    age_s = (now - run.started_at).total_seconds()
    return {
        "running": age_s <= CYCLE_STALE_PERIODS * cycle_s,
        "age_s": round(age_s, 1),
        "outcome": run.outcome,
        "nameplate_kw": run.capacity_nameplate_kw,
        "available_kw": run.capacity_kw,  # C: what the fleet can give now
        "command_kw": run.command_kw,
        "manual_kw": run.manual_kw,
        "requirement_kw": run.requirement_kw,
        "imbalance_kw": run.imbalance_kw,
        "assets_active": run.assets_active,
    }


def fleet_totals(substations: list[dict]) -> dict[str, float | int]:
    cycles = [s["cycle"] for s in substations if s["cycle"].get("age_s") is not None]
    return {
        "nameplate_kw": sum(c["nameplate_kw"] for c in cycles),
        "available_kw": sum(c["available_kw"] for c in cycles),
        "command_kw": sum(c["command_kw"] for c in cycles),
        "imbalance_kw": sum(c["imbalance_kw"] for c in cycles),
        "discharging": sum(s["discharging"] for s in substations),
        "substations": len(substations),
        "stale": sum(
            1 for s in substations if not s["reading"] or s["reading"]["stale"]
        ),
        "cycles_stopped": sum(1 for s in substations if not s["cycle"]["running"]),
    }


SPARK_SQL = """
SELECT substation_id, CAST({floor}(({at} - %s) / 60) AS INTEGER) AS minute,
       AVG(frequency_hz), AVG(voltage_pu)
FROM grid_gridreading
WHERE substation_id IN ({ids}) AND measured_at >= %s AND measured_at <= %s
GROUP BY substation_id, minute
"""


def sparklines(*, now: datetime, ids: list[int]) -> dict[int, dict[str, list]]:
    """The last hour per minute (mean) of these substations, in one query (the
    list of ids lets it use the (substation, measured_at) index)."""
    since = now - timedelta(minutes=SPARK_MINUTES)
    epoch = SQL_DIALECT[connection.vendor][0].format("measured_at")
    sql = SPARK_SQL.format(
        at=epoch,
        # PostgreSQL's cast rounds, SQLite's truncates (and has no FLOOR):
        # minutes since `since` are never negative, so truncating is flooring.
        floor="FLOOR" if connection.vendor == "postgresql" else "",
        ids=", ".join(str(int(i)) for i in ids) or "NULL",
    )
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                since.timestamp(),
                ops.adapt_datetimefield_value(since),
                ops.adapt_datetimefield_value(now),
            ],
        )
        rows = cursor.fetchall()
    result: dict[int, dict[str, list]] = {}
    for substation_id, minute, frequency, voltage in rows:
        spark = result.setdefault(
            substation_id,
            {
                "frequency_hz": [None] * SPARK_MINUTES,
                "voltage_pu": [None] * SPARK_MINUTES,
            },
        )
        if 0 <= minute < SPARK_MINUTES:
            spark["frequency_hz"][minute] = round(frequency, 4)
            spark["voltage_pu"][minute] = round(voltage, 4)
    return result


def alerts() -> list[dict]:
    rows = ActiveAlert.objects.select_related("incident__substation").order_by(
        "-raised_at"
    )[:LIST_LENGTH]
    return [
        {
            "raised_at": alert.raised_at.isoformat(),
            "substation": alert.incident.substation.code,
            "kind": alert.incident.get_kind_display(),
            "severity": alert.incident.get_severity_display(),
            "status": alert.incident.get_status_display(),
            "description": alert.incident.description,
            "admin_url": reverse(
                "admin:incidents_gridincident_change", args=[alert.incident_id]
            ),
        }
        for alert in rows
    ]


def open_tasks() -> list[dict]:
    rows = (
        TechnicianTask.objects.filter(status__in=PENDING_TASK)
        .select_related("asset", "error_code", "assignee")
        .order_by("-created_at")[:LIST_LENGTH]
    )
    return [
        {
            "created_at": task.created_at.isoformat(),
            "asset": task.asset.uid,
            "error_code": task.error_code.code,
            "priority": task.get_priority_display(),
            "status": task.get_status_display(),
            "assignee": task.assignee.username if task.assignee else None,
            "due_at": task.due_at.isoformat(),
            "admin_url": reverse(
                "admin:incidents_techniciantask_change", args=[task.pk]
            ),
        }
        for task in rows
    ]


def last_runs() -> list[dict]:
    rows = DispatchRun.objects.select_related("substation").order_by("-started_at")[
        :RUNS_SHOWN
    ]
    return [
        {
            "started_at": run.started_at.isoformat(),
            "substation": run.substation.code,
            "outcome": run.outcome,
            "outcome_label": run.get_outcome_display(),
            "command_kw": run.command_kw,
            "setpoints_changed": run.setpoints_changed,
            "admin_url": reverse("admin:dispatch_dispatchrun_change", args=[run.pk]),
        }
        for run in rows
    ]


def forecast_window(*, now: datetime) -> dict[str, list]:
    """Fleet solar and wind per 15-minute bucket from 4 h ago to 4 h ahead: the
    forecast in force (newest issue) and, for past buckets, the actuals."""
    start = now - timedelta(hours=4)
    # Past buckets: the issue made as each began; coming ones: the newest issue.
    recent_issue = Q(valid_at__lt=now, issued_at=F("valid_at")) | Q(
        valid_at__gte=now, issued_at__gte=now - timedelta(minutes=30)
    )
    rows = (
        EnergyForecast.objects.filter(
            recent_issue, valid_at__gte=start, valid_at__lt=now + timedelta(hours=4)
        )
        .order_by("substation_id", "valid_at", "-issued_at")
        .values_list(
            "substation_id",
            "valid_at",
            "solar_kw",
            "wind_kw",
            "actual_solar_kw",
            "actual_wind_kw",
        )
    )
    buckets: dict[datetime, list] = {}
    seen: set[tuple[int, datetime]] = set()
    for substation_id, valid_at, solar, wind, actual_solar, actual_wind in rows:
        if (substation_id, valid_at) in seen:
            continue  # an older issue of a bucket already counted
        seen.add((substation_id, valid_at))
        total = buckets.setdefault(valid_at, [0.0, 0.0, None, None])
        total[0] += solar
        total[1] += wind
        if actual_solar is not None:
            total[2] = (total[2] or 0.0) + actual_solar
            total[3] = (total[3] or 0.0) + (actual_wind or 0.0)
    ordered = sorted(buckets.items())
    return {
        "valid_at": [at.isoformat() for at, _ in ordered],
        "solar_kw": [round(v[0], 2) for _, v in ordered],
        "wind_kw": [round(v[1], 2) for _, v in ordered],
        "actual_solar_kw": [
            None if v[2] is None else round(v[2], 2) for _, v in ordered
        ],
        "actual_wind_kw": [
            None if v[3] is None else round(v[3], 2) for _, v in ordered
        ],
    }


def yesterdays_report() -> dict | None:
    report = (
        StabilityReport.objects.filter(
            Q(substation__isnull=True), status=ReportStatus.READY
        )
        .order_by("-day")
        .first()
    )
    if report is None:
        return None
    return {
        "day": report.day.isoformat(),
        "pdf_url": reverse("report-pdf", args=[report.pk]),
        "figures": {
            "share_in_deadband": report.figures.get("frequency", {}).get(
                "share_in_deadband"
            ),
            "incidents_opened": report.figures.get("incidents", {}).get("opened"),
        },
    }
