from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("series.csv", views.series_csv, name="series-csv"),
    path("streams/<int:stream_id>/", views.stream_page, name="stream"),
    path("streams/<int:stream_id>/series.csv", views.series_csv, name="stream-series-csv"),
]
