import json

from django.core.management.base import BaseCommand, CommandError

from events.credentials import CredentialError, rotate_credential_named


class Command(BaseCommand):
    help = (
        "Issue a new WSSE secret and a new token for the API credential NAME and revoke the old "
        "ones at once (requests with either old value get 401). Prints the new values once as "
        "JSON: username, secret and token. They cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="username of the credential, e.g. shop-backend")

    def handle(self, *args, **options):
        try:
            issued = rotate_credential_named(options["name"].strip())
        except CredentialError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            json.dumps(
                {"username": issued.username, "secret": issued.secret, "token": issued.token}
            )
        )
