"""Bad queries to the admin answer 400, not 500.

The admin passes query parameters straight into the ORM: a changelist's filters
(`?kind__exact=...`), its search (`?q=`), its date drill-down, the autocomplete's
`?term=`. Django already sends a lookup it cannot build back to the list with
`?e=1`; two kinds fail later, when the query runs, and were a server error on
every changelist, Django's and third parties' included:

- a NUL character, which PostgreSQL refuses in any query (SQLite would silently
  find nothing): no admin parameter can hold one, so it is refused before the
  view;
- a value Python or the database cannot hold once converted, such as
  `?measured_at__year=9999999999999999999999` (no datetime has that year).

One middleware rather than a base class on each ModelAdmin, so that every admin
in the registry is covered, including those of contrib.auth and
django_celery_beat (tests/security/test_bad_input.py iterates the registry).
"""

from __future__ import annotations

import logging

from django.core.exceptions import BadRequest
from django.db import DataError

logger = logging.getLogger(__name__)

# What running a changelist's query raises for a value it was given, once the
# admin has built the query: OverflowError and ValueError from Python's date
# arithmetic (a year lookup's bounds), DataError from the database.
BAD_VALUE_ERRORS = (OverflowError, ValueError, DataError)


def is_admin(request) -> bool:
    match = request.resolver_match
    return match is not None and "admin" in match.app_names


class BadQueryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_admin(request) and any(
            "\x00" in key or "\x00" in value
            for key, values in request.GET.lists()
            for value in values
        ):
            raise BadRequest("A NUL character in the query string.")
        return None

    def process_exception(self, request, exception):
        """A changelist (a GET: no action or edit) whose filters could be built
        but not run: 400, as Django answers a lookup it cannot build."""
        match = request.resolver_match
        if (
            request.method in ("GET", "HEAD")
            and isinstance(exception, BAD_VALUE_ERRORS)
            and is_admin(request)
            and match.url_name
            and match.url_name.endswith("_changelist")
        ):
            logger.info("Changelist filter refused: %s", exception)
            raise BadRequest(f"A filter's value cannot be used: {exception}")
        return None
