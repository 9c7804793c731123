"""The django-post-office side of `benchmark --mode post-office`, run as a process of its own.

`python -m triggered_email.benchmarking.post_office_sender RUN MESSAGES ...` with
`DJANGO_SETTINGS_MODULE=triggered_email.benchmarking.post_office_settings`. It talks to the
benchmark over stdin and stdout, a line each way, so the benchmark can start its clock and CPU
window when the sending starts and not while Django loads:

    -> "ready"          migrated, template created, warmed up
    <- "go"
    -> one JSON line    enqueue and sending finished (times, counts)
    <- "clean" | "keep" remove this run's rows, or leave them, and exit

The work is what a Django shop with django-post-office does for a batch of order confirmations:
`mail.send_many()` with a database template (Django's template language, rendered when queued),
then `send_queued_mail_until_done()` with as many processes as the lane being compared has
workers, django-post-office's defaults otherwise (post_office_settings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

_TAG = re.compile(r"{%\s*(\w+)(.*?)%}", re.S)


def django_template(esl: str) -> str:
    """The demo template (ESL, Jinja syntax) in Django's template language.

    Only what the demo uses: `foreach … else … endforeach` is Django's `for … empty … endfor`,
    `|default(x)` is `|default:x`.
    """
    opened: list[str] = []

    def tag(match: re.Match) -> str:
        name, rest = match.group(1), match.group(2)
        if name in ("if", "foreach"):
            opened.append(name)
        elif name in ("endif", "endforeach"):
            opened.pop()
        if name == "foreach":
            return "{% for" + rest + "%}"
        if name == "endforeach":
            return "{% endfor %}"
        if name == "else" and opened and opened[-1] == "foreach":
            return "{% empty %}"
        return match.group(0)

    converted = _TAG.sub(tag, esl)
    return re.sub(r"\|default\((.*?)\)", r"|default:\1", converted)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _email_kwargs(template, sender: str, recipient: str, index: int) -> dict:
    from triggered_email.benchmarking.dataset import order_data

    return {
        "sender": sender,
        "recipients": [recipient],
        "template": template,
        "context": {"event": order_data(index), "contact": {"1": "Reader"}},
    }


def _send(template, sender: str, recipients: list[str], batch_size: int, processes: int, lock):
    from post_office import mail

    for start in range(0, len(recipients), batch_size):
        mail.send_many(
            [
                _email_kwargs(template, sender, recipient, start + offset)
                for offset, recipient in enumerate(recipients[start : start + batch_size])
            ]
        )
    enqueued_at = time.time()
    mail.send_queued_mail_until_done(lockfile=lock, processes=processes)
    return enqueued_at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("messages", type=int)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--lockfile", required=True)
    args = parser.parse_args(argv)

    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE", "triggered_email.benchmarking.post_office_settings"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from post_office import settings as po_settings
    from post_office.models import STATUS, Email, EmailTemplate

    from triggered_email import demo
    from triggered_email.benchmarking.dataset import RECIPIENT_DOMAIN

    call_command("migrate", "post_office", verbosity=0)
    template = EmailTemplate.objects.create(
        name=f"{args.run}-order-confirmation",
        subject=django_template(args.subject),
        content=django_template(demo.template_text()),
        html_content=django_template(demo.template_html()),
    )
    sender = args.sender

    def addresses(group: str, count: int) -> list[str]:
        return [f"{args.run}-{group}-{i}@{RECIPIENT_DOMAIN}" for i in range(count)]

    if args.warmup > 0:
        _send(template, sender, addresses("pow", args.warmup), args.batch_size, 1, args.lockfile)
    _say("ready")
    if sys.stdin.readline().strip() != "go":
        return
    started = time.time()
    enqueued_at = _send(
        template,
        sender,
        addresses("po", args.messages),
        args.batch_size,
        args.processes,
        args.lockfile,
    )
    finished = time.time()
    measured = Email.objects.filter(template=template, to__startswith=f"{args.run}-po-")
    counts = {
        status: measured.filter(status=getattr(STATUS, status)).count() for status in STATUS._fields
    }
    _say(
        json.dumps(
            {
                "started": started,
                "enqueue_s": round(enqueued_at - started, 3),
                "send_s": round(finished - enqueued_at, 3),
                "total_s": round(finished - started, 3),
                **counts,
                "settings": {
                    "batch_size": po_settings.get_batch_size(),
                    "threads_per_process": po_settings.get_threads_per_process(),
                    "log_level": po_settings.get_log_level(),
                },
            }
        )
    )
    if sys.stdin.readline().strip() == "clean":
        # Their log rows go with them (on_delete=CASCADE).
        Email.objects.filter(template=template).delete()
        template.delete()


if __name__ == "__main__":
    main()
