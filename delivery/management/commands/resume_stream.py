from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from delivery.stream_control import (
    HeldVersion,
    StreamStateError,
    held_max_age,
    held_with_older_version,
    resume_stream,
)
from streams.lookups import StreamNotFound, find_stream


class Command(BaseCommand):
    help = (
        "Resume a paused mail stream: it goes live again and every held message is released to "
        "its lane, except those held longer than the maximum age, which are recorded as expired."
    )

    def add_arguments(self, parser):
        parser.add_argument("stream", help="the stream's id or name")
        parser.add_argument(
            "--max-age-hours",
            type=float,
            help="expire held messages older than this (default: "
            "TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS)",
        )
        parser.add_argument(
            "--held-version",
            choices=HeldVersion.values,
            help="send held messages with the version each was triggered with ('triggered') or "
            "with the stream's current one ('current'); required when a version was published "
            "while the stream was paused",
        )

    def handle(self, *args, **options):
        hours = options["max_age_hours"]
        if hours is not None and hours <= 0:
            raise CommandError("--max-age-hours must be more than 0.")
        max_age = timedelta(hours=hours) if hours is not None else held_max_age()
        try:
            stream = find_stream(options["stream"])
            choice = options["held_version"]
            older = held_with_older_version(stream)
            if choice is None and older:
                raise CommandError(
                    f"{older} held messages of {stream} were triggered with an older version "
                    f"than the current v{stream.current_version.number}: say which they get "
                    "with --held-version triggered or --held-version current."
                )
            result = resume_stream(
                stream, max_age=max_age, held_version=choice or HeldVersion.TRIGGERED
            )
        except (StreamNotFound, StreamStateError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Resumed {stream}: {result.released} held messages released, {result.expired} "
            f"expired (held longer than {max_age.total_seconds() / 3600:g} h, not sent)."
        )
