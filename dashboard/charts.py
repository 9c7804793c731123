"""Charts rendered on the server as SVG (pygal), inline in the page: no JavaScript, no CDN.

pygal's tooltips need its JavaScript from a CDN; instead every point carries an SVG <title>,
which browsers show on hover without any script.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pygal
from pygal.style import Style

from dashboard.stats import Bucket, Totals

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2937",
    foreground_strong="#111827",
    foreground_subtle="#d1d5db",
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
    colors=("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#111827"),
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)

ENGAGEMENT: list[tuple[str, Callable[[Totals], int]]] = [
    ("sent", lambda t: t.sent),
    ("delivered", lambda t: t.delivered),
    ("bounced", lambda t: t.bounced),
    ("opened", lambda t: t.opened),
    ("clicked", lambda t: t.clicked),
    ("complained", lambda t: t.complained),
]


class TitledLine(pygal.Line):
    """A line chart whose points carry an SVG <title> (native hover text, no script)."""

    def _tooltip_data(self, node, value, x, y, classes=None, xlabel=None):
        super()._tooltip_data(node, value, x, y, classes, xlabel)
        self.svg.node(node, "title").text = f"{xlabel}: {value}" if xlabel else str(value)


# pygal writes its configuration into the SVG as an inline <script> for its tooltip script,
# which we do not load (hover text is the points' <title>). The pages' Content-Security-Policy
# blocks inline script, so the element would only be a violation in the browser's console.
_SCRIPT_ELEMENT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


def _svg(chart: pygal.graph.graph.Graph) -> str:
    return _SCRIPT_ELEMENT.sub("", chart.render(is_unicode=True))


def _chart(title: str, labels: Sequence[str], y_title: str) -> TitledLine:
    chart = TitledLine(
        style=STYLE,
        title=title,
        y_title=y_title,
        width=960,
        height=340,
        js=[],  # the default would load pygal's tooltip script from a CDN
        disable_xml_declaration=True,
        show_dots=True,
        dots_size=2.5,
        allow_interruptions=True,
        x_label_rotation=30,
        show_minor_x_labels=False,
        truncate_label=-1,
        legend_at_bottom=True,
        legend_at_bottom_columns=6,
        min_scale=1,
        include_x_axis=True,
        margin=16,
    )
    chart.x_labels = list(labels)
    # Keep about a dozen labels readable however many points there are.
    step = max(1, len(labels) // 12)
    chart.x_labels_major = list(labels)[::step]
    return chart


def engagement_chart(points: Sequence[Bucket], hourly: bool) -> str:
    labels = [bucket.label(hourly) for bucket in points]
    chart = _chart("Messages by what became of them", labels, "messages")
    for name, value in ENGAGEMENT:
        chart.add(
            name,
            [value(bucket.totals) for bucket in points],
            formatter=lambda v, name=name: f"{v} {name}",
        )
    return _svg(chart)


def latency_chart(points: Sequence[Bucket], hourly: bool) -> str:
    labels = [bucket.label(hourly) for bucket in points]
    chart = _chart("Trigger → sent latency", labels, "seconds")
    for name, fraction in (("p50", 0.50), ("p95", 0.95)):
        values = []
        for bucket in points:
            ms = bucket.totals.percentile_ms(fraction)
            values.append(None if ms is None else ms / 1000)
        chart.add(name, values, formatter=lambda v, name=name: f"{name} {v:g} s")
    return _svg(chart)


RATES: list[tuple[str, Callable[[Totals], float | None]]] = [
    ("bounce rate", lambda t: t.bounce_rate),
    ("open rate", lambda t: t.rate(t.opened)),
    ("click rate", lambda t: t.rate(t.clicked)),
    ("complaint rate", lambda t: t.complaint_rate),
]


def rates_chart(points: Sequence[Bucket], hourly: bool) -> str:
    """Rates per sent message over time, in percent (no point where nothing was sent)."""
    labels = [bucket.label(hourly) for bucket in points]
    chart = _chart("Rates over time (per sent message)", labels, "%")
    for name, rate in RATES:
        values = []
        for bucket in points:
            value = rate(bucket.totals)
            values.append(None if value is None else round(value * 100, 2))
        chart.add(name, values, formatter=lambda v, name=name: f"{name} {v:g} %")
    return _svg(chart)
