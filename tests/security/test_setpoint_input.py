"""Manual setpoints (issue 17, items 4 and 7): every manual command is audited
with its user, a zero and an unchanged value included; a boolean is no number
of kW; a negative zero is stored as 0.0."""

from __future__ import annotations

import math

import pytest
from django.core.cache import cache

from assets.models import DERAsset, SetpointSource
from dispatch.models import SetpointCommand
from dispatch.services import setpoint_command_manual
from tests.conftest import make_fleet, make_substation
from tests.test_api import session, setpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def battery():
    """An active battery that reported a moment ago, idle (0 kW, automatic)."""
    return make_fleet(make_substation(), 1)[0]


def test_a_manual_zero_on_an_idle_battery_is_audited_with_the_user(operator, battery):
    """0 kW on a battery already at 0 still takes it out of automatic dispatch
    for the manual lifetime: it is a command, audited with who gave it."""
    response = setpoint(session(operator), battery.uid, 0)
    assert response.status_code == 200
    battery.refresh_from_db()
    assert battery.setpoint_source == SetpointSource.MANUAL
    command = SetpointCommand.objects.get(asset=battery)
    assert (command.user, command.reason) == (operator, "manual")
    assert (command.previous_kw, command.new_kw) == (0.0, 0.0)
    assert command.expires_at == battery.setpoint_expires_at


def test_a_manual_setpoint_repeating_the_value_in_force_is_audited(operator, battery):
    """Commanding the value already in force extends its hold: audited again,
    with the user and reason `manual`."""
    setpoint_command_manual(asset_id=battery.pk, target_kw=2.5, user=operator)
    setpoint_command_manual(asset_id=battery.pk, target_kw=2.5, user=operator)
    rows = SetpointCommand.objects.filter(asset=battery).order_by("id")
    assert [(c.previous_kw, c.new_kw, c.reason, c.user) for c in rows] == [
        (0.0, 2.5, "manual", operator),
        (2.5, 2.5, "manual", operator),
    ]


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_setpoint_is_refused(operator, battery, value):
    """JSON true is not 1 kW (nor false 0 kW): 400 naming the field, nothing
    commanded, nothing audited."""
    response = setpoint(session(operator), battery.uid, value)
    assert response.status_code == 400, response.content
    assert "boolean" in response.json()["target_output_kw"][0]
    battery.refresh_from_db()
    assert (battery.target_output_kw, battery.setpoint_source) == (
        0.0,
        SetpointSource.AUTO,
    )
    assert not SetpointCommand.objects.exists()


def test_a_negative_zero_setpoint_is_stored_as_zero(operator, battery):
    """-0.0 from the API is stored (and audited) as 0.0, never as -0."""
    response = setpoint(session(operator), battery.uid, -0.0)
    assert response.status_code == 200, response.content
    stored = DERAsset.objects.get(pk=battery.pk).target_output_kw
    command = SetpointCommand.objects.get(asset=battery)
    assert [math.copysign(1.0, kw) for kw in (stored, command.new_kw)] == [1.0, 1.0]


def test_the_admin_setpoint_form_refuses_no_number_and_unsigns_zero(
    client, operator, battery
):
    """The admin's form takes text: `True`, NaN and infinities are refused with
    the form's error; `-0.0` is stored as 0.0 like any door's."""
    client.force_login(operator)
    url = f"/admin/assets/derasset/{battery.pk}/setpoint/"
    for text in ["True", "nan", "inf", "-inf", "1e400"]:
        response = client.post(url, {"target_output_kw": text})
        assert response.status_code == 200, text
        assert "Enter a number" in response.content.decode(), text
    assert not SetpointCommand.objects.exists()
    assert client.post(url, {"target_output_kw": "-0.0"}).status_code == 302
    stored = DERAsset.objects.get(pk=battery.pk).target_output_kw
    assert math.copysign(1.0, stored) == 1.0
