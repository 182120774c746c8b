"""Expected generation of a substation from its weather forecast (step 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from assets.models import AssetKind, AssetStatus, DERAsset
from forecasting.models import EnergyForecast, WeatherForecast
from forecasting.services import NoWeather, forecast_predict
from tests.conftest import make_owner, make_substation

pytestmark = pytest.mark.django_db

NOON_MDT = datetime(2026, 6, 21, 18, 0, tzinfo=UTC)  # solar noon is ~12:00 MDT
MIDNIGHT_MDT = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)


def make_site(pv_arrays: int = 1):
    substation = make_substation(latitude=40.0, longitude=-105.0)
    owner = make_owner()
    for i in range(pv_arrays):
        DERAsset.objects.create(
            uid=f"pv-{substation.pk}-{i}",
            name="Roof PV",
            kind=AssetKind.PV,
            owner=owner,
            substation=substation,
            max_discharge_power=0,
            energy_capacity_kwh=0,
            state_of_charge=0,
            pv_dc_kwp=5.0,
            pv_tilt_deg=30.0,
            pv_azimuth_deg=180.0,
        )
    DERAsset.objects.create(
        uid=f"wind-{substation.pk}",
        name="Farm turbine",
        kind=AssetKind.WIND,
        owner=owner,
        substation=substation,
        max_discharge_power=0,
        energy_capacity_kwh=0,
        state_of_charge=0,
        wind_rated_kw=50.0,
        wind_hub_height_m=30.0,
    )
    return substation


def make_weather(substation, issued_at: datetime, *, ghi: float = 800.0):
    times = pd.date_range(issued_at, periods=25, freq="15min")
    WeatherForecast.objects.bulk_create(
        WeatherForecast(
            substation=substation,
            provider="test",
            issued_at=issued_at,
            valid_at=valid_at.to_pydatetime(),
            ghi_w_m2=ghi,
            air_temperature_c=25.0,
            wind_speed_m_s=8.0,
            wind_speed_height_m=10.0,
        )
        for valid_at in times
    )


def test_sixteen_quarter_hours_of_solar_and_wind_are_stored():
    substation = make_site()
    make_weather(substation, NOON_MDT - timedelta(minutes=30))
    rows = forecast_predict(substation=substation, now=NOON_MDT + timedelta(minutes=7))
    assert len(rows) == 16
    assert rows[0].valid_at == NOON_MDT
    assert rows[-1].valid_at == NOON_MDT + timedelta(hours=3, minutes=45)
    first = rows[0]
    assert 3.0 < first.solar_kw < 5.0  # 5 kWp south at 30 degrees, 800 W/m2
    assert 0 < first.wind_kw <= 50.0
    assert first.expected_generation == pytest.approx(first.solar_kw + first.wind_kw)
    assert first.capacity_kw == 55.0
    assert (first.solar_raw_kw, first.wind_raw_kw) == (first.solar_kw, first.wind_kw)
    stored = EnergyForecast.objects.filter(substation=substation)
    assert stored.count() == 16


def test_nothing_from_the_sun_at_night():
    substation = make_site()
    make_weather(substation, MIDNIGHT_MDT, ghi=0.0)
    rows = forecast_predict(substation=substation, now=MIDNIGHT_MDT)
    assert all(row.solar_kw == 0.0 for row in rows)
    assert all(row.wind_kw > 0 for row in rows)


def test_predicting_an_issue_again_updates_it():
    substation = make_site()
    make_weather(substation, NOON_MDT)
    forecast_predict(substation=substation, now=NOON_MDT)
    DERAsset.objects.filter(kind=AssetKind.WIND).update(status=AssetStatus.FAULT)
    rows = forecast_predict(substation=substation, now=NOON_MDT)
    assert EnergyForecast.objects.count() == 16
    assert all(row.wind_kw == 0.0 for row in rows)  # out of service
    assert EnergyForecast.objects.filter(wind_kw__gt=0).count() == 0


def test_without_weather_nothing_is_predicted():
    substation = make_site()
    with pytest.raises(NoWeather):
        forecast_predict(substation=substation, now=NOON_MDT)
    assert not EnergyForecast.objects.exists()


@pytest.mark.parametrize("arrays", [2, 40])
def test_the_queries_do_not_grow_with_the_fleet(arrays, django_assert_num_queries):
    substation = make_site(pv_arrays=arrays)
    make_weather(substation, NOON_MDT)
    # savepoint, weather, PV arrays, wind turbines, correction, upsert, release
    with django_assert_num_queries(7):
        forecast_predict(substation=substation, now=NOON_MDT)


def test_the_weather_is_followed_bucket_by_bucket():
    substation = make_site()
    times = pd.date_range(NOON_MDT, periods=25, freq="15min")
    WeatherForecast.objects.bulk_create(
        WeatherForecast(
            substation=substation,
            provider="test",
            issued_at=NOON_MDT,
            valid_at=valid_at.to_pydatetime(),
            ghi_w_m2=1000.0 if i < 8 else 100.0,  # clouds after two hours
            air_temperature_c=25.0,
            wind_speed_m_s=8.0,
        )
        for i, valid_at in enumerate(times)
    )
    rows = forecast_predict(substation=substation, now=NOON_MDT)
    assert rows[0].solar_kw > 3 * rows[12].solar_kw > 0
