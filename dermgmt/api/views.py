"""The base every API view set builds on: permission, scope, visibility,
filtering, ordering and pagination declared once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django_filters import IsoDateTimeFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import filters, pagination, parsers, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from assets.selectors import owner_scoped
from dermgmt.api.permissions import ApiPermission, read_or
from dermgmt.api.renderers import FiniteJSONRenderer
from dermgmt.ingest import BatchInvalid
from dermgmt.models import ApiScope


def time_window(field: str) -> tuple[IsoDateTimeFilter, IsoDateTimeFilter]:
    """`?<x>_after=` (inclusive) and `?<x>_before=` (exclusive) on a time field."""
    return (
        IsoDateTimeFilter(field_name=field, lookup_expr="gte"),
        IsoDateTimeFilter(field_name=field, lookup_expr="lt"),
    )


class Page(pagination.PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class TimeSeriesPage(pagination.CursorPagination):
    """Readings, telemetry, runs, audit rows: newest first, stable under inserts."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        return (view.ordering,)  # each series' own time field, newest first

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # whose ordering field a position is of
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's, and the position a cursor carries must be one the API writes:
        str() of a value of the ordering's field, a time in UTC. A crafted one is
        "Invalid cursor" (404) as an undecodable one is, not a query that fails
        (a NUL on PostgreSQL, a year past 9999 once in UTC, a naive time)."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(cursor.position)
        except (ValidationError, ValueError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None
        if str(value) != cursor.position or (
            isinstance(value, datetime) and value.utcoffset() != timedelta(0)
        ):
            raise NotFound(self.invalid_cursor_message)
        return cursor


# Far deeper than any body the API takes (a list of objects is 2 deep), far from
# what Python's recursive JSON parser can hold (about 1,000).
MAX_JSON_DEPTH = 32


def nesting_exceeds(data, limit: int) -> bool:
    """Whether parsed JSON nests lists and objects deeper than `limit`, walked
    level by level (no recursion, so no depth can overflow the stack)."""
    level = [data]
    for _ in range(limit):
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:  # JSON's containers
                    deeper.append(child)
        if not deeper:
            return False
        level = deeper
    return True


class BoundedJSONParser(parsers.JSONParser):
    """DRF's, with a bound on nesting: JSON deeper than MAX_JSON_DEPTH is a
    parse error (400), whether Python's parser would run out of stack on it
    (`[` x 1,500: a RecursionError, a 500) or the code reading it would."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(
            f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
        )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if type(data) in (dict, list) and nesting_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data


class ApiViewSet(viewsets.GenericViewSet):
    """Subclasses set `queryset` (with what its serializer needs joined, so a
    list costs the same number of queries whatever its length), and, for rows
    that belong to an owner, `owner_field`: an owner's login sees its own."""

    permission_classes = [ApiPermission]
    # Never NaN or Infinity in a response: null instead (dermgmt/api/renderers.py).
    renderer_classes = [FiniteJSONRenderer, BrowsableAPIRenderer]
    # DRF's defaults, with JSON's nesting bounded.
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    pagination_class = Page
    owner_field: str | None = None
    write_scope: ApiScope = ApiScope.READ
    # Actions throttled per user, and the rate (settings) each counts against.
    # (Not `throttled`: that is APIView's method answering 429.)
    throttled_actions: dict[str, str] = {}

    def get_throttles(self):
        self.throttle_scope = self.throttled_actions.get(self.action, "")
        return [ScopedRateThrottle()] if self.throttle_scope else []

    def access(self, request) -> tuple[str | None, ApiScope]:
        """The model permission and the token scope this request needs."""
        model = self.queryset.model
        action = "view" if request.method in ("GET", "HEAD", "OPTIONS") else "add"
        perm = f"{model._meta.app_label}.{action}_{model._meta.model_name}"
        return perm, read_or(self.write_scope, request)

    def get_object(self):
        # No key holds a NUL character, and PostgreSQL refuses one in a query.
        if "\x00" in str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)):
            raise Http404
        return super().get_object()

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if self.owner_field is None:
            return queryset
        return owner_scoped(
            queryset, user=self.request.user, owner_field=self.owner_field
        )


@dataclass
class ValuesRows:
    """What a paginator reads of a list: the count of the queryset itself, and
    slices of its `.values()`. Counting the values would count through the joins
    that fetch related codes for display: three times slower on 10,000 assets."""

    queryset: QuerySet
    lookups: dict[str, str]

    @property
    def ordered(self) -> bool:
        return self.queryset.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, key):
        return self.queryset.values(*self.lookups.values())[key]


class ValuesListMixin:
    """A list built from `.values()` instead of model instances and a
    ModelSerializer: about three times faster for a page of 100 wide rows
    (PERFORMANCE.md). `values_fields` maps each field of the serializer, in its
    order, to the ORM lookup it reads (a related code or uid through `__`), so the
    JSON is the one the serializer (and the schema) describes."""

    values_fields: dict[str, str] = {}

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(ValuesRows(queryset, self.values_fields))
        return self.get_paginated_response(self.represent(page))

    def represent(self, rows: list[dict]) -> list[dict]:
        """The rows under the serializer's names, times as DRF writes them (ISO
        8601 in the current zone, UTC as `Z`): the same JSON as the serializer."""
        zone = timezone.get_current_timezone()

        def json_value(value):
            if not isinstance(value, datetime):
                return value
            iso = value.astimezone(zone).isoformat()
            return iso[:-6] + "Z" if iso.endswith("+00:00") else iso

        fields = self.values_fields.items()
        return [
            {name: json_value(row[lookup]) for name, lookup in fields} for row in rows
        ]


class ReadOnlyViewSet(
    viewsets.mixins.ListModelMixin, viewsets.mixins.RetrieveModelMixin, ApiViewSet
):
    pass


class TimeSeriesViewSet(viewsets.mixins.ListModelMixin, ApiViewSet):
    pagination_class = TimeSeriesPage
    filter_backends = [DjangoFilterBackend]


IngestResult = inline_serializer(
    "IngestResult", {"received": serializers.IntegerField()}
)
BatchErrors = inline_serializer(
    "BatchErrors",
    {
        "detail": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.DictField(child=serializers.CharField()),
            help_text="Item index -> field -> why (absent when the batch as a "
            "whole is refused: empty, too long, not objects).",
            required=False,
        ),
    },
)


class IngestJSONParser(BoundedJSONParser):
    """JSON that may hold NaN, Infinity or -Infinity (Python's json.dumps writes
    them by default): read as floats, so that the ingest's checker refuses them
    with the item and field, instead of a parse error for the whole body."""

    strict = False


class IngestViewSet(TimeSeriesViewSet):
    """A time series that integrations also write: POST one object or a list
    of up to 10,000, validated as a whole by `ingest` (a service taking `data`),
    re-sent items skipped; an invalid batch changes nothing (400, per item)."""

    write_scope = ApiScope.INGEST
    parser_classes = [IngestJSONParser, FormParser, MultiPartParser]
    throttled_actions = {"create": "ingest"}
    ingest = staticmethod(lambda *, data: 0)  # subclasses: staticmethod(service)

    def create(self, request, *args, **kwargs):
        try:
            received = self.ingest(data=request.data)
        except BatchInvalid as invalid:
            errors = invalid.errors
            if isinstance(errors, str):
                return Response({"detail": errors}, status=status.HTTP_400_BAD_REQUEST)
            return Response(
                {
                    "detail": f"{len(errors)} invalid item(s): nothing was stored.",
                    "errors": {str(i): e for i, e in errors.items()},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"received": received}, status=status.HTTP_201_CREATED)


def ingest_schema(item_serializer):
    """The schema of an ingest: a list of items (one bare item is accepted too)."""
    return extend_schema(
        request=item_serializer(many=True),
        responses={201: IngestResult, 400: BatchErrors},
    )
