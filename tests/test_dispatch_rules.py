"""Worked examples of each control rule, with the numbers computed by hand.

IEEE 1547-2018 frequency droop and volt-watt act on each battery's rated power
(WMax) and are capped at what it can give (DESIGN.md, sections 3-5).
"""

from __future__ import annotations

import numpy as np
import pytest

from dispatch import rules

ABOUT = pytest.approx


def law(cap, rated, *, load_kw=1000.0, frequency_hz=60.0, nominal_hz=60, manual=0.0):
    return rules.control_law(
        cap_kw=np.array(cap, dtype=float),
        rated_kw=np.array(rated, dtype=float),
        load_kw=load_kw,
        import_capacity_kw=1000.0,
        manual_kw=manual,
        frequency_hz=frequency_hz,
        nominal_hz=nominal_hz,
        deadband_hz=0.036,
        droop=0.05,
    )


def test_droop_per_unit_on_a_60_hz_grid():
    # (60 - 0.036 - 59.70) / (0.05 x 60) = 0.264 / 3 = 0.088 of WMax
    under, over = rules.droop_per_unit(
        frequency_hz=59.70, nominal_hz=60, deadband_hz=0.036, droop=0.05
    )
    assert (under, over) == (ABOUT(0.088), 0.0)


def test_droop_is_zero_inside_the_deadband():
    for f in (59.965, 60.0, 60.036):
        result = law([10.0], [10.0], frequency_hz=f)
        assert result.command_kw == 0.0
        assert result.over_frequency_kw == 0.0


def test_droop_is_on_rated_power_and_capped_per_battery():
    """At 59.70 Hz each battery owes 0.088 of its WMax: 0.88 kW of a 10 kW unit
    whatever its state of charge, unless its cap is smaller."""
    # caps: full 10 kW, SoC-limited 2.7 kW, ramp-limited 0.5 kW, at reserve 0
    result = law([10.0, 2.7, 0.5, 0.0], [10.0, 10.0, 10.0, 10.0], frequency_hz=59.70)
    assert result.droop_kw.tolist() == ABOUT([0.88, 0.88, 0.5, 0.0])
    assert result.targets_kw.tolist() == ABOUT([0.88, 0.88, 0.5, 0.0])
    assert result.requirement_kw == ABOUT(2.26)
    assert result.command_kw == ABOUT(2.26)


def test_droop_on_a_50_hz_grid():
    # (50 - 0.036 - 49.80) / (0.05 x 50) = 0.164 / 2.5 = 0.0656 of WMax
    result = law([500.0], [500.0], frequency_hz=49.80, nominal_hz=50)
    assert result.command_kw == ABOUT(32.8)


def test_over_frequency_lowers_the_load_need_but_not_below_zero():
    # 60.30 Hz: (60.30 - 60.036) / 3 = 0.088 of sum(WMax) = 88 kW
    result = law([500.0, 500.0], [500.0, 500.0], load_kw=1100.0, frequency_hz=60.30)
    assert result.over_frequency_kw == ABOUT(88.0)
    assert result.load_need_kw == ABOUT(12.0)  # 100 - 88
    result = law([500.0, 500.0], [500.0, 500.0], load_kw=1050.0, frequency_hz=60.30)
    assert result.load_need_kw == 0.0  # 50 - 88, floored
    assert result.command_kw == 0.0


@pytest.mark.parametrize(
    ("voltage_pu", "factor"),
    [(1.00, 1.0), (1.06, 1.0), (1.07, 0.75), (1.08, 0.5), (1.10, 0.0), (1.15, 0.0)],
)
def test_volt_watt(voltage_pu, factor):
    got = rules.volt_watt_factor(voltage_pu=voltage_pu, start_pu=1.06, end_pu=1.10)
    assert got == ABOUT(factor)


def caps(voltage_pu, rated=(5.0, 5.0)):
    factor = rules.volt_watt_factor(voltage_pu=voltage_pu, start_pu=1.06, end_pu=1.10)
    return [factor * kw for kw in rated]


@pytest.mark.parametrize(
    ("voltage_pu", "need_kw", "command_kw"),
    [
        (1.06, 4.0, 4.0),
        (1.08, 4.0, 4.0),  # caps 2.5 + 2.5 = 5 kW: a cap, not a scaling
        (1.10, 4.0, 0.0),
        (1.12, 4.0, 0.0),
        (1.06, 8.0, 8.0),
        (1.08, 8.0, 5.0),  # the need is above the caps: all of C
        (1.10, 8.0, 0.0),
        (1.12, 8.0, 0.0),
    ],
)
def test_volt_watt_caps_each_battery(voltage_pu, need_kw, command_kw):
    result = law(caps(voltage_pu), [5.0, 5.0], load_kw=1000.0 + need_kw)
    assert result.command_kw == ABOUT(command_kw)
    assert np.all(result.targets_kw <= np.array(caps(voltage_pu)))


def test_a_deficit_commands_all_of_the_capacity():
    # load 1300 over an import capacity of 1000: R = 300 against C = 200
    result = law([150.0, 50.0], [150.0, 50.0], load_kw=1300.0)
    assert result.imbalance_kw == ABOUT(100.0)  # I > 0: deficit
    assert result.targets_kw.tolist() == ABOUT([150.0, 50.0])


def test_a_surplus_commands_only_the_requirement():
    result = law([400.0, 100.0], [400.0, 100.0], load_kw=1100.0)
    assert result.imbalance_kw == ABOUT(-400.0)  # I <= 0: 400 kW held in reserve
    assert result.command_kw == ABOUT(100.0)


def test_manual_output_counts_toward_the_load_need():
    result = law([500.0], [500.0], load_kw=1100.0, manual=30.0)
    assert result.load_need_kw == ABOUT(70.0)


def test_the_load_need_is_shared_pro_rata_to_the_headroom_left_after_droop():
    """59.90 Hz: droop 0.064 / 3 = 0.021333 of WMax: 0.2133 kW each. The 3 kW of
    load need goes by headroom (10 - 0.2133, 2.7 - 0.2133): 3 / 12.2733 of it."""
    result = law([10.0, 2.7], [10.0, 10.0], load_kw=1003.0, frequency_hz=59.90)
    droop = 10.0 * 0.064 / 3.0
    share = 3.0 / ((10.0 - droop) + (2.7 - droop))
    expected = [droop + (10.0 - droop) * share, droop + (2.7 - droop) * share]
    assert result.targets_kw.tolist() == ABOUT(expected)
    assert result.command_kw == ABOUT(3.0 + 2 * droop)


def available(soc: float, ramp: float = np.nan, target: float = 0.0) -> float:
    caps = rules.caps_kw(
        max_discharge_kw=np.array([5.0]),
        energy_capacity_kwh=np.array([13.5]),
        state_of_charge_pct=np.array([soc]),
        reserve_pct=np.array([20.0]),
        ramp_kw_per_s=np.array([ramp]),
        target_kw=np.array([target]),
        horizon_h=0.25,
        cycle_s=5,
        volt_watt=1.0,
    )
    return float(caps.avail[0])


def test_available_power_is_capped_by_nameplate_energy_and_ramp():
    # 80 %: (80 - 20) % of 13.5 kWh = 8.1 kWh / 0.25 h = 32.4 kW, capped at 5 kW
    assert available(80.0) == ABOUT(5.0)
    # 25 %: 5 % of 13.5 = 0.675 kWh / 0.25 h = 2.7 kW
    assert available(25.0) == ABOUT(2.7)
    # at or below the reserve: nothing
    assert available(20.0) == 0.0
    assert available(10.0) == 0.0
    # ramp 0.2 kW/s from 1 kW over a 5 s cycle: 2 kW
    assert available(80.0, ramp=0.2, target=1.0) == ABOUT(2.0)


def test_a_ramp_limit_of_zero_means_the_output_cannot_rise():
    assert available(80.0, ramp=0.0, target=0.0) == 0.0
    assert available(80.0, ramp=0.0, target=1.5) == ABOUT(1.5)


def test_caps_say_what_limits_each_battery():
    result = rules.caps_kw(
        max_discharge_kw=np.array([5.0, 5.0, 5.0, 5.0]),
        energy_capacity_kwh=np.array([13.5, 13.5, 13.5, 13.5]),
        state_of_charge_pct=np.array([80.0, 25.0, 80.0, 80.0]),
        reserve_pct=np.array([20.0, 20.0, 20.0, 20.0]),
        ramp_kw_per_s=np.array([np.nan, np.nan, 0.1, np.nan]),
        target_kw=np.zeros(4),
        horizon_h=0.25,
        cycle_s=5,
        volt_watt=0.9,
    )
    # WMax 5 x 0.9 = 4.5 kW; energy 2.7 kW; ramp 0.5 kW; volt-watt 4.5 kW
    assert result.cap.tolist() == ABOUT([4.5, 2.7, 0.5, 4.5])
    assert result.by_volt_watt.tolist() == [True, False, False, True]
    assert result.by_energy.tolist() == [False, True, False, False]
    assert result.by_ramp.tolist() == [False, False, True, False]


def test_hysteresis_holds_a_small_change_but_never_against_a_zero():
    assert rules.holds(command_kw=10.4, held_kw=10.0, min_change_kw=1.0)
    assert not rules.holds(command_kw=11.5, held_kw=10.0, min_change_kw=1.0)
    assert not rules.holds(command_kw=0.0, held_kw=0.6, min_change_kw=1.0)
    held = rules.held_kw(in_force_kw=np.array([3.0, 3.0]), cap_kw=np.array([5.0, 1.0]))
    assert held.tolist() == [3.0, 1.0]  # lowered to its new cap
