"""Staff-only dashboard pages: they parse the range, call dashboard.stats, shape the output."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from dashboard import charts, sparklines, stats
from delivery.figure_sources import figure_sources
from delivery.models import Message, RollupWatermark
from delivery.rollup_watermarks import NAME as ROLLUP_NAME
from delivery.rollups import COUNTED as CSV_COLUMNS
from streams.models import MailStream
from triggered_email.numbers import ascii_int

RECENT_FAILURES = 20


def _span(request: HttpRequest) -> tuple[stats.Range, str]:
    try:
        return stats.parse_range(request.GET), ""
    except stats.RangeError as exc:
        return stats.parse_range({}), str(exc)


def _range_query(span: stats.Range) -> str:
    if span.key == "custom":
        return urlencode(
            {"start": f"{span.start:%Y-%m-%dT%H:%M}", "end": f"{span.end:%Y-%m-%dT%H:%M}"}
        )
    return urlencode({"range": span.key})


def _common(request: HttpRequest, span: stats.Range, problem: str) -> dict:
    watermark = RollupWatermark.objects.filter(name=ROLLUP_NAME).first()
    return {
        "span": span,
        "problem": problem,
        "presets": list(stats.PRESETS),
        "range_query": _range_query(span),
        "custom_start": timezone.localtime(span.start).strftime("%Y-%m-%dT%H:%M"),
        "custom_end": timezone.localtime(span.end).strftime("%Y-%m-%dT%H:%M"),
        "streams": MailStream.objects.order_by("name").only("pk", "name"),
        "as_of": watermark.checked_until if watermark else None,
    }


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    if ascii_int(request.GET.get("stream", "")) is not None:
        query = request.GET.copy()
        stream_id = ascii_int(query.pop("stream")[0])
        url = reverse("dashboard:stream", args=[stream_id])
        return redirect(f"{url}?{query.urlencode()}" if query else url)
    span, problem = _span(request)
    context = _common(request, span, problem)
    overview = stats.overview(span)
    per_stream = stats.series_per_stream(span)
    context.update(
        overview=overview,
        stream_charts=[
            (
                entry,
                sparklines.stream_sparklines(
                    per_stream.get(entry.stream.pk) or stats.series(span, entry.stream.pk),
                    span.hourly,
                ),
            )
            for entry in overview.streams
        ],
        rates_svg=charts.rates_chart(stats.combined_series(per_stream, span), span.hourly),
    )
    return render(request, "dashboard/overview.html", context)


@staff_member_required
def stream_page(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_object_or_404(MailStream, pk=stream_id)
    span, problem = _span(request)
    points = stats.series(span, stream.pk)
    totals = stats.Totals.combined(bucket.totals for bucket in points)
    failures = (
        Message.objects.filter(
            stream=stream,
            status=Message.Status.FAILED,
            received_at__gte=span.start,
            received_at__lt=span.end,
        )
        .order_by("-received_at")
        .only("pk", "recipient", "received_at", "attempts", "last_error")[:RECENT_FAILURES]
    )
    log = reverse("admin:delivery_message_changelist")
    of_stream = {"stream__id__exact": stream.pk}
    context = _common(request, span, problem)
    context.update(
        stream=stream,
        figure_sources=figure_sources(stream),
        totals=totals,
        engagement_svg=charts.engagement_chart(points, span.hourly),
        latency_svg=charts.latency_chart(points, span.hourly),
        rates_svg=charts.rates_chart(points, span.hourly),
        failures=failures,
        log_url=f"{log}?{urlencode(of_stream)}",
        failed_log_url=f"{log}?{urlencode({**of_stream, 'status__exact': 'failed'})}",
    )
    return render(request, "dashboard/stream.html", context)


@staff_member_required
def series_csv(request: HttpRequest, stream_id: int | None = None) -> HttpResponse:
    """The series the charts show, one row per bucket (all streams, or one)."""
    stream = get_object_or_404(MailStream, pk=stream_id) if stream_id is not None else None
    span, _ = _span(request)
    points = stats.series(span, stream.pk if stream else None)
    name = f"stream-{stream.pk}" if stream else "all-streams"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{span.start:%Y%m%dT%H%M}-{span.end:%Y%m%dT%H%M}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["bucket_start", *CSV_COLUMNS, "latency_p50_ms", "latency_p95_ms"])
    for bucket in points:
        totals = bucket.totals
        writer.writerow(
            [
                bucket.start.isoformat(),
                *(getattr(totals, column) for column in CSV_COLUMNS),
                "" if totals.p50_ms is None else totals.p50_ms,
                "" if totals.p95_ms is None else totals.p95_ms,
            ]
        )
    return response
