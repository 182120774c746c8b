"""Integration tokens: made in the admin or by command, key shown once, only a
hash stored, revocable."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from dermgmt.api.auth import secret_hash
from dermgmt.models import ApiToken

pytestmark = pytest.mark.django_db


def test_the_command_prints_the_key_once_and_stores_only_its_hash(operator, client):
    out = io.StringIO()
    call_command(
        "api_token",
        "create",
        "--name",
        "SCADA",
        "--user",
        "operator",
        "--scopes",
        "read,ingest",
        stdout=out,
    )
    key = out.getvalue().split(": ", 1)[1].split()[0]
    token = ApiToken.objects.get()
    prefix, secret = key.split(".", 1)
    assert token.prefix == prefix and token.scopes == ["ingest", "read"]
    assert token.secret_sha256 == secret_hash(secret)
    assert secret not in str(ApiToken.objects.values().get())
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert client.get("/api/v1/substations/", **auth).status_code == 200
    call_command("api_token", "revoke", prefix, stdout=io.StringIO())
    assert client.get("/api/v1/substations/", **auth).status_code == 401


def test_an_unknown_scope_is_refused(operator):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown scopes"):
        call_command(
            "api_token",
            "create",
            "--name",
            "x",
            "--user",
            "operator",
            "--scopes",
            "read,everything",
            stdout=io.StringIO(),
        )
    assert not ApiToken.objects.exists()


def test_an_operator_makes_a_token_in_the_admin_and_sees_its_key_once(client, operator):
    from django.contrib.auth.models import User

    operator.is_superuser = True  # token management is a superuser's job here
    operator.save()
    client.force_login(operator)
    response = client.post(
        "/admin/dermgmt/apitoken/add/",
        {
            "name": "Weather feed",
            "user": User.objects.get().pk,
            "scopes": ["forecasts"],
        },
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="Weather feed")
    text = response.content.decode()
    assert f"Token {token.prefix} made" in text
    key = text.split("shown this once: ")[1].split("<")[0].strip()
    assert secret_hash(key.split(".", 1)[1]) == token.secret_sha256
    page = client.get(f"/admin/dermgmt/apitoken/{token.pk}/change/").content.decode()
    assert key not in page
    client.post(
        "/admin/dermgmt/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_operators_cannot_make_tokens_for_other_users(client, operator):
    """A token acts as the user it names: making one is a superuser's job."""
    client.force_login(operator)
    assert client.get("/admin/dermgmt/apitoken/add/").status_code == 403
    assert not operator.has_perm("dermgmt.add_apitoken")
    assert operator.has_perm("dermgmt.view_apitoken")
