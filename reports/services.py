"""The daily stability report (step 13): figures for a day from stored data, the
PDF through WeasyPrint, storage, and the email through the outbox."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from dermgmt.api.renderers import finite
from dispatch.models import DispatchPolicy
from forecasting.models import EnergyForecast, ForecastAccuracy
from forecasting.selectors import accuracy_of_day
from forecasting.services import accuracy_compute
from grid.models import Substation, day_bounds
from grid.selectors import fleet_zone
from incidents.models import Channel, IncidentKind, IncidentStatus, Notification
from incidents.notifications import notifications_enqueue
from reports import charts, figures, selectors
from reports.models import ReportStatus, StabilityReport

logger = logging.getLogger(__name__)

BIN_S = 60.0  # chart resolution: one point per minute
TOP_INCIDENTS = 12
TOP_SUBSTATIONS = 15
# The longest a setpoint stays in force (manual setpoints hold longest).
SETPOINT_LOOKBACK_S = 24 * 3600.0
# A report claimed this long ago by a worker that never finished is retried.
CLAIM_TIMEOUT = timedelta(minutes=15)
# The first runs after midnight record the day's last actuals and accuracy.
REPORT_GRACE = timedelta(hours=2)


# --- Figures -------------------------------------------------------------------------


def report_figures(
    *, substations: Sequence[Substation], day: date, zone: ZoneInfo
) -> tuple[dict, dict[str, str]]:
    """Every figure of the report for `day` (local to `zone`) over `substations`,
    as plain JSON values, and the charts as SVG. A day without data gives
    figures that say so (has_data false), not an error."""
    start, end = day_bounds(day, zone)
    ids = [s.pk for s in substations]
    day_s = (end - start).total_seconds()
    policies = {
        p.substation_id: p for p in DispatchPolicy.objects.filter(substation_id__in=ids)
    }
    readings = selectors.readings_of_day(substation_ids=ids, start=start, end=end)
    axis = day_axis(start, end, zone)
    grid, grid_charts = grid_figures(
        readings,
        substations=substations,
        policies=policies,
        start=start,
        zone=zone,
        axis=axis,
    )
    batteries = selectors.battery_counts(substation_ids=ids)
    dispatch, dispatch_chart = dispatch_figures(
        substations=substations,
        policies=policies,
        batteries=batteries,
        start=start,
        end=end,
        axis=axis,
    )
    forecast, forecast_chart = forecast_figures(
        substations=substations, day=day, start=start, end=end, axis=axis
    )
    events = events_figures(substations=substations, start=start, end=end, zone=zone)
    result = {
        "day": day.isoformat(),
        "time_zone": str(zone),
        "hours": day_s / 3600,
        "substations": [s.code for s in substations],
        "has_data": bool(len(readings)) or dispatch["cycles"] > 0,
        **grid,
        "dispatch": dispatch,
        "forecast": forecast,
        **events,
    }
    result["availability"].update(
        batteries=sum(batteries.values()),
        mean_available_share=dispatch.pop("available_share"),
    )
    return result, {
        **grid_charts,
        "dispatch": dispatch_chart,
        "forecast": forecast_chart,
    }


def grid_figures(
    readings: np.ndarray,
    *,
    substations: Sequence[Substation],
    policies: dict[int, DispatchPolicy],
    start: datetime,
    zone: ZoneInfo,
    axis: dict,
) -> tuple[dict, dict[str, str]]:
    """Frequency, voltage and load statistics, time-weighted, with their charts."""
    day_s = axis["hours_in_day"] * 3600
    group, t_s, frequency, voltage, load = readings.T
    nominal = {s.pk: float(s.nominal_frequency_hz) for s in substations}
    max_age = {pk: float(p.max_reading_age_s) for pk, p in policies.items()}
    deadbands = {pk: p.deadband_hz for pk, p in policies.items()}
    default = DispatchPolicy()
    lookup = pd.Series(group)
    f0 = lookup.map(nominal).to_numpy(dtype=float)
    weights = figures.time_weights(
        t_s,
        group,
        end_s=day_s,
        max_gap_s=lookup.map(max_age).fillna(default.max_reading_age_s).to_numpy(),
    )
    deadband = lookup.map(deadbands).fillna(default.deadband_hz).to_numpy()
    deviation = frequency - f0
    outside = np.abs(deviation) > figures.EXCURSION_HZ
    runs = figures.excursions(outside, t_s, group, weights, deviation)
    codes = {s.pk: s.code for s in substations}
    nominals = set(nominal.values())
    stats = figures.weighted_stats(frequency, weights)
    observed = float(weights.sum())
    typical_deadband = (
        float(np.median(list(deadbands.values()))) if deadbands else default.deadband_hz
    )
    result = {
        "readings": len(readings),
        "coverage": observed / (day_s * len(substations)) if substations else 0.0,
        "frequency": {
            "nominal_hz": nominals.pop() if len(nominals) == 1 else None,
            **{f"{k}_hz": v for k, v in stats.items()},
            **{
                f"{k}_deviation_hz": v
                for k, v in figures.weighted_stats(deviation, weights).items()
                if k in ("min", "max")
            },
            "deadband_hz": typical_deadband,
            "share_in_deadband": figures.weighted_share(
                np.abs(deviation) <= deadband, weights
            ),
            "share_within_0_1_hz": figures.weighted_share(~outside, weights),
            "excursions": len(runs),
            "excursion_s": sum(r.duration_s for r in runs),
            "longest_excursions": [
                {
                    "substation": codes[r.substation_id],
                    "start": local_time(start, r.start_s, zone),
                    "duration_s": r.duration_s,
                    "extreme_hz": r.extreme_hz,
                }
                for r in runs[: figures.TOP_EXCURSIONS]
            ],
        },
        "voltage": {
            **{
                f"{k}_pu": v
                for k, v in figures.weighted_stats(voltage, weights).items()
                if k != "std"
            },
            "share_in_range_a": figures.weighted_share(
                figures.inside(voltage, figures.RANGE_A), weights
            ),
            "share_in_range_b": figures.weighted_share(
                figures.inside(voltage, figures.RANGE_B), weights
            ),
        },
        "load": {
            "mean_kw": figures.weighted_stats(load, weights)["mean"],
            "peak_kw": float(load.max()) if len(load) else None,
        },
    }
    result["per_substation"] = per_substation(
        group, weights, np.abs(deviation) <= deadband, voltage, codes=codes
    )
    return result, grid_charts(
        t_s,
        deviation,
        voltage,
        axis=axis,
        deadband_hz=typical_deadband,
    )


def per_substation(
    group: np.ndarray,
    weights: np.ndarray,
    in_deadband: np.ndarray,
    voltage: np.ndarray,
    *,
    codes: dict[int, str],
) -> dict[str, dict]:
    """Each substation's shares of observed time in the deadband and Range A."""
    in_range_a = figures.inside(voltage, figures.RANGE_A)
    result = {}
    for pk, code in codes.items():
        mine = group == pk
        result[code] = {
            "readings": int(mine.sum()),
            "share_in_deadband": figures.weighted_share(
                in_deadband[mine], weights[mine]
            ),
            "share_in_range_a": figures.weighted_share(in_range_a[mine], weights[mine]),
            "min_voltage_pu": float(voltage[mine].min()) if mine.any() else None,
            "max_voltage_pu": float(voltage[mine].max()) if mine.any() else None,
        }
    return result


def local_time(start: datetime, seconds: float, zone: ZoneInfo) -> str:
    """Wall-clock time in `zone` `seconds` after the instant `start`."""
    return (start + timedelta(seconds=seconds)).astimezone(zone).strftime("%H:%M:%S")


def day_axis(start: datetime, end: datetime, zone: ZoneInfo) -> dict:
    """The charts' x axis for a local day: its length and wall-clock tick labels
    (a DST day has 23 or 25 hours)."""
    return {
        "hours_in_day": (end - start).total_seconds() / 3600,
        "clock": lambda hour: local_time(start, hour * 3600, zone)[:5],
    }


def grid_charts(
    t_s: np.ndarray,
    deviation_hz: np.ndarray,
    voltage: np.ndarray,
    *,
    axis: dict,
    deadband_hz: float,
) -> dict[str, str]:
    day_s = axis["hours_in_day"] * 3600
    bins = int(np.ceil(day_s / BIN_S))
    hours = (np.arange(bins) + 0.5) * BIN_S / 3600
    df = figures.per_bin(t_s, deviation_hz * 1000, bin_s=BIN_S, bins=bins)
    pu = figures.per_bin(t_s, voltage, bin_s=BIN_S, bins=bins)
    band_mhz = deadband_hz * 1000
    limit_mhz = figures.EXCURSION_HZ * 1000
    return {
        "frequency": charts.chart_svg(
            title="Frequency deviation from nominal, per minute (mean; min-max shaded)",
            hours=hours,
            lines=[charts.Line("Mean", df["mean"].to_numpy())],
            envelope=(df["min"].to_numpy(), df["max"].to_numpy()),
            bands=[
                charts.Band(-limit_mhz, limit_mhz, "±100 mHz", color="#eef3fb"),
                charts.Band(-band_mhz, band_mhz, f"Deadband ±{band_mhz:.0f} mHz"),
            ],
            y_label="Δf (mHz)",
            **axis,
        ),
        "voltage": charts.chart_svg(
            title="Voltage, per minute (mean; min-max shaded)",
            hours=hours,
            lines=[charts.Line("Mean", pu["mean"].to_numpy())],
            envelope=(pu["min"].to_numpy(), pu["max"].to_numpy()),
            bands=[
                charts.Band(*figures.RANGE_B, "ANSI Range B", color="#fdf3dc"),
                charts.Band(*figures.RANGE_A, "ANSI Range A"),
            ],
            y_label="Voltage (pu)",
            **axis,
        ),
    }


def dispatch_figures(
    *,
    substations: Sequence[Substation],
    policies: dict[int, DispatchPolicy],
    batteries: dict[int, int],
    start: datetime,
    end: datetime,
    axis: dict,
) -> tuple[dict, str]:
    """Energy commanded and measured, batteries involved, cycles, and commanded
    power through the day."""
    ids = [s.pk for s in substations]
    commanded = selectors.setpoint_energy(
        substation_ids=ids, start=start, end=end, lookback_s=SETPOINT_LOOKBACK_S
    )
    max_age = max(
        (p.max_telemetry_age_s for p in policies.values()),
        default=DispatchPolicy().max_telemetry_age_s,
    )
    measured = selectors.measured_discharge(
        substation_ids=ids, start=start, end=end, max_age_s=max_age
    )
    runs = selectors.runs_of_day(substation_ids=ids, start=start, end=end)
    group, t_s, command_kw, available = runs.T
    day_s = (end - start).total_seconds()
    bins = int(np.ceil(day_s / BIN_S))
    per_minute = (
        pd.DataFrame(
            {"bin": (t_s // BIN_S).astype(int), "group": group, "kw": command_kw}
        )
        .groupby(["bin", "group"])["kw"]
        .mean()
        .groupby("bin")
        .sum()
        .reindex(range(bins))
    )
    result = {
        "energy_commanded_kwh": sum(kwh for kwh, _ in commanded.values()),
        "energy_measured_kwh": sum(measured.values()) if measured else None,
        "batteries_involved": sum(n for _, n in commanded.values()),
        "cycles": len(runs),
        # The chart's resolution: the highest per-minute mean.
        "peak_command_kw": float(per_minute.max()) if len(runs) else None,
        "peak_command_instant_kw": peak_in_force(group, t_s, command_kw),
        "per_substation_kwh": {
            s.code: commanded.get(s.pk, (0.0, 0))[0] for s in substations
        },
        "available_share": available_share(group, available, batteries=batteries),
    }
    chart = charts.chart_svg(
        title="Power commanded from batteries, per minute (mean)",
        hours=(np.arange(bins) + 0.5) * BIN_S / 3600,
        lines=[charts.Line("Commanded (cycle + manual)", per_minute.to_numpy())],
        y_label="kW",
        y_min=0.0,
        **axis,
    )
    return result, chart


def peak_in_force(
    group: np.ndarray, t_s: np.ndarray, command_kw: np.ndarray
) -> float | None:
    """The highest power commanded at any instant: each substation's latest
    cycle command, summed over substations (runs sorted by substation, then
    time). For one substation, the highest command of any cycle."""
    if not len(group):
        return None
    first = np.append(True, group[1:] != group[:-1])
    change = np.where(first, command_kw, np.diff(command_kw, prepend=0.0))
    in_time = np.argsort(t_s, kind="stable")
    total = np.cumsum(change[in_time])
    at = t_s[in_time]
    settled = np.append(at[1:] != at[:-1], True)  # all runs of that instant in
    return float(total[settled].max())


def available_share(
    group: np.ndarray, available: np.ndarray, *, batteries: dict[int, int]
) -> float | None:
    """Batteries each cycle found available over those registered, averaged over
    the cycles of each substation, then over substations by their batteries."""
    shares = [
        (available[group == pk].mean() / count, count)
        for pk, count in batteries.items()
        if count and (group == pk).any()
    ]
    if not shares:
        return None
    values, counts = zip(*shares, strict=True)
    return float(np.average(values, weights=counts))


def forecast_figures(
    *,
    substations: Sequence[Substation],
    day: date,
    start: datetime,
    end: datetime,
    axis: dict,
) -> tuple[dict | None, str]:
    """The day's forecast accuracy (stored per substation and horizon; computed
    now where beat has not yet) and the forecast in force against the actuals."""
    ids = [s.pk for s in substations]
    stored = set(
        ForecastAccuracy.objects.filter(day=day, substation_id__in=ids)
        .values_list("substation_id", flat=True)
        .distinct()
    )
    for substation in substations:
        if substation.pk not in stored:
            accuracy_compute(substation=substation, day=day)
    summary = accuracy_of_day(day=day, substation_ids=ids)
    rows = (
        EnergyForecast.objects.filter(
            substation_id__in=ids, valid_at__gte=start, valid_at__lt=end
        )
        .order_by("substation_id", "valid_at", "-issued_at")
        .values_list("substation_id", "valid_at", "expected_generation", "actual_kw")
    )
    frame = pd.DataFrame(list(rows), columns=["group", "at", "forecast", "actual"])
    frame = frame.drop_duplicates(["group", "at"])  # the newest issue of each bucket
    day_s = (end - start).total_seconds()
    buckets = int(day_s // 900)
    if len(frame):
        frame["bucket"] = (
            (pd.to_datetime(frame["at"], utc=True) - pd.Timestamp(start))
            .dt.total_seconds()
            .floordiv(900)
            .astype(int)
        )
        sums = frame.groupby("bucket")[["forecast", "actual"]].sum(min_count=1)
        sums = sums.reindex(range(buckets))
    else:
        sums = pd.DataFrame(
            {"forecast": np.nan, "actual": np.nan}, index=range(buckets)
        )
    chart = charts.chart_svg(
        title="Renewable generation: forecast in force against measured, per 15 min",
        hours=(np.arange(buckets) + 0.5) * 0.25,
        lines=[
            charts.Line(
                "Forecast", sums["forecast"].to_numpy(), color="#b35900", dashed=True
            ),
            charts.Line("Measured", sums["actual"].to_numpy()),
        ],
        y_label="kW",
        y_min=0.0,
        **axis,
    )
    return (asdict(summary) if summary else None), chart


def events_figures(
    *, substations: Sequence[Substation], start: datetime, end: datetime, zone: ZoneInfo
) -> dict:
    """Incidents, technician tasks, interventions and availability of the day."""
    events = selectors.events_of_day(
        substation_ids=[s.pk for s in substations], start=start, end=end
    )
    listed: list[dict[str, Any]] = []
    opened = resolved = still_open = 0
    kinds: Counter[str] = Counter()
    for incident in events.incidents:
        ended = incident_end(incident)
        if ended is not None and ended < start:
            continue
        opened += start <= incident.opened_at < end
        resolved += ended is not None and ended < end
        still_open += ended is None or ended >= end
        kinds[incident.kind] += start <= incident.opened_at < end
        stop = min(ended or end, end)
        listed.append(
            {
                "substation": incident.substation.code,
                "kind": incident.get_kind_display(),
                "severity": incident.get_severity_display(),
                "opened": incident.opened_at.astimezone(zone).strftime("%m-%d %H:%M"),
                "ended": ended.astimezone(zone).strftime("%m-%d %H:%M")
                if ended and ended < end
                else None,
                "duration_s": (stop - incident.opened_at).total_seconds(),
            }
        )
    listed.sort(key=lambda row: -row["duration_s"])
    return {
        "incidents": {
            "opened": opened,
            "resolved": resolved,
            "open_at_end": still_open,
            "by_kind": dict(kinds),
            "longest": listed[:TOP_INCIDENTS],
        },
        "tasks": {
            "opened": events.tasks_opened,
            "closed": events.tasks_closed,
            "open_at_end": events.tasks_open_at_end,
        },
        "interventions": events.interventions,
        "availability": {
            "active_now": events.batteries_active,
            "faults": kinds.get(IncidentKind.HARDWARE, 0),
        },
    }


def incident_end(incident) -> datetime | None:
    """When the grid came back for good: resolved_at once archived, cleared_at
    while holding; None while open."""
    if incident.resolved_at:
        return incident.resolved_at
    if incident.status == IncidentStatus.RESOLVED:
        return incident.cleared_at
    return None


# --- The PDF -------------------------------------------------------------------------


def no_network():
    """WeasyPrint's URL fetcher for reports: no protocol allowed, so nothing is
    fetched, from the network or anywhere else; the report embeds all it shows."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=())


def report_pdf(
    *,
    scope: str,
    code: str,
    figures: dict,
    charts: dict[str, str],
    generated_at: datetime,
) -> tuple[bytes, int]:
    """The PDF of a report's figures and charts, and its number of pages."""
    rows = substation_rows(figures) if len(figures["substations"]) > 1 else []
    html = render_to_string(
        "reports/stability_report.html",
        {
            "scope": scope,
            "code": code,
            "f": figures,
            "charts": charts,
            "rows": rows[:TOP_SUBSTATIONS],
            "more_rows": max(len(rows) - TOP_SUBSTATIONS, 0),
            "generated_at": generated_at.astimezone(ZoneInfo(figures["time_zone"])),
        },
    )
    from weasyprint import HTML  # heavy: loaded by the worker that renders

    document = HTML(string=html, url_fetcher=no_network()).render()
    return document.write_pdf(), len(document.pages)


def substation_rows(figures: dict) -> list[dict]:
    """The fleet report's table: substations least in the deadband first."""
    energy = figures["dispatch"]["per_substation_kwh"]
    rows = [
        {"code": code, "energy_kwh": energy.get(code, 0.0), **row}
        for code, row in figures["per_substation"].items()
    ]
    share = "share_in_deadband"
    return sorted(rows, key=lambda r: (r[share] is None, r[share] or 0, r["code"]))


def report_render(
    *, day: date, substation: Substation | None, now: datetime | None = None
) -> tuple[dict, bytes, int]:
    """Figures, PDF and page count of one scope's day, stored nowhere."""
    substations = (
        [substation] if substation else list(Substation.objects.order_by("code"))
    )
    zone = substation.zone if substation else fleet_zone()
    values, svgs = report_figures(substations=substations, day=day, zone=zone)
    values = finite(values)  # stored as JSON, which has no NaN or Infinity
    scope = f"{substation.code} — {substation.name}" if substation else "Whole fleet"
    pdf, pages = report_pdf(
        scope=scope,
        code=substation.code if substation else "fleet",
        figures=values,
        charts=svgs,
        generated_at=now or timezone.now(),
    )
    return values, pdf, pages


# --- Stored, generated once, emailed once ------------------------------------------


def report_generate(
    *, report_id: int, force: bool = False, now: datetime | None = None
) -> StabilityReport | None:
    """Claim a pending report (any report with `force`), render and store it, and
    email it through the outbox. None when another worker has it. A failure is
    recorded on the report (status failed) and logged, not raised."""
    now = now or timezone.now()
    claimable = Q(status=ReportStatus.PENDING) | Q(
        status=ReportStatus.GENERATING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    if force:
        claimable |= Q(status__in=[ReportStatus.READY, ReportStatus.FAILED])
    claimed = StabilityReport.objects.filter(claimable, pk=report_id).update(
        status=ReportStatus.GENERATING, claimed_at=now
    )
    if not claimed:
        return None
    report = StabilityReport.objects.select_related("substation").get(pk=report_id)
    try:
        values, pdf, pages = report_render(
            day=report.day, substation=report.substation, now=now
        )
    except Exception as error:
        logger.exception("stability report %s failed", report)
        report.status, report.error = (
            ReportStatus.FAILED,
            f"{type(error).__name__}: {error}",
        )
        report.save(update_fields=["status", "error"])
        return report
    old = report.pdf.name
    report.pdf.save(
        f"stability-{report.scope_name}-{report.day}.pdf", ContentFile(pdf), save=False
    )
    report.status, report.error = ReportStatus.READY, ""
    report.figures, report.pages, report.generated_at = values, pages, now
    with transaction.atomic():
        report.save(
            update_fields=["pdf", "status", "error", "figures", "pages", "generated_at"]
        )
        report_email_enqueue(report=report)
    if old and old != report.pdf.name:
        report.pdf.storage.delete(old)
    return report


def report_email_enqueue(*, report: StabilityReport) -> list[str]:
    """The PDF to each recipient, once per report whatever the regenerations:
    the fleet report always, substation reports when REPORT_EMAIL_SUBSTATIONS."""
    if report.substation_id and not settings.REPORT_EMAIL_SUBSTATIONS:
        return []
    f = report.figures
    return notifications_enqueue(
        notifications=[
            Notification(
                channel=Channel.EMAIL,
                recipient=address,
                template="stability_report",
                context={
                    "report_id": report.pk,
                    "scope": report.scope_name,
                    "day": f["day"],
                    "time_zone": f["time_zone"],
                    "has_data": f["has_data"],
                    "share_in_deadband": f["frequency"]["share_in_deadband"],
                    "share_in_range_a": f["voltage"]["share_in_range_a"],
                    "energy_commanded_kwh": f["dispatch"]["energy_commanded_kwh"],
                    "incidents": f["incidents"],
                },
                attachment=report.pdf.name,
                idempotency_key=f"report:{report.pk}:{address}",
            )
            for address in settings.REPORT_RECIPIENTS
        ]
    )


def reports_due(*, now: datetime | None = None) -> list[int]:
    """Beat, hourly: yesterday's report of every substation whose local day ended
    REPORT_GRACE ago, and the fleet's, created once; every report still pending
    (or claimed by a worker that died) is handed to a worker. Returns their ids."""
    now = now or timezone.now()
    wanted = [
        StabilityReport(
            day=site.local_date(now - REPORT_GRACE) - timedelta(days=1),
            substation=site,
            time_zone=site.time_zone,
        )
        for site in Substation.objects.all()
    ]
    zone = fleet_zone()
    fleet_day = (now - REPORT_GRACE).astimezone(zone).date() - timedelta(days=1)
    if wanted:
        wanted.append(StabilityReport(day=fleet_day, time_zone=str(zone)))
    StabilityReport.objects.bulk_create(wanted, ignore_conflicts=True)
    due = list(
        StabilityReport.objects.filter(
            Q(status=ReportStatus.PENDING)
            | Q(status=ReportStatus.GENERATING, claimed_at__lt=now - CLAIM_TIMEOUT),
            day__gte=fleet_day - timedelta(days=2),
        ).values_list("pk", flat=True)
    )
    from reports.tasks import report_generate as task

    for pk in due:
        transaction.on_commit(functools.partial(task.delay, pk))
    return due
