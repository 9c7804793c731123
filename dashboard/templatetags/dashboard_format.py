"""Number formats of the dashboard: rates as percentages, latencies in ms, s or min."""

from django import template

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
