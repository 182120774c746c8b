"""REST resources of dispatch: policies, runs, the setpoint audit."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from assets.api import DERAssetSerializer
from assets.models import DERAsset
from dermgmt.api.views import (
    ApiViewSet,
    ReadOnlyViewSet,
    TimeSeriesViewSet,
    time_window,
)
from dermgmt.models import ApiScope
from dispatch.explain import run_explanation
from dispatch.models import DispatchPolicy, DispatchRun, SetpointCommand
from dispatch.services import POLICY_FIELDS, setpoint_command_manual


class DispatchPolicySerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = DispatchPolicy
        fields = ["substation", *POLICY_FIELDS, "updated_at"]


class DispatchPolicyViewSet(ReadOnlyViewSet):
    """Each substation's dispatch policy (IEEE 1547-2018 defaults: deadband
    0.036 Hz, droop 5 %, volt-watt 1.06-1.10 pu); changed in the admin, audited."""

    queryset = DispatchPolicy.objects.select_related("substation")
    serializer_class = DispatchPolicySerializer
    lookup_field = "substation__code"
    lookup_url_kwarg = "substation"
    ordering = ["substation__code"]


class DispatchRunSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    explanation = serializers.SerializerMethodField()

    class Meta:
        model = DispatchRun
        fields = [
            "id",
            "substation",
            "slot_at",
            "started_at",
            "duration_ms",
            "outcome",
            "detail",
            "frequency_hz",
            "voltage_pu",
            "load_kw",
            "reading_at",
            "reading_age_s",
            "assets_active",
            "capacity_nameplate_kw",
            "capacity_available_kw",
            "capacity_kw",
            "limited_by_energy",
            "limited_by_ramp",
            "limited_by_volt_watt",
            "manual_kw",
            "over_frequency_kw",
            "load_need_kw",
            "frequency_response_kw",
            "requirement_kw",
            "imbalance_kw",
            "volt_watt_factor",
            "held",
            "command_kw",
            "assets_commanded",
            "setpoints_changed",
            "explanation",
        ]

    @extend_schema_field(serializers.CharField())
    def get_explanation(self, run: DispatchRun) -> str:
        """Why the run commanded what it did, in plain words."""
        return run_explanation(run)


class DispatchRunFilter(django_filters.FilterSet):
    substation = django_filters.CharFilter(field_name="substation__code")
    outcome = django_filters.CharFilter()
    slot_after, slot_before = time_window("slot_at")

    class Meta:
        model = DispatchRun
        fields: list[str] = []


class DispatchRunViewSet(TimeSeriesViewSet):
    """Stabilisation cycles newest first: what was read, the terms of the
    decision (load need, droop, caps, hold), what was commanded (kW), the
    outcome and, in plain words, why."""

    queryset = DispatchRun.objects.select_related("substation")
    serializer_class = DispatchRunSerializer
    filterset_class = DispatchRunFilter
    ordering = "-slot_at"


class SetpointCommandSerializer(serializers.ModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    user = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = SetpointCommand
        fields = [
            "id",
            "asset",
            "run",
            "user",
            "created_at",
            "previous_kw",
            "new_kw",
            "reason",
            "expires_at",
        ]


class SetpointCommandFilter(django_filters.FilterSet):
    asset = django_filters.CharFilter(field_name="asset__uid")
    reason = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )

    class Meta:
        model = SetpointCommand
        fields: list[str] = []


class SetpointCommandViewSet(TimeSeriesViewSet):
    """The append-only setpoint audit, newest first: every change of an asset's
    target output (kW), by the cycle (run) or by hand (user), and every hold
    that extends one (reason `refresh`, previous_kw = new_kw, a later
    expires_at). Each row is in force until the asset's next row or its
    expires_at, whichever comes first: new_kw times that time is the energy
    commanded, as the report and the owner's discharges count it."""

    queryset = SetpointCommand.objects.select_related("asset", "user")
    serializer_class = SetpointCommandSerializer
    filterset_class = SetpointCommandFilter
    owner_field = "asset__owner_id"
    ordering = "-created_at"


class KilowattField(serializers.FloatField):
    """A JSON number of kW: DRF's FloatField reads `true` as 1.0 and `false` as
    0.0, and a boolean is no power (the ingest refuses one too)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            raise serializers.ValidationError(
                f"A number of kW is required, not a boolean ({str(data).lower()})."
            )
        return super().to_internal_value(data)


class SetpointInSerializer(serializers.Serializer):
    target_output_kw = KilowattField(
        min_value=0,
        help_text="Discharge power to hold (kW), within the asset's limits; "
        "0 holds the asset out of automatic dispatch. Audited with the user.",
    )


@extend_schema(
    request=SetpointInSerializer,
    responses={200: DERAssetSerializer, 400: OpenApiTypes.OBJECT},
)
class AssetSetpointView(ApiViewSet):
    """Command a manual setpoint (kW) on a battery: the same service and limits as
    the cycle and the admin (active, reporting, at most what it can give now),
    audited with the user, held for the policy's manual lifetime. A value beyond
    the asset's limits is refused with 400 and changes nothing."""

    queryset = DERAsset.objects.select_related("substation", "last_error_code")
    owner_field = "owner_id"
    lookup_field = "uid"
    serializer_class = SetpointInSerializer
    throttled_actions = {"create": "setpoint"}

    def access(self, request):
        return "assets.command_setpoint", ApiScope.SETPOINT

    def create(self, request, uid: str):
        asset = self.get_object()
        given = SetpointInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            asset = setpoint_command_manual(
                asset_id=asset.pk,
                target_kw=given.validated_data["target_output_kw"],
                user=request.user,
            )
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return Response(DERAssetSerializer(asset).data)
