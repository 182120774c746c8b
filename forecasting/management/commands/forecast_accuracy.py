"""`python manage.py forecast_accuracy --date YYYY-MM-DD [--substation CODE]`:
compute (or recompute) a day's forecast accuracy, e.g. after beat was down."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from forecasting.services import accuracy_compute
from grid.models import Substation


class Command(BaseCommand):
    help = "Compute a local day's forecast accuracy per horizon and print it."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, type=date.fromisoformat)
        parser.add_argument("--substation", help="Substation code (default: all).")

    def handle(self, *args, date: date, substation: str | None = None, **options):
        substations = Substation.objects.order_by("code")
        if substation:
            substations = substations.filter(code=substation)
            if not substations:
                raise CommandError(f"No substation with code {substation!r}.")
        for site in substations:
            rows = accuracy_compute(substation=site, day=date)
            self.stdout.write(f"{site.code} {date}: {len(rows)} horizons")
            for row in rows:
                self.stdout.write(
                    f"  +{row.horizon_min:3d} min  n={row.samples:3d}"
                    f"  nMAE {_pct(row.nmae)}  nRMSE {_pct(row.nrmse)}"
                    f"  bias {row.bias_kw:8.2f} kW  skill {_pct(row.skill)}"
                )


def _pct(value: float | None) -> str:
    return "     —" if value is None else f"{value:6.1%}"
