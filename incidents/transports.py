"""The two ways out: email through Django's backend, SMS through Twilio.

Each transport sends one notification and returns the provider's message id, or
raises `DeliveryError` saying whether the failure is permanent (retrying cannot
help) or transient (retry later). Tests swap nothing here: they point the SMTP
settings and TWILIO_API_BASE_URL at local servers.
"""

from __future__ import annotations

import mimetypes
import smtplib
import unicodedata
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from incidents.models import Notification

# Two concatenated GSM-7 segments (153 + 153 characters): what one SMS may cost.
# A text with a character outside GSM-7 goes as UCS-2 (67 a segment): 5 segments.
SMS_MAX_CHARS = 306
# Unicode categories never sent: control (Cc: NUL, escapes; tabs and line breaks
# become spaces), format (Cf: the bidi overrides and isolates, zero-width spaces
# and joiners, soft hyphens, tag characters), lone surrogates (Cs), private use
# (Co). Letters, marks, digits, punctuation and symbols of every script stay.
SMS_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
SMS_ELLIPSIS = "..."  # GSM-7; "\u2026" would turn the whole text into UCS-2


def sms_text(text: str, *, limit: int = SMS_MAX_CHARS) -> str:
    """What may go into an SMS: `text` without control or format characters, each
    run of whitespace (line breaks included) one space, at most `limit` characters
    (cut with "..."). Every SMS passes here, at rendering and again at sending;
    names that go into a template pass here first with a smaller limit."""
    kept = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in SMS_DROPPED_CATEGORIES
    )
    text = " ".join(kept.split())
    if len(text) > limit:
        text = text[: limit - len(SMS_ELLIPSIS)].rstrip() + SMS_ELLIPSIS
    return text


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def sms_enabled() -> bool:
    return bool(
        settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
        and settings.TWILIO_FROM_NUMBER
    )


def email_send(notification: Notification) -> str:
    """Send through the configured email backend; the Message-ID is the provider id.

    SMTP 5xx replies (the recipient or the message refused) are permanent; a
    server that is down, or a 4xx reply, is transient.
    """
    message_id = make_msgid(idstring=f"n{notification.pk}", domain="dermgmt")
    message = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={"Message-ID": message_id},
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    if notification.attachment:
        with notification.attachment.open("rb") as file:
            name = (notification.attachment.name or "attachment").rsplit("/")[-1]
            message.attach(name, file.read(), mimetypes.guess_type(name)[0])
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise DeliveryError(
            f"recipient refused: {error.recipients}",
            permanent=all(code >= 500 for code in codes),
        ) from error
    except smtplib.SMTPResponseException as error:
        raise DeliveryError(
            f"SMTP {error.smtp_code}: {error.smtp_error!r}",
            permanent=error.smtp_code >= 500,
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        text = f"{type(error).__name__}: {error}"
        raise DeliveryError(text, permanent=False) from error
    return message_id


def sms_send(notification: Notification) -> str:
    """Send through Twilio's Messages API; the message SID is the provider id.

    Twilio's 4xx answers (invalid or unsubscribed number, error 21211, 21610, ...)
    are permanent, except 429 (rate limit); 5xx and network errors are transient.
    """
    from twilio.base.exceptions import TwilioException, TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_S),
    )
    client.api.base_url = settings.TWILIO_API_BASE_URL
    try:
        message = client.messages.create(
            to=notification.recipient,
            from_=settings.TWILIO_FROM_NUMBER,
            body=sms_text(notification.body),
        )
    except TwilioRestException as error:
        permanent = 400 <= error.status < 500 and error.status != 429
        raise DeliveryError(
            f"Twilio {error.status} (code {error.code}): {error.msg}",
            permanent=permanent,
        ) from error
    except (TwilioException, OSError) as error:
        text = f"{type(error).__name__}: {error}"
        raise DeliveryError(text, permanent=False) from error
    return str(message.sid)


TRANSPORTS = {"email": email_send, "sms": sms_send}
