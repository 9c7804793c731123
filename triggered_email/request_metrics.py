"""django-prometheus's request metrics, tolerant of a hostile Content-Length header."""

from __future__ import annotations

from django.http import HttpRequest
from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time


class RequestMetricsAfterMiddleware(PrometheusAfterMiddleware):
    """django-prometheus 2.5 reads `int(Content-Length)` for a metric and raises (a 500) on a
    header such as `abc`; the view behind it answers such a request with a 4xx of its own."""

    def process_request(self, request: HttpRequest) -> None:
        try:
            super().process_request(request)
        except ValueError:  # counted, but its body size is unknown
            request.prometheus_after_middleware_event = Time()
