"""GET /healthz reports database, broker and beat, with 200 only when all are well."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dermgmt.models import Heartbeat
from dermgmt.schedule import safety_tasks_assert
from dermgmt.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_it_is_healthy_after_a_heartbeat(client):
    safety_tasks_assert()  # what beat does when it starts
    heartbeat.delay()  # eager in tests: beat -> broker -> worker in one call
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "database",
        "broker",
        "beat",
        "safety_tasks",
    }


def test_it_is_unavailable_before_beat_has_run(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {
        "ok": False,
        "error": "no heartbeat yet",
    }


def test_it_is_unavailable_when_the_heartbeat_is_stale(client, settings):
    Heartbeat.objects.create(
        name="beat",
        beat_at=timezone.now() - timedelta(seconds=settings.HEARTBEAT_MAX_AGE_S + 5),
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["ok"] is False


def test_it_is_unavailable_when_the_broker_is_down(client, settings, monkeypatch):
    heartbeat.delay()

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr("kombu.Connection.ensure_connection", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "error": "ConnectionRefusedError: broker down",
    }


def test_it_needs_no_login_and_answers_json_only(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert client.post("/healthz").status_code == 405
