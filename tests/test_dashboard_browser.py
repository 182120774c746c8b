"""The operator dashboard in headless Chromium (Debian's `chromium`, driven by
Playwright) against the demo grid: the numbers shown are the database's, and a
new reading appears without reloading the page. Leaves a screenshot in
var/screenshots/dashboard.png."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from dermgmt.demo import demo_build
from dermgmt.simulator import simulate, simulate_readings, tick_at
from dispatch.models import DispatchRun
from dispatch.services import cycle_run
from forecasting.services import forecast_run
from grid.models import GridReading, Substation
from tests.browser import admin_login, chromium_launched, csp_violations, screenshot

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread


@pytest.fixture
def browser(tmp_path, monkeypatch):
    yield from chromium_launched(tmp_path, monkeypatch)


def demo_now() -> None:
    """The demo grid with the last hour of readings (every 5 minutes), telemetry,
    a forecast and a dispatch cycle at each substation."""
    demo_build()
    now = timezone.now()
    rng = random.Random(7)
    for minutes in range(60, -1, -5):
        simulate_readings(
            tick=tick_at(now - timedelta(minutes=minutes), period_s=5), rng=rng
        )
    simulate(now=now, period_s=5, rng=rng)
    for substation in Substation.objects.all():
        forecast_run(substation=substation, now=now)
        cycle_run(substation_id=substation.pk)


def shown(card, field: str, unit: str) -> float:
    """The number a card shows for `field`, e.g. '59.998 Hz' -> 59.998."""
    text = card.locator(f'[data-field="{field}"]').inner_text()
    assert text.endswith(f" {unit}"), text
    return float(text.removesuffix(f" {unit}").replace(",", ""))


def test_an_operator_sees_the_grid_and_it_refreshes(live_server, browser, settings):
    settings.DASHBOARD_REFRESH_S = 1
    demo_now()
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    violations = csp_violations(page)
    admin_login(page, live_server.url, "operator", "demo-operator-1", next_url="/")
    page.wait_for_selector("#substations .card")
    assert page.title() == "Grid operations · dermgmt"

    for substation in Substation.objects.all():
        reading = GridReading.objects.filter(substation=substation).latest(
            "measured_at"
        )
        card = page.locator(f'.card[data-code="{substation.code}"]')
        assert shown(card, "frequency", "Hz") == pytest.approx(
            reading.frequency_hz, abs=0.00051
        )
        assert shown(card, "voltage", "pu") == pytest.approx(
            reading.voltage_pu, abs=0.00051
        )
        assert shown(card, "load", "kW") == pytest.approx(reading.load_kw, abs=0.051)
    runs = [
        DispatchRun.objects.filter(substation=s).latest("slot_at")
        for s in Substation.objects.all()
    ]
    available = sum(run.capacity_kw for run in runs)
    assert page.inner_text("#fleet-available") == f"{available:,.1f} kW"

    first = Substation.objects.order_by("code").first()
    sensor = first.sensors.first()
    GridReading.objects.create(
        substation=first,
        sensor=sensor,
        measured_at=timezone.now(),
        frequency_hz=59.812,
        voltage_pu=1.012,
        load_kw=1500.0,
    )
    frequency = page.locator(
        f'.card[data-code="{first.code}"] [data-field="frequency"]'
    )
    frequency.filter(has_text="59.812 Hz").wait_for(timeout=10_000)
    assert violations == []  # it runs under its Content-Security-Policy

    screenshot(page, "dashboard.png")
