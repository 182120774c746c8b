"""Beat's schedule comes from code: setup_periodic_tasks makes the database match it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from dermgmt.schedule import PREFIX

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
