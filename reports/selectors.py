"""What the daily report reads: a day of readings, setpoints, runs and events of a
set of substations, as numbers (seconds since the day's start) rather than rows.

The big reads (readings, setpoint intervals, telemetry) are SQL with times as
epoch seconds: a day of 1-second readings is 86,400 rows per substation, and
building a datetime per row would cost more than the rest of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection
from django.db.models import Count

from assets.models import AssetKind, AssetStatus, DERAsset
from dispatch.models import Intervention
from dispatch.selectors import EPOCH_SQL, GREATEST_SQL, LEAST_SQL
from incidents.models import GridIncident, TaskStatus, TechnicianTask

# Exact epoch seconds of a timestamp column (`{0}`), LEAST, GREATEST: all that
# differs here. The epoch is exact on both databases, so a time at hh:mm:00.000
# falls in minute hh:mm when the report bins it (dispatch.selectors.EPOCH_SQL).
SQL_DIALECT = {
    vendor: (EPOCH_SQL[vendor], LEAST_SQL[vendor], GREATEST_SQL[vendor])
    for vendor in EPOCH_SQL
}


def _sql(template: str, substation_ids: Sequence[int], **columns: str) -> str:
    """`template` for this database: {ids} the substations (integers, inlined),
    {least} / {greatest}, and each named column as epoch seconds."""
    epoch, least, greatest = SQL_DIALECT[connection.vendor]
    return template.format(
        ids=", ".join(str(int(pk)) for pk in substation_ids) or "NULL",
        least=least,
        greatest=greatest,
        **{name: epoch.format(column) for name, column in columns.items()},
    )


def _param(at: datetime):
    return connection.ops.adapt_datetimefield_value(at)


READINGS_SQL = """
SELECT substation_id, {at} - %s, frequency_hz, voltage_pu, load_kw
FROM grid_gridreading
WHERE substation_id IN ({ids}) AND measured_at >= %s AND measured_at < %s
ORDER BY substation_id, measured_at
"""


def readings_of_day(
    *, substation_ids: Sequence[int], start: datetime, end: datetime
) -> np.ndarray:
    """(n, 5) float array: substation id, seconds since `start`, frequency (Hz),
    voltage (pu), load (kW); sorted by substation then time."""
    sql = _sql(READINGS_SQL, substation_ids, at="measured_at")
    with connection.cursor() as cursor:
        cursor.execute(sql, [start.timestamp(), _param(start), _param(end)])
        rows = cursor.fetchall()
    return np.array(rows, dtype=float).reshape(-1, 5)


# Energy of each setpoint while in force: from its write to the asset's next
# setpoint or its expiry, within the day. A held setpoint writes a `refresh` row
# each cycle (previous = new, a later expiry), so a hold counts for as long as it
# was really held. Audit rows start a day early so the setpoint in force at
# midnight counts (no setpoint lives longer than that). The owner's discharges
# (dispatch.selectors.DISCHARGES_SQL) follow the same rule.
SETPOINT_ENERGY_SQL = """
WITH commands AS (
    SELECT a.substation_id, c.asset_id, c.new_kw, {created} AS t0,
           LEAD({created}) OVER (
               PARTITION BY c.asset_id ORDER BY c.created_at, c.id
           ) AS t1,
           {expires} AS te
    FROM dispatch_setpointcommand c
    JOIN assets_derasset a ON a.id = c.asset_id
    WHERE a.substation_id IN ({ids})
      AND c.created_at >= %s AND c.created_at < %s
), spans AS (
    SELECT substation_id, asset_id, new_kw, {greatest}(t0, %s) AS t_from,
           {least}(COALESCE(t1, %s), COALESCE(te, %s), %s) AS t_to
    FROM commands WHERE new_kw > 0
)
SELECT substation_id, SUM(new_kw * (t_to - t_from)) / 3600.0, COUNT(DISTINCT asset_id)
FROM spans WHERE t_to > t_from GROUP BY substation_id
"""


def setpoint_energy(
    *, substation_ids: Sequence[int], start: datetime, end: datetime, lookback_s: float
) -> dict[int, tuple[float, int]]:
    """Per substation: energy commanded from batteries over [start, end) (kWh)
    and the number of assets with a setpoint above zero in force during it."""
    sql = _sql(
        SETPOINT_ENERGY_SQL,
        substation_ids,
        created="c.created_at",
        expires="c.expires_at",
    )
    begin, finish = start.timestamp(), end.timestamp()
    since = datetime.fromtimestamp(begin - lookback_s, tz=start.tzinfo)
    with connection.cursor() as cursor:
        cursor.execute(sql, [_param(since), _param(end), begin, finish, finish, finish])
        rows = cursor.fetchall()
    return {int(pk): (float(kwh), int(assets)) for pk, kwh, assets in rows}


# Measured battery discharge: each telemetry row's positive output until the
# asset's next row, at most the policy's telemetry age, within the day.
TELEMETRY_ENERGY_SQL = """
WITH samples AS (
    SELECT a.substation_id, t.output_kw, {measured} AS t0,
           LEAD({measured}) OVER (
               PARTITION BY t.asset_id ORDER BY t.measured_at
           ) AS t1
    FROM assets_assettelemetry t
    JOIN assets_derasset a ON a.id = t.asset_id
    WHERE a.substation_id IN ({ids}) AND a.kind = %s
      AND t.measured_at >= %s AND t.measured_at < %s
)
SELECT substation_id,
       SUM(output_kw * ({least}(COALESCE(t1, %s), t0 + %s, %s) - t0)) / 3600.0
FROM samples WHERE output_kw > 0 GROUP BY substation_id
"""


def measured_discharge(
    *, substation_ids: Sequence[int], start: datetime, end: datetime, max_age_s: float
) -> dict[int, float]:
    """Per substation with battery telemetry reporting discharge: the discharge
    measured over [start, end) (kWh)."""
    sql = _sql(TELEMETRY_ENERGY_SQL, substation_ids, measured="t.measured_at")
    finish = end.timestamp()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [AssetKind.BATTERY, _param(start), _param(end), finish, max_age_s, finish],
        )
        rows = cursor.fetchall()
    return {int(pk): float(kwh) for pk, kwh in rows}


RUNS_SQL = """
SELECT substation_id, {at} - %s, command_kw + manual_kw, assets_active
FROM dispatch_dispatchrun
WHERE substation_id IN ({ids}) AND started_at >= %s AND started_at < %s
  AND outcome <> 'skipped'
ORDER BY substation_id, started_at
"""


def runs_of_day(
    *, substation_ids: Sequence[int], start: datetime, end: datetime
) -> np.ndarray:
    """(n, 4) float array of cycles: substation id, seconds since `start`, power
    commanded (cycle + manual, kW), batteries available to dispatch."""
    sql = _sql(RUNS_SQL, substation_ids, at="started_at")
    with connection.cursor() as cursor:
        cursor.execute(sql, [start.timestamp(), _param(start), _param(end)])
        rows = cursor.fetchall()
    return np.array(rows, dtype=float).reshape(-1, 4)


@dataclass(frozen=True)
class Events:
    incidents: list[GridIncident]  # open at some time of the day
    tasks_opened: int
    tasks_closed: int
    tasks_open_at_end: int
    interventions: int  # in progress at some time of the day
    batteries_active: int  # status active now


def events_of_day(
    *, substation_ids: Sequence[int], start: datetime, end: datetime
) -> Events:
    """Incidents, tasks and interventions that touch [start, end)."""
    incidents = list(
        GridIncident.objects.filter(substation_id__in=substation_ids, opened_at__lt=end)
        .exclude(resolved_at__lt=start)
        .select_related("substation")
        .order_by("opened_at")
    )
    tasks = TechnicianTask.objects.filter(asset__substation_id__in=substation_ids)
    closed = [TaskStatus.DONE, TaskStatus.CANCELLED]
    batteries = DERAsset.objects.filter(
        substation_id__in=substation_ids, kind=AssetKind.BATTERY
    )
    return Events(
        incidents=incidents,
        tasks_opened=tasks.filter(created_at__gte=start, created_at__lt=end).count(),
        tasks_closed=tasks.filter(
            status__in=closed, closed_at__gte=start, closed_at__lt=end
        ).count(),
        tasks_open_at_end=tasks.filter(created_at__lt=end)
        .exclude(status__in=closed, closed_at__lt=end)
        .count(),
        interventions=Intervention.objects.filter(
            substation_id__in=substation_ids, started_at__lt=end
        )
        .exclude(ended_at__lt=start)
        .count(),
        batteries_active=batteries.filter(status=AssetStatus.ACTIVE).count(),
    )


def battery_counts(*, substation_ids: Sequence[int]) -> dict[int, int]:
    """Batteries registered per substation (any status)."""
    rows = (
        DERAsset.objects.filter(
            substation_id__in=substation_ids, kind=AssetKind.BATTERY
        )
        .values_list("substation_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)
