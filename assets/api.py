"""REST resources of the asset registry: owners, assets, telemetry."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers

from assets.models import AssetTelemetry, DERAsset, Owner
from assets.services import telemetry_ingest
from dermgmt.api.views import (
    IngestViewSet,
    ReadOnlyViewSet,
    ValuesListMixin,
    ingest_schema,
    time_window,
)


class OwnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Owner
        fields = ["id", "name", "email", "phone", "sms_consent", "sms_opted_out_at"]


class OwnerViewSet(ReadOnlyViewSet):
    """Asset owners; an owner's login sees only itself."""

    queryset = Owner.objects.all()
    serializer_class = OwnerSerializer
    owner_field = "pk"
    filterset_fields = {"email": ["exact"]}
    ordering_fields = ["name", "id"]
    ordering = ["id"]


class DERAssetSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    last_error_code = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = DERAsset
        fields = [
            "uid",
            "name",
            "kind",
            "status",
            "owner",
            "substation",
            "latitude",
            "longitude",
            "protocol",
            "max_discharge_power",
            "max_charge_power_kw",
            "energy_capacity_kwh",
            "state_of_charge",
            "min_soc_reserve",
            "ramp_limit_kw_per_s",
            "target_output_kw",
            "setpoint_expires_at",
            "setpoint_source",
            "pv_dc_kwp",
            "pv_tilt_deg",
            "pv_azimuth_deg",
            "pv_ac_limit_kw",
            "wind_rated_kw",
            "wind_hub_height_m",
            "wind_turbine_type",
            "last_telemetry_at",
            "last_error_code",
            "updated_at",
        ]


class DERAssetViewSet(ValuesListMixin, ReadOnlyViewSet):
    """Distributed energy resources by uid. Powers in kW (max_discharge_power is
    SunSpec WMax), energy in kWh, state of charge and reserve (MinRsvPct) in %,
    target_output_kw the setpoint in force (opModTargetW)."""

    queryset = DERAsset.objects.select_related("substation", "last_error_code")
    serializer_class = DERAssetSerializer
    lookup_field = "uid"
    owner_field = "owner_id"
    filterset_fields = {
        "kind": ["exact"],
        "status": ["exact"],
        "substation__code": ["exact"],
        "owner": ["exact"],
    }
    ordering_fields = ["uid", "name", "max_discharge_power", "updated_at"]
    ordering = ["uid"]
    values_fields = {
        name: {
            "owner": "owner_id",
            "substation": "substation__code",
            "last_error_code": "last_error_code__code",
        }.get(name, name)
        for name in DERAssetSerializer.Meta.fields
    }


class AssetTelemetrySerializer(serializers.ModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    error_code = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = AssetTelemetry
        fields = [
            "asset",
            "measured_at",
            "output_kw",
            "state_of_charge",
            "error_code",
            "received_at",
        ]


class AssetTelemetryFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__uid")
    substation = django_filters.CharFilter(field_name="asset__substation__code")
    measured_after, measured_before = time_window("measured_at")

    class Meta:
        model = AssetTelemetry
        fields: list[str] = []


class AssetTelemetryInSerializer(serializers.Serializer):
    """One telemetry row as an integration sends it (documentation of the ingest)."""

    asset = serializers.CharField(help_text="The asset's uid.")
    measured_at = serializers.DateTimeField(help_text="ISO 8601 with UTC offset.")
    output_kw = serializers.FloatField(help_text="kW; negative while charging.")
    state_of_charge = serializers.FloatField(
        min_value=0, max_value=100, required=False, allow_null=True
    )
    error_code = serializers.CharField(required=False, allow_null=True)


@extend_schema_view(create=ingest_schema(AssetTelemetryInSerializer))
class AssetTelemetryViewSet(IngestViewSet):
    """What assets reported, newest first: output (kW, positive = generation or
    discharge), state of charge (%), hardware error code. POST: ingest."""

    queryset = AssetTelemetry.objects.select_related("asset", "error_code")
    serializer_class = AssetTelemetrySerializer
    filterset_class = AssetTelemetryFilter
    owner_field = "asset__owner_id"
    ordering = "-measured_at"

    def ingest(self, *, data) -> int:
        """As the login may write it: an owner's login only its own assets."""
        return telemetry_ingest(data=data, user=self.request.user)
