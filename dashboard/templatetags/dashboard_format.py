"""Number formats of the dashboard: rates as percentages, latencies in ms, s or min."""

from django import template

from dashboard.log_links import message_log_url
from dashboard.stats import Range, Totals

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """0.0123 → "1.23 %"; no rate (nothing sent) → "–"."""
    if rate is None:
        return "–"
    return f"{rate * 100:.2f} %"


@register.filter
def latency(ms: int | None) -> str:
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 120_000:
        return f"{ms / 1000:g} s"
    return f"{ms / 60_000:.1f} min"


@register.simple_tag
def log_url(span: Range, column: str, stream_id: int | str | None = None) -> str:
    """The message log filtered to the messages behind one count (dashboard.log_links).
    Without a stream (a template's missing variable is ""): all streams."""
    return message_log_url(span, column, stream_id if isinstance(stream_id, int) else None)


@register.filter
def rate_of(count: int, totals: Totals) -> float | None:
    """A count as a rate per sent message of `totals` (None when nothing was sent)."""
    return totals.rate(count)
