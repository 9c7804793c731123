import json

from django.core.management.base import BaseCommand, CommandError

from delivery.sample_sends import TestSendError, send_test
from streams.lookups import StreamNotFound, find_stream
from streams.rendering import TemplateProblem


def json_object(raw: str, option: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CommandError(f'{option} must be a JSON object, e.g. \'{{"order_id": "1"}}\'.')
    return value


class Command(BaseCommand):
    help = (
        "Send a test of a stream's draft (or, without a draft, its current version) to one "
        "address now, over the dedicated path. The subject starts with [TEST] and the message "
        "log marks it as a test."
    )

    def add_arguments(self, parser):
        parser.add_argument("stream", help="the stream's id or name")
        parser.add_argument("--to", required=True, help="the address that receives the test")
        parser.add_argument(
            "--data", help="event data as a JSON object (default: the stream's sample data)"
        )
        parser.add_argument(
            "--contact", help="contact fields as a JSON object (default: the sample contact)"
        )
        parser.add_argument(
            "--current", action="store_true", help="send the current version, not the draft"
        )

    def handle(self, *args, **options):
        data = json_object(options["data"], "--data") if options["data"] else None
        contact = json_object(options["contact"], "--contact") if options["contact"] else None
        try:
            stream = find_stream(options["stream"])
            version = stream.current_version if options["current"] else None
            if options["current"] and version is None:
                raise TestSendError(f"{stream} has no published version yet.")
            result = send_test(stream, options["to"], data=data, contact=contact, version=version)
        except (StreamNotFound, TestSendError) as exc:
            raise CommandError(str(exc)) from exc
        except TemplateProblem as problem:
            raise CommandError(f"The content does not render: {problem}") from problem
        message = result.message
        if not result.sent:
            raise CommandError(
                f"The test to {message.recipient} was not accepted: {result.reason} "
                f"(message #{message.pk})."
            )
        self.stdout.write(
            f"Sent a test of {stream} v{message.version.number} to {message.recipient} "
            f"(message #{message.pk}, {message.message_id})."
        )
