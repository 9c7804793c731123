import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from triggered_email.startup import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggered_email.settings")
application = get_wsgi_application()
# Every view module is imported now, not by the first request, and then frozen with the rest.
url_patterns = get_resolver().url_patterns
freeze_startup_objects()
