"""REST resources of forecasting: weather forecasts (and their push) and the
generation forecasts."""

from __future__ import annotations

from collections.abc import Mapping

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from dermgmt.api.views import BatchErrors, IngestResult, TimeSeriesViewSet, time_window
from dermgmt.ingest import MAX_ITEMS, BatchInvalid
from dermgmt.models import ApiScope
from forecasting.models import WEATHER_COLUMNS, EnergyForecast, WeatherForecast
from grid.models import Substation


class CodeField(serializers.SlugRelatedField):
    def to_internal_value(self, data):
        # No code holds a NUL character, and PostgreSQL refuses one in a query.
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class WeatherForecastSerializer(serializers.ModelSerializer):
    substation = CodeField(slug_field="code", queryset=Substation.objects.all())

    class Meta:
        model = WeatherForecast
        fields = [
            "substation",
            "provider",
            "issued_at",
            "valid_at",
            *WEATHER_COLUMNS,
            "cloud_cover_pct",
        ]
        # Pushing the same forecast again updates it (upsert), so no unique check.
        validators: list = []
        extra_kwargs = {
            name: {"min_value": 0}
            for name in ["ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_speed_m_s"]
        }


class WeatherForecastFilter(django_filters.FilterSet):
    substation = django_filters.CharFilter(field_name="substation__code")
    provider = django_filters.CharFilter()
    valid_after, valid_before = time_window("valid_at")

    class Meta:
        model = WeatherForecast
        fields: list[str] = []


def item_errors(errors) -> dict[str, str]:
    """One item's serializer errors as BatchErrors has them: field -> why."""
    if not isinstance(errors, dict):  # the item itself (null, not an object)
        errors = {"non_field_errors": errors}
    return {
        field: " ".join(map(str, why)) if isinstance(why, list) else str(why)
        for field, why in errors.items()
    }


def refused(errors: Mapping[int, dict[str, str]] | str) -> Response:
    """400 for a push refused whole, as the ingest answers (item index -> field
    -> why): nothing was stored."""
    if isinstance(errors, str):
        return Response({"detail": errors}, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        {
            "detail": f"{len(errors)} invalid item(s): nothing was stored.",
            "errors": {str(i): e for i, e in errors.items()},
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


@extend_schema_view(
    create=extend_schema(
        request=WeatherForecastSerializer(many=True),
        responses={201: IngestResult, 400: BatchErrors},
    )
)
class WeatherForecastViewSet(TimeSeriesViewSet):
    """Weather forecasts per substation and valid time: irradiance (W/m²),
    air temperature (°C), wind speed (m/s) at its height (m), cloud cover (%).
    POST: push forecasts made elsewhere (one object or a list of up to 10,000);
    the same (substation, provider, issued_at, valid_at) updates in place. An
    issue time ahead of our clock, a time older than INGEST_MAX_AGE_S, or two
    items of one key that disagree refuse the push (400, per item)."""

    queryset = WeatherForecast.objects.select_related("substation")
    serializer_class = WeatherForecastSerializer
    filterset_class = WeatherForecastFilter
    ordering = "-valid_at"
    write_scope = ApiScope.FORECASTS
    throttled_actions = {"create": "ingest"}

    def create(self, request):
        many = isinstance(request.data, list)
        if many and not 0 < len(request.data) <= MAX_ITEMS:
            return Response(
                {"detail": f"Send 1 to {MAX_ITEMS:,} forecasts."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        given = self.get_serializer(data=request.data, many=many)
        if not given.is_valid():
            by_item = given.errors if many else {0: given.errors}
            return refused({i: item_errors(e) for i, e in by_item.items()})
        items = given.validated_data if many else [given.validated_data]
        # forecasting.services loads pvlib: only when a forecast is pushed.
        from forecasting.services import weather_forecasts_push

        try:
            received = weather_forecasts_push(
                forecasts=[WeatherForecast(**item) for item in items]
            )
        except BatchInvalid as invalid:  # too old, ahead of our clock, conflicting
            return refused(invalid.errors)
        return Response({"received": received}, status=status.HTTP_201_CREATED)


class EnergyForecastSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = EnergyForecast
        fields = [
            "substation",
            "issued_at",
            "valid_at",
            "model_version",
            "expected_generation",
            "solar_kw",
            "wind_kw",
            "solar_raw_kw",
            "wind_raw_kw",
            "capacity_kw",
            "actual_kw",
            "actual_solar_kw",
            "actual_wind_kw",
        ]


class EnergyForecastFilter(django_filters.FilterSet):
    substation = django_filters.CharFilter(field_name="substation__code")
    issued_at = django_filters.IsoDateTimeFilter()
    valid_after, valid_before = time_window("valid_at")

    class Meta:
        model = EnergyForecast
        fields: list[str] = []


class EnergyForecastViewSet(TimeSeriesViewSet):
    """Expected generation per 15-minute bucket (kW, valid_at = bucket start),
    corrected and raw, by kind, with the actual once measured; every issue kept."""

    queryset = EnergyForecast.objects.select_related("substation")
    serializer_class = EnergyForecastSerializer
    filterset_class = EnergyForecastFilter
    ordering = "-valid_at"
