from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from events.integrations import views

app_name = "hooks"

urlpatterns = [
    path("<slug:slug>/", views.receive_hook, name="receive"),
    # Any other URL here answers like an unknown slug (JSON), not with the site's HTML 404.
    re_path(r"^(?P<rest>[\s\S]*)$", csrf_exempt(views.unknown_hook), name="unknown"),
]
