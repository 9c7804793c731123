"""Showing a message as it was sent: rendered again from the version and data it recorded."""

from __future__ import annotations

from delivery.composing import message_context, render_message
from delivery.models import Message
from streams.inlining import inline_css
from streams.rendering import RenderedEmail, TemplateProblem, check_template


def render_for_display(message: Message) -> RenderedEmail:
    """The message's email; raises TemplateProblem if it cannot be rendered.

    Published versions never change, so this is what was sent. A test send of a draft is
    rendered from the draft as it is now (drafts never go through the per-version cache).
    Every part is a plain str (streams.rendering.plain): the page escapes it.
    """
    version = message.version
    try:
        if version.is_published:
            return render_message(message)
        html = inline_css(version.html_source)
        return check_template(version.subject, html, version.text, message_context(message))
    except TemplateProblem:
        raise
    except Exception as exc:  # a filter failing on this message's data: show why, not a 500
        raise TemplateProblem("message", f"{type(exc).__name__}: {exc}") from exc
