"""Emarsys v2 reply codes, and ours where Emarsys has none.

Clients of the Emarsys API check `replyCode`; the codes Emarsys defines keep their meaning here.
"""

from enum import IntEnum


class ReplyCode(IntEnum):
    OK = 0
    UNAUTHORIZED = 1
    # Emarsys codes
    BATCH_TOO_LARGE = 1000
    INVALID_KEY_FIELD = 2004
    NO_KEY_VALUE = 2005
    CONTACT_NOT_FOUND = 2008
    CONTACT_EXISTS = 2009
    MULTIPLE_CONTACTS = 2010
    INVALID_EVENT = 5001
    NO_LIVE_STREAM = 5005
    INVALID_DATA_JSON = 5009
    INVALID_EVENT_TIME = 5010
    DATA_NOT_OBJECT = 5011
    RATE_LIMITED = 7003
    # Ours (no Emarsys equivalent)
    REQUEST_TOO_LARGE = 1001
    INVALID_FIELD = 1002
    NOT_FOUND = 1003
    METHOD_NOT_ALLOWED = 1004
    IDEMPOTENCY_KEY_REUSED = 1005
    IDEMPOTENCY_KEY_IN_PROGRESS = 1006
    # Emarsys answers a body that is not sent as application/json with 1007.
    UNSUPPORTED_MEDIA_TYPE = 1007
    LENGTH_REQUIRED = 1008
    INTERNAL_ERROR = 1009
    INVALID_CONTACT_DATA = 2011
    EVENT_NAME_TAKEN = 5002
    EVENT_IN_USE = 5006
    EVENT_TOO_LARGE = 5012
    INVALID_ATTACHMENT = 5013
    INVALID_STREAM = 6001
    INVALID_RECIPIENT = 6002


class ReplyError(Exception):
    """A refusal with an Emarsys reply code, a text that says what to do, and an HTTP status."""

    def __init__(self, code: ReplyCode, text: str, http_status: int = 400, data: object = ""):
        super().__init__(text)
        self.code = code
        self.text = text
        self.http_status = http_status
        self.data = data
