"""Settings for the django-post-office process of `benchmark --mode post-office`.

The product's settings (same database, same environment), with django-post-office installed and
Django's SMTP backend pointed at the benchmark's sink. Only that one process uses them: the
product itself never loads django-post-office.
"""

import os

from triggered_email.environment import env_int
from triggered_email.settings import *  # noqa: F403
from triggered_email.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]

EMAIL_HOST = os.environ.get("TRIGGERED_EMAIL_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("TRIGGERED_EMAIL_SMTP_PORT", 25, minimum=1)
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False

# django-post-office's defaults (batches of 100, five sending threads per process, a log row per
# message) unless the environment names others, so a tuned django-post-office can be measured too.
POST_OFFICE = {
    "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
    "BATCH_SIZE": env_int("POST_OFFICE_BATCH_SIZE", 100, minimum=1),
    "THREADS_PER_PROCESS": env_int("POST_OFFICE_THREADS_PER_PROCESS", 5, minimum=1),
    "LOG_LEVEL": env_int("POST_OFFICE_LOG_LEVEL", 2, minimum=0),
}
