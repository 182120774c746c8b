"""Twilio's inbound SMS webhook: STOP / START replies from owners."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from incidents.notifications import sms_inbound_receive

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio's message SIDs: SM (SMS) or MM (MMS), then 32 hex digits.
MESSAGE_SID = re.compile(r"[SM]M[0-9a-f]{32}")
# E.164, as every owner's number is stored: only such a sender can be an owner.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """Apply an owner's STOP or START once; 403 and no change without a valid
    signature, 400 and no change when MessageSid or From is not Twilio's shape.

    The signature (X-Twilio-Signature) is checked against TWILIO_AUTH_TOKEN and
    the public URL Twilio called (TWILIO_WEBHOOK_URL, or this request's URL).
    With Twilio unset, every request is refused: nothing can be verified. A
    replay of a message already received (its MessageSid) answers 200 and changes
    nothing. Twilio does not retry a 4xx, and the real Twilio never sends what
    is refused with 400 (docs/notifications.md).
    """
    token = settings.TWILIO_AUTH_TOKEN
    url = settings.TWILIO_WEBHOOK_URL or request.build_absolute_uri()
    signature = request.headers.get("X-Twilio-Signature", "")
    params = {key: request.POST.get(key) for key in request.POST}
    if not token or not RequestValidator(token).validate(url, params, signature):
        return HttpResponseForbidden("invalid Twilio signature")
    message_sid = request.POST.get("MessageSid", "")
    phone = request.POST.get("From", "")
    if not MESSAGE_SID.fullmatch(message_sid):
        return HttpResponseBadRequest("MessageSid is not a Twilio message SID")
    if not E164.fullmatch(phone):
        return HttpResponseBadRequest("From is not an E.164 number")
    sms_inbound_receive(
        message_sid=message_sid, phone=phone, body=request.POST.get("Body", "")
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
