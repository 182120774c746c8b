"""`python manage.py import_assets FILE.csv [--dry-run] [--user NAME]`: import
(or only validate) a CSV file of assets, streamed, in one transaction; every bad
row is printed with its line number and nothing is written (docs/import.md)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assets.imports import assets_import


class Command(BaseCommand):
    help = "Import assets from a CSV file (docs/import.md)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file, UTF-8, comma-separated.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate only; write nothing."
        )
        parser.add_argument(
            "--user",
            help="Import as this login: recorded in the admin log, and an owner's "
            "login may import only its own assets.",
        )

    def handle(self, *args, file: str, dry_run: bool, user: str | None, **options):
        login = None
        if user is not None:
            login = get_user_model().objects.filter(username=user).first()
            if login is None:
                raise CommandError(f"No user {user!r}.")
            if not login.has_perm("assets.import_derasset"):
                raise CommandError(f"{user} may not import assets.")

        def progress(rows: int) -> None:
            if options["verbosity"] > 1:
                self.stderr.write(f"{rows:,} rows read")

        try:
            with open(file, "rb") as lines:
                report = assets_import(
                    lines,
                    user=login,
                    dry_run=dry_run,
                    progress=progress,
                    file_name=file,
                )
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        for error in report.errors:
            self.stderr.write(str(error))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
