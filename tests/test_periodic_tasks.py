"""Beat's schedule comes from code: setup_periodic_tasks makes the database match it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from dermgmt.schedule import PREFIX, safety_names, safety_tasks_drift

pytestmark = pytest.mark.django_db


def setup() -> None:
    call_command("setup_periodic_tasks", stdout=io.StringIO())


def test_it_creates_each_entry_once(settings):
    settings.SIMULATOR_ENABLED = True
    setup()
    setup()
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    assert tasks == {
        f"{PREFIX}heartbeat": "dermgmt.tasks.heartbeat",
        f"{PREFIX}dispatch-fan-out": "dispatch.tasks.cycles_fan_out",
        f"{PREFIX}setpoints-expire": "dispatch.tasks.setpoints_expire",
        f"{PREFIX}notifications-send": "incidents.tasks.notifications_send_due",
        f"{PREFIX}forecasts": "forecasting.tasks.forecasts_run",
        f"{PREFIX}forecast-accuracy": "forecasting.tasks.forecast_accuracy_due",
        f"{PREFIX}stability-reports": "reports.tasks.reports_due",
        f"{PREFIX}simulator": "dermgmt.tasks.simulate",
    }
    assert PeriodicTask.objects.get(name=f"{PREFIX}simulator").interval.every == 5


def test_the_simulator_is_off_unless_enabled(settings):
    settings.SIMULATOR_ENABLED = False
    setup()
    assert not PeriodicTask.objects.get(name=f"{PREFIX}simulator").enabled


def test_it_disables_entries_the_code_no_longer_names():
    setup()
    gone = PeriodicTask.objects.get(name=f"{PREFIX}heartbeat")
    gone.pk = None
    gone.name = f"{PREFIX}retired"
    gone.save()
    setup()
    assert not PeriodicTask.objects.get(name=f"{PREFIX}retired").enabled


def test_the_safety_entries_are_the_control_loop_and_its_watchers():
    """Owned by code (tests/security/test_safety_tasks.py): the fail-safe sweeper,
    the fan-out, the heartbeat and the notification sender; not the forecasts,
    reports or the simulator."""
    assert safety_names() == {
        f"{PREFIX}heartbeat",
        f"{PREFIX}dispatch-fan-out",
        f"{PREFIX}setpoints-expire",
        f"{PREFIX}notifications-send",
    }


def test_setup_leaves_nothing_for_the_safety_check_to_report():
    setup()
    assert safety_tasks_drift() == []


def test_an_operator_may_switch_off_an_entry_that_is_not_a_safety_entry(
    client, operator
):
    setup()
    forecasts = PeriodicTask.objects.get(name=f"{PREFIX}forecasts")
    client.force_login(operator)
    client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [forecasts.pk]},
    )
    forecasts.refresh_from_db()
    assert not forecasts.enabled
