"""Wind power model: pure numpy/windpowerlib, no database."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from windpowerlib import WindTurbine
from windpowerlib.wind_speed import logarithmic_profile

from forecasting.wind import library_curve, wind_power_kw

# A turbine from windpowerlib's bundled OEDB data whose curve runs to its
# cut-out (25 m/s). Hub height 135 m is one of the E-126's real options.
TURBINE = "E-126/4200"
HUB_M = 135.0


def one_turbine_kw(
    speeds: list[float],
    *,
    turbine_type: str = "",
    curve: list[list[float]] | None = None,
    rated_kw: float = 0.0,
    measured_height_m: float = HUB_M,
) -> np.ndarray:
    power = wind_power_kw(
        wind_speed_m_s=np.array(speeds),
        measured_height_m=measured_height_m,
        hub_height_m=np.array([HUB_M]),
        rated_kw=np.array([rated_kw]),
        turbine_type=[turbine_type],
        power_curve=[curve],
    )
    assert power.shape == (len(speeds), 1)
    return power[:, 0]


# windpowerlib 0.2.2's own loader calls a pandas 3 deprecated dropna(inplace=True);
# the module avoids it, only this independent read goes through it.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.dropna")
def test_library_turbine_gives_its_published_curve():
    # Read the curve through windpowerlib's own WindTurbine (in W), independently
    # of the module, which reads the bundled CSV itself.
    published = WindTurbine(turbine_type=TURBINE, hub_height=HUB_M).power_curve
    published_kw = dict(
        zip(published["wind_speed"], published["value"] / 1000.0, strict=True)
    )
    speeds, power_kw = library_curve(turbine_type=TURBINE)
    assert dict(zip(speeds, power_kw, strict=True)) == pytest.approx(published_kw)
    assert (speeds[0], speeds[-1], power_kw.max()) == (1.0, 25.0, 4200.0)

    power = one_turbine_kw([4.0, 8.0, 12.0, 26.0, 1.0, 0.5], turbine_type=TURBINE)

    assert power[:3] == pytest.approx([published_kw[s] for s in (4.0, 8.0, 12.0)])
    # Hard-coded so a change in windpowerlib's data shows up here.
    assert power[:3] == pytest.approx([185.0, 1790.0, 4000.0])
    assert list(power[3:]) == [0.0, 0.0, 0.0]  # above cut-out 25, below cut-in


def test_library_curve_is_cached_and_unknown_types_fall_back():
    assert library_curve(turbine_type=TURBINE) is library_curve(turbine_type=TURBINE)
    assert library_curve(turbine_type="no such turbine") is None
    power = one_turbine_kw(
        [6.5], turbine_type="no such turbine", curve=[[3, 0], [10, 50], [25, 50]]
    )
    assert power == pytest.approx([25.0])


def test_hub_height_correction_uses_logarithmic_profile():
    power = wind_power_kw(
        wind_speed_m_s=np.array([6.0]),
        measured_height_m=10.0,
        hub_height_m=np.array([100.0, 10.0]),
        rated_kw=np.array([0.0, 0.0]),
        turbine_type=["", ""],
        power_curve=[[[0, 0], [30, 30]], [[0, 0], [30, 30]]],  # kW equals m/s
    )
    hub_speed = logarithmic_profile(6.0, 10.0, 100.0, 0.15)
    assert hub_speed > 6.0
    assert power[0] == pytest.approx([hub_speed, 6.0])


def test_asset_curve_is_interpolated_linearly():
    curve = [[3, 0], [10, 50], [25, 50]]
    power = one_turbine_kw([6.5, 26.0, 2.0], curve=curve, rated_kw=50.0)
    assert power == pytest.approx([25.0, 0.0, 0.0])


def test_generic_curve_respects_rated_and_cut_in_out():
    speeds = np.arange(0.0, 30.0, 0.25)
    power = one_turbine_kw(list(speeds), rated_kw=100.0)

    assert power.max() == pytest.approx(100.0)
    assert (power <= 100.0).all()
    outside = (speeds <= 3.0) | (speeds > 25.0)
    assert (power[outside] == 0.0).all()
    assert (power[~outside] > 0.0).all()
    assert one_turbine_kw([12.0, 25.0], rated_kw=100.0) == pytest.approx([100, 100])


@given(
    speeds=st.lists(st.floats(min_value=0.0, max_value=60.0), min_size=1, max_size=50),
    measured_height_m=st.floats(min_value=2.0, max_value=150.0),
)
def test_power_is_between_zero_and_rated(speeds, measured_height_m):
    rated = np.array([4200.0, 50.0, 250.0])
    power = wind_power_kw(
        wind_speed_m_s=np.array(speeds),
        measured_height_m=measured_height_m,
        hub_height_m=np.array([135.0, 30.0, 60.0]),
        rated_kw=rated,
        turbine_type=[TURBINE, "", ""],
        power_curve=[None, [[3, 0], [10, 50], [25, 50]], None],
    )
    assert power.shape == (len(speeds), 3)
    assert (power >= 0.0).all()
    assert (power <= rated).all()


def test_a_derated_turbine_never_exceeds_its_nameplate():
    power = wind_power_kw(
        wind_speed_m_s=np.array([8.0, 12.0, 20.0]),
        measured_height_m=135.0,
        hub_height_m=np.array([135.0]),
        rated_kw=np.array([2000.0]),
        turbine_type=["E-126/4200"],
        power_curve=[None],
    )[:, 0]
    assert power.tolist() == [1790.0, 2000.0, 2000.0]
