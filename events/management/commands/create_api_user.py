import json

from django.core.management.base import BaseCommand, CommandError

from events.credentials import CredentialError, issue_credential


class Command(BaseCommand):
    help = (
        "Create an API credential and print it once as JSON: username, secret (for X-WSSE) and "
        "token (for 'Authorization: Token …'). The token cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="username of the client system, e.g. shop-backend")

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name or len(name) > 150:
            raise CommandError("NAME must be 1 to 150 characters.")
        try:
            issued = issue_credential(name)
        except CredentialError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            json.dumps(
                {"username": issued.username, "secret": issued.secret, "token": issued.token}
            )
        )
