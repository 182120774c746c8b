"""Beat's schedule, defined in code and written to django-celery-beat's tables.

`python manage.py setup_periodic_tasks` (run by `make run` and the demo) makes the
database match this list: it creates or updates each entry and disables any
entry under our prefix that the list no longer names.

Safety entries (the setpoint expiry sweeper, the dispatch fan-out, the heartbeat,
the notification sender) are owned by code: `safety_tasks_assert` rewrites every
field of their rows when beat starts (dermgmt/celery.py), the admin keeps them
read-only for all but superusers, and /healthz reports any row that differs
(`safety_tasks_drift`). docs/architecture.md, "Beat".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

PREFIX = "dermgmt:"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    every_s: float
    enabled: bool = True
    expires_s: float | None = None
    # Owned by code: never disabled or changed through the admin by an operator.
    safety: bool = False

    @property
    def every(self) -> int:
        """Beat's interval in whole seconds (IntervalSchedule.every)."""
        return max(1, round(self.every_s))


def schedule() -> list[Periodic]:
    """Every periodic task of the product, read from settings when called."""
    return [
        Periodic(
            name="heartbeat",
            task="dermgmt.tasks.heartbeat",
            every_s=settings.HEARTBEAT_PERIOD_S,
            expires_s=settings.HEARTBEAT_PERIOD_S,
            safety=True,
        ),
        Periodic(
            name="dispatch-fan-out",
            task="dispatch.tasks.cycles_fan_out",
            every_s=settings.DISPATCH_FAN_OUT_S,
            expires_s=settings.DISPATCH_FAN_OUT_S,
            safety=True,
        ),
        Periodic(
            name="setpoints-expire",
            task="dispatch.tasks.setpoints_expire",
            every_s=settings.SETPOINT_SWEEP_S,
            expires_s=settings.SETPOINT_SWEEP_S,
            safety=True,
        ),
        Periodic(
            name="notifications-send",
            task="incidents.tasks.notifications_send_due",
            every_s=settings.NOTIFICATION_SWEEP_S,
            expires_s=settings.NOTIFICATION_SWEEP_S,
            safety=True,
        ),
        Periodic(
            name="forecasts",
            task="forecasting.tasks.forecasts_run",
            every_s=settings.FORECAST_PERIOD_S,
            expires_s=settings.FORECAST_PERIOD_S,
        ),
        Periodic(
            # Hourly: each substation's day ends at its own local midnight.
            name="forecast-accuracy",
            task="forecasting.tasks.forecast_accuracy_due",
            every_s=3600,
            expires_s=3600,
        ),
        Periodic(
            # Hourly: each substation's report follows its own local midnight.
            name="stability-reports",
            task="reports.tasks.reports_due",
            every_s=3600,
            expires_s=3600,
        ),
        Periodic(
            name="simulator",
            task="dermgmt.tasks.simulate",
            every_s=settings.SIMULATOR_PERIOD_S,
            enabled=settings.SIMULATOR_ENABLED,
            expires_s=settings.SIMULATOR_PERIOD_S,
        ),
    ]


def safety_entries() -> list[Periodic]:
    return [entry for entry in schedule() if entry.safety]


def safety_names() -> set[str]:
    """Row names (PeriodicTask.name) of the safety entries."""
    return {PREFIX + entry.name for entry in safety_entries()}


def pinned_fields(entry: Periodic) -> dict:
    """Every field of a safety row that beat reads, as code wants it.

    Anything an operator could use to stop the task (a start time in the
    future, an expiry date in the past, one-off, another queue, arguments)
    is pinned too, not only `enabled` and the interval.
    """
    return {
        "task": entry.task,
        "crontab": None,
        "solar": None,
        "clocked": None,
        "enabled": entry.enabled,
        "one_off": False,
        "start_time": None,
        "expires": None,
        "expire_seconds": entry.expires_s and round(entry.expires_s),
        "args": "[]",
        "kwargs": "{}",
        "queue": None,
        "exchange": None,
        "routing_key": None,
        "priority": None,
        "headers": "{}",
    }


JSON_FIELDS = {"args", "kwargs", "headers"}
FOREIGN_KEYS = {"crontab", "solar", "clocked"}  # other kinds of schedule


def _differs(row, entry: Periodic) -> list[str]:
    """Names of the fields of `row` that are not what code pins."""
    wrong = [
        name
        for name, want in pinned_fields(entry).items()
        if name not in JSON_FIELDS | FOREIGN_KEYS and getattr(row, name) != want
    ]
    wrong += [
        name for name in sorted(FOREIGN_KEYS) if getattr(row, f"{name}_id") is not None
    ]
    wrong += [name for name in sorted(JSON_FIELDS) if not _empty(getattr(row, name))]
    interval = row.interval
    if interval is None or (interval.every, interval.period) != (
        entry.every,
        "seconds",  # IntervalSchedule.SECONDS
    ):
        wrong.append("interval")
    return wrong


def _empty(text: str | None) -> bool:
    """Is this JSON text field empty ([], {}, null, blank)? Not JSON: no."""
    try:
        return json.loads(text or "null") in ([], {}, None)
    except ValueError:
        return False


def safety_tasks_drift() -> list[str]:
    """What is wrong with the safety rows, one phrase each; [] when all is well.

    One query. Read by /healthz.
    """
    from django_celery_beat.models import PeriodicTask

    rows = {
        row.name: row
        for row in PeriodicTask.objects.select_related("interval").filter(
            name__in=safety_names()
        )
    }
    problems = []
    for entry in safety_entries():
        name = PREFIX + entry.name
        row = rows.get(name)
        if row is None:
            problems.append(f"{name} is missing")
        elif entry.enabled and not row.enabled:
            problems.append(f"{name} is disabled")
        elif wrong := _differs(row, entry):
            problems.append(f"{name} differs from code: {', '.join(wrong)}")
    return problems


@transaction.atomic
def safety_tasks_assert() -> list[str]:
    """Make every safety row exactly what code says; return what was wrong.

    Idempotent: nothing is written while every row matches (beat reloads its
    schedule only when something changed). Run when beat starts.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    problems = safety_tasks_drift()
    if not problems:
        return []
    for entry in safety_entries():
        same = {"every": entry.every, "period": IntervalSchedule.SECONDS}
        # Not get_or_create: the admin can make two rows of one interval.
        interval = IntervalSchedule.objects.filter(**same).order_by("pk").first()
        interval = interval or IntervalSchedule.objects.create(**same)
        PeriodicTask.objects.update_or_create(
            name=PREFIX + entry.name,
            defaults={"interval": interval, **pinned_fields(entry)},
        )  # save() marks the schedule changed: a running beat reloads it
    logger.warning("safety tasks re-asserted from code: %s", "; ".join(problems))
    return problems
