"""Reads of incidents and technician tasks that other code reuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import QuerySet

from assets.models import AssetStatus, DERAsset, HardwareErrorCode, Owner, Severity
from assets.selectors import owner_scoped
from incidents.models import (
    DISCHARGE_SMS,
    PENDING_TASK,
    Channel,
    Notification,
    TechnicianTask,
)


@dataclass(frozen=True)
class UnhandledFault:
    asset_id: int
    asset_status: str
    error_code_id: int
    severity: str


UNHANDLED_FAULTS_SQL = """
SELECT a.id, a.status, a.last_error_code_id, c.severity
  FROM {assets} a
  JOIN {codes} c ON c.id = a.last_error_code_id
 WHERE a.substation_id = %s
   AND a.last_error_code_id IS NOT NULL
   AND c.severity = %s
   AND a.status <> %s
   AND NOT EXISTS (
       SELECT 1 FROM {tasks} t
        WHERE t.asset_id = a.id
          AND t.error_code_id = a.last_error_code_id
          AND t.status IN ({pending}))
 ORDER BY a.id
"""


def faults_unhandled(*, substation_id: int) -> list[UnhandledFault]:
    """Assets of a substation whose newest telemetry carries a critical error code
    and that have no pending task for that code (step 7).

    Runs in every cycle: written in SQL, served by the partial index of assets
    reporting an error (a handful of rows), so it costs one index probe when
    nothing is wrong. Decommissioned assets are left alone.
    """
    sql = UNHANDLED_FAULTS_SQL.format(
        assets=DERAsset._meta.db_table,
        codes=HardwareErrorCode._meta.db_table,
        tasks=TechnicianTask._meta.db_table,
        pending=", ".join(["%s"] * len(PENDING_TASK)),
    )
    params: list[int | str] = [
        substation_id,
        Severity.CRITICAL,
        AssetStatus.DECOMMISSIONED,
        *PENDING_TASK,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [UnhandledFault(*row) for row in cursor.fetchall()]


def tasks_visible_to(*, user: User | AnonymousUser) -> QuerySet[TechnicianTask]:
    """Every task for staff; an owner's login sees the tasks of its own assets."""
    tasks = TechnicianTask.objects.all()
    return owner_scoped(tasks, user=user, owner_field="asset__owner_id")


def notifications_visible_to(*, user: User | AnonymousUser) -> QuerySet[Notification]:
    """Every message for staff; an owner's login sees the messages sent to it."""
    rows = Notification.objects.all()
    return owner_scoped(rows, user=user, owner_field="owner_id")


SMS_RECIPIENTS_SQL = """
SELECT a.id, a.name, o.id, o.phone
  FROM {assets} a
  JOIN {owners} o ON o.id = a.owner_id
 WHERE a.id IN ({ids})
   AND o.sms_consent
   AND o.sms_opted_out_at IS NULL
   AND o.phone <> ''
   AND NOT EXISTS (
       SELECT 1 FROM {notifications} n
        WHERE n.owner_id = o.id AND n.channel = %s AND n.template = %s
          AND n.created_at >= %s)
"""

# Ids per statement: under SQLite's limit of bound parameters.
IDS_PER_QUERY = 10_000


def sms_recipients(
    *, asset_ids: list[int], quiet_since: datetime
) -> list[tuple[int, str, int, str]]:
    """(asset id, asset name, owner id, phone) for the assets whose owner may get a
    discharge SMS now: consent, a number, no STOP, none in the quiet period.

    Written in SQL: it runs whenever batteries start discharging, and the ORM's
    compilation cost more than the query.
    """
    sql = SMS_RECIPIENTS_SQL.format(
        assets=DERAsset._meta.db_table,
        owners=Owner._meta.db_table,
        notifications=Notification._meta.db_table,
        ids="{ids}",
    )
    since = connection.ops.adapt_datetimefield_value(quiet_since)
    rows: list[tuple[int, str, int, str]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one array: one prepared statement
            sql = sql.replace("a.id IN ({ids})", "a.id = ANY(%s)")
            cursor.execute(sql, [asset_ids, Channel.SMS, DISCHARGE_SMS, since])
            return cursor.fetchall()
        for start in range(0, len(asset_ids), IDS_PER_QUERY):
            part = asset_ids[start : start + IDS_PER_QUERY]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                sql.format(ids=marks), [*part, Channel.SMS, DISCHARGE_SMS, since]
            )
            rows += cursor.fetchall()
    return rows
