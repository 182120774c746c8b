"""System checks of our own settings (`manage.py check --deploy`)."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

LOCAL_HOSTS = {"localhost", "localhost.localdomain"}


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback or ip_address(host).is_unspecified
    except ValueError:
        return False


@register(Tags.security, deploy=True)
def base_url_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Emails link to DERMGMT_BASE_URL: deployed, it must be the site's public URL,
    not the development default (http://127.0.0.1:8000) nor another local one."""
    url = urlparse(settings.DERMGMT_BASE_URL)
    if url.scheme in ("http", "https") and url.hostname and not _is_local(url.hostname):
        return []
    return [
        Error(
            f"DERMGMT_BASE_URL is {settings.DERMGMT_BASE_URL!r}: links in emails "
            "would point there.",
            hint="Set DERMGMT_BASE_URL to the site's public URL, e.g. "
            "https://derms.example-utility.com",
            id="dermgmt.E001",
        )
    ]
