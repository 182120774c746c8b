"""The daily stability report (workflow step 13): figures and the PDF."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from grid.models import Substation


class ReportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GENERATING = "generating", "Generating"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class StabilityReport(models.Model):
    """One day of one substation, or of the whole fleet (no substation).

    One report per (day, scope): beat creates it, a worker claims and renders
    it; generating again replaces the figures and the PDF in place.
    """

    day = models.DateField(
        help_text="Local day of the substation (fleet: FLEET_TIME_ZONE)."
    )
    substation = models.ForeignKey(
        Substation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="stability_reports",
        help_text="Empty: the whole fleet.",
    )
    time_zone = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to="reports/%Y/%m/", blank=True)
    pages = models.PositiveSmallIntegerField(null=True, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "substation"],
                condition=Q(substation__isnull=False),
                name="stabilityreport_one_per_substation_day",
            ),
            models.UniqueConstraint(
                fields=["day"],
                condition=Q(substation__isnull=True),
                name="stabilityreport_one_fleet_report_per_day",
            ),
        ]
        indexes = [
            # The admin's and the API's list: newest days first.
            models.Index(fields=["-day"], name="stabilityreport_by_day"),
        ]

    def __str__(self) -> str:
        return f"Stability report {self.scope_name} {self.day}"

    @property
    def scope_name(self) -> str:
        return self.substation.code if self.substation_id else "fleet"
