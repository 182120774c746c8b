"""`python manage.py forecast --substation CODE [--json]`: fetch, predict, print."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from forecasting.services import forecast_run
from grid.models import Substation


class Command(BaseCommand):
    help = "Fetch the weather, predict the next 4 hours of generation, print it."

    def add_arguments(self, parser):
        parser.add_argument("--substation", required=True, help="Substation code.")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print JSON."
        )

    def handle(self, *args, substation: str, as_json: bool = False, **options):
        try:
            site = Substation.objects.get(code=substation)
        except Substation.DoesNotExist as error:
            raise CommandError(f"No substation with code {substation!r}.") from error
        fetch, buckets = forecast_run(substation=site)
        if not fetch.ok:
            self.stderr.write(f"weather not refreshed ({fetch.error}); using the last")
        if not buckets:
            raise CommandError(
                f"No weather forecast for {substation}: nothing predicted."
            )
        rows = [
            {
                "valid_at": row.valid_at.isoformat(),
                "expected_generation": round(row.expected_generation, 3),
                "solar_kw": round(row.solar_kw, 3),
                "wind_kw": round(row.wind_kw, 3),
            }
            for row in buckets
        ]
        if as_json:
            summary = {"substation": substation, "buckets": rows}
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"{substation}: expected generation, next 4 hours (kW)")
        for row in rows:
            self.stdout.write(
                f"  {row['valid_at']}  {row['expected_generation']:9.1f}"
                f"  solar {row['solar_kw']:8.1f}  wind {row['wind_kw']:8.1f}"
            )
