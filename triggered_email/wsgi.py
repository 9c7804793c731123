import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from triggered_email.startup_gc import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggered_email.settings")
application = get_wsgi_application()
# The first request would import the URLconf and every view: load them now, so that they are
# frozen with the rest of what the server loaded (triggered_email.startup_gc).
get_resolver().url_patterns  # noqa: B018
freeze_startup_objects()
