"""API throttles count once for the whole site (issue 17, item 2): the count lives
in the shared cache (CACHE_URL; by default files under var/cache), not in each
web worker's memory, so N gunicorn workers do not allow N times the rate."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# One web worker's share of the probe: DRF's ScopedRateThrottle, as the API's
# views use it (dermgmt/api/views.py), asked `n` times for one user's setpoints.
WORKER = """
import sys
from types import SimpleNamespace

import django

django.setup()
from rest_framework.throttling import ScopedRateThrottle

view = SimpleNamespace(throttle_scope="setpoint")
user = SimpleNamespace(pk=4242, is_authenticated=True)
request = SimpleNamespace(user=user, META={"REMOTE_ADDR": "127.0.0.1"})
allowed = sum(
    ScopedRateThrottle().allow_request(request, view) for _ in range(int(sys.argv[1]))
)
print("allowed", allowed)
"""


def worker(requests: int, **env: str) -> int:
    """Run one worker process under the development settings; how many of its
    `requests` the throttle let through."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL"))
    }
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(requests)],
        cwd=ROOT,
        env=environment
        | {
            "DJANGO_SETTINGS_MODULE": "dermgmt.settings.development",
            "API_THROTTLE_SETPOINT": "60/min",
            "CACHE_URL": "",  # empty: the embedded default, whatever .env says
        }
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split("allowed")[-1])


def test_two_web_processes_share_one_setpoint_throttle_count(tmp_path):
    """With no CACHE_URL (the embedded default), two processes on one machine
    allow 60 setpoints a minute between them, not 60 each."""
    first = worker(40, DERMGMT_VAR_DIR=str(tmp_path))
    second = worker(40, DERMGMT_VAR_DIR=str(tmp_path))

    assert (first, second) == (40, 20)
    assert (tmp_path / "cache").is_dir()


def redis_url() -> str:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (production's shared cache)")
    # A key prefix of its own: nothing another test or process counts is touched.
    return f"redis://127.0.0.1:6379/1?key_prefix=dermgmt-test-{secrets.token_hex(8)}"


def test_with_cache_url_on_redis_processes_share_one_throttle_count(tmp_path):
    """CACHE_URL=redis://... (production): the count is Redis's, shared by
    processes that share no directory."""
    url = redis_url()
    first = worker(45, CACHE_URL=url, DERMGMT_VAR_DIR=str(tmp_path / "one"))
    second = worker(45, CACHE_URL=url, DERMGMT_VAR_DIR=str(tmp_path / "two"))

    assert (first, second) == (45, 15)
    assert not (tmp_path / "one" / "cache").exists()
