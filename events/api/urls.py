from django.urls import path, re_path

from events.api import contact_views, views
from status_webhooks import api_views as webhook_views

app_name = "api"

urlpatterns = [
    path("v2/event", views.EventListView.as_view(), name="events"),
    path("v2/event/<str:event_id>", views.EventDetailView.as_view(), name="event"),
    path("v2/event/<str:event_id>/trigger", views.EventTriggerView.as_view(), name="trigger"),
    path("v2/event/<str:event_id>/delete", views.EventDeleteView.as_view(), name="event-delete"),
    path("v2/event/<str:event_id>/usages", views.EventUsagesView.as_view(), name="event-usages"),
    path("v2/contact", contact_views.ContactView.as_view(), name="contacts"),
    path("v2/contact/getdata", contact_views.ContactGetDataView.as_view(), name="contact-getdata"),
    path(
        "v2/contact/checkids", contact_views.ContactCheckIdsView.as_view(), name="contact-checkids"
    ),
    path("v2/contact/delete", contact_views.ContactDeleteView.as_view(), name="contact-delete"),
    path("v2/field", contact_views.FieldView.as_view(), name="fields"),
    path("v2/settings", contact_views.SettingsView.as_view(), name="settings"),
    path("v2/email/<str:stream_id>/broadcast", views.BroadcastView.as_view(), name="broadcast"),
    path("v2/message/<str:message_id>", views.MessageView.as_view(), name="message"),
    path("v2/webhook", webhook_views.WebhookListView.as_view(), name="webhooks"),
    path(
        "v2/webhook/<str:subscription_id>",
        webhook_views.WebhookDetailView.as_view(),
        name="webhook",
    ),
    path(
        "v2/webhook/<str:subscription_id>/delete",
        webhook_views.WebhookDeleteView.as_view(),
        name="webhook-delete",
    ),
    re_path(r"^[\s\S]*$", views.NotFoundView.as_view(), name="not-found"),
]
