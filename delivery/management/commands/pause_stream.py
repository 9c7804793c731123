from django.core.management.base import BaseCommand, CommandError

from delivery.stream_control import StreamStateError, pause_stream
from streams.lookups import StreamNotFound, find_stream
from streams.models import MailStream


class Command(BaseCommand):
    help = (
        "Pause a live mail stream. With the hold policy, triggers are kept as held and sent on "
        "resume; with discard, each is recorded as discarded and never sent. Messages still "
        "waiting in the lane are held either way."
    )

    def add_arguments(self, parser):
        parser.add_argument("stream", help="the stream's id or name")
        parser.add_argument(
            "--policy",
            choices=MailStream.PausePolicy.values,
            help="hold or discard (default: the stream's own policy); on a paused stream, "
            "changes its policy",
        )

    def handle(self, *args, **options):
        try:
            stream = find_stream(options["stream"])
            result = pause_stream(stream, options["policy"])
        except (StreamNotFound, StreamStateError) as exc:
            raise CommandError(str(exc)) from exc
        policy = result.stream.pause_policy
        if result.policy_changed:
            self.stdout.write(f"{stream} was paused already; its pause policy is now {policy}.")
            return
        self.stdout.write(
            f"Paused {stream} (policy {policy}): new triggers are "
            f"{'held' if policy == 'hold' else 'discarded'}; "
            f"{result.held_from_lane} messages waiting in the lane are held."
        )
