"""Integration tokens: `Authorization: Token <prefix>.<secret>`.

The prefix finds the row, the secret's SHA-256 is compared in constant time; a
revoked token, or one whose user is inactive, is refused. `last_used_at` is
written at most once a minute, so a busy integration does not turn every read
into a write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from dermgmt.models import ApiScope, ApiToken

KEYWORD = "Token"
TOUCH_EVERY = timedelta(minutes=1)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, name: str, user, scopes: list[str]) -> tuple[ApiToken, str]:
    """A new token and its full key, which is shown once and stored nowhere."""
    unknown = set(scopes) - set(ApiScope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}")
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        user=user,
        prefix=prefix,
        secret_sha256=secret_hash(secret),
        scopes=sorted(set(scopes)),
    )
    return token, f"{prefix}.{secret}"


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace") != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Expected 'Token <prefix>.<secret>'.")
        prefix, _, secret = header[1].decode(errors="replace").partition(".")
        token = (
            ApiToken.objects.select_related("user")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        if (
            token is None
            or not hmac.compare_digest(token.secret_sha256, secret_hash(secret))
            or not token.user.is_active
        ):
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return KEYWORD


class TokenScheme(OpenApiAuthenticationExtension):
    """The token in the OpenAPI schema (and Swagger UI's Authorize button)."""

    target_class = "dermgmt.api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <prefix>.<secret>`, made in the admin.",
        }
