"""PV forecast model against pvlib's own sample weather and its PVWatts chain."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.solar import GAMMA_PDC, INVERTER_EFFICIENCY, SAPM_MODULE, pv_power_kw

TMY3 = os.path.join(os.path.dirname(pvlib.__file__), "data", "723170TYA.CSV")


@pytest.fixture(scope="module")
def summer_day():
    """The sunniest June day of pvlib's TMY3 sample (Greensboro, NC), hourly."""
    weather, meta = pvlib.iotools.read_tmy3(TMY3, coerce_year=2026, map_variables=True)
    day = weather.loc["2026-06-30"]
    return day, meta


def model(day, meta, *, dc_kwp=5.0, tilt=30.0, azimuth=180.0, ac_limit=np.nan):
    return pv_power_kw(
        times=day.index,
        latitude=meta["latitude"],
        longitude=meta["longitude"],
        ghi_w_m2=day["ghi"].to_numpy(),
        dni_w_m2=day["dni"].to_numpy(),
        dhi_w_m2=day["dhi"].to_numpy(),
        air_temperature_c=day["temp_air"].to_numpy(),
        wind_speed_m_s=day["wind_speed"].to_numpy(),
        dc_kwp=np.array([dc_kwp]),
        tilt_deg=np.array([tilt]),
        azimuth_deg=np.array([azimuth]),
        ac_limit_kw=np.array([ac_limit]),
    )[:, 0]


def pvwatts_independently(day, meta) -> pd.Series:
    """pvlib's own ModelChain with PVWatts, for the same 5 kWp south array."""
    location = pvlib.location.Location(
        meta["latitude"], meta["longitude"], altitude=meta["altitude"]
    )
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=30,
        surface_azimuth=180,
        module_parameters={"pdc0": 5.0, "gamma_pdc": GAMMA_PDC},
        inverter_parameters={"pdc0": 5.0 / INVERTER_EFFICIENCY},
        temperature_model_parameters=SAPM_MODULE,
    )
    chain = pvlib.modelchain.ModelChain.with_pvwatts(system, location)
    chain.run_model(day[["ghi", "dni", "dhi", "temp_air", "wind_speed"]])
    return chain.results.ac.clip(lower=0)


def test_a_tmy_summer_day_has_the_shape_and_energy_of_pvwatts(summer_day):
    day, meta = summer_day
    ac = model(day, meta)
    sun = pvlib.solarposition.get_solarposition(
        day.index, meta["latitude"], meta["longitude"]
    )
    night = sun["apparent_zenith"].to_numpy() >= 90
    assert night.any() and np.all(ac[night] == 0)
    noon = day.index[np.argmin(sun["zenith"].to_numpy())]
    peak = day.index[np.argmax(ac)]
    assert abs((peak - noon).total_seconds()) <= 2 * 3600
    ours_kwh, theirs_kwh = ac.sum(), pvwatts_independently(day, meta).sum()
    assert theirs_kwh > 10  # a sunny June day on 5 kWp
    assert abs(ours_kwh - theirs_kwh) / theirs_kwh < 0.15


def test_ghi_alone_is_decomposed(summer_day):
    day, meta = summer_day
    with_components = model(day, meta)
    ghi_only = pv_power_kw(
        times=day.index,
        latitude=meta["latitude"],
        longitude=meta["longitude"],
        ghi_w_m2=day["ghi"].to_numpy(),
        air_temperature_c=day["temp_air"].to_numpy(),
        wind_speed_m_s=day["wind_speed"].to_numpy(),
        dc_kwp=np.array([5.0]),
        tilt_deg=np.array([30.0]),
        azimuth_deg=np.array([180.0]),
        ac_limit_kw=np.array([np.nan]),
    )[:, 0]
    assert abs(ghi_only.sum() - with_components.sum()) / with_components.sum() < 0.15


def test_the_inverter_clips_at_the_ac_limit(summer_day):
    day, meta = summer_day
    clipped = model(day, meta, ac_limit=2.0)
    assert clipped.max() == pytest.approx(2.0)
    assert np.all(clipped <= 2.0)


def test_many_arrays_in_one_call_match_one_at_a_time(summer_day):
    day, meta = summer_day
    kwp = np.array([3.0, 5.0, 8.0])
    tilt, azimuth = np.array([10.0, 30.0, 45.0]), np.array([90.0, 180.0, 270.0])
    together = pv_power_kw(
        times=day.index,
        latitude=meta["latitude"],
        longitude=meta["longitude"],
        ghi_w_m2=day["ghi"].to_numpy(),
        dni_w_m2=day["dni"].to_numpy(),
        dhi_w_m2=day["dhi"].to_numpy(),
        air_temperature_c=day["temp_air"].to_numpy(),
        wind_speed_m_s=day["wind_speed"].to_numpy(),
        dc_kwp=kwp,
        tilt_deg=tilt,
        azimuth_deg=azimuth,
        ac_limit_kw=np.full(3, np.nan),
    )
    for i in range(3):
        alone = model(day, meta, dc_kwp=kwp[i], tilt=tilt[i], azimuth=azimuth[i])
        np.testing.assert_allclose(together[:, i], alone)


@settings(max_examples=100, deadline=None)
@given(
    ghi=st.lists(st.floats(0, 1400), min_size=24, max_size=24),
    temperature=st.floats(-30, 50),
    wind=st.floats(0, 30),
    kwp=st.floats(0.1, 500),
    tilt=st.floats(0, 90),
    azimuth=st.floats(0, 360),
)
def test_output_is_never_negative_nor_above_nameplate(
    ghi, temperature, wind, kwp, tilt, azimuth
):
    times = pd.date_range("2026-06-21", periods=24, freq="h", tz="UTC")
    ac = pv_power_kw(
        times=times,
        latitude=40.0,
        longitude=-105.0,
        ghi_w_m2=np.array(ghi),
        air_temperature_c=np.full(24, temperature),
        wind_speed_m_s=np.full(24, wind),
        dc_kwp=np.array([kwp]),
        tilt_deg=np.array([tilt]),
        azimuth_deg=np.array([azimuth]),
        ac_limit_kw=np.array([np.nan]),
    )
    assert np.all(ac >= 0) and np.all(ac <= kwp)
