"""URLs of our own open and click tracking, mounted under /t/ (short: they go into every email)."""

from django.urls import path

from delivery import tracking_views

app_name = "tracking"

urlpatterns = [
    path("o/<str:token>.gif", tracking_views.open_pixel, name="open"),
    path("c/<str:token>", tracking_views.click, name="click"),
]
