"""Reads of grid state that the cycle, the dashboard and the report reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from grid.models import GridReading, Substation


@dataclass(frozen=True)
class GridStatus:
    """The latest reading of a substation and how old it is (workflow step 1)."""

    substation_id: int
    measured_at: datetime
    frequency_hz: float
    voltage_pu: float
    load_kw: float
    age_s: float

    def is_stale(self, *, max_age_s: float) -> bool:
        return self.age_s > max_age_s


def datetime_from_db(value: datetime | str) -> datetime:
    """An aware datetime from a raw SQL row (SQLite returns text, naive UTC)."""
    if not isinstance(value, datetime):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"not a datetime: {value!r}")
        value = parsed
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


LATEST_READING_SQL = """
SELECT measured_at, frequency_hz, voltage_pu, load_kw
  FROM {table}
 WHERE substation_id = %s AND measured_at <= %s
 ORDER BY measured_at DESC
 LIMIT 1
"""


def grid_status(*, substation_id: int, now: datetime) -> GridStatus | None:
    """Latest reading of any sensor of the substation, or None if it never reported.

    Readings stamped after `now` are ignored, so a gateway whose clock runs ahead
    cannot pin one reading as "the newest" for hours. Written in SQL: it runs in
    every cycle of every substation, and the ORM's compilation cost more than the
    index lookup on (substation, -measured_at).
    """
    sql = LATEST_READING_SQL.format(table=GridReading._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [substation_id, connection.ops.adapt_datetimefield_value(now)]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    measured_at, frequency_hz, voltage_pu, load_kw = row
    measured_at = datetime_from_db(measured_at)
    return GridStatus(
        substation_id=substation_id,
        measured_at=measured_at,
        frequency_hz=frequency_hz,
        voltage_pu=voltage_pu,
        load_kw=load_kw,
        age_s=(now - measured_at).total_seconds(),
    )


@dataclass(frozen=True)
class ReadingValues:
    """What one grid reading says, for the rules that judge it."""

    measured_at: datetime
    voltage_pu: float
    frequency_hz: float


READINGS_AFTER_SQL = """
SELECT measured_at, voltage_pu, frequency_hz
  FROM {table}
 WHERE substation_id = %s AND measured_at > %s AND measured_at <= %s
 ORDER BY measured_at DESC
 LIMIT %s
"""


def readings_after(
    *, substation_id: int, after: datetime, until: datetime, limit: int
) -> list[ReadingValues]:
    """The readings of any sensor of the substation measured in (after, until],
    oldest first; at most the newest `limit` of them.

    One index range scan on (substation, -measured_at), in SQL for the same
    reason as `grid_status`: the incident evaluation runs it in every cycle.
    """
    sql = READINGS_AFTER_SQL.format(table=GridReading._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [substation_id, adapt(after), adapt(until), limit])
        rows = cursor.fetchall()
    return [
        ReadingValues(datetime_from_db(measured_at), voltage_pu, frequency_hz)
        for measured_at, voltage_pu, frequency_hz in reversed(rows)
    ]


def fleet_zone() -> ZoneInfo:
    """The fleet's time zone (its daily report, the dashboard's clock):
    FLEET_TIME_ZONE, else the zone all substations share, else TIME_ZONE."""
    if settings.FLEET_TIME_ZONE:
        return ZoneInfo(settings.FLEET_TIME_ZONE)
    zones = set(Substation.objects.values_list("time_zone", flat=True).distinct())
    return ZoneInfo(zones.pop() if len(zones) == 1 else settings.TIME_ZONE)
