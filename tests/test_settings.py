"""Production settings pass Django's deployment checks and refuse unsafe defaults."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "EMAIL_URL")
        )
        and key not in ("DERMGMT_BASE_URL", "SESSION_COOKIE_AGE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_passes_check_deploy_without_warnings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        DJANGO_SETTINGS_MODULE="dermgmt.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="example.org",
        DERMGMT_BASE_URL="https://example.org",
        DERMGMT_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage(
        "check",
        DJANGO_SETTINGS_MODULE="dermgmt.settings.production",
        DJANGO_ALLOWED_HOSTS="example.org",
        DERMGMT_VAR_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_the_default_database_is_sqlite_in_var_with_wal(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.db import connection; c = connection.cursor(); "
        "print(connection.vendor, connection.settings_dict['NAME']); "
        "print(c.execute('PRAGMA journal_mode').fetchone()[0])",
        DERMGMT_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert f"sqlite {tmp_path / 'dermgmt.sqlite3'}" in result.stdout
    assert "wal" in result.stdout
