"""Headers, sessions and settings of a deployed site (issue 17, item 13): a
Content-Security-Policy the dashboard, the admin and Swagger UI run under, a
working day's session, no stored copy of live grid data, emails that cannot link
to 127.0.0.1 in production, an absolute filemail:// path, and a refused `next`
that lands somewhere real."""

from __future__ import annotations

import re
import secrets

import pytest
from django.test import Client

from tests.browser import admin_login, chromium_launched, csp_violations
from tests.conftest import make_reading, make_sensor, make_substation, make_user
from tests.test_settings import manage

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.wsgi_request.path}"
    return {
        name: sources
        for name, *sources in (part.split() for part in header.split(";"))
        if name
    }


def test_pages_carry_a_content_security_policy_that_refuses_inline_script(
    client, operator
):
    """The login page, the dashboard and Swagger UI carry a policy: scripts from
    our origin only (inline only with the response's nonce), no eval, no
    plugins, no framing."""
    pages = [client.get("/admin/login/"), client.get("/api/docs/")]
    client.force_login(operator)
    pages += [client.get("/"), client.get("/admin/")]

    for page in pages:
        assert page.status_code == 200
        directives = policy(page)
        scripts = directives["script-src"]
        assert "'self'" in scripts
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["default-src"] == ["'self'"]


def test_the_dashboards_inline_script_carries_the_policys_nonce(client, operator):
    """Every inline script of the dashboard is either non-executable JSON or
    carries the nonce the response's policy names."""
    client.force_login(operator)
    page = client.get("/")
    html = page.content.decode()
    nonce = next(
        source.removeprefix("'nonce-").removesuffix("'")
        for source in policy(page)["script-src"]
        if source.startswith("'nonce-")
    )

    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline
    for attributes in inline:
        assert (
            'type="application/json"' in attributes or f'nonce="{nonce}"' in attributes
        ), attributes


def test_the_dashboard_and_its_json_are_never_stored(client, operator):
    """`/` and `/dashboard.json` carry live grid data: Cache-Control: no-store."""
    client.force_login(operator)

    for url in ("/", "/dashboard.json"):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"], url


def test_a_login_session_lasts_a_working_day(operator):
    """A login through the admin's form gets a session cookie of 9 hours (the
    SESSION_COOKIE_AGE default), not Django's two weeks."""
    browser = Client()
    response = browser.post(
        "/admin/login/", {"username": "operator", "password": "pw", "next": "/"}
    )

    assert response.status_code == 302
    assert response.cookies["sessionid"]["max-age"] == 9 * 3600


def test_session_cookie_age_comes_from_the_environment(tmp_path):
    """SESSION_COOKIE_AGE in the environment sets the session's length."""
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print('age', settings.SESSION_COOKIE_AGE)",
        SESSION_COOKIE_AGE="28800",
        DERMGMT_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stderr
    assert "age 28800" in result.stdout


def test_check_deploy_fails_without_dermgmt_base_url(tmp_path):
    """Under production settings, `check --deploy` fails while DERMGMT_BASE_URL is
    unset (emails would link to http://127.0.0.1:8000) or local."""
    production = {
        "DJANGO_SETTINGS_MODULE": "dermgmt.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "example.org",
        "DERMGMT_VAR_DIR": str(tmp_path),
    }
    unset = manage("check", "--deploy", **production, DERMGMT_BASE_URL="")
    local = manage(
        "check", "--deploy", **production, DERMGMT_BASE_URL="http://localhost:8000"
    )

    for result in (unset, local):
        assert result.returncode != 0
        assert "dermgmt.E001" in result.stderr
        assert "DERMGMT_BASE_URL" in result.stderr


def test_a_filemail_url_keeps_its_absolute_path(tmp_path):
    """EMAIL_URL=filemail:///abs/path writes to /abs/path, not abs/path under
    wherever the process started."""
    mail_dir = tmp_path / "mail"
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print('path', settings.EMAIL_FILE_PATH)",
        EMAIL_URL=f"filemail://{mail_dir}",
        DERMGMT_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stderr
    assert f"path {mail_dir}\n" in result.stdout


@pytest.mark.parametrize(("who", "lands_on"), [("operator", "/"), ("owner", "/admin/")])
def test_a_refused_next_after_login_lands_on_the_dashboard_or_the_admin(
    who, lands_on, operator, owner_user
):
    """A `next` pointing off site is refused; the login then lands on `/`, which
    shows operators the dashboard and sends other logins to the admin, instead
    of a 404 at /accounts/profile/."""
    browser = Client()
    login = browser.post(
        "/admin/login/",
        {"username": who, "password": "pw", "next": "https://evil.example/"},
    )

    assert login.status_code == 302
    assert login["Location"] == "/"
    landing = browser.get("/", follow=True)
    assert landing.status_code == 200
    assert landing.redirect_chain[-1:] in ([], [(lands_on, 302)])
    assert landing.wsgi_request.path == lands_on


@pytest.fixture
def browser(tmp_path, monkeypatch):
    yield from chromium_launched(tmp_path, monkeypatch)


@pytest.mark.django_db(transaction=True)  # the live server's thread
def test_dashboard_admin_and_api_docs_run_under_the_policy_in_a_browser(
    live_server, browser, settings
):
    """In Chromium, through the admin's login form (django-axes on): the
    dashboard renders and polls, the admin's lists, forms and the asset import
    page work, Swagger UI lists the API; each under a Content-Security-Policy, and no
    page reports a violation."""
    settings.AXES_ENABLED = True
    settings.DASHBOARD_REFRESH_S = 1
    site = make_substation()
    make_reading(site, age_s=2)
    make_sensor(site)
    make_user("operator", "Operators", is_superuser=True)
    page = browser.new_page()
    violations = csp_violations(page)
    policies = []
    page.on(
        "response",
        lambda r: (
            r.request.resource_type == "document"
            and policies.append((r.url, r.headers.get("content-security-policy")))
        ),
    )

    admin_login(page, live_server.url, "operator", "pw", next_url="/")
    page.wait_for_selector(f'.card[data-code="{site.code}"]')
    assert violations == [], "dashboard"
    with page.expect_response(lambda r: "/dashboard.json" in r.url):
        pass  # the page polls its JSON: its script runs
    for path, ready in [
        ("/admin/", "#content-main"),
        ("/admin/assets/derasset/", "#changelist"),
        ("/admin/assets/derasset/import/", "form[enctype='multipart/form-data']"),
        ("/admin/grid/substation/add/", "#substation_form"),
        ("/admin/django_celery_beat/periodictask/add/", "#periodictask_form"),
        ("/api/docs/", ".swagger-ui .opblock"),
    ]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(ready, timeout=20_000)
        assert violations == [], path

    assert len(policies) >= 8 and all(header for _, header in policies), policies
