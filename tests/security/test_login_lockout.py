"""The admin login locks a username out after repeated failures from one address
(issue 17, item 3): django-axes, 5 failures per username and address, 15 minutes
of cool-off, a clear 429 page, the lockouts listed in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from dermgmt.api.auth import token_create
from dermgmt.models import ApiScope
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def axes_on(settings):
    """The test settings turn django-axes off (Client.login() authenticates
    without a request, which axes refuses); these tests run with it on."""
    settings.AXES_ENABLED = True


@pytest.fixture
def attempts():
    """django-axes' failed attempts, one row per username and address."""
    from axes.models import AccessAttempt  # imported late: main before axes has none

    return AccessAttempt.objects


def attempt(password: str, *, username: str = "operator", ip: str = "192.0.2.10"):
    return Client(REMOTE_ADDR=ip).post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}
    )


def fail(times: int, **kwargs) -> None:
    for _ in range(times):
        response = attempt("wrong", **kwargs)
        assert response.status_code in (200, 429)


def test_five_wrong_passwords_lock_out_even_the_right_one(operator):
    """After 5 failures for one username from one address, the right password is
    refused too: a 429 page that says the login is locked and for how long."""
    fail(5)

    response = attempt("pw")

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    text = response.content.decode()
    assert "Login locked" in text
    assert "Try again in 15 minutes" in text
    assert "_auth_user_id" not in response.wsgi_request.session


def test_four_failures_then_the_right_password_logs_in(operator, attempts):
    """Below the limit the right password works, and clears the count."""
    fail(4)

    response = attempt("pw")

    assert response.status_code == 302
    assert not attempts.filter(username="operator").exists()


def test_the_lockout_is_per_username_and_address(operator):
    """A lockout of one username from one address does not lock the same user out
    from another address, nor another user from that address."""
    make_user("colleague")
    fail(5)

    assert attempt("pw", ip="198.51.100.7").status_code == 302
    assert attempt("pw", username="colleague").status_code == 302
    assert attempt("pw").status_code == 429


def test_the_lockout_ends_after_the_cool_off(operator, attempts):
    """15 minutes after the last failure the right password works again."""
    fail(5)
    attempts.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert attempt("pw").status_code == 302


def test_a_superuser_sees_and_lifts_lockouts_in_the_admin(operator, attempts):
    """Admin > Axes > Access attempts lists the locked username; deleting its row
    unlocks it at once."""
    fail(5)
    admin = Client()
    admin.force_login(
        get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    )

    listing = admin.get("/admin/axes/accessattempt/")

    assert listing.status_code == 200
    assert "operator" in listing.content.decode()
    assert attempts.get(username="operator").failures_since_start == 5
    attempts.filter(username="operator").delete()
    assert attempt("pw").status_code == 302


def test_force_login_and_api_tokens_are_not_subject_to_the_lockout(operator):
    """A locked-out username's API token still works (tokens are not passwords),
    and the test suite's force_login still logs in."""
    fail(5)
    _, key = token_create(user=operator, name="scada", scopes=[ApiScope.READ])
    api = Client(REMOTE_ADDR="192.0.2.10", HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/substations/").status_code == 200

    browser = Client(REMOTE_ADDR="192.0.2.10")
    browser.force_login(operator)
    assert browser.get("/admin/").status_code == 200
