"""The "Marketers" group: exactly the permissions the marketers' daily work needs.

Campaigns and streams (create, edit, publish, launch/pause/resume and test sends are all
`change_mailstream`), versions and the message log to read, contacts to search and import, held
and failed messages to release and resend. Nothing about API credentials (their secrets stay
with the operators), users or the task queue. Re-applied after every migrate, so the group
always has exactly this set.
"""

from __future__ import annotations

from typing import Any

MARKETERS_GROUP = "Marketers"

MARKETER_PERMISSIONS = (
    ("streams", "view_emailcampaign"),
    ("streams", "add_emailcampaign"),
    ("streams", "change_emailcampaign"),
    ("streams", "view_mailstream"),
    ("streams", "add_mailstream"),
    ("streams", "change_mailstream"),
    ("streams", "view_streamversion"),
    ("streams", "view_streamattachment"),
    ("streams", "add_streamattachment"),
    ("streams", "change_streamattachment"),
    ("streams", "delete_streamattachment"),
    ("events", "view_externalevent"),
    ("events", "view_contact"),
    ("events", "view_contactfield"),
    ("events", "add_contact"),
    ("events", "change_contact"),
    ("events", "view_trigger"),
    ("delivery", "view_message"),
    ("delivery", "resend_message"),
    ("delivery", "release_message"),
    ("delivery", "view_deliveryevent"),
    ("delivery", "view_suppression"),
    # Which domains a sender may be on, and whether they are healthy.
    ("senders", "view_senderdomain"),
)


def ensure_marketers_group(using: str = "default", **kwargs: Any) -> None:
    """Create the group, or set its permissions back to exactly MARKETER_PERMISSIONS."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    wanted = Q(pk__in=[])
    for app_label, codename in MARKETER_PERMISSIONS:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.using(using).filter(wanted))
    if len(permissions) < len(MARKETER_PERMISSIONS):
        # Some apps' permissions are created later in this migrate; the last call completes it.
        return
    group, _ = Group.objects.using(using).get_or_create(name=MARKETERS_GROUP)
    group.permissions.set(permissions)
