"""Physically impossible values are refused by the model layer and by the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assets.models import AssetKind, AssetTelemetry, DERAsset
from grid.models import GridReading
from tests.conftest import make_battery, make_owner, make_sensor, make_substation

pytestmark = pytest.mark.django_db


def reading(substation, **fields) -> GridReading:
    values = {
        "measured_at": timezone.now(),
        "frequency_hz": 60.0,
        "voltage_pu": 1.0,
        "load_kw": 500.0,
    } | fields
    return GridReading(substation=substation, **values)


def messages(error: ValidationError) -> str:
    return " ".join(error.messages)


@pytest.mark.parametrize("frequency_hz", [0.0, 500.0, -50.0, 44.9, 65.1])
def test_it_refuses_an_impossible_frequency(substation, frequency_hz):
    bad = reading(substation, frequency_hz=frequency_hz)
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "Frequency must be between 45 and 65 Hz." in messages(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        GridReading.objects.bulk_create([bad])
    assert not GridReading.objects.exists()


@pytest.mark.parametrize("frequency_hz", [45.0, 49.5, 59.7, 60.0, 65.0])
def test_it_accepts_a_plausible_frequency(substation, frequency_hz):
    reading(substation, frequency_hz=frequency_hz).full_clean()


def test_it_refuses_negative_load_and_voltage(substation):
    with pytest.raises(ValidationError) as error:
        reading(substation, load_kw=-1.0, voltage_pu=-0.1).full_clean()
    assert "Load cannot be negative." in messages(error.value)
    assert "Voltage must be between 0 and 2 per unit." in messages(error.value)


def test_it_refuses_a_sensor_of_another_substation(substation):
    sensor = make_sensor(make_substation())
    with pytest.raises(ValidationError) as error:
        reading(substation, sensor=sensor).full_clean()
    assert "another substation" in messages(error.value)


def test_it_refuses_a_second_reading_from_one_sensor_at_one_time(substation):
    sensor = make_sensor(substation)
    first = reading(substation, sensor=sensor)
    first.save()
    again = reading(substation, sensor=sensor, measured_at=first.measured_at)
    with pytest.raises(ValidationError):
        again.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        again.save()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_discharge_power", -5.0, "Maximum discharge power cannot be negative."),
        ("energy_capacity_kwh", -1.0, "Energy capacity cannot be negative."),
        ("state_of_charge", 140.0, "State of charge must be between 0 and 100 %."),
        ("state_of_charge", -1.0, "State of charge must be between 0 and 100 %."),
        ("min_soc_reserve", 101.0, "Reserve must be between 0 and 100 %."),
        (
            "target_output_kw",
            6.0,
            "Target output must be between 0 and the maximum discharge power.",
        ),
        (
            "target_output_kw",
            -1.0,
            "Target output must be between 0 and the maximum discharge power.",
        ),
    ],
)
def test_it_refuses_an_asset_beyond_physical_limits(substation, field, value, message):
    asset = make_battery(substation, make_owner())
    setattr(asset, field, value)
    with pytest.raises(ValidationError) as error:
        asset.full_clean()
    assert message in messages(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        DERAsset.objects.filter(pk=asset.pk).update(**{field: value})
    asset.refresh_from_db()
    assert getattr(asset, field) != value


def test_it_needs_the_ratings_of_each_kind(substation):
    owner = make_owner()
    pv = DERAsset(
        uid="pv-1", name="PV", kind=AssetKind.PV, owner=owner, substation=substation
    )
    with pytest.raises(ValidationError) as error:
        pv.full_clean()
    assert "pv_dc_kwp" in error.value.message_dict


def test_it_refuses_telemetry_with_impossible_state_of_charge(substation):
    asset = make_battery(substation, make_owner())
    telemetry = AssetTelemetry(
        asset=asset, measured_at=timezone.now(), output_kw=1.0, state_of_charge=140.0
    )
    with pytest.raises(ValidationError) as error:
        telemetry.full_clean()
    assert "State of charge must be between 0 and 100 %." in messages(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        telemetry.save()


def test_it_refuses_an_invalid_phone_number():
    owner = make_owner()
    owner.phone = "+1 555"
    with pytest.raises(ValidationError) as error:
        owner.full_clean()
    assert "phone" in error.value.message_dict


def test_it_refuses_an_unknown_time_zone():
    substation = make_substation()
    substation.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError) as error:
        substation.full_clean()
    assert "time_zone" in error.value.message_dict
