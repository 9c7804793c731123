"""The operator's endpoints: /healthz (alive), /readyz (ready to send), /metrics (Prometheus)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from triggered_email import health
from triggered_email.metrics import ProductCollector

# The product's metrics in a registry of their own: registering the collector in the global one
# would make every generate_latest() anywhere (django-prometheus's own export) query the database.
_product_registry = CollectorRegistry(auto_describe=False)
_product_registry.register(ProductCollector())


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches nothing else (a database outage must not make
    the orchestrator restart every web process)."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every part works, else 503 naming the failing parts."""
    result = health.readiness()
    return JsonResponse(result.as_json(), status=200 if result.ready else 503)


def _scraper_allowed(request: HttpRequest) -> int:
    """200 for an allowed scraper; 401 without credentials; 403 with wrong ones."""
    token = settings.TRIGGERED_EMAIL_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header:
        scheme, _, given = header.partition(" ")
        given_token = given.strip().encode()
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given_token, token.encode())
        return 200 if ok else 403
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if address is not None and any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.TRIGGERED_EMAIL_METRICS_NETWORKS
    ):
        return 200
    return 401 if token else 403


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    status = _scraper_allowed(request)
    if status == 401:
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if status == 403:
        return HttpResponse("Not allowed.\n", status=403, content_type="text/plain")
    body = generate_latest(REGISTRY) + generate_latest(_product_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
