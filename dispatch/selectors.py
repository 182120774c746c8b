"""Reads of dispatch history that the admin and the API reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, ForeignObjectRel
from django.utils import timezone

from dispatch.models import SetpointReason

# How far back an asset's page looks: its newest audit rows. A hold writes a
# `refresh` row every cycle, so this is about 28 hours of uninterrupted
# discharge at 5-second cycles, and months of an asset discharged now and then.
HISTORY_ROWS = 20_000

# Exact epoch seconds (float) of a timestamp column, `{0}` the column, per
# database (the report's SQL and the dashboard use it too). SQLite keeps text
# 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds through strftime('%s') plus the
# fraction as written ('%%s': the SQL always goes through a cursor with
# parameters). julianday() would round to the millisecond and lose ~20 µs
# in floating point, enough to put a time at hh:mm:00.000 in the minute before.
EPOCH_SQL = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM {0}) AS double precision)",
    "sqlite": (
        "(CAST(strftime('%%s', substr({0}, 1, 19)) AS INTEGER)"
        " + CAST(substr({0}, 20) AS REAL))"
    ),
}
LEAST_SQL = {"postgresql": "LEAST", "sqlite": "MIN"}
GREATEST_SQL = {"postgresql": "GREATEST", "sqlite": "MAX"}


@dataclass(frozen=True)
class Discharge:
    """One remote discharge of an asset: a run of setpoints above zero, each
    written at or before the expiry of the one before (refreshes of a held
    setpoint included), until a setpoint of 0 kW, an expiry, or still in force."""

    started_at: datetime
    ended_at: datetime | None  # None: still in force
    duration_s: float  # to now while in force
    power_kw: float  # the highest setpoint of the discharge (its peak)
    energy_kwh: float  # each setpoint times the time it was in force, summed
    reason: str  # of the setpoint that started it
    user: str | None


# Gaps and islands over the asset's newest audit rows. Each row is in force from
# its write to the next row or its expiry, whichever comes first (as in the
# report's SETPOINT_ENERGY_SQL). A row above 0 kW continues a discharge when the
# row before it was above 0 kW and had not expired when it was written. A
# discharge that may have begun before the rows read (the window is full and its
# first row is the oldest read) is left out rather than shown cut short.
DISCHARGES_SQL = """
WITH recent AS (
    SELECT id, created_at, new_kw, reason, user_id,
           {created} AS t0, {expires} AS te
    FROM dispatch_setpointcommand
    WHERE asset_id = %(asset)s AND created_at <= %(now_at)s
    ORDER BY created_at DESC, id DESC
    LIMIT %(rows)s
), timed AS (
    SELECT id, new_kw, reason, user_id, t0, te,
           LEAD(t0) OVER w AS t_next,
           LAG(new_kw) OVER w AS kw_before,
           LAG(te) OVER w AS te_before,
           ROW_NUMBER() OVER w AS n,
           COUNT(*) OVER () AS rows_read
    FROM recent
    WINDOW w AS (ORDER BY created_at, id)
), marked AS (
    SELECT *,
           CASE WHEN kw_before > 0 AND (te_before IS NULL OR te_before >= t0)
                THEN 0 ELSE 1 END AS starts,
           {least}(COALESCE(t_next, te), COALESCE(te, t_next)) AS t1
    FROM timed
), numbered AS (
    SELECT *, SUM(starts) OVER (ORDER BY n ROWS UNBOUNDED PRECEDING) AS discharge
    FROM marked
), discharges AS (
    SELECT MIN(t0) AS t_start,
           MAX(CASE WHEN t1 IS NULL OR t1 > %(now)s THEN 1 ELSE 0 END) AS in_force,
           MAX(t1) AS t_end,
           MAX(new_kw) AS peak_kw,
           SUM(new_kw * {greatest}({least}(COALESCE(t1, %(now)s), %(now)s) - t0, 0))
               / 3600.0 AS energy_kwh,
           MAX(CASE WHEN starts = 1 THEN reason END) AS reason,
           MAX(CASE WHEN starts = 1 THEN user_id END) AS user_id,
           MAX(CASE WHEN n = 1 AND rows_read = %(rows)s THEN 1 ELSE 0 END) AS cut
    FROM numbered
    WHERE new_kw > 0
    GROUP BY discharge
)
SELECT d.t_start, d.in_force, d.t_end, d.peak_kw, d.energy_kwh, d.reason, u.{name}
FROM discharges d LEFT JOIN {users} u ON u.{pk} = d.user_id
WHERE d.cut = 0
ORDER BY d.t_start DESC
"""


def _column(field: Field | ForeignObjectRel | None) -> str:
    """The quoted column of a concrete field."""
    assert isinstance(field, Field) and field.column
    return connection.ops.quote_name(field.column)


def _discharges_sql() -> str:
    vendor = connection.vendor
    user = get_user_model()
    return DISCHARGES_SQL.format(
        created=EPOCH_SQL[vendor].format("created_at"),
        expires=EPOCH_SQL[vendor].format("expires_at"),
        least=LEAST_SQL[vendor],
        greatest=GREATEST_SQL[vendor],
        users=connection.ops.quote_name(user._meta.db_table),
        pk=_column(user._meta.pk),
        name=_column(user._meta.get_field(user.USERNAME_FIELD)),
    )


def discharges_of(*, asset_id: int, now: datetime | None = None) -> list[Discharge]:
    """Every discharge commanded to an asset (newest first) from its setpoint
    audit, one per uninterrupted run of setpoints above 0 kW however many
    refreshes it held for, with the energy of each setpoint while in force.
    One query over the asset's newest HISTORY_ROWS audit rows."""
    now = now or timezone.now()
    params = {
        "asset": asset_id,
        "now_at": connection.ops.adapt_datetimefield_value(now),
        "now": now.timestamp(),
        "rows": HISTORY_ROWS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_discharges_sql(), params)
        rows = cursor.fetchall()
    result = []
    for t_start, in_force, t_end, peak_kw, energy_kwh, reason, user in rows:
        ended = None if in_force else float(t_end)
        result.append(
            Discharge(
                started_at=datetime.fromtimestamp(float(t_start), tz=UTC),
                ended_at=None if ended is None else datetime.fromtimestamp(ended, UTC),
                duration_s=(now.timestamp() if ended is None else ended) - t_start,
                power_kw=float(peak_kw),
                energy_kwh=float(energy_kwh),
                reason=SetpointReason(reason).label,
                user=user,
            )
        )
    return result
