from django.core.management import call_command
from django.core.management.base import BaseCommand

from dermgmt.demo import demo_build


class Command(BaseCommand):
    help = "Build (or refresh) the demo grid and print its logins. Safe to run twice."

    def handle(self, *args, **options):
        result = demo_build()
        call_command("setup_periodic_tasks", stdout=self.stdout)
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
