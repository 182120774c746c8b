"""REST resource of the daily stability reports and their PDF."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from dermgmt.api.views import ReadOnlyViewSet
from reports.models import StabilityReport
from reports.views import pdf_response


class StabilityReportSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = StabilityReport
        fields = [
            "id",
            "day",
            "substation",
            "time_zone",
            "status",
            "generated_at",
            "pages",
            "figures",
            "pdf",
        ]

    def get_pdf(self, report: StabilityReport) -> str | None:
        if not report.pdf:
            return None
        url = reverse("stability-reports-pdf", args=[report.pk])
        return self.context["request"].build_absolute_uri(url)


class StabilityReportViewSet(ReadOnlyViewSet):
    """Daily stability reports (substation, or the fleet when substation is
    null), newest first, with their figures (docs/reports.md) and PDF."""

    queryset = StabilityReport.objects.select_related("substation")
    serializer_class = StabilityReportSerializer
    filterset_fields = {"day": ["exact", "gte", "lt"], "substation__code": ["exact"]}
    ordering = ["-day", "substation__code"]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        report = self.get_object()
        if not report.pdf:
            raise Http404("This report has no PDF yet.")
        return pdf_response(report)
