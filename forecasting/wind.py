"""Expected AC power (kW) of wind turbines for forecast wind speeds.

Pure numpy/windpowerlib: no database, no Django. Units: wind speeds in m/s,
heights and roughness lengths in m, power in kW.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import pandas as pd
import windpowerlib
from windpowerlib.power_output import power_curve as interpolate_power_curve
from windpowerlib.wind_speed import logarithmic_profile

# windpowerlib ships the OEDB turbine library as CSV files inside the package;
# WindTurbine(path="oedb") reads from this same folder, so reading it needs no
# network (unlike get_turbine_types(turbine_library="oedb")). One row per
# turbine type, one column per wind speed (m/s), values in W.
OEDB_POWER_CURVES_CSV = os.path.join(
    os.path.dirname(windpowerlib.__file__), "oedb", "power_curves.csv"
)

# Generic curve for turbines with neither a library type nor their own curve.
GENERIC_CUT_IN_M_S = 3.0
GENERIC_RATED_M_S = 12.0
GENERIC_CUT_OUT_M_S = 25.0

# (wind speeds in m/s, power in kW), wind speeds in increasing order.
Curve = tuple[np.ndarray, np.ndarray]


def wind_power_kw(
    *,
    wind_speed_m_s: np.ndarray,
    measured_height_m: float,
    hub_height_m: np.ndarray,
    rated_kw: np.ndarray,
    turbine_type: list[str],
    power_curve: list[list[list[float]] | None],
    roughness_length_m: float = 0.15,
) -> np.ndarray:
    """Expected AC power in kW, shape (len(wind_speed_m_s), n_turbines).

    - wind_speed_m_s: forecast wind speeds (m/s) measured at measured_height_m (m).
    - hub_height_m, rated_kw, turbine_type, power_curve: one entry per turbine;
      hub height in m, rated power in kW, windpowerlib turbine type ("" if none)
      and the asset's own curve as [[wind speed m/s, power kW], ...] or None.
    - roughness_length_m: surface roughness length (m); 0.15 m is farmland with
      hedges, a reasonable default for distribution-grid sites.

    Wind speed is moved to hub height with windpowerlib's logarithmic profile
    rather than hellman: it uses the site's roughness length, which is a
    physical quantity, where hellman needs an empirical exponent; it is also
    windpowerlib's ModelChain default.

    Each turbine's curve is, in order of preference: the windpowerlib (OEDB)
    library curve of its turbine_type, its own power_curve, else the generic
    curve scaled to rated_kw (see generic_curve). Power is linearly
    interpolated on the curve, 0 below its first and above its last wind speed
    (cut-out: the curve ends there) and clipped to [0, max of the curve], and
    never above the asset's rated_kw (its nameplate) where that is set. NaN wind
    speeds give NaN power (missing stays missing).
    """
    hub_heights = np.asarray(hub_height_m, dtype=float)
    rated = np.asarray(rated_kw, dtype=float)
    n_turbines = len(hub_heights)
    if not len(rated) == len(turbine_type) == len(power_curve) == n_turbines:
        raise ValueError("per-turbine arguments must all have the same length")

    hub_speeds = hub_wind_speed_m_s(
        wind_speed_m_s=wind_speed_m_s,
        measured_height_m=measured_height_m,
        hub_height_m=hub_heights,
        roughness_length_m=roughness_length_m,
    )
    power = np.empty_like(hub_speeds)
    for i in range(n_turbines):
        curve = turbine_curve(
            turbine_type=turbine_type[i],
            power_curve=power_curve[i],
            rated_kw=float(rated[i]),
        )
        power[:, i] = power_on_curve(wind_speed_m_s=hub_speeds[:, i], curve=curve)
    # Never above the asset's nameplate (a derated turbine on a library curve).
    nameplate = np.where(rated > 0, rated, np.inf)
    return np.minimum(power, nameplate[None, :])


def hub_wind_speed_m_s(
    *,
    wind_speed_m_s: np.ndarray,
    measured_height_m: float,
    hub_height_m: np.ndarray,
    roughness_length_m: float,
) -> np.ndarray:
    """Wind speed (m/s) at each hub height, shape (n_times, n_turbines).

    Logarithmic profile from measured_height_m to hub_height_m (both m);
    equal heights leave the speed unchanged.
    """
    speeds = np.asarray(wind_speed_m_s, dtype=float)
    return logarithmic_profile(
        speeds[:, np.newaxis],
        measured_height_m,
        np.asarray(hub_height_m, dtype=float)[np.newaxis, :],
        roughness_length_m,
    )


def power_on_curve(*, wind_speed_m_s: np.ndarray, curve: Curve) -> np.ndarray:
    """Power (kW) at hub wind speeds (m/s); 0 outside the curve's speed range."""
    speeds, power = curve
    # windpowerlib's power_curve is np.interp with left=0, right=0.
    interpolated = interpolate_power_curve(wind_speed_m_s, speeds, power)
    # Clipping guards against hand-entered asset curves with negative points.
    return np.clip(interpolated, 0.0, max(float(power.max()), 0.0))


def turbine_curve(
    *, turbine_type: str, power_curve: list[list[float]] | None, rated_kw: float
) -> Curve:
    """The curve to use for one turbine: library, then own, then generic."""
    if turbine_type:
        library = library_curve(turbine_type=turbine_type)
        if library is not None:
            return library
    if power_curve:
        return asset_curve(power_curve=power_curve)
    return generic_curve(rated_kw=rated_kw)


@lru_cache(maxsize=256)
def library_curve(*, turbine_type: str) -> Curve | None:
    """Power curve (m/s, kW) of a windpowerlib turbine type, or None if unknown.

    Cached, so many turbines of one type share one curve.
    """
    table = _oedb_power_curves_w()
    if turbine_type not in table.index:
        return None
    # Like windpowerlib's get_turbine_data_from_file, whose dropna(inplace=True)
    # is deprecated in pandas 3: blank cells are speeds this type has no value at.
    row = table.loc[turbine_type].dropna()
    speeds = row.index.to_numpy(dtype=float)
    order = np.argsort(speeds, kind="stable")
    power_kw = row.to_numpy(dtype=float)[order] / 1000.0
    return _read_only(speeds[order], power_kw)


@lru_cache(maxsize=1)
def _oedb_power_curves_w() -> pd.DataFrame:
    # Read the whole (small) library once rather than once per turbine type.
    return pd.read_csv(OEDB_POWER_CURVES_CSV, index_col=0)


def asset_curve(*, power_curve: list[list[float]]) -> Curve:
    """An asset's own [[wind speed m/s, power kW], ...] as a sorted curve."""
    points = np.asarray(power_curve, dtype=float).reshape(-1, 2)
    points = points[np.argsort(points[:, 0], kind="stable")]  # np.interp needs it
    return points[:, 0], points[:, 1]


def generic_curve(*, rated_kw: float) -> Curve:
    """Generic curve scaled to rated_kw (kW).

    0 kW below cut-in (3 m/s), rising with the cube of wind speed
    (rated * (v³ - 3³) / (12³ - 3³)) to rated_kw at 12 m/s, flat at rated_kw to
    cut-out (25 m/s), 0 above. The cubic part is sampled every 0.1 m/s.
    """
    speeds, per_unit = _generic_per_unit_curve()
    return speeds, per_unit * rated_kw


@lru_cache(maxsize=1)
def _generic_per_unit_curve() -> Curve:
    rising = np.linspace(GENERIC_CUT_IN_M_S, GENERIC_RATED_M_S, 91)
    cut_in_cubed, rated_cubed = GENERIC_CUT_IN_M_S**3, GENERIC_RATED_M_S**3
    per_unit = (rising**3 - cut_in_cubed) / (rated_cubed - cut_in_cubed)
    speeds = np.append(rising, GENERIC_CUT_OUT_M_S)
    return _read_only(speeds, np.append(per_unit, 1.0))


def _read_only(speeds: np.ndarray, power: np.ndarray) -> Curve:
    # Cached arrays are shared between callers: make accidental edits fail loudly.
    speeds.flags.writeable = False
    power.flags.writeable = False
    return speeds, power
