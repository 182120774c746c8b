"""The outbox end to end: a local SMTP server and a local stand-in for Twilio."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections import deque
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from twilio.request_validator import RequestValidator

from assets.models import Owner
from dispatch.models import DispatchRun, Outcome
from dispatch.services import cycle_run, cycles_run
from incidents.models import Channel, Notification, NotificationStatus
from incidents.notifications import notification_resend, notifications_send_due
from tests.conftest import make_battery, make_owner, make_reading, make_substation

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
GOC = "goc@utility.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.GRID_OPERATIONS_EMAILS = [GOC]
    yield inbox
    controller.stop()


class FakeTwilio(BaseHTTPRequestHandler):
    """Answers Twilio's Messages API with the next queued (status, body)."""

    answers: deque
    received: list

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.received.append({key: values[0] for key, values in form.items()})
        status, body = self.answers.popleft() if self.answers else (201, None)
        body = body or {"sid": f"SM{len(self.received):032d}", "status": "queued"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio(settings):
    handler = type("Handler", (FakeTwilio,), {"answers": deque(), "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()


@pytest.fixture
def site():
    """6 kW needed from two batteries: one of a consenting owner, one of an owner
    who replied STOP."""
    substation = make_substation(import_capacity_kw=1000.0)
    now = timezone.now()
    willing = make_owner(phone="+14155550101", sms_consent=True)
    unwilling = make_owner(phone="+14155550102", sms_consent=True, sms_opted_out_at=now)
    for owner in (willing, unwilling):
        make_battery(substation, owner, name="Garage battery", last_telemetry_at=now)
    return substation


def cycle(substation, load_kw=1006.0, *, seconds=0):
    now = timezone.now() + timedelta(seconds=seconds)
    make_reading(substation, load_kw=load_kw, measured_at=now - timedelta(seconds=1))
    return cycle_run(substation_id=substation.pk, now=now)


def test_an_intervention_mails_the_operators_once(
    site, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = cycle(site)
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site, seconds=5)  # the same command: no email
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.rcpt_tos == [GOC]
    text = message.content.decode()
    assert f"[dermgmt] {site.code}: dispatch started, 6.0 kW from 2 batteries" in text
    assert "Frequency      60.000 Hz" in text
    assert "Imbalance      -4.0 kW (surplus held in reserve)" in text
    assert f"/admin/dispatch/dispatchrun/{run.pk}/change/" in text
    email = Notification.objects.get(channel=Channel.EMAIL)
    assert (email.status, email.run_id) == (NotificationStatus.SENT, run.pk)
    assert email.provider_message_id.startswith("<")


def test_the_end_of_an_intervention_is_mailed_with_its_duration(
    site, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site)
        cycle(site, 1000.0, seconds=240)  # the load is back under the import limit
    texts = [m.content.decode() for m in smtp.messages]
    assert "dispatch ended after 4 min" in texts[1]
    assert "Peak           6.0 kW" in texts[1]


def test_a_discharge_texts_the_consenting_owner_once_and_never_the_opted_out(
    site, twilio, django_capture_on_commit_callbacks
):
    for step in range(3):  # one discharge event over three cycles
        with django_capture_on_commit_callbacks(execute=True):
            cycle(site, seconds=5 * step)
    assert [sms["To"] for sms in twilio.received] == ["+14155550101"]
    body = twilio.received[0]["Body"]
    assert body == (
        "dermgmt: your battery Garage battery is discharging 3.0 kW to support "
        "the grid. Reply STOP to opt out."
    )
    sms = Notification.objects.get(channel=Channel.SMS)
    assert sms.status == NotificationStatus.SENT
    assert sms.provider_message_id == "SM" + "1".zfill(32)


def test_asset_names_in_any_script_reach_the_owner_as_written(twilio):
    """The SMS text loses only control and format characters
    (tests/security/test_sms_body.py): accented Latin, CJK, Arabic and Cyrillic
    names arrive as written."""
    name = "Batterie été 電池 بطارية Аккумулятор"
    substation = make_substation(import_capacity_kw=1000.0)
    owner = make_owner(phone="+14155550101", sms_consent=True)
    make_battery(substation, owner, name=name, last_telemetry_at=timezone.now())
    cycle(substation)
    notifications_send_due(now=timezone.now() + timedelta(seconds=1))
    assert f"your battery {name} is discharging" in twilio.received[0]["Body"]


def test_with_twilio_unset_an_sms_is_kept_as_not_sent(
    site, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="incidents.notifications")
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site)
    sms = Notification.objects.get(channel=Channel.SMS)
    assert sms.status == NotificationStatus.SUPPRESSED
    assert sms.last_error.startswith("not sent: SMS disabled")
    assert "Garage battery is discharging 3.0 kW" in sms.body
    assert "not sent: SMS disabled" in caplog.text


@pytest.mark.django_db(transaction=True)  # real commits, inside the batch
def test_a_batch_of_cycles_hands_its_messages_over_in_one_task(settings, monkeypatch):
    from incidents import tasks

    settings.GRID_OPERATIONS_EMAILS = [GOC]
    sent = []
    monkeypatch.setattr(tasks.notifications_send, "delay", sent.append)
    substations = [make_substation(import_capacity_kw=1000.0) for _ in range(3)]
    for substation in substations:
        make_battery(substation, make_owner(), last_telemetry_at=timezone.now())
        make_reading(substation, load_kw=1003.0)
    now = timezone.now()
    cycles_run(
        substation_ids=[s.pk for s in substations],
        slot_at=now,
        deadline=now + timedelta(seconds=5),
    )
    assert len(sent) == 1
    assert len(sent[0]) == 3  # one operator email per substation


def test_a_dead_smtp_server_never_blocks_the_run_and_is_retried(
    site, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody
    settings.GRID_OPERATIONS_EMAILS = [GOC]
    with django_capture_on_commit_callbacks(execute=True):
        run = cycle(site)
    assert DispatchRun.objects.get(pk=run.pk).outcome == Outcome.DISPATCHED
    email = Notification.objects.get(channel=Channel.EMAIL)
    assert (email.status, email.attempts) == (NotificationStatus.PENDING, 1)
    assert "ConnectionRefusedError" in email.last_error
    first_retry = email.next_attempt_at - timezone.now()
    assert timedelta(seconds=25) < first_retry <= timedelta(seconds=30)

    notifications_send_due(now=timezone.now())  # not due yet: nothing tried
    email.refresh_from_db()
    assert email.attempts == 1
    later = email.next_attempt_at + timedelta(seconds=1)
    notifications_send_due(now=later)
    email.refresh_from_db()
    assert email.attempts == 2
    assert email.next_attempt_at - later == timedelta(seconds=60)  # backoff doubles

    inbox = Inbox()  # the server comes back
    controller = Controller(inbox, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        notifications_send_due(now=email.next_attempt_at)
        notifications_send_due(now=email.next_attempt_at + timedelta(hours=1))
    finally:
        controller.stop()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (NotificationStatus.SENT, 3)
    assert len(inbox.messages) == 1


def test_twilio_500_then_201_is_sent_once(
    site, twilio, django_capture_on_commit_callbacks
):
    twilio.answers.append((500, {"code": 20500, "message": "Internal error"}))
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site)
    sms = Notification.objects.get(channel=Channel.SMS)
    assert (sms.status, sms.attempts) == (NotificationStatus.PENDING, 1)
    assert "Twilio 500" in sms.last_error
    for minutes in (0, 1, 5, 60):  # the sweeper, again and again
        notifications_send_due(now=sms.next_attempt_at + timedelta(minutes=minutes))
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (NotificationStatus.SENT, 2)
    assert len(twilio.received) == 2


def test_a_permanent_twilio_error_is_not_retried(
    site, twilio, django_capture_on_commit_callbacks
):
    unsubscribed = {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "status": 400,
    }
    twilio.answers.append((400, unsubscribed))
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site)
    notifications_send_due(now=timezone.now() + timedelta(hours=2))
    sms = Notification.objects.get(channel=Channel.SMS)
    assert (sms.status, sms.attempts) == (NotificationStatus.FAILED, 1)
    assert "21610" in sms.last_error
    assert len(twilio.received) == 1


def test_transient_failures_stop_after_the_last_attempt(
    site, twilio, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    twilio.answers.extend([(503, {"code": 1, "message": "busy"})] * 5)
    with django_capture_on_commit_callbacks(execute=True):
        cycle(site)
    for hours in range(1, 6):
        notifications_send_due(now=timezone.now() + timedelta(hours=hours))
    sms = Notification.objects.get(channel=Channel.SMS)
    assert (sms.status, sms.attempts) == (NotificationStatus.FAILED, 3)
    assert len(twilio.received) == 3


def test_a_worker_dying_mid_send_never_sends_twice(site, twilio):
    cycle(site)  # no on-commit: the row waits, pending
    sms = Notification.objects.get(channel=Channel.SMS)
    # A worker claimed it, then died before recording the outcome.
    Notification.objects.filter(pk=sms.pk).update(
        status=NotificationStatus.SENDING, claimed_at=timezone.now(), attempts=1
    )
    notifications_send_due(now=timezone.now() + timedelta(minutes=1))
    assert Notification.objects.get(pk=sms.pk).status == NotificationStatus.SENDING
    notifications_send_due(now=timezone.now() + timedelta(minutes=10))
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.FAILED
    assert sms.last_error.startswith("outcome unknown")
    assert twilio.received == []
    # An operator who checked decides to resend: it goes out, once.
    assert notification_resend(notification_id=sms.pk)
    notifications_send_due(now=timezone.now() + timedelta(seconds=1))
    sms.refresh_from_db()
    assert sms.status == NotificationStatus.SENT
    assert len(twilio.received) == 1


def test_an_opt_out_between_writing_and_sending_is_respected(site, twilio):
    cycle(site)
    Owner.objects.update(sms_opted_out_at=timezone.now())
    notifications_send_due(now=timezone.now() + timedelta(seconds=1))
    sms = Notification.objects.get(channel=Channel.SMS)
    assert sms.status == NotificationStatus.SUPPRESSED
    assert twilio.received == []


# --- The inbound webhook --------------------------------------------------------------

WEBHOOK = "http://testserver/sms/inbound/"


def signed_post(client, params: dict, token: str = TOKEN):
    """Twilio's request: every message has its own MessageSid."""
    params = {"MessageSid": f"SM{uuid.uuid4().hex}", **params}
    signature = RequestValidator(token).compute_signature(WEBHOOK, params)
    return client.post(WEBHOOK, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_a_signed_stop_opts_the_owner_out(client, twilio):
    owner = make_owner(phone="+14155550199", sms_consent=True)
    response = signed_post(client, {"From": "+14155550199", "Body": " stop "})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    owner.refresh_from_db()
    assert owner.sms_opted_out_at is not None
    assert not owner.may_receive_sms

    signed_post(client, {"From": "+14155550199", "Body": "START"})
    owner.refresh_from_db()
    assert owner.sms_opted_out_at is None


def test_a_forged_signature_gets_403_and_changes_nothing(client, twilio):
    owner = make_owner(phone="+14155550199", sms_consent=True)
    forged = signed_post(client, {"From": "+14155550199", "Body": "STOP"}, "wrong")
    unsigned = client.post(WEBHOOK, {"From": "+14155550199", "Body": "STOP"})
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    owner.refresh_from_db()
    assert owner.sms_opted_out_at is None


def test_with_twilio_unset_the_webhook_refuses_everything(client):
    response = signed_post(client, {"From": "+14155550199", "Body": "STOP"}, "")
    assert response.status_code == 403


def test_an_operator_resends_a_failed_row_from_the_admin(client, operator, site):
    cycle(site)
    sms = Notification.objects.get(channel=Channel.SMS)
    Notification.objects.filter(pk=sms.pk).update(status=NotificationStatus.FAILED)
    client.force_login(operator)
    response = client.post(
        "/admin/incidents/notification/",
        {"action": "resend", "_selected_action": [sms.pk]},
    )
    assert response.status_code == 302
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (NotificationStatus.PENDING, 0)


def test_material_changes_are_grouped_not_mailed_every_cycle(
    site, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.GRID_OPERATIONS_EMAILS = [GOC]
    settings.INTERVENTION_EMAIL_MIN_INTERVAL_S = 60
    loads = [1006.0, 1002.0, 1006.0, 1003.0]  # 6, 2, 6, 3 kW: all material
    with django_capture_on_commit_callbacks(execute=True):
        for step, load_kw in enumerate(loads):
            cycle(site, load_kw, seconds=10 * step)
        cycle(site, 1002.0, seconds=60)  # a minute after the first email
    subjects = [message.subject for message in mailoutbox]
    assert len(subjects) == 2
    assert "dispatch started, 6.0 kW" in subjects[0]
    assert "dispatch changed to 2.0 kW" in subjects[1]
