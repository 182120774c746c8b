"""The notification outbox's services: write, send, retry, opt out (steps 9, 10).

Rows are written in the transaction of whatever causes them (a dispatch run, an
incident) and sent by a worker after commit, so a dead SMTP server or SMS
provider never blocks or rolls back a dispatch. Sending claims a row first
(`pending` -> `sending`, committed) and records the provider's id after: a
worker that dies in between leaves a claim that is failed after
NOTIFICATION_STUCK_S, never sent a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from assets.models import Owner
from incidents.models import (
    DISCHARGE_SMS,
    Channel,
    InboundMessage,
    Notification,
    NotificationStatus,
)
from incidents.selectors import sms_recipients
from incidents.transports import TRANSPORTS, DeliveryError, sms_enabled, sms_text

logger = logging.getLogger(__name__)

SMS_DISABLED = "not sent: SMS disabled (TWILIO_* settings unset)"
INTERVENTION_TEMPLATES = (
    "notifications/intervention_subject.txt",
    "notifications/intervention_body.txt",
)
# Twilio's standard opt-out and opt-in keywords.
STOP_WORDS = {
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
}
START_WORDS = {"START", "YES", "UNSTOP", "OPTIN"}
# A discharge SMS names at most this many batteries ("and 2 more"), each cut to
# SMS_NAME_CHARS: with them the text stays under SMS_MAX_CHARS and always ends
# with "Reply STOP to opt out.".
SMS_NAMES_LISTED = 3
SMS_NAME_CHARS = 40
# Twilio's longest message body; what we keep of an inbound one.
INBOUND_BODY_CHARS = 1600
REPLAY = "replay"


# Templates of each kind of message: (subject, body); rendered by the sender.
TEMPLATES = {
    "intervention_started": INTERVENTION_TEMPLATES,
    "intervention_changed": INTERVENTION_TEMPLATES,
    "intervention_ended": INTERVENTION_TEMPLATES,
    DISCHARGE_SMS: ("", "notifications/discharge_sms.txt"),
    "stability_report": (
        "notifications/stability_report_subject.txt",
        "notifications/stability_report_body.txt",
    ),
}

# Keys of rows committed inside `sends_batched()`, published together at its end.
_batched: ContextVar[list[str] | None] = ContextVar("notifications", default=None)


def notifications_enqueue(*, notifications: Sequence[Notification]) -> list[str]:
    """Write outbox rows in the caller's transaction; send them after it commits.

    One INSERT of rows that hold their template and context; the sender renders
    them, so the cycle pays for no template. A row whose idempotency key exists
    already is not written again. Returns the keys of the rows.
    """
    now = timezone.now()
    for notification in notifications:
        notification.created_at = notification.created_at or now
        notification.next_attempt_at = notification.next_attempt_at or now
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    keys = [n.idempotency_key for n in notifications]
    if keys:
        transaction.on_commit(lambda: notifications_publish(keys))
    return keys


def notifications_publish(keys: list[str]) -> None:
    """Hand committed rows to a worker now, or at the end of `sends_batched()`."""
    batch = _batched.get()
    if batch is not None:
        batch.extend(keys)
        return
    from incidents.tasks import notifications_send

    notifications_send.delay(keys)


@contextmanager
def sends_batched() -> Iterator[None]:
    """Rows committed inside go to the workers in one task at the end (a batch of
    dispatch cycles: one message instead of one per cycle)."""
    keys: list[str] = []
    token = _batched.set(keys)
    try:
        yield
    finally:
        _batched.reset(token)
        if keys:
            notifications_publish(keys)


def notification_render(notification: Notification) -> None:
    """Fill in subject and body from the row's template and context (once)."""
    if notification.body:
        return
    subject, body = TEMPLATES[notification.template]
    context = {"base_url": settings.DERMGMT_BASE_URL, **notification.context}
    if subject:
        text = render_to_string(subject, context)
        notification.subject = " ".join(text.split())[:200]
    notification.body = render_to_string(body, context).strip()
    if notification.channel == Channel.SMS:
        notification.body = sms_text(notification.body)
    notification.save(update_fields=["subject", "body"])


def backoff_s(attempts: int) -> float:
    """Seconds before retry number `attempts` + 1: 30 s, 1 min, 2 min, ... (x2)."""
    return settings.NOTIFICATION_BACKOFF_S * 2 ** (attempts - 1)


def notification_deliver(*, notification_id: int, now: datetime | None = None) -> str:
    """Send one due, pending notification; return its status afterwards.

    Claims the row with a conditional UPDATE (exactly one worker wins), sends,
    records. A transient failure is retried with exponential backoff up to
    NOTIFICATION_MAX_ATTEMPTS; a permanent one (invalid or unsubscribed number,
    refused address) is not retried. Must run outside a transaction: the claim
    commits before the provider is called.
    """
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id,
        status=NotificationStatus.PENDING,
        next_attempt_at__lte=now,
    ).update(
        status=NotificationStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    notification = Notification.objects.select_related("owner").get(pk=notification_id)
    if not claimed:
        return notification.status
    notification_render(notification)
    why_not = notification_blocked(notification)
    if why_not:
        logger.info(
            "%s to %s %s: %s",
            notification.channel,
            notification.recipient,
            why_not,
            notification.body,
        )
        return notification_record(
            notification, NotificationStatus.SUPPRESSED, last_error=why_not
        )
    try:
        provider_id = TRANSPORTS[notification.channel](notification)
    except DeliveryError as error:
        exhausted = notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
        if error.permanent or exhausted:
            logger.error("notification %s failed: %s", notification.pk, error)
            return notification_record(
                notification, NotificationStatus.FAILED, last_error=str(error)
            )
        retry_at = now + timedelta(seconds=backoff_s(notification.attempts))
        return notification_record(
            notification,
            NotificationStatus.PENDING,
            last_error=str(error),
            next_attempt_at=retry_at,
        )
    return notification_record(
        notification,
        NotificationStatus.SENT,
        last_error="",
        sent_at=now,
        provider_message_id=provider_id,
    )


def notifications_deliver(*, idempotency_keys: Sequence[str]) -> int:
    """Deliver the pending rows with these keys; return how many were tried."""
    ids = Notification.objects.filter(
        idempotency_key__in=idempotency_keys, status=NotificationStatus.PENDING
    ).values_list("pk", flat=True)
    tried = 0
    for notification_id in list(ids):
        notification_deliver(notification_id=notification_id)
        tried += 1
    return tried


def notification_blocked(notification: Notification) -> str:
    """Why an SMS may not go out now (checked again at send time), or ""."""
    if notification.channel != Channel.SMS:
        return ""
    if not sms_enabled():
        return SMS_DISABLED
    owner = notification.owner
    if owner is not None and not owner.may_receive_sms:
        return "not sent: the owner opted out or withdrew consent"
    return ""


def notification_record(notification: Notification, status: str, **fields) -> str:
    for name, value in fields.items():
        setattr(notification, name, value)
    notification.status = status
    notification.save(update_fields=["status", *fields])
    return status


def notifications_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweeper: fail stuck claims, then send what is due. Returns rows tried."""
    now = now or timezone.now()
    stuck_since = now - timedelta(seconds=settings.NOTIFICATION_STUCK_S)
    stuck = Notification.objects.filter(
        status=NotificationStatus.SENDING, claimed_at__lt=stuck_since
    ).update(
        status=NotificationStatus.FAILED,
        last_error="outcome unknown: the worker stopped while sending; not retried "
        "so that nothing is sent twice (resend from the admin if it never arrived)",
    )
    if stuck:
        logger.error("%d notification(s) stuck while sending, marked failed", stuck)
    due = Notification.objects.filter(
        status=NotificationStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    for notification_id in ids:
        notification_deliver(notification_id=notification_id, now=now)
    return len(ids)


def notification_resend(*, notification_id: int, now: datetime | None = None) -> bool:
    """A failed row back to pending with fresh attempts (the admin's resend)."""
    now = now or timezone.now()
    reset = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.FAILED
    ).update(
        status=NotificationStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        claimed_at=None,
    )
    if reset:
        from incidents.tasks import notification_send

        transaction.on_commit(lambda: notification_send.delay(notification_id))
    return bool(reset)


# --- What gets sent -------------------------------------------------------------------


def operator_email_enqueue(
    *, event: str, context: dict, key: str, run_id: int | None
) -> list[str]:
    """Step 9: one email per Grid Operations Center address for an intervention
    event (started / changed / ended). `context` holds plain values (JSON) for
    templates/notifications/intervention_*.txt."""
    return notifications_enqueue(
        notifications=[
            Notification(
                channel=Channel.EMAIL,
                recipient=address,
                template=f"intervention_{event}",
                context={"event": event, **context},
                idempotency_key=f"{key}:{address}",
                run_id=run_id,
            )
            for address in settings.GRID_OPERATIONS_EMAILS
        ]
    )


def discharge_sms_enqueue(
    *,
    asset_ids: Sequence[int],
    target_kw: Sequence[float],
    key: str,
    run_id: int | None,
    now: datetime,
) -> list[str]:
    """Step 10: owners whose batteries just started a remote discharge get one SMS.

    Only owners with consent and a number that has not replied STOP; at most one
    discharge SMS per owner per SMS_DISCHARGE_QUIET_S (an event, not a cycle).
    One SMS per owner names the batteries that started (the first
    SMS_NAMES_LISTED, names stripped of control and format characters and
    shortened, then "and N more").
    """
    kw_by_asset = dict(zip(asset_ids, target_kw, strict=True))
    quiet_since = now - timedelta(seconds=settings.SMS_DISCHARGE_QUIET_S)
    by_owner: dict[int, tuple[str, list[tuple[str, float]]]] = {}
    for pk, name, owner_id, phone in sms_recipients(
        asset_ids=list(kw_by_asset), quiet_since=quiet_since
    ):
        by_owner.setdefault(owner_id, (phone, []))[1].append((name, kw_by_asset[pk]))
    return notifications_enqueue(
        notifications=[
            Notification(
                channel=Channel.SMS,
                recipient=phone,
                template=DISCHARGE_SMS,
                context={
                    "assets": [
                        (sms_text(name, limit=SMS_NAME_CHARS), kw)
                        for name, kw in assets[:SMS_NAMES_LISTED]
                    ],
                    "more": len(assets[SMS_NAMES_LISTED:]),
                    "total_kw": sum(kw for _, kw in assets),
                },
                idempotency_key=f"{key}:owner{owner_id}",
                run_id=run_id,
                owner_id=owner_id,
                created_at=now,
            )
            for owner_id, (phone, assets) in by_owner.items()
        ]
    )


# --- Inbound SMS (STOP / START) -------------------------------------------------------


def sms_inbound_receive(
    *, message_sid: str, phone: str, body: str, now: datetime | None = None
) -> str:
    """Record an inbound SMS by its Twilio MessageSid and apply its keyword, once.

    The row and the keyword's effect commit together. A sid seen before (a
    captured request replayed, or Twilio delivering twice) changes nothing and
    returns "replay"; of two deliveries of one sid at the same moment, the unique
    constraint lets exactly one through. `phone` must be E.164 (the door checks).
    """
    now = now or timezone.now()
    text = sms_text(body, limit=INBOUND_BODY_CHARS)
    words = text.upper().split()
    with transaction.atomic():
        try:
            with transaction.atomic():
                message = InboundMessage.objects.create(
                    message_sid=message_sid,
                    phone=phone,
                    owner=Owner.objects.filter(phone=phone).order_by("pk").first(),
                    body=text,
                    keyword=words[0][:16] if words else "",
                    outcome="",
                    received_at=now,
                )
        except IntegrityError:
            if not InboundMessage.objects.filter(message_sid=message_sid).exists():
                raise
            logger.warning("SMS %s from %s replayed: ignored", message_sid, phone)
            return REPLAY
        message.outcome = sms_keyword(phone=phone, body=text, now=now)
        message.save(update_fields=["outcome"])
    return message.outcome


def sms_keyword(*, phone: str, body: str, now: datetime | None = None) -> str:
    """Apply an inbound SMS's opt-out or opt-in keyword; return what was done.

    STOP (and Twilio's other opt-out words) sets `sms_opted_out_at` on every owner
    with that number and suppresses their pending SMS; START clears it.
    """
    now = now or timezone.now()
    words = body.strip().upper().split()
    word = words[0] if words else ""
    owners = Owner.objects.filter(phone=phone)
    if word in STOP_WORDS:
        with transaction.atomic():
            owners.filter(sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
            Notification.objects.filter(
                channel=Channel.SMS,
                recipient=phone,
                status=NotificationStatus.PENDING,
            ).update(
                status=NotificationStatus.SUPPRESSED,
                last_error="not sent: the recipient replied STOP",
            )
        logger.info("SMS opt-out from %s", phone)
        return "opted out"
    if word in START_WORDS:
        owners.update(sms_opted_out_at=None)
        logger.info("SMS opt-in from %s", phone)
        return "opted in"
    return "ignored"
