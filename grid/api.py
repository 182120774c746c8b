"""REST resources of the grid: substations, sensors, readings (and their ingest)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from dermgmt.api.views import IngestViewSet, ReadOnlyViewSet, ingest_schema, time_window
from grid.models import (
    FREQUENCY_MAX_HZ,
    FREQUENCY_MIN_HZ,
    VOLTAGE_MAX_PU,
    GridReading,
    GridSensor,
    Substation,
)
from grid.services import readings_ingest


class SubstationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Substation
        fields = [
            "code",
            "name",
            "nominal_voltage_v",
            "nominal_frequency_hz",
            "import_capacity_kw",
            "latitude",
            "longitude",
            "altitude_m",
            "time_zone",
            "created_at",
        ]


class SubstationViewSet(ReadOnlyViewSet):
    """Substations: nominal voltage (V), frequency (Hz), import capacity (kW)."""

    queryset = Substation.objects.all()
    serializer_class = SubstationSerializer
    lookup_field = "code"
    ordering_fields = ["code", "name"]
    ordering = ["code"]


class GridSensorSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = GridSensor
        fields = ["uid", "name", "substation", "is_active", "last_reading_at"]


class GridSensorViewSet(ReadOnlyViewSet):
    """Measuring points (PMU, feeder meter, RTU) and when each last reported."""

    queryset = GridSensor.objects.select_related("substation")
    serializer_class = GridSensorSerializer
    lookup_field = "uid"
    filterset_fields = {"substation__code": ["exact"], "is_active": ["exact"]}
    ordering_fields = ["uid", "last_reading_at"]
    ordering = ["uid"]


class GridReadingSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sensor = serializers.SlugRelatedField(
        slug_field="uid", read_only=True, allow_null=True
    )

    class Meta:
        model = GridReading
        fields = [
            "substation",
            "sensor",
            "measured_at",
            "frequency_hz",
            "voltage_pu",
            "voltage_v",
            "load_kw",
            "received_at",
        ]


class GridReadingFilter(django_filters.FilterSet):
    substation = django_filters.CharFilter(field_name="substation__code")
    sensor = django_filters.CharFilter(field_name="sensor__uid")
    measured_after, measured_before = time_window("measured_at")

    class Meta:
        model = GridReading
        fields: list[str] = []


class GridReadingInSerializer(serializers.Serializer):
    """One reading as an integration sends it (documentation of the ingest)."""

    sensor = serializers.CharField(help_text="The sensor's uid.")
    measured_at = serializers.DateTimeField(help_text="ISO 8601 with UTC offset.")
    frequency_hz = serializers.FloatField(
        min_value=FREQUENCY_MIN_HZ, max_value=FREQUENCY_MAX_HZ
    )
    voltage_pu = serializers.FloatField(min_value=0, max_value=VOLTAGE_MAX_PU)
    voltage_v = serializers.FloatField(min_value=0, required=False, allow_null=True)
    load_kw = serializers.FloatField(min_value=0)


@extend_schema_view(create=ingest_schema(GridReadingInSerializer))
class GridReadingViewSet(IngestViewSet):
    """Readings newest first: frequency (Hz), voltage (pu of nominal, and V when
    the sensor sends it), load (kW), measured_at in UTC. POST: ingest."""

    queryset = GridReading.objects.select_related("substation", "sensor")
    serializer_class = GridReadingSerializer
    filterset_class = GridReadingFilter
    ordering = "-measured_at"
    ingest = staticmethod(readings_ingest)
