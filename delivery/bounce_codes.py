"""What an SMTP answer says about the address: a hard bounce, a soft one, or a block.

One rule for every source that only has the server's words: an ESP webhook without its own
bounce type (delivery.webhooks), the dedicated MTA refusing a recipient (delivery.failures),
a delivery status notification (delivery.dsn) and an MTA's log (delivery.mta_logs).

Enhanced status codes (RFC 3463) decide where there is one: 4.x.x is transient (soft), 5.7.x a
policy refusal (block: the address may be fine, the sender or the content was refused), 5.2.2
a full mailbox (soft: it empties), any other 5.x.x permanent (hard). Without one, the plain reply
code: 4xx soft, 5xx hard.
"""

from __future__ import annotations

import re

from delivery.models import Message

BounceKind = Message.BounceKind

ENHANCED_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"(?:^|\D)([45])\d\d(?:\D|$)")


def kind_from_enhanced(status: str) -> str:
    """hard/soft/block for an enhanced status code such as "5.1.1"; "" for success or junk."""
    match = ENHANCED_CODE.search(status or "")
    if not match:
        return ""
    klass, subject, detail = match.groups()
    if klass == "4":
        return BounceKind.SOFT
    if klass != "5":
        return ""
    if subject == "7":
        return BounceKind.BLOCK
    if subject == "2" and detail == "2":
        return BounceKind.SOFT
    return BounceKind.HARD


def kind_from_text(text: str) -> str:
    """hard/soft/block for a server's answer ("550 5.1.1 user unknown"); "" if it holds no
    code at all."""
    kind = kind_from_enhanced(text)
    if kind:
        return kind
    reply = _REPLY_CODE.search(text or "")
    if reply:
        return BounceKind.SOFT if reply.group(1) == "4" else BounceKind.HARD
    return ""
