"""Small line charts (sparklines) as inline SVG, drawn on the server: no script, no library.

Colours come from the page's stylesheet (`currentColor` and CSS classes), so they follow the
light or dark colour scheme. Each chart says what it shows in words for screen readers (its
role="img" and aria-label) and carries its points as hover text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboard.stats import Bucket, Totals

WIDTH, HEIGHT, PAD = 120, 32, 2


def sparkline(
    values: Sequence[float | None], labels: Sequence[str], description: str
) -> SafeString:
    """A line over `values` (None: no data, a gap), scaled to its own maximum.

    Built with f-strings (a dozen streams × four charts × up to 48 points per page): numbers are
    formatted here, the only text (labels, description) goes through escape().
    """
    known = [v for v in values if v is not None]
    top = max(known) if known and max(known) > 0 else 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    segments: list[list[str]] = [[]]
    dots = []
    for index, value in enumerate(values):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        x = PAD + index * step
        y = HEIGHT - PAD - (value / top) * (HEIGHT - 2 * PAD)
        segments[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="spark-dot" cx="{x:.1f}" cy="{y:.1f}" r="1.6">'
            f"<title>{escape(labels[index])}</title></circle>"
        )
    lines = "".join(
        f'<polyline class="spark-line" points="{" ".join(points)}"></polyline>'
        for points in segments
        if len(points) > 1
    )
    return mark_safe(  # noqa: S308 (numbers formatted here; text escaped above and below)
        f'<svg class="sparkline" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{escape(description)}" focusable="false">'
        f"{lines}{''.join(dots)}</svg>"
    )


def _percent(value: float | None) -> str:
    return "no sends" if value is None else f"{value * 100:.1f} %"


def _seconds(ms: float | None) -> str:
    return "no sends" if ms is None else f"{ms / 1000:g} s"


# What the overview shows per stream: name, value per bucket, its text.
METRICS: list[tuple[str, Callable[[Totals], float | None], Callable[[float | None], str]]] = [
    ("sent", lambda t: t.sent, lambda v: f"{v:g}"),
    ("bounce rate", lambda t: t.bounce_rate, _percent),
    ("open rate", lambda t: t.rate(t.opened), _percent),
    ("latency p95", lambda t: t.p95_ms, _seconds),
]


def stream_sparklines(points: Sequence[Bucket], hourly: bool) -> list[tuple[str, SafeString]]:
    """(metric name, its sparkline) for one stream's series."""
    result = []
    for name, value, text in METRICS:
        values = [value(bucket.totals) for bucket in points]
        labels = [
            f"{bucket.label(hourly)}: {text(v)}" for bucket, v in zip(points, values, strict=True)
        ]
        first, last = (labels[0], labels[-1]) if labels else ("", "")
        description = f"{name} over time, from {first} to {last}"
        result.append((name, sparkline(values, labels, description)))
    return result
