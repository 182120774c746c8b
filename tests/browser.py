"""Headless Chromium for the browser tests: Debian's `chromium`, driven by
Playwright, against pytest-django's `live_server`. A test module marks itself
`django_db(transaction=True)`, as the live server answers from another thread,
and makes its `browser` fixture of `chromium_launched`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_launched(tmp_path: Path, monkeypatch: Any) -> Iterator[Any]:
    """A Playwright browser for the length of a test, its profile in `tmp_path`;
    the test is skipped where chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path))
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls
    # from the test body are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield chromium
        chromium.close()


def admin_login(page, server_url: str, username: str, password: str, *, next_url: str):
    """Log in through the admin's form and land on `next_url`."""
    page.goto(f"{server_url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")


# Each document logs the Content-Security-Policy violations it reports, with the
# directive and what was refused (Chromium logs its own line too).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(
    `Content Security Policy violation: ${e.effectiveDirective} ${e.blockedURI}`
  );
});
"""


def csp_violations(page) -> list[str]:
    """A list that fills with every Content-Security-Policy violation `page`
    reports from now on, from any document it loads."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text
            and violations.append(message.text)
        ),
    )
    page.add_init_script(CSP_LISTENER)
    return violations


def screenshot(page, name: str) -> Path:
    """The whole page as var/screenshots/`name`."""
    path = Path(settings.BASE_DIR) / "var" / "screenshots" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path
