"""The control law through the cycle, on a mixed fleet: worked examples with
the numbers computed by hand (IEEE 1547-2018 droop and volt-watt on rated
power, DESIGN.md sections 3-5), the hold and its release, manual limits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.models import AssetStatus, DERAsset
from dispatch.models import Outcome, SetpointCommand
from dispatch.services import cycle_run, policy_update, setpoint_command_manual
from tests.conftest import make_battery, make_owner, make_reading, make_substation

pytestmark = pytest.mark.django_db
ABOUT = pytest.approx
DB, K = 0.036, 0.05  # IEEE 1547-2018 default deadband (Hz) and droop


def mixed_fleet(nominal_hz: int):
    """Six 10 kW batteries of 13.5 kWh, reserve 20 %, horizon 0.25 h:
    full (cap 10), SoC-limited at 25 % (5 % x 13.5 / 0.25 = 2.7 kW),
    ramp-limited at 0.1 kW/s (0.5 kW in a 5-s cycle), faulted and in
    maintenance (each still holding 3 kW), at its reserve (0)."""
    substation = make_substation(nominal_frequency_hz=nominal_hz)
    policy_update(substation=substation, user=None, changes={"min_change_kw": 0.0})
    owner = make_owner()
    now = timezone.now()

    def battery(**fields):
        fields = {"max_discharge_power": 10.0, "last_telemetry_at": now} | fields
        return make_battery(substation, owner, **fields)

    return substation, {
        "full": battery(),
        "soc": battery(state_of_charge=25.0),
        "ramp": battery(ramp_limit_kw_per_s=0.1),
        "fault": battery(status=AssetStatus.FAULT, target_output_kw=3.0),
        "maintenance": battery(status=AssetStatus.MAINTENANCE, target_output_kw=3.0),
        "reserve": battery(state_of_charge=20.0),
    }


def targets(fleet) -> dict[str, float]:
    by_pk = dict(
        DERAsset.objects.filter(pk__in=[a.pk for a in fleet.values()]).values_list(
            "pk", "target_output_kw"
        )
    )
    return {name: by_pk[asset.pk] for name, asset in fleet.items()}


@pytest.mark.parametrize(
    ("nominal_hz", "frequency_hz"),
    [(60, 59.95), (60, 59.90), (60, 59.70), (60, 59.30), (50, 49.90), (50, 49.0)],
)
def test_droop_on_a_mixed_fleet(nominal_hz, frequency_hz):
    substation, fleet = mixed_fleet(nominal_hz)
    make_reading(substation, frequency_hz=frequency_hz, load_kw=0.0)
    run = cycle_run(substation_id=substation.pk)
    per_unit = (nominal_hz - DB - frequency_hz) / (K * nominal_hz)
    expected = {
        "full": min(10.0, 10.0 * per_unit),
        "soc": min(2.7, 10.0 * per_unit),
        "ramp": min(0.5, 10.0 * per_unit),
        "fault": 0.0,
        "maintenance": 0.0,
        "reserve": 0.0,
    }
    assert targets(fleet) == ABOUT(expected)
    assert run.frequency_response_kw == ABOUT(sum(expected.values()))
    assert run.command_kw == ABOUT(sum(expected.values()))
    assert run.capacity_nameplate_kw == 40.0  # the four active ones
    assert run.capacity_kw == ABOUT(10.0 + 2.7 + 0.5)
    assert (run.limited_by_energy, run.limited_by_ramp) == (2, 1)  # reserve: energy
    ended = SetpointCommand.objects.filter(run=run, reason="ineligible")
    assert ended.count() == 2


def test_the_standard_response_at_59_70_hz_is_not_shrunk_by_limited_batteries():
    """0.088 of WMax from each battery able to give it: 0.88 + 0.88 + 0.5 kW.
    A law on *available* power would give 0.088 x 13.2 = 1.16 kW."""
    substation, _ = mixed_fleet(60)
    make_reading(substation, frequency_hz=59.70, load_kw=0.0)
    run = cycle_run(substation_id=substation.pk)
    assert run.command_kw == ABOUT(0.88 + 0.88 + 0.5)


def two_batteries(min_change_kw: float = 1.0):
    substation = make_substation(import_capacity_kw=1000.0)
    policy_update(
        substation=substation, user=None, changes={"min_change_kw": min_change_kw}
    )
    owner = make_owner()
    now = timezone.now()
    fleet = {
        name: make_battery(substation, owner, last_telemetry_at=now)
        for name in ("a", "b")
    }
    return substation, fleet


def cycle_at(substation, seconds: float, **reading):
    at = timezone.now() + timedelta(seconds=seconds)
    make_reading(substation, measured_at=at - timedelta(seconds=1), **reading)
    return cycle_run(substation_id=substation.pk, now=at)


@pytest.mark.parametrize(
    "release",
    [
        {"load_kw": 1000.0},  # the need drops to zero
        {"load_kw": 1000.6, "voltage_pu": 1.12},  # volt-watt: caps of 0
        {"load_kw": 1000.6, "frequency_hz": 60.30},  # 0.088 x 10 kW > 0.6 kW
    ],
)
def test_a_small_command_in_force_is_released_by_a_zero(release):
    """3 kW, then 0.6 kW (a change above the 1 kW minimum), then a zero that is
    within 1 kW of the 0.6 kW in force: it applies at once, not held."""
    substation, fleet = two_batteries()
    cycle_at(substation, 0, load_kw=1003.0)
    run = cycle_at(substation, 5, load_kw=1000.6)
    assert run.command_kw == ABOUT(0.6)
    held = cycle_at(substation, 10, load_kw=1000.7)
    assert held.held and held.command_kw == ABOUT(0.6)
    run = cycle_at(substation, 15, **release)
    assert not run.held
    assert run.command_kw == 0.0
    assert set(targets(fleet).values()) == {0.0}


def test_a_hold_lowers_a_setpoint_above_its_new_cap():
    """4 kW on each at 1.0 pu; then 1.07 pu caps each at 0.75 x 5 = 3.75 kW:
    the load need is the same, so the command (7.5) is within 1 kW of the
    7.5 kW held after lowering: held, each lowered to 3.75 and audited."""
    substation, fleet = two_batteries()
    cycle_at(substation, 0, load_kw=1008.0)
    run = cycle_at(substation, 5, load_kw=1008.0, voltage_pu=1.07)
    assert run.held
    assert targets(fleet) == ABOUT({"a": 3.75, "b": 3.75})
    lowered = SetpointCommand.objects.filter(run=run).values_list(
        "reason", "previous_kw", "new_kw"
    )
    assert sorted(lowered) == [("cycle", 4.0, 3.75), ("cycle", 4.0, 3.75)]


def test_a_manual_setpoint_on_a_battery_that_cannot_ramp_is_refused():
    substation = make_substation()
    battery = make_battery(
        substation,
        make_owner(),
        ramp_limit_kw_per_s=0.0,
        last_telemetry_at=timezone.now(),
    )
    with pytest.raises(ValidationError, match="ramp limit of 0 kW/s"):
        setpoint_command_manual(asset_id=battery.pk, target_kw=5.0, user=None)
    battery.refresh_from_db()
    assert battery.target_output_kw == 0.0
    assert not SetpointCommand.objects.filter(asset=battery).exists()


def test_a_manual_setpoint_is_capped_by_volt_watt_at_the_latest_voltage():
    substation = make_substation()
    battery = make_battery(substation, make_owner(), last_telemetry_at=timezone.now())
    make_reading(substation, voltage_pu=1.08)  # P(V) = 0.5: 2.5 kW of 5
    with pytest.raises(ValidationError, match="volt-watt"):
        setpoint_command_manual(asset_id=battery.pk, target_kw=3.0, user=None)
    asset = setpoint_command_manual(asset_id=battery.pk, target_kw=2.5, user=None)
    assert asset.target_output_kw == 2.5


def test_a_stale_reading_lowers_without_extending_the_expiry():
    """A battery draining while the readings are stale is lowered to what it can
    still give, and the setpoint keeps the expiry it had: it runs out."""
    substation, fleet = two_batteries()
    first = cycle_at(substation, 0, load_kw=1008.0)
    expires = DERAsset.objects.get(pk=fleet["a"].pk).setpoint_expires_at
    assert expires == first.started_at + timedelta(seconds=15)
    # SoC falls to 21 %: (1 % x 13.5 kWh) / 0.25 h = 0.54 kW
    DERAsset.objects.filter(pk=fleet["a"].pk).update(state_of_charge=21.0)
    run = cycle_run(
        substation_id=substation.pk, now=first.started_at + timedelta(seconds=30)
    )
    assert run.outcome == Outcome.STALE
    asset = DERAsset.objects.get(pk=fleet["a"].pk)
    assert asset.target_output_kw == ABOUT(0.54)
    assert asset.setpoint_expires_at == expires


def test_a_run_says_in_plain_words_why_it_commanded_what_it_did(client, operator):
    """Load 1,008 kW over 1,000 kW of import, 59.90 Hz and 1.08 pu: droop
    0.064 / 3 x 5 kW = 0.107 kW per battery, caps 2.5 kW, 8.2 kW needed."""
    substation, _ = two_batteries()
    run = cycle_at(substation, 0, load_kw=1008.0, frequency_hz=59.90, voltage_pu=1.08)
    client.force_login(operator)
    page = client.get(f"/admin/dispatch/dispatchrun/{run.pk}/change/").content
    why = page.decode()
    assert "Load 1,008.0 kW against an import capacity of 1,000.0 kW" in why
    assert "a load need of 8.0 kW" in why
    assert "droop asks 0.2 kW" in why
    assert "volt-watt allows 50% of each battery&#x27;s rated power" in why
    assert "2 batteries could give 5.0 kW of 10.0 kW nameplate" in why
    assert "2 batteries below rated power: 2 by volt-watt" in why
    assert "Commanded 5.0 kW to 2 batteries" in why
    assert "a deficit of 3.2 kW" in why


def test_a_held_run_says_it_kept_the_setpoints_in_force():
    from dispatch.explain import run_explanation

    substation, _ = two_batteries()
    cycle_at(substation, 0, load_kw=1006.0)
    run = cycle_at(substation, 5, load_kw=1006.5)
    assert run.held
    assert "the 6.0 kW in force on 2 batteries was kept" in run_explanation(run)


def test_a_non_finite_setpoint_is_never_written():
    from dispatch.services import setpoints_write

    _, fleet = two_batteries()
    with pytest.raises(ValueError, match="non-finite"):
        setpoints_write(
            pks=np.array([fleet["a"].pk]),
            previous_kw=np.array([0.0]),
            new_kw=np.array([np.inf]),
            expires_at=[None],
            source=["auto"],
            reason=["cycle"],
            now=timezone.now(),
        )
    assert targets(fleet) == {"a": 0.0, "b": 0.0}


def test_a_held_discharge_counts_its_whole_energy_in_the_report_and_for_its_owner():
    """3 kW on each of two batteries from t = 0, held by hysteresis every 5 s
    (load 1,006.4 kW is within 1 kW of the 6 kW in force), back to 0 at
    t = 120 s: 2 x 3 kW x 120 s = 0.200 kWh, not one 15-s lifetime of it."""
    from dispatch.selectors import discharges_of
    from reports.selectors import setpoint_energy

    substation, fleet = two_batteries()
    start = timezone.now()
    for t in range(0, 125, 5):
        load_kw = 1006.0 if t == 0 else 1000.0 if t == 120 else 1006.4
        at = start + timedelta(seconds=t)
        make_reading(substation, measured_at=at - timedelta(seconds=1), load_kw=load_kw)
        run = cycle_run(substation_id=substation.pk, now=at)
        assert run.held == (0 < t < 120)
    energy = setpoint_energy(
        substation_ids=[substation.pk],
        start=start - timedelta(minutes=1),
        end=start + timedelta(minutes=5),
        lookback_s=3600,
    )
    assert energy[substation.pk][0] == ABOUT(2 * 3.0 * 120 / 3600)
    (discharge,) = discharges_of(
        asset_id=fleet["a"].pk, now=start + timedelta(minutes=5)
    )
    assert discharge.duration_s == ABOUT(120.0)
    assert discharge.energy_kwh == ABOUT(3.0 * 120 / 3600)


def test_a_command_below_the_minimum_change_from_nothing_is_not_sent():
    """0.4 kW of need against a 1 kW minimum change, nothing in force: held at
    0 (no 0.2-kW discharges and SMS for the chatter), and said so."""
    from dispatch.explain import run_explanation

    substation, fleet = two_batteries()
    run = cycle_at(substation, 0, load_kw=1000.4)
    assert run.held and run.command_kw == 0.0
    assert set(targets(fleet).values()) == {0.0}
    assert "no battery was commanded" in run_explanation(run)
