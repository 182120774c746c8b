"""The control rules of the stabilisation cycle, as pure functions (no database).

Workflow steps 3-6 of DESIGN.md. Powers in kW, frequency in Hz, voltage in per
unit. Arrays are numpy, one element per battery.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


def available_kw(
    *,
    max_discharge_kw: Floats,
    energy_capacity_kwh: Floats,
    state_of_charge_pct: Floats,
    reserve_pct: Floats,
    ramp_kw_per_s: Floats,
    target_kw: Floats,
    horizon_h: float,
    cycle_s: float,
) -> Floats:
    """Power each battery can really give now (step 3).

    avail = min(max_discharge_power, energy above reserve / horizon, ramp ceiling),
    never below 0. The ramp ceiling is the current target plus one cycle of ramp
    (setGradW); NaN ramp means no limit. A battery at or below its reserve gives 0.
    """
    above_reserve_kwh = (
        (state_of_charge_pct - reserve_pct) / 100.0 * energy_capacity_kwh
    )
    by_energy = np.maximum(above_reserve_kwh, 0.0) / horizon_h
    by_ramp = np.where(
        np.isnan(ramp_kw_per_s), np.inf, target_kw + ramp_kw_per_s * cycle_s
    )
    return np.maximum(np.minimum(np.minimum(max_discharge_kw, by_energy), by_ramp), 0.0)


def frequency_response_kw(
    *,
    capacity_kw: float,
    frequency_hz: float,
    nominal_hz: float,
    deadband_hz: float,
    droop: float,
) -> float:
    """P_freq, IEEE 1547-2018 frequency droop (step 4).

    Under-frequency (f < f_nom - db): C (f_nom - db - f) / (k f_nom), positive.
    Over-frequency (f > f_nom + db): the same rule, negative. Zero inside the deadband.
    """
    if frequency_hz < nominal_hz - deadband_hz:
        deviation = nominal_hz - deadband_hz - frequency_hz
    elif frequency_hz > nominal_hz + deadband_hz:
        deviation = nominal_hz + deadband_hz - frequency_hz
    else:
        return 0.0
    return capacity_kw * deviation / (droop * nominal_hz)


def requirement_kw(
    *,
    load_kw: float,
    import_capacity_kw: float,
    frequency_response_kw: float,
    manual_kw: float = 0.0,
) -> float:
    """R = max(0, load - import capacity) + P_freq, never below 0 (step 4).

    Output already commanded by manual setpoints counts toward it.
    """
    need = max(0.0, load_kw - import_capacity_kw) + frequency_response_kw
    return max(0.0, need - manual_kw)


def volt_watt_factor(*, voltage_pu: float, start_pu: float, end_pu: float) -> float:
    """IEEE 1547-2018 volt-watt: 1 up to start, linearly to 0 at end (step 5).

    Discharging raises feeder voltage, so a high voltage limits the command.
    """
    if voltage_pu <= start_pu:
        return 1.0
    if voltage_pu >= end_pu:
        return 0.0
    return (end_pu - voltage_pu) / (end_pu - start_pu)


def discharge_command_kw(
    *, requirement_kw: float, capacity_kw: float, volt_watt_factor: float
) -> float:
    """P_cmd = min(R, C) x volt-watt factor (step 5)."""
    return min(requirement_kw, capacity_kw) * volt_watt_factor


def allocate(*, command_kw: float, available: Floats) -> Floats:
    """Share P_cmd pro rata to available power (step 6).

    Each target is available x (P_cmd / C) with the ratio capped at 1, so no target
    exceeds its battery's available power, and the targets sum to P_cmd.
    """
    capacity = float(available.sum())
    if command_kw <= 0.0 or capacity <= 0.0:
        return np.zeros_like(available)
    ratio = min(1.0, command_kw / capacity)
    return available * ratio


def holds(
    *,
    command_kw: float,
    previous_kw: float,
    min_change_kw: float,
    targets_within_limits: bool,
) -> bool:
    """Hysteresis: keep the previous setpoints when the command barely moved.

    Only while every previous setpoint is still within its battery's limits;
    otherwise the fleet is re-dispatched whatever the change.
    """
    return targets_within_limits and abs(command_kw - previous_kw) < min_change_kw
