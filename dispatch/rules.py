"""The control law of the stabilisation cycle, as pure functions (no database).

DESIGN.md, "The stabilisation cycle", sections 3-5, after IEEE 1547-2018:
frequency droop and volt-watt act on each battery's *rated* power (WMax) and
are capped at what that battery can give. Powers in kW, frequency in Hz,
voltage in per unit. Arrays are numpy, one element per battery. The cycle, the
manual setpoint and the run's explanation all use these functions: each rule
has one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

# Two powers closer than this (kW) are the same power.
SAME_KW = 1e-9


def volt_watt_factor(*, voltage_pu: float, start_pu: float, end_pu: float) -> float:
    """IEEE 1547-2018 volt-watt P(V) in per unit of rated power: 1 up to
    `start_pu` (V1, 1.06), linearly down to 0 at `end_pu` (V2, 1.10).

    Discharging raises feeder voltage, so a high voltage limits each battery.
    """
    if voltage_pu <= start_pu:
        return 1.0
    if voltage_pu >= end_pu:
        return 0.0
    return (end_pu - voltage_pu) / (end_pu - start_pu)


@dataclass(frozen=True)
class Caps:
    """cap_i = min(avail_i, P(V) x WMax_i) and what set each battery's cap."""

    volt_watt: float
    avail: Floats
    cap: Floats
    by_energy: Bools
    by_ramp: Bools
    by_volt_watt: Bools


def caps_kw(
    *,
    max_discharge_kw: Floats,
    energy_capacity_kwh: Floats,
    state_of_charge_pct: Floats,
    reserve_pct: Floats,
    ramp_kw_per_s: Floats,
    target_kw: Floats,
    horizon_h: float,
    cycle_s: float,
    volt_watt: float,
) -> Caps:
    """avail_i and cap_i of each battery (section 3), and what binds.

    avail_i = min(WMax, energy above reserve / horizon, ramp ceiling), never
    below 0: at or below its reserve (MinRsvPct) a battery gives 0. The ramp
    ceiling (setGradW) is the setpoint in force plus one cycle of ramp: a ramp
    limit of 0 means the output cannot rise this cycle, NaN (unknown) means no
    ramp limit, and lowering is never ramp-limited.
    cap_i = min(avail_i, P(V) x WMax_i): volt-watt is an upper limit on rated
    power, not a scaling of the command. A battery below its WMax is limited by
    volt-watt if that binds, else by energy, else by ramp.
    """
    above_reserve_kwh = np.maximum(
        (state_of_charge_pct - reserve_pct) / 100.0 * energy_capacity_kwh, 0.0
    )
    by_energy_kw = above_reserve_kwh / horizon_h
    by_ramp_kw = np.where(
        np.isnan(ramp_kw_per_s), np.inf, target_kw + ramp_kw_per_s * cycle_s
    )
    avail = np.maximum(
        np.minimum(np.minimum(max_discharge_kw, by_energy_kw), by_ramp_kw), 0.0
    )
    by_volt_watt_kw = volt_watt * max_discharge_kw
    cap = np.minimum(avail, by_volt_watt_kw)
    below = cap < max_discharge_kw
    by_volt_watt = below & (by_volt_watt_kw <= avail)
    by_energy = below & ~by_volt_watt & (by_energy_kw <= by_ramp_kw)
    by_ramp = below & ~by_volt_watt & ~by_energy
    return Caps(volt_watt, avail, cap, by_energy, by_ramp, by_volt_watt)


def droop_per_unit(
    *, frequency_hz: float, nominal_hz: float, deadband_hz: float, droop: float
) -> tuple[float, float]:
    """IEEE 1547-2018 frequency droop, in per unit of rated power:
    (under-frequency response, over-frequency reduction), each >= 0.

    (f_nom - db - f) / (k f_nom) below the deadband, (f - f_nom - db) / (k f_nom)
    above it, 0 inside (IEEE 1547-2018 defaults db = 0.036 Hz, k = 0.05).
    """
    scale = droop * nominal_hz
    under = max(0.0, (nominal_hz - deadband_hz) - frequency_hz) / scale
    over = max(0.0, frequency_hz - (nominal_hz + deadband_hz)) / scale
    return under, over


@dataclass(frozen=True)
class Law:
    """What the control law asks of a fleet (sections 4-5)."""

    load_need_kw: float  # L
    over_frequency_kw: float  # how much over-frequency lowered L (at most)
    droop_kw: Floats  # droop_i
    requirement_kw: float  # R = L + sum(droop_i)
    capacity_kw: float  # C = sum(cap_i)
    targets_kw: Floats  # t_i
    command_kw: float  # P_cmd = sum(t_i) = min(R, C)

    @property
    def imbalance_kw(self) -> float:
        """I = R - C: > 0 a deficit, <= 0 a surplus held in reserve."""
        return self.requirement_kw - self.capacity_kw


def control_law(
    *,
    cap_kw: Floats,
    rated_kw: Floats,
    load_kw: float,
    import_capacity_kw: float,
    manual_kw: float,
    frequency_hz: float,
    nominal_hz: float,
    deadband_hz: float,
    droop: float,
) -> Law:
    """Requirement, imbalance and each battery's target (sections 4-5).

    L = max(0, load - import capacity - manual output - over-frequency
    reduction), the over-frequency reduction being sum(WMax_i) x its per-unit
    droop. Each battery first gives droop_i = min(cap_i, WMax_i x under-frequency
    droop); L is shared pro rata to the headroom h_i = cap_i - droop_i:
    t_i = droop_i + h_i x min(1, L / sum(h)). So 0 <= t_i <= cap_i and
    sum(t_i) = min(R, C).
    """
    under, over = droop_per_unit(
        frequency_hz=frequency_hz,
        nominal_hz=nominal_hz,
        deadband_hz=deadband_hz,
        droop=droop,
    )
    over_kw = float(rated_kw.sum()) * over
    need = max(0.0, load_kw - import_capacity_kw - manual_kw - over_kw)
    droop_kw = np.minimum(cap_kw, rated_kw * under)
    headroom = cap_kw - droop_kw
    total_headroom = float(headroom.sum())
    share = min(1.0, need / total_headroom) if total_headroom > 0 else 0.0
    targets = np.minimum(droop_kw + headroom * share, cap_kw)
    return Law(
        load_need_kw=need,
        over_frequency_kw=over_kw,
        droop_kw=droop_kw,
        requirement_kw=need + float(droop_kw.sum()),
        capacity_kw=float(cap_kw.sum()),
        targets_kw=targets,
        command_kw=float(targets.sum()),
    )


def held_kw(*, in_force_kw: Floats, cap_kw: Floats) -> Floats:
    """The setpoints a hold keeps: those in force, each lowered to its cap."""
    return np.minimum(in_force_kw, cap_kw)


def holds(*, command_kw: float, held_kw: float, min_change_kw: float) -> bool:
    """Hysteresis (section 5): keep the setpoints in force (lowered to their
    caps, `held_kw` in total) when the new command is within `min_change_kw`
    of them. Never against a zero: a command of 0 (no need, over-frequency,
    V >= the volt-watt end) always applies at once."""
    return command_kw > SAME_KW and abs(command_kw - held_kw) < min_change_kw
