import json

from django.core.management.base import BaseCommand, CommandError

from dispatch.explain import run_explanation
from dispatch.services import cycle_run
from grid.models import Substation

SUMMARY = [
    "outcome",
    "frequency_hz",
    "voltage_pu",
    "load_kw",
    "reading_age_s",
    "capacity_nameplate_kw",
    "capacity_available_kw",
    "capacity_kw",
    "limited_by_energy",
    "limited_by_ramp",
    "limited_by_volt_watt",
    "manual_kw",
    "over_frequency_kw",
    "load_need_kw",
    "frequency_response_kw",
    "requirement_kw",
    "imbalance_kw",
    "volt_watt_factor",
    "held",
    "command_kw",
    "assets_active",
    "assets_commanded",
    "setpoints_changed",
    "duration_ms",
    "detail",
]


class Command(BaseCommand):
    help = "Run one stabilisation cycle of a substation now and print its summary."

    def add_arguments(self, parser):
        parser.add_argument("--substation", required=True, help="Substation code.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options):
        substation = options["substation"]
        try:
            substation_id = Substation.objects.values_list("pk", flat=True).get(
                code=substation
            )
        except Substation.DoesNotExist as exc:
            raise CommandError(f"No substation with code {substation!r}.") from exc
        run = cycle_run(substation_id=substation_id)
        summary = {"substation": substation, "run_id": run.pk, "slot_at": run.slot_at}
        summary |= {name: getattr(run, name) for name in SUMMARY}
        summary["why"] = run_explanation(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary, default=str, indent=2))
            return
        for name, value in summary.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            self.stdout.write(f"{name:<22} {shown}")
