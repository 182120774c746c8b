"""The operator dashboard's JSON: what it says, for whom, at what cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch.models import DispatchRun, Outcome
from forecasting.models import EnergyForecast
from incidents.models import (
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentSeverity,
)
from tests.conftest import make_fleet, make_reading, make_sensor, make_substation

pytestmark = pytest.mark.django_db

URL = "/dashboard.json"


def grid(count: int) -> None:
    """`count` substations, each reporting, cycling, alerting and forecasting."""
    now = timezone.now()
    for _ in range(count):
        site = make_substation()
        make_sensor(site)
        make_fleet(site, 3, target_output_kw=1.0)
        for minutes in (50, 20, 0):
            make_reading(site, age_s=minutes * 60 + 2, frequency_hz=59.95)
        DispatchRun.objects.create(
            substation=site,
            slot_at=now,
            started_at=now - timedelta(seconds=2),
            outcome=Outcome.DISPATCHED,
            capacity_nameplate_kw=15.0,
            capacity_kw=12.0,
            command_kw=3.0,
            imbalance_kw=-9.0,
        )
        incident = GridIncident.objects.create(
            substation=site,
            kind=IncidentKind.FREQUENCY,
            severity=IncidentSeverity.MODERATE,
            opened_at=now,
            worst_value=59.95,
            description="test",
        )
        ActiveAlert.objects.create(incident=incident, raised_at=now)
        EnergyForecast.objects.create(
            substation=site,
            issued_at=now - timedelta(minutes=5),
            valid_at=now + timedelta(minutes=10),
            model_version="test",
            solar_raw_kw=4.0,
            wind_raw_kw=1.0,
            solar_kw=4.0,
            wind_kw=1.0,
            expected_generation=5.0,
            capacity_kw=20.0,
        )


def test_it_reports_each_substation_and_the_fleet(client, operator):
    grid(2)
    client.force_login(operator)
    data = client.get(URL).json()
    first = data["substations"][0]
    assert first["reading"]["frequency_hz"] == 59.95
    assert not first["reading"]["stale"]
    assert first["cycle"]["running"]
    assert first["discharging"] == 3
    assert sum(v is not None for v in first["sparkline"]["frequency_hz"]) == 3
    assert data["fleet"]["command_kw"] == 6.0
    assert data["fleet"]["available_kw"] == 24.0
    assert data["fleet"]["discharging"] == 6
    assert len(data["alerts"]) == 2
    assert data["forecast"]["solar_kw"] == [8.0]


def test_stale_readings_and_a_stopped_cycle_are_flagged(client, operator):
    grid(1)
    DispatchRun.objects.update(started_at=timezone.now() - timedelta(minutes=5))
    site = DispatchRun.objects.get().substation
    site.readings.all().delete()
    make_reading(site, age_s=120)
    client.force_login(operator)
    data = client.get(URL).json()
    (only,) = data["substations"]
    assert only["reading"]["stale"] and not only["cycle"]["running"]
    assert data["fleet"]["stale"] == 1 and data["fleet"]["cycles_stopped"] == 1


def test_the_number_of_queries_does_not_grow_with_the_grid(client, operator):
    client.force_login(operator)
    grid(2)
    with CaptureQueriesContext(connection) as small:
        client.get(URL)
    grid(6)
    with CaptureQueriesContext(connection) as large:
        client.get(URL)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_only_operators_see_it(client, owner_user, technician):
    client.force_login(owner_user)
    assert client.get(URL).status_code == 403
    page = client.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/")
    client.force_login(technician)
    assert client.get(URL).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302  # to the login page


def test_the_page_embeds_the_figures_and_polls(client, operator, settings):
    settings.DASHBOARD_REFRESH_S = 2
    grid(1)
    client.force_login(operator)
    page = client.get("/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="initial"' in text and "59.95" in text
    assert "refreshMs: 2000" in text
