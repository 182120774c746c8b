from django.contrib import admin

from assets.admin_imports import AssetImportExportMixin
from assets.models import (
    AssetStatus,
    AssetTelemetry,
    DERAsset,
    HardwareErrorCode,
    Owner,
)
from assets.selectors import (
    assets_visible_to,
    owners_visible_to,
    telemetry_visible_to,
)


class OwnerScopedAdmin(admin.ModelAdmin):
    """An owner's login sees only that owner's rows; staff see all.

    The rule lives in assets.selectors; this class only applies it to the list,
    the change form (another owner's object is a 404) and foreign-key choices.
    """

    def visible(self, request):
        raise NotImplementedError

    def get_queryset(self, request):
        return self.visible(request).select_related(*self.list_select_related or ())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Owner:
            kwargs["queryset"] = owners_visible_to(user=request.user)
        elif db_field.related_model is DERAsset:
            kwargs["queryset"] = assets_visible_to(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Owner)
class OwnerAdmin(OwnerScopedAdmin):
    list_display = ["name", "email", "phone", "sms_consent", "sms_opted_out_at"]
    list_filter = ["sms_consent"]
    search_fields = ["name", "email", "phone"]
    ordering = ["name"]
    raw_id_fields = ["user"]

    def visible(self, request):
        return owners_visible_to(user=request.user)


@admin.register(DERAsset)
class DERAssetAdmin(AssetImportExportMixin, OwnerScopedAdmin):
    list_display = [
        "uid",
        "name",
        "kind",
        "status",
        "substation",
        "owner",
        "max_discharge_power",
        "state_of_charge",
        "target_output_kw",
        "last_telemetry_at",
    ]
    list_filter = ["kind", "status", "substation", "protocol"]
    search_fields = ["uid", "name", "owner__name", "owner__email"]
    list_select_related = ["substation", "owner"]
    ordering = ["uid"]
    readonly_fields = [
        "target_output_kw",
        "setpoint_expires_at",
        "setpoint_source",
        "last_telemetry_at",
        "last_error_code",
        "created_at",
        "updated_at",
    ]
    autocomplete_fields = ["owner"]
    fieldsets = [
        (None, {"fields": ["uid", "name", "kind", "status", "owner", "substation"]}),
        ("Location and protocol", {"fields": ["latitude", "longitude", "protocol"]}),
        (
            "Battery",
            {
                "fields": [
                    "max_discharge_power",
                    "max_charge_power_kw",
                    "energy_capacity_kwh",
                    "state_of_charge",
                    "min_soc_reserve",
                    "ramp_limit_kw_per_s",
                ]
            },
        ),
        (
            "Setpoint",
            {
                "fields": [
                    "target_output_kw",
                    "setpoint_source",
                    "setpoint_expires_at",
                ]
            },
        ),
        (
            "Solar PV",
            {
                "fields": [
                    "pv_dc_kwp",
                    "pv_tilt_deg",
                    "pv_azimuth_deg",
                    "pv_ac_limit_kw",
                ]
            },
        ),
        (
            "Wind",
            {
                "fields": [
                    "wind_rated_kw",
                    "wind_hub_height_m",
                    "wind_turbine_type",
                    "wind_power_curve",
                ]
            },
        ),
        (
            "Telemetry",
            {
                "fields": [
                    "last_telemetry_at",
                    "last_error_code",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def visible(self, request):
        return assets_visible_to(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        """An asset in fault leaves it only through its technician task's
        "return to service" action (incidents.services.task_asset_return)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status == AssetStatus.FAULT:
            fields.append("status")
        return fields


@admin.register(AssetTelemetry)
class AssetTelemetryAdmin(OwnerScopedAdmin):
    list_display = [
        "measured_at",
        "asset",
        "output_kw",
        "state_of_charge",
        "error_code",
    ]
    list_filter = ["error_code__severity", "asset__kind"]
    search_fields = ["asset__uid"]
    list_select_related = ["asset", "error_code"]
    date_hierarchy = "measured_at"
    ordering = ["-measured_at"]
    raw_id_fields = ["asset"]
    show_full_result_count = False

    def visible(self, request):
        return telemetry_visible_to(user=request.user)


@admin.register(HardwareErrorCode)
class HardwareErrorCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "severity", "description"]
    list_filter = ["severity"]
    search_fields = ["code", "description"]
    ordering = ["code"]
