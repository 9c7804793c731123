from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from streams.lookups import StreamNotFound, find_stream
from streams.models import MailStream, sender_domain_allowed, sender_problem
from streams.previewing import preview_draft
from streams.publishing import PublishError, content_of, publish_draft
from streams.sanitizing import clean_template_html, describe_removed
from streams.versions import save_draft


def read(path: str, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{option} {path}: cannot read it as UTF-8 text ({exc}).") from exc


class Command(BaseCommand):
    help = (
        "Edit a mail stream from the command line: write a new draft version from the current "
        "content with the given changes and, with --publish, publish it (atomic: a live stream "
        "keeps sending). Content that does not render with the stream's sample data is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("stream", help="the stream's id or name")
        parser.add_argument("--subject", help="the new subject (template syntax allowed)")
        parser.add_argument("--html-file", help="a file with the new HTML")
        parser.add_argument("--text-file", help="a file with the new text part")
        parser.add_argument(
            "--sender", help="a new sender address (on a dedicated domain); takes effect at once"
        )
        parser.add_argument(
            "--publish", action="store_true", help="publish the draft as the new version"
        )

    def handle(self, *args, **options):
        try:
            stream = find_stream(options["stream"])
        except StreamNotFound as exc:
            raise CommandError(str(exc)) from exc
        content = content_of(stream)
        subject = (
            options["subject"]
            if options["subject"] is not None
            else getattr(content, "subject", "")
        )
        html = (
            read(options["html_file"], "--html-file")
            if options["html_file"]
            else getattr(content, "html_source", "")
        )
        text = (
            read(options["text_file"], "--text-file")
            if options["text_file"]
            else getattr(content, "text", "")
        )
        changes_content = any(
            options[name] is not None for name in ("subject", "html_file", "text_file")
        )
        sender = options["sender"]
        if not (changes_content or sender or options["publish"]):
            raise CommandError(
                "Nothing to do: give --subject, --html-file, --text-file, --sender or --publish."
            )
        if sender is not None and not sender_domain_allowed(sender):
            raise CommandError(sender_problem(sender))
        if changes_content:
            if not subject.strip():
                raise CommandError("The subject is empty: give --subject.")
            preview = preview_draft(
                subject=subject,
                html=html,
                text=text,
                data=stream.sample_data,
                contact=stream.sample_contact,
                stream={"id": stream.pk, "name": stream.name},
            )
            if not preview.ok:
                raise CommandError(f"Refused, the content does not render: {preview.problem}")
            for what in describe_removed(html, clean_template_html(html)):
                self.stderr.write(f"Removed from the HTML: {what}")
        try:
            with transaction.atomic():
                if sender is not None:
                    MailStream.objects.filter(pk=stream.pk).update(sender_email=sender)
                    self.stdout.write(f"Sender of {stream} is now {sender}.")
                if changes_content:
                    draft = save_draft(stream, subject=subject, html_source=html, text=text)
                    self.stdout.write(f"Saved draft v{draft.number} of {stream}.")
        except ValidationError as exc:
            # A value the model refuses (a subject with a line break): nothing was changed.
            problems = "; ".join(" ".join(errors) for errors in exc.message_dict.values())
            raise CommandError(f"Refused, nothing changed: {problems}") from exc
        if options["publish"]:
            stream.refresh_from_db()
            try:
                version = publish_draft(stream)
            except PublishError as exc:
                raise CommandError(str(exc)) from exc
            live = " New triggers use it now." if stream.status != "draft" else ""
            self.stdout.write(f"Published v{version.number} of {stream}.{live}")
