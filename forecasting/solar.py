"""Expected PV output from a weather forecast, through pvlib (workflow step 12).

Pure functions, no database: one call computes every PV array of a substation
at every forecast time at once, as a (times x arrays) numpy matrix in kW. The
chain is pvlib's: solar position, GHI decomposition when the provider gives no
DNI / DHI (Erbs), transposition to each array's tilt and azimuth (Hay-Davies),
cell temperature (SAPM, open-rack glass/polymer), PVWatts DC with a temperature
coefficient, and the PVWatts inverter clipped at the array's AC limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
from numpy.typing import NDArray

Floats = NDArray[np.float64]

# PVWatts defaults (NREL PVWatts v5 manual): crystalline silicon, -0.37 %/°C;
# the nominal inverter efficiency 96 %; 14 % system losses (soiling, wiring,
# mismatch, ...), as PVWatts applies them to DC.
GAMMA_PDC = -0.0037
INVERTER_EFFICIENCY = 0.96
SYSTEM_LOSSES = 0.14
SAPM_MODULE = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][
    "open_rack_glass_polymer"
]


def pv_power_kw(
    *,
    times: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    ghi_w_m2: Floats,
    air_temperature_c: Floats,
    wind_speed_m_s: Floats,
    dc_kwp: Floats,
    tilt_deg: Floats,
    azimuth_deg: Floats,
    ac_limit_kw: Floats,
    dni_w_m2: Floats | None = None,
    dhi_w_m2: Floats | None = None,
) -> Floats:
    """AC output (kW) of each array at each time: shape (len(times), len(dc_kwp)).

    Weather inputs are per time (W/m², °C, m/s at any height: the SAPM model
    takes it as given); array inputs are per array (kWp DC, tilt 0-90° from
    horizontal, azimuth clockwise from north, AC limit in kW, NaN for none).
    Zero at night, never negative, never above an array's AC limit or kWp.
    """
    solar = pvlib.solarposition.get_solarposition(times, latitude, longitude)
    zenith = solar["apparent_zenith"].to_numpy()
    sun_azimuth = solar["azimuth"].to_numpy()
    ghi = np.clip(np.asarray(ghi_w_m2, dtype=float), 0.0, None)
    if dni_w_m2 is None or dhi_w_m2 is None:
        parts = pvlib.irradiance.erbs(ghi, solar["zenith"].to_numpy(), times)
        dni, dhi = parts["dni"], parts["dhi"]
    else:
        dni, dhi = np.asarray(dni_w_m2, float), np.asarray(dhi_w_m2, float)
    column = (slice(None), None)  # per time, broadcast across arrays
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=np.asarray(tilt_deg, float)[None, :],
        surface_azimuth=np.asarray(azimuth_deg, float)[None, :],
        solar_zenith=zenith[column],
        solar_azimuth=sun_azimuth[column],
        dni=np.asarray(dni, float)[column],
        ghi=ghi[column],
        dhi=np.asarray(dhi, float)[column],
        dni_extra=pvlib.irradiance.get_extra_radiation(times).to_numpy()[column],
        model="haydavies",
    )["poa_global"]
    poa = np.nan_to_num(np.clip(poa, 0.0, None))
    cell_c = pvlib.temperature.sapm_cell(
        poa,
        np.asarray(air_temperature_c, float)[column],
        np.asarray(wind_speed_m_s, float)[column],
        **SAPM_MODULE,
    )
    kwp = np.asarray(dc_kwp, float)[None, :]
    dc_kw = pvlib.pvsystem.pvwatts_dc(poa, cell_c, kwp, GAMMA_PDC)
    dc_kw = dc_kw * (1 - SYSTEM_LOSSES)
    ac_max = np.where(np.isnan(ac_limit_kw), dc_kwp, ac_limit_kw)[None, :]
    with np.errstate(over="ignore"):  # tiny DC at dawn: clipped to 0 below
        ac_kw = pvlib.inverter.pvwatts(
            dc_kw, ac_max / INVERTER_EFFICIENCY, INVERTER_EFFICIENCY
        )
    night = (zenith >= 90.0)[column]
    return np.where(night, 0.0, np.clip(ac_kw, 0.0, np.minimum(ac_max, kwp)))
