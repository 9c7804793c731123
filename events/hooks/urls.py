from django.urls import path

from events.hooks import views

app_name = "hooks"

urlpatterns = [
    path("<slug:slug>/", views.receive_hook, name="receive"),
]
