"""Twilio's inbound SMS webhook (issue 17, items 5 and 6): a signed request
replayed changes nothing (each message is kept by its MessageSid), and what the
real Twilio never sends (no MessageSid, a NUL in From) is refused with 400,
never 500."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections
from twilio.request_validator import RequestValidator

from assets.models import Owner
from incidents.models import InboundMessage
from incidents.notifications import sms_inbound_receive
from tests.conftest import make_owner

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
WEBHOOK = "http://testserver/sms/inbound/"
PHONE = "+14155550199"


@pytest.fixture(autouse=True)
def twilio_token(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_WEBHOOK_URL = ""


def new_sid() -> str:
    return f"SM{uuid.uuid4().hex}"


def signed_post(client, params: dict):
    """POST `params` as Twilio would, with a valid X-Twilio-Signature."""
    signature = RequestValidator(TOKEN).compute_signature(WEBHOOK, params)
    return client.post(WEBHOOK, params, HTTP_X_TWILIO_SIGNATURE=signature)


def opted_out(owner: Owner) -> bool:
    owner.refresh_from_db()
    return owner.sms_opted_out_at is not None


def test_a_replayed_stop_after_a_start_changes_nothing(client):
    """A captured, validly signed STOP sent again after the owner's START is a
    replay: 200 (so nobody retries) and the owner stays opted in."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    stop = {"MessageSid": new_sid(), "From": PHONE, "Body": "STOP"}
    assert signed_post(client, stop).status_code == 200
    assert (
        signed_post(
            client, {"MessageSid": new_sid(), "From": PHONE, "Body": "START"}
        ).status_code
        == 200
    )
    assert not opted_out(owner)

    replay = signed_post(client, stop)

    assert replay.status_code == 200
    assert not opted_out(owner)


def test_a_replayed_start_after_a_stop_changes_nothing(client):
    """The other way round: an old START cannot opt back in an owner who has
    replied STOP since."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    start = {"MessageSid": new_sid(), "From": PHONE, "Body": "START"}
    signed_post(client, start)
    signed_post(client, {"MessageSid": new_sid(), "From": PHONE, "Body": "STOP"})
    assert opted_out(owner)

    assert signed_post(client, start).status_code == 200
    assert opted_out(owner)


def test_each_inbound_message_is_kept_once_by_its_sid(client):
    """The sid, sender, owner, keyword and outcome of every inbound SMS are kept,
    one row per sid however often it arrives."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    sid = new_sid()
    for _ in range(3):
        signed_post(client, {"MessageSid": sid, "From": PHONE, "Body": " stop now"})
    message = InboundMessage.objects.get()
    assert (message.message_sid, message.phone, message.owner_id) == (
        sid,
        PHONE,
        owner.pk,
    )
    assert (message.keyword, message.outcome, message.body) == (
        "STOP",
        "opted out",
        "stop now",
    )
    assert message.received_at is not None


def test_a_signed_message_without_a_sid_is_refused(client):
    """Twilio always sends MessageSid; without one a message cannot be told from
    its replay, so it is refused (400) and changes nothing."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    response = signed_post(client, {"From": PHONE, "Body": "STOP"})
    assert response.status_code == 400
    assert not opted_out(owner)


def test_a_signed_sender_holding_a_nul_is_refused_with_400(client):
    """A NUL in From (PostgreSQL cannot take it in a query) answers 400, not 500,
    and changes nothing."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    for sender in [PHONE + "\x00", "+1415\x005550199", "\x00"]:
        response = signed_post(
            client, {"MessageSid": new_sid(), "From": sender, "Body": "STOP"}
        )
        assert response.status_code == 400, repr(sender)
    assert not opted_out(owner)
    assert not InboundMessage.objects.exists()


def test_a_signed_body_holding_a_nul_is_kept_without_it(client):
    """Control characters in Body are dropped before the keyword is read and the
    message kept: "STOP<NUL>" still opts out, and nothing answers 500."""
    owner = make_owner(phone=PHONE, sms_consent=True)
    response = signed_post(
        client, {"MessageSid": new_sid(), "From": PHONE, "Body": "STOP\x00\x00"}
    )
    assert response.status_code == 200
    assert opted_out(owner)
    assert InboundMessage.objects.get().body == "STOP"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises every writer"
)
def test_two_simultaneous_deliveries_of_one_sid_apply_it_once():
    """Replayed at the same moment as the original: the unique sid lets exactly
    one through, the other is a replay."""
    make_owner(phone=PHONE, sms_consent=True)
    sid, barrier = new_sid(), threading.Barrier(2)
    outcomes: list[str] = []

    def deliver() -> None:
        try:
            barrier.wait()
            outcomes.append(
                sms_inbound_receive(message_sid=sid, phone=PHONE, body="STOP")
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["opted out", "replay"]
    assert InboundMessage.objects.count() == 1
