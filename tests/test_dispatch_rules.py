"""Worked examples of each control rule, with the numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch import rules

ABOUT = pytest.approx


def droop(frequency_hz: float, capacity_kw: float = 1000.0) -> float:
    return rules.frequency_response_kw(
        capacity_kw=capacity_kw,
        frequency_hz=frequency_hz,
        nominal_hz=60.0,
        deadband_hz=0.036,
        droop=0.05,
    )


def test_droop_at_59_70_hz_on_a_60_hz_grid():
    # (60 - 0.036 - 59.70) / (0.05 * 60) = 0.264 / 3 = 0.088 of C
    assert droop(59.70) == ABOUT(88.0)


def test_droop_is_zero_inside_the_deadband():
    assert droop(59.965) == 0.0
    assert droop(60.036) == 0.0


def test_over_frequency_lowers_the_requirement_but_not_below_zero():
    assert droop(60.30) == ABOUT(-88.0)
    need = rules.requirement_kw(
        load_kw=1100.0, import_capacity_kw=1000.0, frequency_response_kw=droop(60.30)
    )
    assert need == ABOUT(12.0)  # 100 - 88
    need = rules.requirement_kw(
        load_kw=1050.0, import_capacity_kw=1000.0, frequency_response_kw=droop(60.30)
    )
    assert need == 0.0  # 50 - 88, floored


def test_droop_on_a_50_hz_grid():
    # (50 - 0.036 - 49.80) / (0.05 * 50) = 0.164 / 2.5 = 0.0656 of C
    response = rules.frequency_response_kw(
        capacity_kw=500.0,
        frequency_hz=49.80,
        nominal_hz=50.0,
        deadband_hz=0.036,
        droop=0.05,
    )
    assert response == ABOUT(32.8)


@pytest.mark.parametrize(
    ("voltage_pu", "factor"),
    [(1.00, 1.0), (1.06, 1.0), (1.07, 0.75), (1.08, 0.5), (1.10, 0.0), (1.15, 0.0)],
)
def test_volt_watt(voltage_pu, factor):
    got = rules.volt_watt_factor(voltage_pu=voltage_pu, start_pu=1.06, end_pu=1.10)
    assert got == ABOUT(factor)


def test_volt_watt_at_1_08_halves_the_command():
    factor = rules.volt_watt_factor(voltage_pu=1.08, start_pu=1.06, end_pu=1.10)
    command = rules.discharge_command_kw(
        requirement_kw=300.0, capacity_kw=500.0, volt_watt_factor=factor
    )
    assert command == ABOUT(150.0)


def test_a_deficit_commands_all_of_the_capacity():
    # load 1300 over an import capacity of 1000: R = 300 against C = 200
    need = rules.requirement_kw(
        load_kw=1300.0, import_capacity_kw=1000.0, frequency_response_kw=0.0
    )
    assert need - 200.0 == ABOUT(100.0)  # I > 0: deficit
    command = rules.discharge_command_kw(
        requirement_kw=need, capacity_kw=200.0, volt_watt_factor=1.0
    )
    assert command == ABOUT(200.0)


def test_a_surplus_commands_only_the_requirement():
    need = rules.requirement_kw(
        load_kw=1100.0, import_capacity_kw=1000.0, frequency_response_kw=0.0
    )
    assert need - 500.0 == ABOUT(-400.0)  # I <= 0: 400 kW held in reserve
    command = rules.discharge_command_kw(
        requirement_kw=need, capacity_kw=500.0, volt_watt_factor=1.0
    )
    assert command == ABOUT(100.0)


def test_manual_output_counts_toward_the_requirement():
    need = rules.requirement_kw(
        load_kw=1100.0,
        import_capacity_kw=1000.0,
        frequency_response_kw=0.0,
        manual_kw=30.0,
    )
    assert need == ABOUT(70.0)


def available(soc: float, ramp: float = np.nan, target: float = 0.0) -> float:
    return float(
        rules.available_kw(
            max_discharge_kw=np.array([5.0]),
            energy_capacity_kwh=np.array([13.5]),
            state_of_charge_pct=np.array([soc]),
            reserve_pct=np.array([20.0]),
            ramp_kw_per_s=np.array([ramp]),
            target_kw=np.array([target]),
            horizon_h=0.25,
            cycle_s=5,
        )[0]
    )


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


def test_allocation_is_pro_rata_to_available_power():
    targets = rules.allocate(command_kw=5.0, available=np.array([5.0, 2.5, 2.5]))
    assert targets.tolist() == ABOUT([2.5, 1.25, 1.25])
    assert rules.allocate(command_kw=0.0, available=np.array([5.0])).tolist() == [0.0]
    assert rules.allocate(command_kw=50.0, available=np.array([5.0, 2.0])).tolist() == [
        5.0,
        2.0,
    ]


def test_hysteresis_holds_a_small_change_only_while_within_limits():
    assert rules.holds(
        command_kw=10.4, previous_kw=10.0, min_change_kw=1.0, targets_within_limits=True
    )
    assert not rules.holds(
        command_kw=11.5, previous_kw=10.0, min_change_kw=1.0, targets_within_limits=True
    )
    assert not rules.holds(
        command_kw=10.4,
        previous_kw=10.0,
        min_change_kw=1.0,
        targets_within_limits=False,
    )
