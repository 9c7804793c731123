"""Links from the dashboard's counts to the message log, filtered to exactly those messages.

A count on the dashboard is of the (non-test) messages triggered in the range, by what became
of them (delivery.rollups counts them); each column maps to the message log's querystring that
selects the same rows: the log's own filters (stream, test sends, the received-at range of its
date filter) plus field lookups the admin accepts on the Message model.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

from django.urls import get_script_prefix, reverse

from dashboard.stats import Range

BOUNCE_KINDS = "hard,soft,block"
# Dashboard column → the log's parameters for the messages it counts.
COLUMN_FILTERS: dict[str, dict[str, str]] = {
    "triggered": {},
    "sent": {"sent_at__isnull": "0"},
    "delivered": {"delivered_at__isnull": "0"},
    "bounced": {"bounce_kind__in": BOUNCE_KINDS},
    "hard": {"bounce_kind__exact": "hard"},
    "soft": {"bounce_kind__exact": "soft"},
    "block": {"bounce_kind__exact": "block"},
    "opened": {"opened_at__isnull": "0"},
    "clicked": {"clicked_at__isnull": "0"},
    "complained": {"complained_at__isnull": "0"},
    "failed": {"status__exact": "failed"},
    "skipped": {"status__in": "skipped,discarded"},
}


@lru_cache(maxsize=16)
def _log_path(script_prefix: str) -> str:
    # Up to 170 links per page: one reverse() per script prefix, not one per link.
    return reverse("admin:delivery_message_changelist")


def message_log_url(span: Range, column: str, stream_id: int | None = None) -> str:
    """The message log showing the messages a dashboard count counts."""
    params = {
        # The log's date filter takes these two parameters; the ORM parses the ISO times.
        "received_at__gte": span.start.isoformat(timespec="seconds"),
        "received_at__lt": span.end.isoformat(timespec="seconds"),
        "test": "none",  # test sends are never counted
        **COLUMN_FILTERS[column],
    }
    if stream_id is not None:
        params["stream__id__exact"] = str(stream_id)
    return f"{_log_path(get_script_prefix())}?{urlencode(params)}"
