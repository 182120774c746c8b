"""Energy of held setpoints: a hold writes a `refresh` audit row each cycle
(previous = new, a later expiry), and the report, the owner's discharge table
and the API's setpoint history all count the energy really in force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from rest_framework.test import APIClient

from assets.models import DERAsset
from dispatch.models import SetpointCommand, SetpointReason
from dispatch.selectors import discharges_of
from reports.services import report_figures

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 21)
T = datetime(2026, 6, 21, 18, 0, tzinfo=UTC)  # 12:00 in Denver, on DAY
CYCLE_S = 5
LIFETIME_S = 15  # 3 cycles
LATER = T + timedelta(hours=1)


def s(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def hold(kw: float, *, start_s: int, end_s: int, before_kw: float = 0.0) -> list:
    """What the cycle writes while it holds `kw` from `start_s` to `end_s`
    (exclusive): the change, then a refresh every cycle, each expiring one
    lifetime after its write."""
    rows = [(start_s, before_kw, kw, SetpointReason.CYCLE)]
    rows += [
        (at, kw, kw, SetpointReason.REFRESH)
        for at in range(start_s + CYCLE_S, end_s, CYCLE_S)
    ]
    return rows


def write(asset: DERAsset, rows: list, *, to_zero_at: int | None = None) -> None:
    """Audit rows (seconds after T, previous kW, new kW, reason), and a row to 0
    at `to_zero_at` if given."""
    commands = [
        SetpointCommand(
            asset=asset,
            created_at=s(at),
            previous_kw=previous,
            new_kw=new,
            reason=reason,
            expires_at=s(at + LIFETIME_S),
        )
        for at, previous, new, reason in rows
    ]
    if to_zero_at is not None:
        commands.append(
            SetpointCommand(
                asset=asset,
                created_at=s(to_zero_at),
                previous_kw=rows[-1][2],
                new_kw=0.0,
                reason=SetpointReason.CYCLE,
            )
        )
    SetpointCommand.objects.bulk_create(commands)


@pytest.fixture
def battery(owner_user) -> DERAsset:
    return DERAsset.objects.get(uid="owners-own-battery")


@pytest.fixture
def held_120_s(battery) -> DERAsset:
    """6 kW held for 120 s: a cycle row, 23 refreshes, then a row to 0 kW."""
    write(battery, hold(6.0, start_s=0, end_s=120), to_zero_at=120)
    return battery


def commanded_kwh(asset: DERAsset) -> float:
    figures, _ = report_figures(
        substations=[asset.substation], day=DAY, zone=asset.substation.zone
    )
    return figures["dispatch"]["energy_commanded_kwh"]


def test_the_report_counts_a_120_s_hold_as_its_whole_energy(held_120_s):
    assert SetpointCommand.objects.filter(reason="refresh").count() == 23
    assert commanded_kwh(held_120_s) == pytest.approx(6.0 * 120 / 3600)  # 0.200


def test_the_owner_sees_a_120_s_hold_as_one_discharge(
    held_120_s, client, owner_user, django_assert_num_queries
):
    with django_assert_num_queries(1):
        (discharge,) = discharges_of(asset_id=held_120_s.pk, now=LATER)
    assert (discharge.started_at, discharge.ended_at) == (T, s(120))
    assert discharge.duration_s == pytest.approx(120.0)
    assert discharge.energy_kwh == pytest.approx(0.200)
    assert discharge.power_kw == 6.0
    assert discharge.reason == "Stabilisation cycle"
    client.force_login(owner_user)
    page = client.get(f"/admin/assets/derasset/{held_120_s.pk}/change/").text
    assert page.count("0.200 kWh") == 1 and "2 min 00 s" in page
    assert "Peak power" in page and "6.00 kW" in page


def test_the_api_setpoint_history_integrates_to_the_same_energy(held_120_s, owner_user):
    """The API lists the audit rows, refreshes included; each row in force
    until the next row or its expiry gives the report's energy."""
    api = APIClient()
    api.force_login(owner_user)
    response = api.get(
        "/api/v1/setpoint-commands/", {"asset": held_120_s.uid, "page_size": 1000}
    )
    rows = response.json()["results"][::-1]  # oldest first
    assert {r["reason"] for r in rows[1:-1]} == {"refresh"}
    assert all(r["previous_kw"] == r["new_kw"] == 6.0 for r in rows[1:-1])
    assert rows[-1]["new_kw"] == 0.0  # the end: it counts for nothing
    kw_s = 0.0
    for row, following in pairwise(rows):
        ends = [
            datetime.fromisoformat(t)
            for t in (following["created_at"], row["expires_at"])
        ]
        kw_s += (
            row["new_kw"]
            * (min(ends) - datetime.fromisoformat(row["created_at"])).total_seconds()
        )
    assert kw_s / 3600 == pytest.approx(0.200)


def test_a_discharge_that_runs_out_lasts_to_its_last_expiry(battery):
    """No row to 0: the last refresh, at 80 s, expires at 95 s."""
    write(battery, hold(6.0, start_s=0, end_s=85))
    (discharge,) = discharges_of(asset_id=battery.pk, now=LATER)
    assert (discharge.started_at, discharge.ended_at) == (T, s(95))
    assert discharge.duration_s == pytest.approx(95.0)
    assert discharge.energy_kwh == pytest.approx(6.0 * 95 / 3600)
    assert commanded_kwh(battery) == pytest.approx(6.0 * 95 / 3600)


def test_a_discharge_still_held_is_in_force_with_the_energy_so_far(battery):
    write(battery, hold(6.0, start_s=0, end_s=85))
    (discharge,) = discharges_of(asset_id=battery.pk, now=s(52))
    assert discharge.ended_at is None
    assert discharge.duration_s == pytest.approx(52.0)
    assert discharge.energy_kwh == pytest.approx(6.0 * 52 / 3600)


def test_a_change_of_power_within_a_discharge_is_integrated(battery):
    """6 kW for 60 s, then 4 kW for 30 s: 360 + 120 kW·s, one discharge."""
    rows = hold(6.0, start_s=0, end_s=60) + hold(
        4.0, start_s=60, end_s=90, before_kw=6.0
    )
    write(battery, rows, to_zero_at=90)
    (discharge,) = discharges_of(asset_id=battery.pk, now=LATER)
    assert (discharge.started_at, discharge.ended_at) == (T, s(90))
    assert discharge.power_kw == 6.0  # the peak, not the latest
    assert discharge.energy_kwh == pytest.approx((6.0 * 60 + 4.0 * 30) / 3600)
    assert commanded_kwh(battery) == pytest.approx((6.0 * 60 + 4.0 * 30) / 3600)


def test_two_discharges_separated_by_an_expiry_gap_stay_two(battery):
    """6 kW at 0 s refreshed at 5 s expires at 20 s; the next starts at 30 s
    and is ended by 0 kW at 40 s."""
    rows = hold(6.0, start_s=0, end_s=10) + hold(6.0, start_s=30, end_s=40)
    write(battery, rows, to_zero_at=40)
    newest, oldest = discharges_of(asset_id=battery.pk, now=LATER)
    assert (oldest.started_at, oldest.ended_at) == (T, s(20))
    assert oldest.energy_kwh == pytest.approx(6.0 * 20 / 3600)
    assert (newest.started_at, newest.ended_at) == (s(30), s(40))
    assert newest.energy_kwh == pytest.approx(6.0 * 10 / 3600)
    assert commanded_kwh(battery) == pytest.approx(6.0 * 30 / 3600)


def test_a_setpoint_written_as_the_last_one_expires_continues_the_discharge(
    battery,
):
    """In force until 15 s; the next row at exactly 15 s leaves no gap."""
    write(
        battery,
        [(0, 0.0, 6.0, SetpointReason.CYCLE), (15, 6.0, 6.0, SetpointReason.REFRESH)],
        to_zero_at=20,
    )
    (discharge,) = discharges_of(asset_id=battery.pk, now=LATER)
    assert discharge.duration_s == pytest.approx(20.0)


def test_a_manual_discharge_names_who_started_it(battery, operator):
    SetpointCommand.objects.create(
        asset=battery,
        created_at=T,
        previous_kw=0.0,
        new_kw=3.0,
        reason=SetpointReason.MANUAL,
        expires_at=s(600),
        user=operator,
    )
    (discharge,) = discharges_of(asset_id=battery.pk, now=LATER)
    assert (discharge.reason, discharge.user) == ("Manual", "operator")
    assert discharge.energy_kwh == pytest.approx(3.0 * 600 / 3600)


def test_a_discharge_older_than_the_rows_read_is_left_out_not_cut_short(
    battery, monkeypatch
):
    """Reading the newest 5 rows of a 120-s hold and a later 10-s discharge
    would show the hold as starting at 115 s: it is left out instead."""
    write(battery, hold(6.0, start_s=0, end_s=120), to_zero_at=120)
    write(battery, hold(2.0, start_s=200, end_s=210), to_zero_at=210)
    monkeypatch.setattr("dispatch.selectors.HISTORY_ROWS", 5)
    (discharge,) = discharges_of(asset_id=battery.pk, now=LATER)
    assert (discharge.started_at, discharge.power_kw) == (s(200), 2.0)
