"""Bad input answers 4xx, never 500 (issue 17, item 6): JSON nested deeper than
a parser's stack, a crafted pagination cursor, and admin changelist filters
that PostgreSQL or Python cannot take (a NUL character, a year past 9999)."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.cache import cache
from django.db import models
from django.urls import reverse
from rest_framework.test import APIClient

from dermgmt.api.auth import token_create
from dermgmt.api.urls import router
from dermgmt.api.views import TimeSeriesPage
from dermgmt.models import ApiScope
from tests.conftest import make_battery, make_owner, make_substation, make_user

pytestmark = pytest.mark.django_db

BAD_QUERY_MIDDLEWARE = "dermgmt.middleware.BadQueryMiddleware"
WRITE_URLS = [
    f"/api/v1/{prefix}/"
    for prefix, viewset, _ in router.registry
    if hasattr(viewset, "create")
] + ["/api/v1/assets/{uid}/setpoint/"]
TIME_SERIES = [
    f"/api/v1/{prefix}/"
    for prefix, viewset, _ in router.registry
    if viewset.pagination_class is TimeSeriesPage
]
NESTED_BODIES = {
    "open arrays": "[" * 1500,
    "closed arrays": "[" * 1500 + "]" * 1500,
    "objects": '{"a":' * 1500 + "1" + "}" * 1500,
    "deep inside an item": '[{"load_kw": ' + "[" * 100 + "]" * 100 + "}]",
}


def cursor(**tokens: str) -> str:
    """A cursor as DRF writes one: its tokens URL-encoded, then base64."""
    return base64.b64encode(urlencode(tokens).encode()).decode()


CRAFTED_CURSORS = {
    "not a time": cursor(p="yesterday"),
    "a time without its zone": cursor(p="2026-01-01 00:00:00"),
    "past year 9999 in UTC": cursor(p="9999-12-31 23:59:59-05:00"),
    "before year 1 in UTC": cursor(p="0001-01-01 00:00:00+05:00"),
    "a NUL": cursor(p="\x00"),
    "a NUL after a time": cursor(p="2026-01-01 00:00:00+00:00\x00"),
}


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def bad_query_middleware(settings):
    """The middleware as settings install it (dermgmt/settings/base.py); added
    here if the settings do not have it yet, which
    test_the_settings_install_the_bad_query_middleware catches."""
    if BAD_QUERY_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, BAD_QUERY_MIDDLEWARE]


@pytest.fixture
def integration(operator) -> APIClient:
    """An operator's token with every scope: every write endpoint is reachable."""
    _, key = token_create(name="probe", user=operator, scopes=ApiScope.values)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def battery(db):
    return make_battery(make_substation(), make_owner(), uid="probe-bess")


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
@pytest.mark.parametrize("url", WRITE_URLS)
def test_deeply_nested_json_is_refused_with_400(integration, battery, url, body):
    """JSON nested deeper than the API reads (Python's parser would run out of
    stack on `[` x 1500) is a parse error, on every endpoint that takes JSON."""
    response = integration.post(
        url.format(uid=battery.uid), data=body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["detail"]


def test_json_nested_as_deep_as_the_api_allows_is_read(integration, battery):
    """The bound is on nesting, not on the data: 32 levels still parse (and this
    body is then refused for what it is, not as a parse error)."""
    body = "[" * 32 + "]" * 32
    response = integration.post(
        "/api/v1/grid-readings/", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested" not in str(response.json())


@pytest.mark.parametrize(
    "crafted", CRAFTED_CURSORS.values(), ids=CRAFTED_CURSORS.keys()
)
@pytest.mark.parametrize("url", TIME_SERIES)
def test_a_crafted_cursor_is_an_invalid_cursor(integration, url, crafted):
    """A cursor that decodes to no position of the series is 404 "Invalid
    cursor", as one that does not decode is: never a server error."""
    response = integration.get(url, {"cursor": crafted})
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    "crafted", CRAFTED_CURSORS.values(), ids=CRAFTED_CURSORS.keys()
)
@pytest.mark.parametrize("url", ["/api/v1/telemetry/", "/api/v1/setpoint-commands/"])
def test_an_owner_sending_a_crafted_cursor_gets_an_invalid_cursor(
    owner_user, url, crafted
):
    """The same for an owner's login, on the series it may read."""
    api = APIClient()
    api.force_login(owner_user)
    assert api.get(url).status_code == 200
    response = api.get(url, {"cursor": crafted})
    assert response.status_code == 404, response.content


@pytest.mark.parametrize("url", TIME_SERIES)
def test_a_cursor_the_api_wrote_still_pages(integration, url):
    """A well-formed position (as a `next` link carries) is read as before."""
    response = integration.get(
        url, {"cursor": cursor(p="2026-01-01 00:00:00+00:00", r="1")}
    )
    assert response.status_code == 200, response.content


def admin_probes() -> list[tuple[str, str]]:
    """(model admin, query) for every registered admin: a NUL in a text field's
    filter and in the search, and a year no datetime can hold on date fields
    and on the date drill-down; with the two of the report first."""
    probes = {
        ("assets.derasset", "kind__exact=%00"): None,
        ("grid.gridreading", "measured_at__year=9999999999999999999999"): None,
    }
    for model, model_admin in admin.site._registry.items():
        name = f"{model._meta.app_label}.{model._meta.model_name}"
        fields = [f for f in model._meta.concrete_fields if not f.is_relation]
        text = [
            f.name
            for f in fields
            if isinstance(f, models.CharField | models.TextField)
            and f.name != "password"  # UserAdmin refuses lookups on it already
        ]
        dates = [f.name for f in fields if isinstance(f, models.DateField)]
        if model_admin.date_hierarchy:
            dates.insert(0, model_admin.date_hierarchy)
        if text:
            probes[name, f"{text[0]}__exact=%00"] = None
        if model_admin.search_fields:
            probes[name, "q=%00"] = None
        for field in dict.fromkeys(dates[:2]):
            probes[name, f"{field}__year=9999999999999999999999"] = None
    return list(probes)


@pytest.fixture
def superuser_client(client, db):
    client.force_login(make_user("root", is_superuser=True))
    return client


def refused(response) -> bool:
    """400, or Django's own answer to a lookup it cannot use: back to the list
    with `?e=1`."""
    if response.status_code == 302:
        return response.url.endswith("?e=1")
    return response.status_code == 400


@pytest.mark.usefixtures("bad_query_middleware")
@pytest.mark.parametrize(("model", "query"), admin_probes())
def test_every_admin_changelist_refuses_a_filter_it_cannot_run(
    superuser_client, model, query
):
    """Every changelist in the admin (ours, auth's, the beat schedule's): a NUL
    in a filter or the search (PostgreSQL refuses it in a query) or a year out of
    range is 400 or the admin's "incorrect lookup" redirect, never a 500."""
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    response = superuser_client.get(f"{url}?{query}")
    assert refused(response), (response.status_code, response.content[:300])


@pytest.mark.usefixtures("bad_query_middleware")
def test_the_admin_autocomplete_refuses_a_nul(superuser_client):
    """The autocomplete searches as the changelist does: a NUL is 400 there too."""
    response = superuser_client.get(
        "/admin/autocomplete/",
        {
            "term": "\x00",
            "app_label": "incidents",
            "model_name": "techniciantask",
            "field_name": "asset",
        },
    )
    assert response.status_code == 400


@pytest.mark.usefixtures("bad_query_middleware")
def test_a_changelist_still_filters_by_a_good_year(superuser_client, battery):
    """Only what cannot run is refused: a plain filter lists as before."""
    response = superuser_client.get(
        "/admin/assets/derasset/?kind__exact=battery&created_at__year=2026"
    )
    assert response.status_code == 200


def test_the_settings_install_the_bad_query_middleware():
    """The admin refuses bad queries under the settings, not only in these
    tests (production's MIDDLEWARE extends base's)."""
    assert BAD_QUERY_MIDDLEWARE in django_settings.MIDDLEWARE
