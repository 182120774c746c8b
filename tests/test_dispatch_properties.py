"""The safety invariants of DESIGN.md, as properties over random fleets and grids.

- 0 <= target_i <= cap_i <= avail_i <= max_discharge_power_i, always, held
  setpoints included, cycle after cycle;
- no battery is commanded to discharge below its reserve SoC;
- sum(targets) = P_cmd within 0.01 kW, and P_cmd <= C;
- stale or missing readings never raise a setpoint;
- a zero need gives zero at the next cycle; an intervention ends within one
  setpoint lifetime after the need ends;
- every setpoint change has exactly one audit row; audit rows are never changed;
- assets in fault, maintenance or inactive status are never commanded above 0.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.models import AssetStatus, DERAsset
from assets.selectors import Fleet
from dispatch.models import DispatchPolicy, DispatchRun, Outcome, SetpointCommand
from dispatch.services import cycle_run, decide, fleet_caps
from grid.models import Substation
from grid.selectors import GridStatus
from tests.conftest import make_battery, make_owner, make_reading, make_substation

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KW = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)
PERCENT = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@st.composite
def fleets(draw) -> Fleet:
    n = draw(st.integers(min_value=0, max_value=40))

    def column(strategy, dtype=np.float64):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)), dtype=dtype)

    max_kw = column(KW)
    eligible = column(st.booleans(), bool)
    ramp = st.one_of(st.just(np.nan), st.floats(min_value=0.0, max_value=50.0))
    return Fleet(
        pks=np.arange(n, dtype=np.int64),
        eligible=eligible,
        manual=column(st.booleans(), bool) & ~eligible,
        max_discharge_kw=max_kw,
        energy_capacity_kwh=column(st.floats(min_value=0.0, max_value=2000.0)),
        state_of_charge_pct=column(PERCENT),
        reserve_pct=column(PERCENT),
        ramp_kw_per_s=column(ramp),
        target_kw=np.minimum(column(KW), max_kw),
    )


@st.composite
def grids(draw) -> GridStatus:
    return GridStatus(
        substation_id=1,
        measured_at=NOW,
        frequency_hz=draw(st.floats(min_value=45.0, max_value=65.0)),
        voltage_pu=draw(st.floats(min_value=0.0, max_value=2.0)),
        load_kw=draw(st.floats(min_value=0.0, max_value=1e5)),
        age_s=draw(st.floats(min_value=0.0, max_value=120.0)),
    )


@st.composite
def policies(draw) -> DispatchPolicy:
    start = draw(st.floats(min_value=1.0, max_value=1.2))
    return DispatchPolicy(
        deadband_hz=draw(st.floats(min_value=0.0, max_value=1.0)),
        droop=draw(st.floats(min_value=0.01, max_value=1.0)),
        volt_watt_start_pu=start,
        volt_watt_end_pu=start + draw(st.floats(min_value=0.001, max_value=0.2)),
        energy_horizon_h=draw(st.floats(min_value=0.01, max_value=4.0)),
        min_change_kw=draw(st.floats(min_value=0.0, max_value=10.0)),
        cycle_s=draw(st.integers(min_value=1, max_value=60)),
    )


def run_decision(fleet, status, policy, nominal_hz=60):
    substation = Substation(
        nominal_frequency_hz=nominal_hz,
        import_capacity_kw=1000.0,
    )
    caps = fleet_caps(
        fleet=fleet,
        policy=policy,
        voltage_pu=status.voltage_pu if status is not None else None,
    )
    run = DispatchRun(
        capacity_available_kw=float(caps.avail[fleet.eligible].sum()),
        capacity_kw=float(caps.cap[fleet.eligible].sum()),
        manual_kw=float(np.minimum(fleet.target_kw, caps.cap)[fleet.manual].sum()),
    )
    decision = decide(
        run=run,
        status=status,
        fleet=fleet,
        caps=caps,
        substation=substation,
        policy=policy,
    )
    return run, decision, caps


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=grids(), policy=policies())
def test_targets_stay_within_cap_available_and_nameplate(fleet, status, policy):
    _run, decision, caps = run_decision(fleet, status, policy)
    new = decision.new_kw
    assert np.all(new >= 0.0)
    assert np.all(caps.avail <= fleet.max_discharge_kw)
    assert np.all(caps.cap <= caps.avail)
    assert np.all(new <= caps.cap)
    assert np.all(new <= fleet.max_discharge_kw)
    assert np.all(np.isfinite(new))


@settings(max_examples=200, deadline=None)
@given(
    fleet=fleets(),
    statuses=st.lists(grids(), min_size=2, max_size=6),
    policy=policies(),
)
def test_targets_stay_within_cap_cycle_after_cycle(fleet, statuses, policy):
    """Held setpoints included: each cycle starts from the last one's targets."""
    for status in statuses:
        status = dataclasses.replace(status, age_s=0.0)
        _run, decision, caps = run_decision(fleet, status, policy)
        assert np.all(decision.new_kw >= 0.0)
        assert np.all(decision.new_kw <= caps.cap)
        fleet = dataclasses.replace(fleet, target_kw=decision.new_kw)


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=grids(), policy=policies())
def test_a_zero_need_gives_zero_at_the_next_cycle(fleet, status, policy):
    """Whatever is in force and however wide the hysteresis: no load above the
    import capacity and no under-frequency means every dispatched battery 0."""
    status = dataclasses.replace(
        status, age_s=0.0, load_kw=0.0, frequency_hz=max(status.frequency_hz, 60.0)
    )
    run, decision, _ = run_decision(fleet, status, policy)
    assert run.command_kw == 0.0
    assert not run.held
    assert np.all(decision.new_kw[fleet.eligible] == 0.0)


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=grids(), policy=policies())
def test_no_battery_is_discharged_below_its_reserve(fleet, status, policy):
    _, decision, _ = run_decision(fleet, status, policy)
    above_kwh = np.maximum(fleet.state_of_charge_pct - fleet.reserve_pct, 0) / 100
    above_kwh *= fleet.energy_capacity_kwh
    energy_used_kwh = decision.new_kw * policy.energy_horizon_h
    assert np.all(energy_used_kwh <= above_kwh * (1 + 1e-9) + 1e-12)
    at_reserve = fleet.state_of_charge_pct <= fleet.reserve_pct
    assert np.all(decision.new_kw[at_reserve] == 0.0)


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=grids(), policy=policies())
def test_targets_add_up_to_a_command_within_capacity(fleet, status, policy):
    run, decision, _caps = run_decision(fleet, status, policy)
    assert run.command_kw <= run.capacity_kw + 0.01
    if decision.outcome in (
        Outcome.DISPATCHED,
        Outcome.INSUFFICIENT,
        Outcome.UNCHANGED,
    ):
        total = float(decision.new_kw[fleet.eligible].sum())
        assert abs(total - run.command_kw) <= 0.01


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=st.one_of(st.none(), grids()), policy=policies())
def test_a_stale_or_missing_reading_never_raises_a_setpoint(fleet, status, policy):
    if status is not None:  # make it stale: older than the policy allows
        policy.max_reading_age_s = int(status.age_s)
        status = dataclasses.replace(status, age_s=status.age_s + 1)
    _, decision, _ = run_decision(fleet, status, policy)
    assert decision.outcome == Outcome.STALE
    assert np.all(decision.new_kw <= fleet.target_kw)


@settings(max_examples=200, deadline=None)
@given(fleet=fleets(), status=grids(), policy=policies())
def test_assets_out_of_dispatch_are_never_above_zero(fleet, status, policy):
    _, decision, _ = run_decision(fleet, status, policy)
    out = ~fleet.eligible & ~fleet.manual
    assert np.all(decision.new_kw[out] == 0.0)


# --- Against the database: audit rows and statuses ----------------------------------

STATUSES = st.sampled_from(list(AssetStatus))
BATTERY = st.fixed_dictionaries(
    {
        "status": STATUSES,
        "max_discharge_power": st.floats(min_value=0.0, max_value=50.0),
        "state_of_charge": PERCENT,
        "min_soc_reserve": PERCENT,
        "fresh": st.booleans(),
    }
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batteries=st.lists(BATTERY, min_size=1, max_size=8),
    loads=st.lists(st.floats(min_value=0.0, max_value=1300.0), min_size=1, max_size=4),
    statuses=st.lists(STATUSES, min_size=4, max_size=4),
)
def test_every_change_has_exactly_one_audit_row(batteries, loads, statuses):
    substation = make_substation(import_capacity_kw=1000.0)
    owner = make_owner()
    now = timezone.now()
    assets = [
        make_battery(
            substation,
            owner,
            status=b["status"],
            max_discharge_power=b["max_discharge_power"],
            state_of_charge=b["state_of_charge"],
            min_soc_reserve=b["min_soc_reserve"],
            last_telemetry_at=now if b["fresh"] else now - timedelta(hours=1),
        )
        for b in batteries
    ]
    pks = [a.pk for a in assets]
    for step, load_kw in enumerate(loads):
        at = now + timedelta(seconds=5 * step)
        before = dict(
            DERAsset.objects.filter(pk__in=pks).values_list("pk", "target_output_kw")
        )
        make_reading(substation, load_kw=load_kw, measured_at=at - timedelta(seconds=1))
        run = cycle_run(substation_id=substation.pk, now=at)
        after = DERAsset.objects.filter(pk__in=pks)
        for pk, status, target in after.values_list("pk", "status", "target_output_kw"):
            if status != AssetStatus.ACTIVE:
                assert target == 0.0
            commands = SetpointCommand.objects.filter(run=run, asset_id=pk)
            if target != before[pk]:
                (command,) = commands
                assert (command.previous_kw, command.new_kw) == (before[pk], target)
                assert command.reason != "refresh"
            else:  # nothing, or a hold that refreshed the setpoint in force
                refreshes = commands.values_list("reason", "previous_kw", "new_kw")
                assert list(refreshes) in ([], [("refresh", target, target)])
        # the fleet changes between cycles: statuses flip, as in the field
        DERAsset.objects.filter(pk=pks[step % len(pks)]).update(status=statuses[step])


@pytest.mark.django_db
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    loads=st.lists(
        st.floats(min_value=1000.0, max_value=1030.0), min_size=1, max_size=4
    ),
    min_change_kw=st.floats(min_value=0.0, max_value=20.0),
    after=st.sampled_from(
        [
            {},
            {"voltage_pu": 1.12},
            {"frequency_hz": 60.2},
            {"voltage_pu": 1.09, "frequency_hz": 59.99},
        ]
    ),
)
def test_an_intervention_ends_within_one_setpoint_lifetime_after_the_need(
    loads, min_change_kw, after
):
    """Whatever the hysteresis, once the load falls back under the import
    capacity (with or without over-voltage or over-frequency), the first fresh
    cycle commands 0 and ends the intervention: well within the 15-s lifetime."""
    from dispatch.models import Intervention
    from dispatch.services import policy_update

    substation = make_substation(import_capacity_kw=1000.0)
    policy_update(
        substation=substation, user=None, changes={"min_change_kw": min_change_kw}
    )
    owner = make_owner()
    now = timezone.now()
    for _ in range(2):
        make_battery(substation, owner, last_telemetry_at=now)
    for step, load_kw in enumerate(loads):
        at = now + timedelta(seconds=5 * step)
        make_reading(substation, load_kw=load_kw, measured_at=at - timedelta(seconds=1))
        cycle_run(substation_id=substation.pk, now=at)
    end = now + timedelta(seconds=5 * len(loads))
    make_reading(
        substation, load_kw=1000.0, measured_at=end - timedelta(seconds=1), **after
    )
    run = cycle_run(substation_id=substation.pk, now=end)
    assert run.command_kw == 0.0
    targets = DERAsset.objects.filter(substation=substation)
    assert set(targets.values_list("target_output_kw", flat=True)) == {0.0}
    assert not Intervention.objects.filter(
        substation=substation, ended_at__isnull=True
    ).exists()
