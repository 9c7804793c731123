from django.contrib import admin
from django.urls import include, path

from delivery.webhooks import anymail_urls
from events.api.schema import DocsView, SchemaView
from triggered_email import ops_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before the API's include: its catch-all answers every other /api/ URL with a 404 envelope.
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(), name="api-docs"),
    path("api/", include("events.api.urls")),
    path("hooks/", include("events.integrations.urls")),
    # ESP tracking webhooks: Anymail's URLs (/anymail/<esp>/tracking/), refused without a secret.
    path("anymail/", include(anymail_urls())),
    # Our own open pixel and click redirects (SMTP path).
    path("t/", include("delivery.tracking_urls")),
    path("dashboard/", include("dashboard.urls")),
    # Probes and the Prometheus scraper (triggered_email.ops_views; README, Monitoring).
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
]
