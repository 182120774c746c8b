"""Twilio's inbound SMS webhook: STOP / START replies from owners."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from incidents.notifications import sms_keyword

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """Apply an owner's STOP or START; 403 and no change without a valid signature.

    The signature (X-Twilio-Signature) is checked against TWILIO_AUTH_TOKEN and
    the public URL Twilio called (TWILIO_WEBHOOK_URL, or this request's URL).
    With Twilio unset, every request is refused: nothing can be verified.
    """
    token = settings.TWILIO_AUTH_TOKEN
    url = settings.TWILIO_WEBHOOK_URL or request.build_absolute_uri()
    signature = request.headers.get("X-Twilio-Signature", "")
    params = {key: request.POST.get(key) for key in request.POST}
    if not token or not RequestValidator(token).validate(url, params, signature):
        return HttpResponseForbidden("invalid Twilio signature")
    sms_keyword(phone=request.POST.get("From", ""), body=request.POST.get("Body", ""))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
