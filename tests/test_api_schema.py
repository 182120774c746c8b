"""The REST API against its own OpenAPI schema, with Schemathesis.

The schema is fetched from the running app (`/api/schema/`, in-process through
its WSGI handler); every operation in it then gets a bounded, seeded batch of
generated requests (path, query and body from the schema, random but the same
on every run), sent as an operator's token with every scope so that every
operation is reachable. Each response must not be a server error, and must
conform to the schema: a documented status code, a documented content type, a
body valid against the response's schema, documented headers.

Besides the generated requests, every operation that takes JSON gets bodies
nested far deeper than Python's parser can hold (`[` x 1,500: 400, not a
RecursionError), and every list paged by cursor gets crafted cursors (404
"Invalid cursor", not a failing query): explicit cases, checked the same way.

A little data is seeded per operation so that lists return rows and detail
pages are found: half of the generated path parameters are replaced by the key
of a seeded row (the rest stay random, so 404s are exercised too). The rows are
the common shapes, including the nullable relations (a reading without a
sensor, a cycle's setpoint without a user, a fleet report without a substation).
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
import schemathesis
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.throttling import ScopedRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assets.models import AssetTelemetry, HardwareErrorCode
from dermgmt.api.auth import token_create
from dermgmt.models import ApiScope
from dispatch.models import DispatchPolicy, SetpointCommand
from incidents.models import (
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentStatus,
    Notification,
    TechnicianTask,
)
from reports.models import StabilityReport
from tests.conftest import (
    make_battery,
    make_owner,
    make_reading,
    make_sensor,
    make_substation,
)

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 10
# Per user, for the throttled POSTs (ingest, weather push, setpoint): the last
# examples of each are over the rate.
THROTTLE = "7/min"

schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {
            "seed": 1547,
            "generation": {
                # The token is sent by the test: no generated credentials.
                "with-security-parameters": False,
            },
            # The coverage phase sends every boundary and negative value of every
            # parameter, hundreds of requests per operation whatever
            # max_examples says: examples + fuzzing keep the file bounded.
            "phases": {"coverage": {"enabled": False}},
        }
    ),
)

# No server error, and what the schema promises about each response. Not run:
# - positive_data_acceptance: a schema-valid batch is refused on state the schema
#   cannot express (an unknown sensor, a time in the future, a setpoint above
#   what the battery can give now), so a 400 there is right;
# - negative_data_rejection, missing_required_header, unsupported_method: the
#   API accepts by design what the schema does not list (one bare object for
#   an ingest, unknown query parameters ignored, an unknown ordering ignored);
# - use_after_free, ensure_resource_availability: nothing here creates a
#   resource that is then read back by a link, or deletes one;
# - ignored_auth: who may call what is tests/test_api.py's;
# - max_response_time: timings are bench/api.py's.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# Path template -> the path parameters of a row seeded for the running test,
# and the keys an ingest's items refer to (sensor, asset, substation).
SEEDED: dict[str, dict[str, str | int]] = {}
SEEDED_BODY: dict[str, dict[str, str]] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, the key of a seeded row instead of a random one."""
    seeded = SEEDED.get(context.operation.path)
    if not seeded:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, dict(seeded)])


@schema.hook
def flatmap_body(context, body):
    """Half the time, items that name seeded rows, so that an ingest may succeed."""
    keys = SEEDED_BODY.get(context.operation.path)
    if not keys:
        return st.just(body)
    items = [
        item | {k: v for k, v in keys.items() if k in item}
        if isinstance(item, dict)
        else item
        for item in (body if isinstance(body, list) else [body])
    ]
    return st.sampled_from([body, items if isinstance(body, list) else items[0]])


@pytest.fixture(autouse=True)
def one_connection_across_requests():
    """The test's transaction must outlive each request, as Django's test client
    sees to: the bare WSGI handler closes, at each request's start and end, a
    connection left outside autocommit (PostgreSQL then loses the transaction
    and every later query fails; SQLite's in-memory database is never closed)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token_header(operator) -> dict[str, str]:
    _, key = token_create(name="schemathesis", user=operator, scopes=ApiScope.values)
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def seeded(operator):
    """A substation with a sensor and its readings, an owner with a battery, and
    one row of each resource that hangs off them."""
    now = timezone.now()
    substation = make_substation()
    sensor = make_sensor(substation)
    owner = make_owner()
    battery = make_battery(substation, owner, last_telemetry_at=now)
    DispatchPolicy.objects.create(substation=substation)
    make_reading(substation, sensor=sensor)
    make_reading(substation, age_s=2.0)  # the simulator's: no sensor
    AssetTelemetry.objects.create(asset=battery, measured_at=now, output_kw=1.0)
    SetpointCommand.objects.create(
        asset=battery, created_at=now, previous_kw=0.0, new_kw=1.0, reason="cycle"
    )
    incident = GridIncident.objects.create(
        substation=substation,
        kind=IncidentKind.VOLTAGE,
        severity=1,
        status=IncidentStatus.OPEN,
        opened_at=now,
        worst_value=1.07,
        description="Voltage high",
    )
    ActiveAlert.objects.create(incident=incident, raised_at=now)
    code, _ = HardwareErrorCode.objects.get_or_create(
        code="E-BMS", defaults={"description": "BMS fault", "severity": "critical"}
    )
    task = TechnicianTask.objects.create(
        asset=battery, error_code=code, priority=1, due_at=now, created_at=now
    )
    notification = Notification.objects.create(
        owner=owner,
        channel="email",
        recipient=owner.email,
        template="schema",
        idempotency_key="schema-1",
        next_attempt_at=now,
        created_at=now,
    )
    report = StabilityReport.objects.create(  # the fleet's: no substation
        day=date(2026, 1, 1),
        time_zone="America/Denver",
        status="ready",
        generated_at=now - timedelta(hours=1),
        pages=1,
    )
    report.pdf.save("schema.pdf", ContentFile(b"%PDF-1.7 schema"))
    SEEDED_BODY.update(
        {
            "/api/v1/grid-readings/": {"sensor": sensor.uid},
            "/api/v1/telemetry/": {"asset": battery.uid, "error_code": code.code},
            "/api/v1/weather-forecasts/": {"substation": substation.code},
        }
    )
    SEEDED.update(
        {
            "/api/v1/substations/{code}/": {"code": substation.code},
            "/api/v1/dispatch-policies/{substation}/": {"substation": substation.code},
            "/api/v1/grid-sensors/{uid}/": {"uid": sensor.uid},
            "/api/v1/assets/{uid}/": {"uid": battery.uid},
            "/api/v1/assets/{uid}/setpoint/": {"uid": battery.uid},
            "/api/v1/owners/{id}/": {"id": owner.pk},
            "/api/v1/incidents/{id}/": {"id": incident.pk},
            "/api/v1/active-alerts/{incident}/": {"incident": incident.pk},
            "/api/v1/technician-tasks/{id}/": {"id": task.pk},
            "/api/v1/notifications/{id}/": {"id": notification.pk},
            "/api/v1/stability-reports/{id}/": {"id": report.pk},
            "/api/v1/stability-reports/{id}/pdf/": {"id": report.pk},
        }
    )
    yield
    SEEDED.clear()
    SEEDED_BODY.clear()


@pytest.fixture(autouse=True)
def throttled_soon(monkeypatch):
    """Each operation starts with no throttle history (it lives in the cache), and
    a throttled POST is reached within its examples: the 429 is a response too.
    (The rates are read once, at import, into the throttle class.)"""
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {"ingest": THROTTLE, "setpoint": THROTTLE}
    )
    cache.clear()
    yield
    cache.clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,  # no replay of earlier failures: the same examples every run
    # The fixtures (rows, token) are meant to be shared by all the examples of
    # an operation: they run in one transaction, rolled back after the test.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_every_operation_conforms_to_the_schema(case, token_header, seeded):
    case.call_and_validate(headers=token_header, checks=CHECKS)


OPERATIONS = [result.ok() for result in schema.get_all_operations()]
JSON_WRITES = [
    operation
    for operation in OPERATIONS
    if any(body.media_type == "application/json" for body in operation.body)
]
PAGED_BY_CURSOR = [
    operation
    for operation in OPERATIONS
    if any(parameter.name == "cursor" for parameter in operation.query)
]
NESTED_BODIES = {
    "arrays left open": b"[" * 1500,
    "arrays": b"[" * 1500 + b"]" * 1500,
    "objects": b'{"a":' * 1500 + b"1" + b"}" * 1500,
}


def crafted_cursor(**tokens: str) -> str:
    return base64.b64encode(urlencode(tokens).encode()).decode()


CRAFTED_CURSORS = {
    "not a time": crafted_cursor(p="yesterday"),
    "a time without its zone": crafted_cursor(p="2026-01-01 00:00:00"),
    "past year 9999 in UTC": crafted_cursor(p="9999-12-31 23:59:59-05:00"),
    "a NUL": crafted_cursor(p="\x00"),
}


def label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
@pytest.mark.parametrize("operation", JSON_WRITES, ids=label)
def test_every_json_operation_refuses_a_deeply_nested_body(
    operation, body, token_header, seeded
):
    """JSON deeper than the API reads is a documented 400, never a 5xx."""
    case = operation.Case(
        path_parameters=dict(SEEDED.get(operation.path, {})),
        body=body,
        media_type="application/json",
    )
    response = case.call_and_validate(headers=token_header, checks=CHECKS)
    assert response.status_code == 400


@pytest.mark.parametrize("cursor", CRAFTED_CURSORS.values(), ids=CRAFTED_CURSORS.keys())
@pytest.mark.parametrize("operation", PAGED_BY_CURSOR, ids=label)
def test_every_list_paged_by_cursor_refuses_a_crafted_cursor(
    operation, cursor, token_header, seeded
):
    """A cursor holding no position of the series is a documented 404."""
    case = operation.Case(query={"cursor": cursor})
    response = case.call_and_validate(headers=token_header, checks=CHECKS)
    assert response.status_code == 404
