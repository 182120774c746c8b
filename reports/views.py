"""The stored PDF of a report, for the admin (and later the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from reports.models import StabilityReport


@login_required
@permission_required("reports.view_stabilityreport", raise_exception=True)
def report_pdf(request, pk: int) -> FileResponse:
    report = get_object_or_404(StabilityReport, pk=pk)
    if not report.pdf:
        raise Http404("This report has no PDF yet.")
    return pdf_response(report)


def pdf_response(report: StabilityReport) -> FileResponse:
    return FileResponse(
        report.pdf.open("rb"),
        content_type="application/pdf",
        filename=(report.pdf.name or "report.pdf").rsplit("/", 1)[-1],
    )
