"""The stabilisation cycle against the database: outcomes, setpoints, audit, queries."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import ProtectedError
from django.utils import timezone

from assets.models import AssetStatus, DERAsset, SetpointSource
from dispatch import tasks
from dispatch.models import DispatchPolicyChange, DispatchRun, Outcome, SetpointCommand
from dispatch.services import (
    cycle_batches,
    cycle_run,
    cycles_due,
    cycles_run,
    policy_update,
    setpoint_command_manual,
    setpoints_expire,
)
from tests.conftest import make_fleet, make_reading, make_substation

pytestmark = pytest.mark.django_db
ABOUT = pytest.approx


@pytest.fixture
def grid():
    """A 1,000 kW import substation with two fresh 5 kW batteries at 80 % SoC."""
    substation = make_substation(import_capacity_kw=1000.0)
    batteries = make_fleet(substation, 2)
    return substation, batteries


def targets(batteries) -> list[float]:
    return [DERAsset.objects.get(pk=b.pk).target_output_kw for b in batteries]


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def test_it_covers_load_beyond_the_import_capacity(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.outcome == Outcome.DISPATCHED
    assert run.capacity_nameplate_kw == 10.0
    assert run.capacity_available_kw == 10.0
    assert run.requirement_kw == ABOUT(6.0)
    assert run.imbalance_kw == ABOUT(-4.0)  # surplus held in reserve
    assert run.command_kw == ABOUT(6.0)
    assert run.assets_commanded == 2
    assert targets(batteries) == ABOUT([3.0, 3.0])
    commands = SetpointCommand.objects.filter(run=run)
    assert sorted(commands.values_list("previous_kw", "new_kw")) == [
        (0.0, 3.0),
        (0.0, 3.0),
    ]
    asset = DERAsset.objects.get(pk=batteries[0].pk)
    assert asset.setpoint_expires_at == run.started_at + timedelta(seconds=15)


def test_it_commands_everything_and_says_so_on_a_deficit(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1030.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.outcome == Outcome.INSUFFICIENT
    assert run.imbalance_kw == ABOUT(20.0)
    assert targets(batteries) == ABOUT([5.0, 5.0])


def test_it_answers_under_frequency_with_droop(grid):
    substation, batteries = grid
    make_reading(substation, frequency_hz=59.40, load_kw=0.0)
    run = cycle_run(substation_id=substation.pk)
    # 10 kW x (60 - 0.036 - 59.40) / (0.05 x 60) = 1.88 kW
    assert run.frequency_response_kw == ABOUT(1.88)
    assert targets(batteries) == ABOUT([0.94, 0.94])


def test_volt_watt_caps_each_battery_at_high_voltage(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1008.0, voltage_pu=1.08)
    run = cycle_run(substation_id=substation.pk)
    # P(1.08) = 0.5: each 5 kW battery is capped at 2.5 kW, C = 5 kW < 8 kW
    assert run.volt_watt_factor == ABOUT(0.5)
    assert run.capacity_kw == ABOUT(5.0)
    assert run.limited_by_volt_watt == 2
    assert run.command_kw == ABOUT(5.0)
    assert run.outcome == Outcome.INSUFFICIENT
    assert targets(batteries) == ABOUT([2.5, 2.5])


def test_hysteresis_holds_the_setpoints_and_refreshes_their_expiry(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    expires = DERAsset.objects.get(pk=batteries[0].pk).setpoint_expires_at
    make_reading(substation, load_kw=1006.6, age_s=0.1)
    run = cycle_run(substation_id=substation.pk, now=later(5))
    assert run.outcome == Outcome.UNCHANGED
    assert "held" in run.detail
    assert run.command_kw == ABOUT(6.0)
    assert targets(batteries) == ABOUT([3.0, 3.0])
    # nothing new commanded: one refresh row per held setpoint
    refreshes = SetpointCommand.objects.filter(run=run)
    assert sorted(refreshes.values_list("reason", "previous_kw", "new_kw")) == [
        ("refresh", 3.0, 3.0),
        ("refresh", 3.0, 3.0),
    ]
    assert DERAsset.objects.get(pk=batteries[0].pk).setpoint_expires_at > expires


def test_a_material_change_is_sent(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    make_reading(substation, load_kw=1002.0, age_s=0.1)
    run = cycle_run(substation_id=substation.pk, now=later(5))
    assert run.outcome == Outcome.DISPATCHED
    assert targets(batteries) == ABOUT([1.0, 1.0])
    assert SetpointCommand.objects.count() == 4


def test_a_stale_reading_raises_nothing_and_setpoints_expire_to_zero(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    # 30 s later the latest reading is 31 s old: stale (limit 15 s), load now higher
    run = cycle_run(substation_id=substation.pk, now=later(30))
    assert run.outcome == Outcome.STALE
    assert "31 s old" in run.detail or "30 s old" in run.detail
    assert targets(batteries) == ABOUT([3.0, 3.0])  # not raised, not refreshed
    assert setpoints_expire(now=later(31)) == 2
    assert targets(batteries) == [0.0, 0.0]
    expired = SetpointCommand.objects.filter(reason="expired")
    assert sorted(expired.values_list("previous_kw", "new_kw")) == [
        (3.0, 0.0),
        (3.0, 0.0),
    ]
    assert not DERAsset.objects.filter(setpoint_expires_at__isnull=False).exists()


def test_no_reading_at_all_is_stale(grid):
    substation, batteries = grid
    run = cycle_run(substation_id=substation.pk)
    assert (run.outcome, run.detail) == (Outcome.STALE, "no grid reading yet")
    assert targets(batteries) == [0.0, 0.0]


@pytest.mark.parametrize(
    "status",
    [
        AssetStatus.FAULT,
        AssetStatus.MAINTENANCE,
        AssetStatus.INACTIVE,
        AssetStatus.DECOMMISSIONED,
    ],
)
def test_an_asset_out_of_service_goes_to_zero_and_stays_there(grid, status):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    DERAsset.objects.filter(pk=batteries[0].pk).update(status=status)
    make_reading(substation, load_kw=1006.0, age_s=0.1)
    run = cycle_run(substation_id=substation.pk, now=later(5))
    assert targets(batteries) == ABOUT([0.0, 5.0])
    assert run.assets_active == 1
    zeroed = SetpointCommand.objects.get(asset=batteries[0], run=run)
    assert (zeroed.previous_kw, zeroed.new_kw, zeroed.reason) == (
        3.0,
        0.0,
        "ineligible",
    )


def test_a_battery_without_fresh_telemetry_is_not_dispatched(grid):
    substation, batteries = grid
    DERAsset.objects.filter(pk=batteries[0].pk).update(
        last_telemetry_at=timezone.now() - timedelta(hours=1)
    )
    make_reading(substation, load_kw=1004.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.assets_active == 1
    assert targets(batteries) == ABOUT([0.0, 4.0])


def test_no_dispatchable_battery_is_recorded(grid):
    substation, batteries = grid
    DERAsset.objects.update(status=AssetStatus.MAINTENANCE)
    make_reading(substation, load_kw=1004.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.outcome == Outcome.NO_ASSETS
    assert targets(batteries) == [0.0, 0.0]


def test_a_battery_at_its_reserve_gives_nothing(grid):
    substation, batteries = grid
    DERAsset.objects.filter(pk=batteries[0].pk).update(state_of_charge=20.0)
    make_reading(substation, load_kw=1004.0)
    cycle_run(substation_id=substation.pk)
    assert targets(batteries) == ABOUT([0.0, 4.0])


def test_a_slot_is_dispatched_once(grid):
    substation, _batteries = grid
    make_reading(substation, load_kw=1006.0)
    now = timezone.now()
    first = cycle_run(substation_id=substation.pk, now=now)
    second = cycle_run(substation_id=substation.pk, now=now)
    assert first.outcome == Outcome.DISPATCHED
    assert (second.outcome, second.detail) == (
        Outcome.SKIPPED,
        "this time slot has already been dispatched",
    )
    assert SetpointCommand.objects.count() == 2


def test_a_failing_cycle_records_an_error_and_changes_nothing(grid, monkeypatch):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)

    def broken(**kwargs):
        raise RuntimeError("fleet unavailable")

    monkeypatch.setattr("dispatch.services.battery_fleet", broken)
    run = cycle_run(substation_id=substation.pk)
    assert (run.outcome, run.detail) == (
        Outcome.ERROR,
        "RuntimeError: fleet unavailable",
    )
    assert targets(batteries) == [0.0, 0.0]
    assert not SetpointCommand.objects.exists()


def test_a_disabled_policy_commands_nothing(grid):
    substation, batteries = grid
    policy_update(substation=substation, user=None, changes={"enabled": False})
    make_reading(substation, load_kw=1006.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.outcome == Outcome.DISABLED
    assert targets(batteries) == [0.0, 0.0]


@pytest.mark.parametrize("size", [5, 60])
def test_a_cycle_takes_the_same_number_of_queries_whatever_the_fleet(
    size, django_assert_num_queries
):
    substation = make_substation(import_capacity_kw=0.0)
    make_fleet(substation, size)
    make_reading(substation, load_kw=20.0)
    cycle_run(substation_id=substation.pk)
    make_reading(substation, load_kw=10.0, age_s=0.1)
    # 14 statements: 8 for steps 1-6, one for hardware faults, three for the
    # incidents (live incidents with the readings watermark, the new readings,
    # the watermark's upsert), two for the intervention whose command changes
    # (read, update); plus the advisory lock on PostgreSQL (SQLite needs none).
    with django_assert_num_queries(14 + (connection.vendor == "postgresql")):
        run = cycle_run(substation_id=substation.pk, now=later(5))
    assert run.outcome == Outcome.DISPATCHED
    assert SetpointCommand.objects.filter(run=run).count() == size


def test_the_command_prints_the_run_as_json(grid):
    substation, _batteries = grid
    make_reading(substation, load_kw=1006.0)
    out = io.StringIO()
    call_command(
        "dispatch_cycle", "--substation", substation.code, "--json", stdout=out
    )
    summary = json.loads(out.getvalue())
    assert summary["substation"] == substation.code
    assert summary["outcome"] == "dispatched"
    assert summary["command_kw"] == ABOUT(6.0)
    for key in [
        "frequency_hz",
        "voltage_pu",
        "load_kw",
        "reading_age_s",
        "capacity_nameplate_kw",
        "capacity_available_kw",
        "requirement_kw",
        "imbalance_kw",
        "assets_commanded",
    ]:
        assert key in summary


def test_the_fan_out_claims_each_slot_once():
    first, second = make_substation(), make_substation()
    now = timezone.now()
    due = cycles_due(now=now)
    assert {substation_id for substation_id, _, _ in due} == {first.pk, second.pk}
    assert cycles_due(now=now) == []
    assert len(cycles_due(now=now + timedelta(seconds=5))) == 2


def test_the_fan_out_runs_every_due_cycle_in_batches(settings):
    settings.DISPATCH_CYCLES_PER_TASK = 2
    substations = [make_substation(import_capacity_kw=0.0) for _ in range(3)]
    for substation in substations:
        make_fleet(substation, 2)
        make_reading(substation, load_kw=4.0)
    assert tasks.cycles_fan_out() == 3  # eager: the two batches run here
    runs = DispatchRun.objects.filter(substation__in=substations)
    assert sorted(runs.values_list("substation_id", "outcome")) == [
        (substation.pk, Outcome.DISPATCHED) for substation in substations
    ]
    assert tasks.cycles_fan_out() == 0  # the slot is claimed


def test_batches_keep_slots_apart():
    t0, t1 = later(0), later(30)
    due = [(1, t0, 5), (2, t0, 5), (3, t1, 30), (4, t0, 5)]
    assert cycle_batches(due=due, size=2) == [
        (t0, 5, [1, 2]),
        (t0, 5, [4]),
        (t1, 30, [3]),
    ]


def test_a_batch_leaves_out_cycles_once_its_slot_is_over(grid):
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    slot_at, deadline = timezone.now() - timedelta(seconds=10), timezone.now()
    runs = cycles_run(
        substation_ids=[substation.pk], slot_at=slot_at, deadline=deadline
    )
    assert runs == []
    assert not DispatchRun.objects.exists()
    assert targets(batteries) == [0.0, 0.0]


def test_a_batch_goes_on_past_a_deleted_substation(grid):
    substation, _batteries = grid
    make_reading(substation, load_kw=1006.0)
    runs = cycles_run(
        substation_ids=[0, substation.pk], slot_at=timezone.now(), deadline=later(5)
    )
    assert [run.substation_id for run in runs] == [substation.pk]


def test_audit_rows_cannot_be_changed_or_deleted(grid):
    substation, _batteries = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    command = SetpointCommand.objects.first()
    with pytest.raises(PermissionError):
        SetpointCommand.objects.update(new_kw=0.0)
    with pytest.raises(PermissionError):
        SetpointCommand.objects.all().delete()
    with pytest.raises(PermissionError):
        command.delete()
    command.new_kw = 99.0
    with pytest.raises(PermissionError):
        command.save()
    assert SetpointCommand.objects.filter(new_kw=99.0).count() == 0


# --- Manual setpoints ------------------------------------------------------------


def test_a_manual_setpoint_is_audited_with_the_user_and_holds(grid, operator):
    substation, batteries = grid
    setpoint_command_manual(asset_id=batteries[0].pk, target_kw=4.0, user=operator)
    asset = DERAsset.objects.get(pk=batteries[0].pk)
    assert (asset.target_output_kw, asset.setpoint_source) == (
        4.0,
        SetpointSource.MANUAL,
    )
    command = SetpointCommand.objects.get()
    assert (command.user, command.reason, command.new_kw) == (operator, "manual", 4.0)

    make_reading(substation, load_kw=1006.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.manual_kw == 4.0
    assert run.requirement_kw == ABOUT(2.0)  # 6 kW needed, 4 already manual
    assert targets(batteries) == ABOUT([4.0, 2.0])

    setpoints_expire(now=later(901))
    assert DERAsset.objects.get(pk=batteries[0].pk).target_output_kw == 0.0


@pytest.mark.parametrize(
    ("target_kw", "message"),
    [
        (6.0, "more than"),
        (-1.0, "0 kW or more"),
        (float("nan"), "0 kW or more"),
        (float("inf"), "0 kW or more"),
    ],
)
def test_a_manual_setpoint_beyond_the_limits_is_refused(
    grid, operator, target_kw, message
):
    _substation, batteries = grid
    with pytest.raises(ValidationError) as error:
        setpoint_command_manual(
            asset_id=batteries[0].pk, target_kw=target_kw, user=operator
        )
    assert message in error.value.message_dict["target_output_kw"][0]
    assert targets(batteries) == [0.0, 0.0]
    assert not SetpointCommand.objects.exists()


def test_a_manual_setpoint_respects_the_reserve(grid, operator):
    _substation, batteries = grid
    DERAsset.objects.filter(pk=batteries[0].pk).update(state_of_charge=25.0)
    # 5 % of 13.5 kWh over 0.25 h = 2.7 kW
    with pytest.raises(ValidationError):
        setpoint_command_manual(asset_id=batteries[0].pk, target_kw=3.0, user=operator)
    setpoint_command_manual(asset_id=batteries[0].pk, target_kw=2.7, user=operator)


def test_a_faulty_asset_takes_only_zero(grid, operator):
    _substation, batteries = grid
    DERAsset.objects.filter(pk=batteries[0].pk).update(status=AssetStatus.FAULT)
    with pytest.raises(ValidationError) as error:
        setpoint_command_manual(asset_id=batteries[0].pk, target_kw=1.0, user=operator)
    assert "fault" in str(error.value)
    setpoint_command_manual(asset_id=batteries[0].pk, target_kw=0.0, user=operator)


# --- Policies ---------------------------------------------------------------------


def test_a_policy_change_is_audited_with_old_and_new_values(grid, operator):
    substation, _ = grid
    policy_update(substation=substation, user=operator, changes={"min_change_kw": 2.0})
    policy_update(substation=substation, user=operator, changes={"min_change_kw": 2.0})
    change = DispatchPolicyChange.objects.get()
    assert change.changed_by == operator
    assert change.changes == {"min_change_kw": [1.0, 2.0]}


def test_an_invalid_policy_is_refused_whole(grid, operator):
    substation, _ = grid
    policy_update(substation=substation, user=operator, changes={"droop": 0.04})
    with pytest.raises(ValidationError):
        policy_update(
            substation=substation,
            user=operator,
            changes={"droop": 0.06, "volt_watt_start_pu": 1.2, "volt_watt_end_pu": 1.1},
        )
    substation.dispatch_policy.refresh_from_db()
    assert substation.dispatch_policy.droop == 0.04
    assert DispatchPolicyChange.objects.count() == 1


def test_runs_are_kept_per_slot(grid):
    substation, _ = grid
    make_reading(substation, load_kw=1006.0)
    cycle_run(substation_id=substation.pk)
    cycle_run(substation_id=substation.pk, now=later(5))
    assert DispatchRun.objects.exclude(outcome="skipped").count() == 2


def test_an_audited_asset_or_run_cannot_be_deleted(grid):
    """The audit's references are not database foreign keys; the ORM guards them."""
    substation, batteries = grid
    make_reading(substation, load_kw=1006.0)
    run = cycle_run(substation_id=substation.pk)
    with pytest.raises(ProtectedError):
        DERAsset.objects.get(pk=batteries[0].pk).delete()
    with pytest.raises(ProtectedError):
        run.delete()
    assert SetpointCommand.objects.filter(run=run).count() == 2


def test_a_difference_too_small_to_command_is_neither_written_nor_audited():
    """A battery a hair above its reserve: its share is below SAME_KW."""
    substation = make_substation(import_capacity_kw=1000.0)
    (battery,) = make_fleet(substation, 1, state_of_charge=20.0 + 1e-12)
    make_reading(substation, load_kw=1010.0)
    run = cycle_run(substation_id=substation.pk)
    battery.refresh_from_db()
    assert battery.target_output_kw == 0.0
    assert not SetpointCommand.objects.filter(run=run).exists()
