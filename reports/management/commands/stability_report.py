"""`python manage.py stability_report --date YYYY-MM-DD [--substation CODE]
--output FILE.pdf`: render a day's report on demand (stored nowhere, mailed to
no one)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grid.models import Substation
from reports.services import report_render


class Command(BaseCommand):
    help = "Render a day's stability report (a substation's, or the fleet's) to a PDF."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, type=date.fromisoformat)
        parser.add_argument("--substation", help="Substation code (default: fleet).")
        parser.add_argument("--output", required=True, type=Path)

    def handle(self, *args, date: date, output: Path, substation=None, **options):
        site = None
        if substation:
            site = Substation.objects.filter(code=substation).first()
            if site is None:
                raise CommandError(f"No substation with code {substation!r}.")
        figures, pdf, pages = report_render(day=date, substation=site)
        output.write_bytes(pdf)
        state = "" if figures["has_data"] else " (no data for this day)"
        self.stdout.write(f"{output}: {pages} pages, {len(pdf):,} bytes{state}")
