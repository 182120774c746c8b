"""Operators list the daily reports, download their PDF and generate one again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from dermgmt.admin import ReadOnlyAdmin
from reports.models import StabilityReport
from reports.templatetags.report_format import pct


@admin.register(StabilityReport)
class StabilityReportAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "scope",
        "status",
        "download",
        "pages",
        "in_deadband",
        "in_range_a",
        "energy_kwh",
        "generated_at",
    ]
    list_filter = ["status", "substation"]
    list_select_related = ["substation"]
    date_hierarchy = "day"
    ordering = ["-day", "substation__code"]
    readonly_fields = ["download", "figures"]
    actions = ["generate_again"]

    @admin.display(description="scope", ordering="substation__code")
    def scope(self, report: StabilityReport) -> str:
        return report.scope_name

    @admin.display(description="PDF")
    def download(self, report: StabilityReport) -> str:
        if not report.pdf:
            return "—"
        url = reverse("report-pdf", args=[report.pk])
        return format_html('<a href="{}">Download</a>', url)

    @admin.display(description="frequency in deadband")
    def in_deadband(self, report: StabilityReport) -> str:
        return pct(report.figures.get("frequency", {}).get("share_in_deadband"))

    @admin.display(description="voltage in Range A")
    def in_range_a(self, report: StabilityReport) -> str:
        return pct(report.figures.get("voltage", {}).get("share_in_range_a"))

    @admin.display(description="energy commanded (kWh)")
    def energy_kwh(self, report: StabilityReport) -> str:
        kwh = report.figures.get("dispatch", {}).get("energy_commanded_kwh")
        return "—" if kwh is None else f"{kwh:,.1f}"

    def has_generate_permission(self, request) -> bool:
        return request.user.has_perm("reports.change_stabilityreport")

    @admin.action(
        description="Generate again (mails only reports never mailed)",
        permissions=["generate"],
    )
    def generate_again(self, request, queryset):
        # Rendering pulls in pandas and pvlib: loaded when used, not at start-up.
        from reports.services import report_generate

        for report in queryset:
            report_generate(report_id=report.pk, force=True)
        self.message_user(
            request, f"{queryset.count()} report(s) generated.", messages.SUCCESS
        )
