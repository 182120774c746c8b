"""Admin doors of dispatch: manual setpoints and policy edits use the services."""

from __future__ import annotations

import pytest

from assets.models import DERAsset
from dispatch.models import DispatchPolicyChange, SetpointCommand
from tests.conftest import make_fleet, make_substation

pytestmark = pytest.mark.django_db


@pytest.fixture
def battery():
    return make_fleet(make_substation(), 1)[0]


def url(asset) -> str:
    return f"/admin/assets/derasset/{asset.pk}/setpoint/"


def test_an_operator_commands_a_manual_setpoint(client, operator, battery):
    client.force_login(operator)
    assert (
        "Command a manual setpoint"
        in client.get(f"/admin/assets/derasset/{battery.pk}/change/").content.decode()
    )
    response = client.post(url(battery), {"target_output_kw": "2.5"})
    assert response.status_code == 302
    battery.refresh_from_db()
    assert battery.target_output_kw == 2.5
    assert SetpointCommand.objects.get().user == operator


def test_a_setpoint_beyond_the_limits_is_shown_and_changes_nothing(
    client, operator, battery
):
    client.force_login(operator)
    response = client.post(url(battery), {"target_output_kw": "50"})
    assert response.status_code == 200
    assert "more than" in response.content.decode()
    battery.refresh_from_db()
    assert battery.target_output_kw == 0.0
    assert not SetpointCommand.objects.exists()


def test_a_technician_cannot_command_a_setpoint(client, technician, battery):
    client.force_login(technician)
    assert client.post(url(battery), {"target_output_kw": "1"}).status_code == 403
    assert DERAsset.objects.get(pk=battery.pk).target_output_kw == 0.0


def test_a_policy_edit_in_the_admin_is_audited(client, operator, battery):
    client.force_login(operator)
    substation = battery.substation
    response = client.post(
        "/admin/dispatch/dispatchpolicy/add/",
        {
            "substation": substation.pk,
            "enabled": "on",
            "cycle_s": 5,
            "deadband_hz": 0.036,
            "droop": 0.04,
            "volt_watt_start_pu": 1.06,
            "volt_watt_end_pu": 1.10,
            "max_reading_age_s": 15,
            "max_telemetry_age_s": 300,
            "energy_horizon_h": 0.25,
            "min_change_kw": 1.0,
            "setpoint_lifetime_s": 15,
            "manual_setpoint_lifetime_s": 900,
            "resolve_hold_s": 300,
            "changes-TOTAL_FORMS": 0,
            "changes-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = DispatchPolicyChange.objects.get()
    assert change.changed_by == operator
    assert change.changes == {"droop": [0.05, 0.04]}


def test_an_owner_sees_every_remote_discharge_of_their_asset(client, owner_user):
    """Time, power, duration and energy of each discharge, from the audit."""
    from datetime import UTC, datetime, timedelta

    from assets.models import DERAsset
    from dispatch.models import SetpointCommand, SetpointReason
    from dispatch.selectors import discharges_of

    asset = DERAsset.objects.get(uid="owners-own-battery")
    start = datetime(2026, 6, 21, 18, 0, tzinfo=UTC)
    rows = [  # 2 kW for 30 min (ended by 0 kW), then 4 kW expiring after 15 min
        (start, 2.0, start + timedelta(hours=1)),
        (start + timedelta(minutes=30), 0.0, None),
        (start + timedelta(hours=2), 4.0, start + timedelta(hours=2, minutes=15)),
    ]
    SetpointCommand.objects.bulk_create(
        SetpointCommand(
            asset=asset,
            created_at=at,
            previous_kw=0.0,
            new_kw=kw,
            reason=SetpointReason.CYCLE,
            expires_at=expires,
        )
        for at, kw, expires in rows
    )
    newest, oldest = discharges_of(asset_id=asset.pk)
    assert (oldest.power_kw, oldest.duration_s, oldest.energy_kwh) == (2.0, 1800, 1.0)
    assert (newest.power_kw, newest.duration_s, newest.energy_kwh) == (4.0, 900, 1.0)
    client.force_login(owner_user)
    page = client.get(f"/admin/assets/derasset/{asset.pk}/change/").content.decode()
    assert "Every remote discharge" in page
    assert "2026-06-21 18:00:00" in page and "30 min 00 s" in page
    assert "4.00 kW" in page and "1.000 kWh" in page
