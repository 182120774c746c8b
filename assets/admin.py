from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.http import Http404

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
    user_is_owner_scoped,
)


class OwnerScopedAdmin(admin.ModelAdmin):
    """An owner's login sees only that owner's rows, and none while it is linked
    to no owner; staff see all.

    The rule lives in the selectors (`visible`, user_owner_id); this class applies
    it to the list, search, date drill-down, export and autocomplete (all read
    get_queryset), to the change, history and delete views (another owner's
    object is a 404, as a missing one), to foreign-key choices and to the choices
    of filters on related models.
    """

    def visible(self, request):
        raise NotImplementedError

    def get_queryset(self, request):
        rows = self.visible(request).select_related(*self.list_select_related or ())
        ordering = self.get_ordering(request)  # as ModelAdmin's: autocomplete pages
        return rows.order_by(*ordering) if ordering else rows

    def get_object(self, request, object_id, from_field=None):
        """A 404 where Django would redirect with "doesn't exist": the same
        answer for a missing object and for one this login may not see."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this key.")
        return obj

    def get_list_filter(self, request):
        """For an owner's login, a filter on a related model (substation, asset)
        offers only what its own rows refer to, not every row of that model."""
        filters = super().get_list_filter(request)
        if not user_is_owner_scoped(request.user):
            return filters
        return [self.related_only(entry) for entry in filters]

    def related_only(self, entry):
        if isinstance(entry, str):
            path = entry
        elif (
            isinstance(entry, list | tuple) and entry[1] is admin.RelatedFieldListFilter
        ):
            path = entry[0]
        else:
            return entry
        if get_fields_from_path(self.model, path)[-1].is_relation:
            return (path, admin.RelatedOnlyFieldListFilter)
        return entry

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Owner:
            kwargs["queryset"] = owners_visible_to(user=request.user)
        elif db_field.related_model is DERAsset:
            kwargs["queryset"] = assets_visible_to(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# What an owner's login may change on its own record; the rest is read-only for
# it: the email is the imports' natural key, the login link is the back office's,
# and sms_opted_out_at belongs to the STOP / START replies.
OWNER_SELF_SERVICE = ["name", "phone", "sms_consent"]

SMS_CONSENT_HELP = (
    "The owner agrees to an SMS when their battery is discharged. While the "
    "number has replied STOP, no SMS is sent even with consent: texting START "
    "resumes them."
)


@admin.register(Owner)
class OwnerAdmin(OwnerScopedAdmin):
    list_display = ["name", "email", "phone", "sms_consent", "sms_opted_out_at"]
    list_filter = ["sms_consent"]
    search_fields = ["name", "email", "phone"]
    ordering = ["name"]
    raw_id_fields = ["user"]

    def visible(self, request):
        return owners_visible_to(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        """Staff edit every field; an owner's login its contact details and SMS
        consent only (an allow-list, so a new field starts read-only for it)."""
        fields = list(super().get_readonly_fields(request, obj))
        if not user_is_owner_scoped(request.user):
            return fields
        return fields + [
            field.name
            for field in self.opts.fields
            if field.editable
            and not field.primary_key
            and field.name not in OWNER_SELF_SERVICE
            and field.name not in fields
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        help_texts = {"sms_consent": SMS_CONSENT_HELP, **kwargs.pop("help_texts", {})}
        return super().get_form(request, obj, change, help_texts=help_texts, **kwargs)


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
