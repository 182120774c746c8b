"""`python manage.py api_token create --name N --user U --scopes read,ingest` prints
a new integration token's key (once); `api_token revoke PREFIX` revokes one."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dermgmt.api.auth import token_create
from dermgmt.models import ApiScope, ApiToken


class Command(BaseCommand):
    help = "Make or revoke an integration token for the REST API."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create")
        create.add_argument("--name", required=True)
        create.add_argument("--user", required=True, help="Username it acts as.")
        create.add_argument(
            "--scopes", default="read", help=f"Comma-separated: {', '.join(ApiScope)}."
        )
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args, verb: str, **options):
        if verb == "revoke":
            done = ApiToken.objects.filter(
                prefix=options["prefix"], revoked_at__isnull=True
            ).update(revoked_at=timezone.now())
            if not done:
                raise CommandError("No live token with that prefix.")
            self.stdout.write(f"Token {options['prefix']} revoked.")
            return
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        try:
            token, key = token_create(
                name=options["name"], user=user, scopes=options["scopes"].split(",")
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Token {token.prefix} for {user.username}: {key}")
        self.stdout.write("The key is shown this once; keep it in the integration.")
