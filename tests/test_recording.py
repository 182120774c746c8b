"""Readings and telemetry: stored set-based, idempotent; state only moves forward."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import AssetTelemetry
from assets.services import telemetry_record
from grid.models import GridReading
from grid.services import readings_record
from tests.conftest import make_battery, make_owner, make_sensor

pytestmark = pytest.mark.django_db


def test_it_stores_a_resent_reading_once(substation):
    sensor = make_sensor(substation)
    at = timezone.now()

    def batch():
        return [
            GridReading(
                substation=substation,
                sensor=sensor,
                measured_at=at - timedelta(seconds=i),
                frequency_hz=60.0,
                voltage_pu=1.0,
                load_kw=100.0,
            )
            for i in range(3)
        ]

    readings_record(readings=batch())
    readings_record(readings=batch())
    assert GridReading.objects.filter(sensor=sensor).count() == 3
    sensor.refresh_from_db()
    assert sensor.last_reading_at == at


def test_it_never_moves_a_sensor_back_in_time(substation):
    sensor = make_sensor(substation)
    now = timezone.now()
    for at in (now, now - timedelta(minutes=5)):
        readings_record(
            readings=[
                GridReading(
                    substation=substation,
                    sensor=sensor,
                    measured_at=at,
                    frequency_hz=60.0,
                    voltage_pu=1.0,
                    load_kw=1.0,
                )
            ]
        )
    sensor.refresh_from_db()
    assert sensor.last_reading_at == now


def test_it_carries_the_newest_state_of_charge_onto_the_asset(substation):
    asset = make_battery(substation, make_owner(), state_of_charge=80.0)
    now = timezone.now()
    telemetry_record(
        telemetry=[
            AssetTelemetry(
                asset=asset, measured_at=now, output_kw=2.0, state_of_charge=60.0
            ),
            AssetTelemetry(
                asset=asset,
                measured_at=now - timedelta(seconds=30),
                output_kw=2.0,
                state_of_charge=61.0,
            ),
        ]
    )
    asset.refresh_from_db()
    assert (asset.state_of_charge, asset.last_telemetry_at) == (60.0, now)

    late = now - timedelta(minutes=1)
    telemetry_record(
        telemetry=[
            AssetTelemetry(
                asset=asset, measured_at=late, output_kw=0.0, state_of_charge=95.0
            )
        ]
    )
    asset.refresh_from_db()
    assert (asset.state_of_charge, asset.last_telemetry_at) == (60.0, now)
    assert AssetTelemetry.objects.filter(asset=asset).count() == 3


def test_it_records_many_assets_in_a_constant_number_of_queries(
    substation, django_assert_max_num_queries
):
    owner = make_owner()
    assets = [make_battery(substation, owner) for _ in range(50)]
    now = timezone.now()
    rows = [
        AssetTelemetry(asset=a, measured_at=now, output_kw=1.0, state_of_charge=50.0)
        for a in assets
    ]
    with django_assert_max_num_queries(6):
        telemetry_record(telemetry=rows)
    assert AssetTelemetry.objects.count() == 50
