"""Beat's schedule, defined in code and written to django-celery-beat's tables.

`python manage.py setup_periodic_tasks` (run by `make run` and the demo) makes the
database match this list: it creates or updates each entry and disables any
entry under our prefix that the list no longer names.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

PREFIX = "dermgmt:"


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    every_s: float
    enabled: bool = True
    expires_s: float | None = None


def schedule() -> list[Periodic]:
    """Every periodic task of the product, read from settings when called."""
    return [
        Periodic(
            name="heartbeat",
            task="dermgmt.tasks.heartbeat",
            every_s=settings.HEARTBEAT_PERIOD_S,
            expires_s=settings.HEARTBEAT_PERIOD_S,
        ),
        Periodic(
            name="dispatch-fan-out",
            task="dispatch.tasks.cycles_fan_out",
            every_s=settings.DISPATCH_FAN_OUT_S,
            expires_s=settings.DISPATCH_FAN_OUT_S,
        ),
        Periodic(
            name="setpoints-expire",
            task="dispatch.tasks.setpoints_expire",
            every_s=settings.SETPOINT_SWEEP_S,
            expires_s=settings.SETPOINT_SWEEP_S,
        ),
        Periodic(
            name="notifications-send",
            task="incidents.tasks.notifications_send_due",
            every_s=settings.NOTIFICATION_SWEEP_S,
            expires_s=settings.NOTIFICATION_SWEEP_S,
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
