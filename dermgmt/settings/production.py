"""Production: PostgreSQL, Redis or RabbitMQ, SMTP and Twilio, all from the environment.

DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are required; everything that
`manage.py check --deploy` looks for is on by default.
"""

from .base import *  # noqa: F403
from .base import MIDDLEWARE, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
SIMULATOR_ENABLED = env.bool("DERMGMT_SIMULATOR", default=False)

# Static files served by the app itself, compressed and cache-busted.
MIDDLEWARE = [
    MIDDLEWARE[0],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

# TLS terminates at the proxy in front of us; it must set X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# The client's address for the login lockout (django-axes): the proxy appends it to
# X-Forwarded-For. DJANGO_PROXY_COUNT counts the proxies in front of that one (a
# CDN, a load balancer) that add theirs; a longer chain than that was written by the
# client, and such a request counts under the proxy's own address instead.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = env.int("DJANGO_PROXY_COUNT", default=0)
