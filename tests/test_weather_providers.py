"""Weather providers and the fetch-predict run: a local server plays Open-Meteo."""

from __future__ import annotations

import io
import json
import threading
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import call_command

from forecasting.models import EnergyForecast, WeatherFetch, WeatherForecast
from forecasting.services import forecast_run
from tests.test_forecast_predict import make_site

pytestmark = pytest.mark.django_db

RECORDED = (Path(__file__).parent / "data" / "open_meteo_minutely_15.json").read_bytes()
NOW = datetime(2026, 6, 21, 16, 5, tzinfo=UTC)


class FakeOpenMeteo(BaseHTTPRequestHandler):
    answers: deque
    queries: list

    def do_GET(self):
        self.queries.append(self.path)
        status, body = self.answers.popleft() if self.answers else (200, RECORDED)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def open_meteo(settings):
    handler = type("Handler", (FakeOpenMeteo,), {"answers": deque(), "queries": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.WEATHER_PROVIDER = "open-meteo"
    settings.OPEN_METEO_BASE_URL = f"http://127.0.0.1:{server.server_port}/v1/forecast"
    yield handler
    server.shutdown()


def test_an_open_meteo_forecast_is_stored_once_and_predicted(open_meteo):
    substation = make_site()
    fetch, buckets = forecast_run(substation=substation, now=NOW)
    assert (fetch.ok, fetch.rows) == (True, 28)
    assert "minutely_15=shortwave_radiation" in open_meteo.queries[0]
    assert "wind_speed_unit=ms" in open_meteo.queries[0]
    stored = WeatherForecast.objects.filter(substation=substation)
    assert stored.count() == 28
    first = stored.order_by("valid_at").first()
    assert first.valid_at == datetime(2026, 6, 21, 16, 0, tzinfo=UTC)
    assert first.dni_w_m2 is not None and first.wind_speed_height_m == 10.0
    assert len(buckets) == 16 and all(b.solar_kw > 0 for b in buckets)

    forecast_run(substation=substation, now=NOW)  # the same issue, fetched again
    assert stored.count() == 28
    assert EnergyForecast.objects.filter(substation=substation).count() == 16


@pytest.mark.parametrize(
    "answer",
    [
        (500, b'{"error": true, "reason": "Internal"}'),
        (200, b"<html>not json</html>"),
        (200, b'{"minutely_15": {"time": [1782057600], "shortwave_radiation": []}}'),
        (
            200,
            RECORDED.replace(
                b'"shortwave_radiation": [', b'"shortwave_radiation": [-40, ', 1
            ),
        ),
    ],
    ids=["server error", "not JSON", "ragged series", "negative irradiance"],
)
def test_a_failing_provider_keeps_the_last_good_forecast(open_meteo, answer):
    substation = make_site()
    forecast_run(substation=substation, now=NOW)
    open_meteo.answers.append(answer)
    fetch, buckets = forecast_run(substation=substation, now=NOW.replace(minute=20))
    assert not fetch.ok and fetch.error.startswith("open-meteo:")
    assert WeatherForecast.objects.filter(substation=substation).count() == 28
    assert len(buckets) == 16  # predicted from the last good forecast
    assert list(WeatherFetch.objects.values_list("ok", flat=True).order_by("pk")) == [
        True,
        False,
    ]


def test_the_command_prints_sixteen_buckets_as_json(open_meteo, monkeypatch):
    substation = make_site()
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    out = io.StringIO()
    call_command("forecast", "--substation", substation.code, "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["substation"] == substation.code
    assert len(summary["buckets"]) == 16
    first = summary["buckets"][0]
    assert set(first) == {"valid_at", "expected_generation", "solar_kw", "wind_kw"}
    assert first["expected_generation"] == pytest.approx(
        first["solar_kw"] + first["wind_kw"], abs=0.01
    )


def test_the_simulator_provider_feeds_the_demo(settings):
    settings.WEATHER_PROVIDER = "simulator"
    substation = make_site()
    fetch, buckets = forecast_run(substation=substation, now=NOW)
    assert fetch.ok and fetch.rows == 25
    assert len(buckets) == 16
