"""What goes into an owner's SMS (issue 17, item 10): asset names are the owner's
or the back office's free text, so no control or format character (bidi
overrides, zero-width characters, NUL, escapes) reaches a phone, and a message
has a length cap that never cuts the opt-out line."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.services import cycle_run
from incidents.models import Channel, Notification, NotificationStatus
from incidents.notifications import notifications_send_due
from incidents.transports import SMS_MAX_CHARS, sms_text
from tests.conftest import make_battery, make_owner, make_reading, make_substation
from tests.test_notifications import twilio  # noqa: F401  (the local Twilio)

pytestmark = pytest.mark.django_db

PHONE = "+14155550101"
OPT_OUT = "Reply STOP to opt out."


def discharge(*names: str) -> None:
    """One cycle that starts every named battery of one consenting owner."""
    substation = make_substation(import_capacity_kw=1000.0)
    now = timezone.now()
    owner = make_owner(phone=PHONE, sms_consent=True)
    for name in names:
        make_battery(substation, owner, name=name, last_telemetry_at=now)
    make_reading(substation, load_kw=1006.0, measured_at=now - timedelta(seconds=1))
    cycle_run(substation_id=substation.pk, now=now)


def send() -> str:
    """Send what is due; the text Twilio received."""
    notifications_send_due(now=timezone.now() + timedelta(seconds=1))
    sms = Notification.objects.get(channel=Channel.SMS)
    assert sms.status == NotificationStatus.SENT
    return sms.body


def unsafe(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co"}]


def test_bidi_overrides_zero_width_and_control_characters_never_reach_a_phone(
    twilio,  # noqa: F811
):
    """A name with a right-to-left override, zero-width characters, isolates, a
    bell and an escape sequence is sent without any of them (PostgreSQL itself
    refuses a NUL in a name)."""
    discharge("Gar\u202eage\u200b\u2066 one\u2069\x07\x1b[31m\u200d\ufeff\n battery")
    body = send()
    sent = twilio.received[0]["Body"]
    assert sent == body
    assert unsafe(sent) == []
    assert "your battery Garage one[31m battery is discharging" in sent


def test_a_discharge_sms_is_capped_and_keeps_its_opt_out_line(twilio):  # noqa: F811
    """Six batteries with 200-character names: the SMS names three, each cut,
    says how many more, stays within the cap, and ends with the STOP line."""
    discharge(*[f"{n}" + "x" * 199 for n in range(6)])
    body = send()
    assert len(body) <= SMS_MAX_CHARS
    assert body.endswith(OPT_OUT)
    assert " and 3 more are discharging 6.0 kW" in body


def test_a_text_rendered_before_the_fix_is_cleaned_at_sending(twilio):  # noqa: F811
    """The transport passes every SMS through the same function, so a row whose
    body was stored raw (an old row, a resend) still goes out clean and capped."""
    now = timezone.now()
    owner = make_owner(phone=PHONE, sms_consent=True)
    Notification.objects.create(
        channel=Channel.SMS,
        recipient=PHONE,
        template="discharge_started",
        body="x\u202e" * 400 + OPT_OUT,
        idempotency_key="old-row",
        owner=owner,
        next_attempt_at=now,
        created_at=now,
    )
    send()
    sent = twilio.received[0]["Body"]
    assert unsafe(sent) == []
    assert len(sent) == SMS_MAX_CHARS
    assert sent == sms_text("x" * 400)
