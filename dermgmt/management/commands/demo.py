from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from dermgmt.demo import demo_build, history_yesterday
from forecasting.services import forecast_run
from grid.models import Substation


class Command(BaseCommand):
    help = "Build (or refresh) the demo grid and print its logins. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--history",
            action="store_true",
            help="Also fill yesterday (local) with a synthetic day of readings, "
            "cycles, incidents and forecasts, so the daily report has a day to show.",
        )

    def handle(self, *args, history: bool = False, **options):
        result = demo_build()
        call_command("setup_periodic_tasks", stdout=self.stdout)
        if settings.WEATHER_PROVIDER == "simulator":  # no network: forecasts now,
            for substation in Substation.objects.all():  # not after beat's 15 min
                forecast_run(substation=substation)
        if history:
            self.stdout.write(history_yesterday())
        self.stdout.write(
            f"Demo grid: {result['substations']} substations, {result['owners']} "
            f"owners, {result['assets']} assets."
        )
        self.stdout.write("Logins for http://127.0.0.1:8000/admin/ :")
        for login in result["logins"]:
            note = (
                f" (owner: {result['owner_name']})" if login.username == "owner" else ""
            )
            self.stdout.write(
                f"  {login.role:<18} {login.username} / {login.password}{note}"
            )
