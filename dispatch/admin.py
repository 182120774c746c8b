from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from assets.admin import DERAssetAdmin, OwnerScopedAdmin
from assets.models import DERAsset
from assets.selectors import owner_scoped
from dermgmt.admin import ReadOnlyAdmin
from dispatch.explain import run_explanation
from dispatch.models import (
    DispatchPolicy,
    DispatchPolicyChange,
    DispatchRun,
    Intervention,
    SetpointCommand,
)
from dispatch.selectors import discharges_of
from dispatch.services import (
    POLICY_FIELDS,
    policy_for,
    policy_update,
    setpoint_command_manual,
)


class PolicyChangeInline(admin.TabularInline):
    model = DispatchPolicyChange
    fields = ["changed_at", "changed_by", "changes"]
    readonly_fields = fields
    extra = 0
    ordering = ["-changed_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DispatchPolicy)
class DispatchPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "substation",
        "enabled",
        "cycle_s",
        "deadband_hz",
        "droop",
        "volt_watt_start_pu",
        "volt_watt_end_pu",
        "min_change_kw",
        "updated_at",
    ]
    list_filter = ["enabled"]
    list_select_related = ["substation"]
    search_fields = ["substation__code", "substation__name"]
    ordering = ["substation__code"]
    fields = ["substation", *POLICY_FIELDS]
    inlines = [PolicyChangeInline]

    def get_readonly_fields(self, request, obj=None):
        return ["substation"] if obj else []

    def save_model(self, request, obj, form, change):
        """Through the service, so every change is validated and audited."""
        changes = {name: form.cleaned_data[name] for name in POLICY_FIELDS}
        saved = policy_update(
            substation=obj.substation, user=request.user, changes=changes
        )
        obj.pk = saved.pk
        obj._state.adding = False


@admin.register(DispatchRun)
class DispatchRunAdmin(ReadOnlyAdmin):
    list_display = [
        "slot_at",
        "substation",
        "outcome",
        "frequency_hz",
        "voltage_pu",
        "load_kw",
        "capacity_kw",
        "requirement_kw",
        "command_kw",
        "assets_commanded",
        "duration_ms",
    ]
    list_filter = ["outcome", "substation"]
    list_select_related = ["substation"]
    date_hierarchy = "slot_at"
    ordering = ["-slot_at"]
    show_full_result_count = False
    readonly_fields = ["why"]
    fieldsets = [
        (None, {"fields": ["why"]}),
        (
            "What the cycle saw, decided and did",
            {
                "fields": [
                    field.name
                    for field in DispatchRun._meta.fields
                    if field.name != "id"
                ]
            },
        ),
    ]

    @admin.display(description="Why")
    def why(self, obj: DispatchRun) -> str:
        return run_explanation(obj)


@admin.register(SetpointCommand)
class SetpointCommandAdmin(ReadOnlyAdmin, OwnerScopedAdmin):
    list_display = [
        "created_at",
        "asset",
        "previous_kw",
        "new_kw",
        "reason",
        "run",
        "user",
        "expires_at",
    ]
    list_filter = ["reason"]
    list_select_related = ["asset", "user"]
    search_fields = ["asset__uid"]
    raw_id_fields = ["asset", "run"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    show_full_result_count = False

    def visible(self, request):
        """An owner's login sees the setpoint history of its own assets."""
        rows = SetpointCommand.objects.all()
        return owner_scoped(rows, user=request.user, owner_field="asset__owner_id")


class SetpointForm(forms.Form):
    target_output_kw = forms.FloatField(min_value=0.0, label="Setpoint (kW)")


admin.site.unregister(DERAsset)


@admin.register(DERAsset)
class DispatchableAssetAdmin(DERAssetAdmin):
    """The asset admin plus a manual setpoint door onto the dispatch service.

    Here rather than in assets/ because assets sits below dispatch: the setpoint
    rule (limits, lock, audit) lives in dispatch.services.
    """

    readonly_fields = [
        *DERAssetAdmin.readonly_fields,
        "manual_setpoint",
        "discharge_history",
    ]
    fieldsets = [
        (name, {"fields": [*options["fields"], "manual_setpoint"]})
        if name == "Setpoint"
        else (name, options)
        for name, options in DERAssetAdmin.fieldsets
    ] + [("Remote discharges", {"fields": ["discharge_history"]})]

    @admin.display(description="Every remote discharge, newest first")
    def discharge_history(self, asset):
        """What the grid took from this asset: when, how much, how long."""
        if not asset.pk:
            return "-"
        return render_to_string(
            "admin/assets/discharges.html",
            {"discharges": discharges_of(asset_id=asset.pk)},
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.setpoint_view)
        return [
            path("<int:pk>/setpoint/", view, name="assets_derasset_setpoint"),
            *super().get_urls(),
        ]

    @admin.display(description="Manual setpoint")
    def manual_setpoint(self, asset):
        if not asset.pk:
            return "-"
        url = reverse("admin:assets_derasset_setpoint", args=[asset.pk])
        return format_html('<a href="{}">Command a manual setpoint</a>', url)

    def setpoint_view(self, request, pk):
        """A manual setpoint through the dispatch service: same limits, audited."""
        if not request.user.has_perm("assets.command_setpoint"):
            raise PermissionDenied
        asset = get_object_or_404(self.get_queryset(request), pk=pk)
        form = SetpointForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                setpoint_command_manual(
                    asset_id=asset.pk,
                    target_kw=form.cleaned_data["target_output_kw"],
                    user=request.user,
                )
            except ValidationError as error:
                form.add_error(
                    "target_output_kw", error.message_dict["target_output_kw"]
                )
            else:
                messages.success(request, f"Setpoint of {asset.uid} commanded.")
                return redirect("admin:assets_derasset_change", asset.pk)
        policy = policy_for(substation=asset.substation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "asset": asset,
            "form": form,
            "lifetime_s": policy.manual_setpoint_lifetime_s,
            "title": f"Manual setpoint of {asset.uid}",
        }
        return TemplateResponse(request, "admin/assets/derasset/setpoint.html", context)


@admin.register(Intervention)
class InterventionAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "substation",
        "ended_at",
        "peak_command_kw",
        "started_run",
        "ended_run",
    ]
    list_filter = ["substation"]
    list_select_related = ["substation"]
    raw_id_fields = ["started_run", "ended_run"]
    date_hierarchy = "started_at"
    ordering = ["-started_at"]
