"""The OpenAPI 3 description of the trigger API, served at /api/schema/ with docs at /api/docs/.

The API's views read raw JSON (Emarsys clients send shapes no DRF serializer describes well), so
the schema is written here, from outside the views: drf-spectacular's view extensions put a
documented subclass in place of each view while the schema is generated, and the shapes below are
plain JSON Schema. Keep them in step with `events/api/views.py`, `events/triggering.py`,
`events/broadcasting.py`, `events/contacts.py` and `delivery/message_status.py`:
tests/test_api_schemathesis.py drives the API from this schema and fails on any answer it does
not describe.

Importing this module registers the extensions; triggered_email/urls.py imports it (the schema
views live here), so every schema generation, by URL or by `manage.py spectacular`, sees them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from delivery.models import Message
from events.reply_codes import ReplyCode
from status_webhooks.event_types import WebhookEventType
from streams.models import MailStream

# --- reply codes ------------------------------------------------------------------------------

# What each code means for a client, and the HTTP status it comes with. Every ReplyCode must be
# here (tests/test_api_schema.py checks): a code the schema does not list is one clients cannot
# look up.
REPLY_CODE_MEANINGS: dict[ReplyCode, str] = {
    ReplyCode.OK: "OK (HTTP 200).",
    ReplyCode.UNAUTHORIZED: "Missing or invalid credentials (HTTP 401).",
    ReplyCode.BATCH_TOO_LARGE: "More than 1000 contacts or recipients in one call (HTTP 400).",
    ReplyCode.INVALID_KEY_FIELD: 'key_id is not "3"/"email" (the default), "id", '
    '"external_id" or the id or name of a custom field marked unique (HTTP 400).',
    ReplyCode.NO_KEY_VALUE: "The key value (external_id, or the contact's key field) is missing "
    "or empty (HTTP 400; per contact in a batch).",
    ReplyCode.CONTACT_NOT_FOUND: "No contact has this key value; PUT /contact without "
    "create_if_not_exists=1 updates only (HTTP 400; per contact in a batch).",
    ReplyCode.CONTACT_EXISTS: "POST /contact: a contact with this key value exists already, "
    "update it with PUT (HTTP 400; per contact in a batch).",
    ReplyCode.MULTIPLE_CONTACTS: "More than one contact has this key value (HTTP 400; per contact "
    "in a batch).",
    ReplyCode.INVALID_EVENT: "No external event has this id (HTTP 400).",
    ReplyCode.NO_LIVE_STREAM: "No live or paused mail stream (or active automation program) is "
    "linked to the event, or the broadcast stream is not live (HTTP 400).",
    ReplyCode.INVALID_DATA_JSON: "The body, or `data` sent as a string, is not valid JSON "
    "(HTTP 400).",
    ReplyCode.INVALID_EVENT_TIME: "event_time is not UTC as YYYY-MM-DDTHH:MM:SS[.mmm]Z (HTTP 400).",
    ReplyCode.DATA_NOT_OBJECT: "The body, or `data`, is JSON but not an object (HTTP 400).",
    ReplyCode.RATE_LIMITED: "Too many requests for this credential: wait Retry-After seconds "
    "(HTTP 429).",
    ReplyCode.REQUEST_TOO_LARGE: "The request body is over the request limit, 10 MB by default "
    "(HTTP 413).",
    ReplyCode.INVALID_FIELD: "A field has the wrong type or length, or the body holds a value "
    "that cannot be stored (HTTP 400).",
    ReplyCode.NOT_FOUND: "No such API URL or message (HTTP 404).",
    ReplyCode.METHOD_NOT_ALLOWED: "The URL exists but not with this HTTP method (HTTP 405).",
    ReplyCode.IDEMPOTENCY_KEY_REUSED: "The Idempotency-Key was used for a different request "
    "(HTTP 422).",
    ReplyCode.IDEMPOTENCY_KEY_IN_PROGRESS: "A request with this Idempotency-Key is still being "
    "processed: retry shortly (HTTP 409).",
    ReplyCode.UNSUPPORTED_MEDIA_TYPE: "The body is not sent as application/json (HTTP 415).",
    ReplyCode.LENGTH_REQUIRED: "A body was sent without Content-Length (e.g. chunked): send "
    "its length (HTTP 411).",
    ReplyCode.INTERNAL_ERROR: "An unexpected error (HTTP 500): a bug, logged with its "
    "traceback; nothing of the call was kept, retry later.",
    ReplyCode.INVALID_CONTACT_DATA: "A contact's fields are invalid or conflict with another "
    "contact (HTTP 400; per contact in a batch).",
    ReplyCode.EVENT_NAME_TAKEN: "An event with this name exists already (HTTP 400).",
    ReplyCode.EVENT_IN_USE: "The event is used by mail streams, programs or integrations "
    "(HTTP 400).",
    ReplyCode.EVENT_TOO_LARGE: "One event with its attachments is over the per-event limit, 1 MB "
    "by default (HTTP 413).",
    ReplyCode.INVALID_ATTACHMENT: 'An attachment is not {"filename", "data": base64} (HTTP 400).',
    ReplyCode.INVALID_STREAM: "No mail stream has this id (HTTP 404), or it is not a broadcast "
    "stream (HTTP 400).",
    ReplyCode.INVALID_RECIPIENT: "A broadcast recipient's address is missing or invalid "
    "(HTTP 400; per recipient with `recipients`).",
}


def _schemas_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def reply_code_schema() -> dict[str, Any]:
    codes = sorted(REPLY_CODE_MEANINGS, key=int)
    table = "\n".join(f"- `{int(code)}` {REPLY_CODE_MEANINGS[code]}" for code in codes)
    return {
        "type": "integer",
        "enum": [int(code) for code in codes],
        "x-enum-varnames": [code.name for code in codes],
        "x-enum-descriptions": [REPLY_CODE_MEANINGS[code] for code in codes],
        "description": "Emarsys v2 reply code (0 is success); codes Emarsys defines keep their "
        "meaning.\n\n" + table,
    }


# --- shapes -----------------------------------------------------------------------------------

KEY_ID = {
    "description": 'The key field: `3` or `"email"` (the email address; the default when '
    '`key_id` is omitted), `"id"` (the internal contact id), `"external_id"` (the external id), '
    "or the id (as a number or text) or name of a custom field marked unique "
    "(GET /api/v2/field). Case and surrounding spaces are ignored.",
    "oneOf": [{"type": "string"}, {"type": "integer"}],
    "example": "3",
}
KEY_VALUE = {
    "description": "The contact's value of the key field (`key_id`), e.g. its email address.",
    "oneOf": [{"type": "string", "minLength": 1}, {"type": "integer"}],
    "example": "jane@example.org",
}
TRIGGER_ID = {
    "description": "The client's deduplication key: a second trigger with the same trigger_id "
    "for the same event and contact is accepted but not sent again.",
    "oneOf": [{"type": "string", "maxLength": 255}, {"type": "integer"}],
}
DATA = {
    "description": "Template variables: keys at the root and under `global` are both available "
    "to the template. Some Emarsys clients send the object as a JSON string; both are accepted. "
    "At most 64 levels deep; NaN, Infinity and numbers beyond a double are refused (5009).",
    "oneOf": [
        {"type": "object", "additionalProperties": True},
        {"type": "string", "description": "A JSON object, serialised."},
    ],
    "example": {"order_id": "A-1001", "global": {"items": [{"name": "Tea"}]}},
}
EVENT_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$",
    "description": "When the event happened, UTC, as YYYY-MM-DDTHH:MM:SS[.mmm]Z.",
    "example": "2026-05-04T10:15:00Z",
}
ATTACHMENTS = {
    "type": "array",
    "description": "Files sent with this trigger; an event with its attachments may be up to "
    "1 MB (API_MAX_EVENT_BYTES).",
    "items": {
        "type": "object",
        "required": ["filename", "data"],
        "properties": {
            "filename": {"type": "string", "example": "invoice.pdf"},
            "data": {
                "type": "string",
                "format": "byte",
                "description": "The file's content, base64 (line breaks allowed).",
            },
        },
    },
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "ReplyCode": reply_code_schema(),
    "Error": {
        "type": "object",
        "description": "Every refusal: the Emarsys envelope with a non-zero replyCode and a "
        "replyText that says what is wrong and what to do.",
        "required": ["replyCode", "replyText", "data"],
        "properties": {
            "replyCode": _schemas_ref("ReplyCode"),
            "replyText": {"type": "string"},
            "data": {"description": "Usually an empty string."},
        },
        "example": {
            "replyCode": 5001,
            "replyText": "Invalid event id: 99. GET /api/v2/event lists the events.",
            "data": "",
        },
    },
    "ItemErrors": {
        "type": "object",
        "description": "Per-contact (or per-recipient) refusals of a batch: "
        "`errors[key value][reply code] = text`. The call itself succeeds (HTTP 200).",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "example": {"nobody@example.org": {"2008": "No contact found."}},
    },
    "Event": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "example": {"id": 1, "name": "order_confirmation"},
    },
    "EventName": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "Unique; surrounding spaces are removed.",
            }
        },
        "example": {"name": "order_confirmation"},
    },
    "EventUsages": {
        "type": "object",
        "required": ["streams", "programs"],
        "properties": {
            "streams": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "status", "kind"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "status": {"type": "string", "enum": list(MailStream.Status.values)},
                        "kind": {"type": "string", "enum": list(MailStream.Kind.values)},
                    },
                },
            },
            "programs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "status"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "status": {"type": "string"},
                    },
                },
            },
        },
    },
    "TriggerSingle": {
        "type": "object",
        "title": "One contact",
        "required": ["external_id"],
        "properties": {
            "key_id": KEY_ID,
            "external_id": KEY_VALUE,
            "trigger_id": TRIGGER_ID,
            "event_time": EVENT_TIME,
            "data": DATA,
            "attachment": ATTACHMENTS,
        },
    },
    "TriggerBatch": {
        "type": "object",
        "title": "A batch of contacts",
        "required": ["contacts"],
        "properties": {
            "key_id": KEY_ID,
            "contacts": {
                "type": "array",
                "maxItems": 1000,
                "description": "Up to 1000 contacts (reply code 1000 above that). Each is "
                "validated on its own: refusals come back in `data.errors`.",
                "items": {
                    "type": "object",
                    "required": ["external_id"],
                    "properties": {
                        "external_id": KEY_VALUE,
                        "trigger_id": TRIGGER_ID,
                        "event_time": EVENT_TIME,
                        "data": DATA,
                        "attachment": ATTACHMENTS,
                    },
                },
            },
        },
    },
    "MessageSummary": {
        "type": "object",
        "required": ["id", "recipient", "status"],
        "properties": {
            "id": {"type": "integer", "description": "GET /api/v2/message/{id} tells more."},
            "stream_id": {"type": "integer", "description": "Not on broadcasts."},
            "recipient": {"type": "string"},
            "status": {
                "type": "string",
                "enum": [*Message.Status.values, "duplicate"],
                "description": "`duplicate`: a trigger with this trigger_id was sent already.",
            },
            "reason": {"type": "string", "description": "Why a message is skipped."},
        },
    },
    "TriggerResult": {
        "type": "object",
        "required": ["trigger", "messages"],
        "properties": {
            "trigger": {"type": "integer", "description": "The id of the accepted trigger."},
            "messages": {"type": "array", "items": _schemas_ref("MessageSummary")},
            "ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Batch only: the ids of the contacts triggered.",
            },
            "errors": _schemas_ref("ItemErrors"),
        },
    },
    "BroadcastRecipient": {
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {"type": "string", "format": "email", "example": "a@example.org"},
            "data": DATA,
            "trigger_id": TRIGGER_ID,
            "attachment": ATTACHMENTS,
        },
    },
    "BroadcastRecipients": {
        "type": "object",
        "title": "Many recipients",
        "required": ["recipients"],
        "properties": {
            "recipients": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "description": "Up to 1000 addresses or recipient objects; invalid ones come "
                "back in `data.errors`, the valid ones are sent.",
                "items": {
                    "oneOf": [
                        {"type": "string", "format": "email"},
                        _schemas_ref("BroadcastRecipient"),
                    ]
                },
            },
            "data": {
                **DATA,
                "description": "Variables shared by every recipient (a recipient's own `data` "
                "wins).",
            },
        },
    },
    "BroadcastResult": {
        "type": "object",
        "required": ["trigger", "messages"],
        "properties": {
            "trigger": {
                "type": "integer",
                "nullable": True,
                "description": "Null when no recipient was valid.",
            },
            "messages": {"type": "array", "items": _schemas_ref("MessageSummary")},
            "errors": _schemas_ref("ItemErrors"),
        },
    },
    "ContactFields": {
        "type": "object",
        "description": 'Fields by Emarsys field id ("1" first name, "2" last name, "3" email, '
        '"31" opt-in: 1 yes, 2 no; custom fields by their id) or by name; any other key is kept '
        "as a free field. The key field (by `key_id`) identifies the contact; a new contact "
        "needs an email.",
        "additionalProperties": True,
        "properties": {
            "1": {"type": "string", "nullable": True},
            "2": {"type": "string", "nullable": True},
            "3": {"type": "string", "format": "email"},
            "31": {"oneOf": [{"type": "integer", "enum": [1, 2]}, {"type": "string"}]},
            "external_id": {
                "oneOf": [{"type": "string"}, {"type": "integer"}],
                "nullable": True,
            },
            "id": {"type": "integer", "description": "With key_id `id`: the contact's id."},
        },
        "example": {"1": "Jane", "2": "Doe", "3": "jane@example.org"},
    },
    "ContactUpsert": {
        "type": "object",
        "description": "`contacts` (up to 1000; refusals per contact in `data.errors`, HTTP "
        "200), or one contact's fields at the root (a refusal refuses the call).",
        "additionalProperties": True,
        "properties": {
            "key_id": KEY_ID,
            "contacts": {
                "type": "array",
                "maxItems": 1000,
                "items": _schemas_ref("ContactFields"),
            },
        },
        "example": {"key_id": "3", "contacts": [{"1": "Jane", "3": "jane.new@example.org"}]},
    },
    "ContactDelete": {
        "type": "object",
        "description": 'One contact (`{"key_id": "3", "3": "jane@example.org"}`) or '
        "`contacts` (up to 1000), each naming its key value.",
        "additionalProperties": True,
        "properties": {
            "key_id": KEY_ID,
            "contacts": {
                "type": "array",
                "maxItems": 1000,
                "items": _schemas_ref("ContactFields"),
            },
        },
        "example": {"key_id": "3", "3": "jane@example.org"},
    },
    "ContactDeleteResult": {
        "type": "object",
        "required": ["deleted_contacts"],
        "properties": {
            "deleted_contacts": {"type": "integer"},
            "errors": _schemas_ref("ItemErrors"),
        },
    },
    "ContactGetData": {
        "type": "object",
        "description": "Emarsys's getdata body. `keyId` defaults to 3 (email); `key_id` is "
        "taken too. Without `fields` every standard and custom field comes back.",
        "properties": {
            "keyId": KEY_ID,
            "keyValues": {
                "type": "array",
                "maxItems": 1000,
                "items": KEY_VALUE,
            },
            "fields": {
                "type": "array",
                "maxItems": 1000,
                "description": "Field ids (numbers or text) or names.",
                "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            },
        },
        "example": {"keyId": "3", "keyValues": ["jane@example.org"], "fields": ["1", 2, 3]},
    },
    "ContactData": {
        "type": "object",
        "required": ["result", "errors"],
        "properties": {
            "result": {
                "description": "Each matching contact: `id` and the requested fields by the "
                "key they were asked by, values as text or null; `false` when none matched "
                "(as Emarsys answers).",
                "oneOf": [
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id"],
                            "additionalProperties": {"type": "string", "nullable": True},
                        },
                    },
                    {"type": "boolean", "enum": [False]},
                ],
            },
            "errors": {
                "type": "array",
                "description": "Emarsys's getdata errors: one per key value not found (2008) "
                "or empty (2005).",
                "items": {
                    "type": "object",
                    "required": ["key", "errorCode", "errorMsg"],
                    "properties": {
                        "key": {"type": "string"},
                        "errorCode": {"type": "integer"},
                        "errorMsg": {"type": "string"},
                    },
                },
            },
        },
    },
    "ContactCheckIds": {
        "type": "object",
        "required": ["external_ids"],
        "properties": {
            "key_id": KEY_ID,
            "external_ids": {"type": "array", "maxItems": 1000, "items": KEY_VALUE},
            "get_multiple_ids": {
                "description": "1: every id of a key value, as a list; otherwise a value more "
                "than one contact has is refused with 2010.",
                "oneOf": [{"type": "integer"}, {"type": "string"}, {"type": "boolean"}],
            },
        },
        "example": {"key_id": "3", "external_ids": ["jane@example.org"]},
    },
    "ContactIds": {
        "type": "object",
        "required": ["ids"],
        "properties": {
            "ids": {
                "type": "object",
                "description": "Contact id by key value (a list with get_multiple_ids).",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
            },
            "errors": _schemas_ref("ItemErrors"),
        },
    },
    "Field": {
        "type": "object",
        "required": ["id", "name", "application_type", "string_id", "unique"],
        "properties": {
            "id": {"type": "integer", "description": "The Emarsys field id clients send."},
            "name": {"type": "string"},
            "application_type": {"type": "string"},
            "string_id": {"type": "string", "description": "The name in templates and fields."},
            "unique": {
                "type": "boolean",
                "description": "Custom fields marked unique may be key fields (key_id).",
            },
        },
        "example": {
            "id": 3,
            "name": "E-Mail",
            "application_type": "email",
            "string_id": "email",
            "unique": False,
        },
    },
    "FieldCreate": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "The label."},
            "string_id": {
                "type": "string",
                "description": "Lowercase letters, digits and underscores; defaults to the "
                "name in that form.",
            },
            "application_type": {
                "type": "string",
                "enum": ["shorttext", "longtext", "numeric", "date"],
            },
            "id": {
                "type": "integer",
                "description": "The id the field has in Emarsys, to keep integrations "
                "unchanged; the next free id from 1000 without it.",
            },
            "unique": {"type": "boolean", "default": False},
        },
        "example": {"name": "Loyalty number", "id": 4711, "unique": True},
    },
    "Settings": {
        "type": "object",
        "required": ["id", "name", "environment", "timezone", "language", "total_contacts"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "environment": {"type": "string", "description": "The host the call reached."},
            "timezone": {"type": "string"},
            "language": {"type": "string"},
            "country": {"type": "string"},
            "total_contacts": {"type": "integer"},
        },
    },
    "ContactResult": {
        "type": "object",
        "required": ["ids"],
        "properties": {
            "ids": {"type": "array", "items": {"type": "string"}},
            "errors": _schemas_ref("ItemErrors"),
        },
    },
    "MessageStatus": {
        "type": "object",
        "required": ["id", "status", "recipient", "stream", "version", "timestamps", "events"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": list(Message.Status.values)},
            "skip_reason": {
                "type": "string",
                "nullable": True,
                "enum": [*Message.SkipReason.values, None],
            },
            "outcome": {
                "type": "string",
                "nullable": True,
                "enum": [*Message.Outcome.values, None],
            },
            "bounce_kind": {
                "type": "string",
                "nullable": True,
                "enum": [*Message.BounceKind.values, None],
            },
            "recipient": {"type": "string"},
            "stream": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            },
            "version": {
                "type": "object",
                "required": ["id", "number"],
                "properties": {"id": {"type": "integer"}, "number": {"type": "integer"}},
            },
            "trigger_id": {"type": "integer", "nullable": True},
            "client_trigger_id": {"type": "string", "nullable": True},
            "message_id": {"type": "string", "description": "The RFC 5322 Message-ID."},
            "esp_message_id": {"type": "string", "nullable": True},
            "attempts": {"type": "integer"},
            "last_error": {"type": "string", "nullable": True},
            "timestamps": {
                "type": "object",
                "additionalProperties": {
                    "type": "string",
                    "format": "date-time",
                    "nullable": True,
                },
            },
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "occurred_at"],
                    "properties": {
                        "type": {"type": "string"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "provider": {"type": "string"},
                        "bounce_kind": {"type": "string", "nullable": True},
                        "description": {"type": "string", "nullable": True},
                        "mta_response": {"type": "string", "nullable": True},
                        "url": {"type": "string", "nullable": True},
                        "user_agent": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "WebhookSubscription": {
        "type": "object",
        "required": ["id", "name", "url", "events", "streams", "external_events", "enabled"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "url": {"type": "string"},
            "events": {
                "type": "array",
                "items": {"type": "string", "enum": list(WebhookEventType.values)},
            },
            "streams": {"type": "array", "items": {"type": "integer"}},
            "external_events": {"type": "array", "items": {"type": "integer"}},
            "enabled": {"type": "boolean"},
            "disabled_reason": {"type": "string", "nullable": True},
            "failing_since": {"type": "string", "format": "date-time", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "secret": {
                "type": "string",
                "description": "Only in the answer to the call that created the subscription: "
                "the whsec_… secret receivers verify the Standard Webhooks signature with.",
            },
        },
    },
    "WebhookCreate": {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "maxLength": 2000,
                "description": "http(s) URL of the client system's endpoint; internal addresses "
                "(loopback, private, link-local) are refused.",
            },
            "name": {"type": "string", "maxLength": 200},
            "events": {
                "type": "array",
                "items": {"type": "string", "enum": list(WebhookEventType.values)},
                "description": "Event types to send (default: all).",
            },
            "streams": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Only these mail streams (default: all).",
            },
            "external_events": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Only messages of these external events (default: all).",
            },
        },
    },
}


def add_components(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the shared shapes the operations refer to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return result


# --- responses --------------------------------------------------------------------------------


def success(data: dict[str, Any], description: str = "Success: replyCode 0.") -> OpenApiResponse:
    return OpenApiResponse(
        response={
            "type": "object",
            "required": ["replyCode", "replyText", "data"],
            "properties": {
                "replyCode": {"type": "integer", "enum": [0]},
                "replyText": {"type": "string", "example": "OK"},
                "data": data,
            },
        },
        description=description,
    )


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=_schemas_ref("Error"), description=description)


ERRORS = {
    400: _error("Refused: the replyCode says why (see ReplyCode)."),
    401: _error(
        "No valid credentials (replyCode 1). Send an X-WSSE UsernameToken header or "
        "'Authorization: Token <token>'."
    ),
    404: _error("Not found (replyCode 1003 or 6001)."),
    405: _error("The URL does not take this HTTP method (replyCode 1004)."),
    409: _error(
        "A request with this Idempotency-Key is still being processed (replyCode 1006): "
        "retry shortly."
    ),
    413: _error(
        "The request is over the request limit (replyCode 1001) or one event is over the "
        "per-event limit (replyCode 5012)."
    ),
    411: _error("A body was sent without Content-Length (replyCode 1008)."),
    415: _error("The body is not sent as application/json (replyCode 1007)."),
    422: _error("The Idempotency-Key was used for a different request (replyCode 1005)."),
    429: _error("Too many requests for this credential (replyCode 7003): wait Retry-After s."),
}

# Every call can be refused for these reasons before the view runs: credentials, the method,
# the body's framing (400, 411) and size, the rate limit.
ALWAYS = (400, 401, 405, 411, 413, 429)
WITH_BODY = (*ALWAYS, 415)
IDEMPOTENT = (*WITH_BODY, 409, 422)


def responses(ok: OpenApiResponse, *codes: int) -> dict[int, OpenApiResponse]:
    return {200: ok, **{code: ERRORS[code] for code in sorted(codes)}}


def path_id(name: str, what: str) -> OpenApiParameter:
    # Ids are 64-bit (BigAutoField). Other values in the path are answered as unknown ids, and
    # the bounds make schemathesis try the values just outside them.
    return OpenApiParameter(
        name,
        {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1},
        OpenApiParameter.PATH,
        description=f"The {what}'s id.",
        examples=[OpenApiExample(f"{what} 1", value=1)],
    )


EVENT_ID = path_id("event_id", "external event")
WEBHOOK_ID = path_id("subscription_id", "webhook subscription")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 255 characters. A retried request with the same key and body gets the "
    "first response back (with `Idempotent-Replayed: true`) instead of a second send.",
)


# Response headers. Retry-After comes whenever the throttle knows the wait.
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    required=False,
    description="Seconds to wait before the next request.",
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    str,
    OpenApiParameter.HEADER,
    response=[401],
    required=False,
    description='`WSSE profile="UsernameToken"`, or `Token` when a token was refused.',
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true"]},
    OpenApiParameter.HEADER,
    response=True,
    required=False,
    description="Present when this is the stored answer to an earlier request with the same "
    "Idempotency-Key.",
)
RESPONSE_HEADERS = [RETRY_AFTER, WWW_AUTHENTICATE]


def request_body(schema: dict[str, Any], *examples: OpenApiExample) -> dict[str, Any]:
    return {"request": {"application/json": schema}, "examples": list(examples)}


# --- the operations ---------------------------------------------------------------------------

EVENT_OK = success(_schemas_ref("Event"))

TRIGGER = extend_schema(
    operation_id="trigger_event",
    summary="Trigger an external event for one contact or a batch",
    description="Every live mail stream linked to the event is sent to the contact(s); paused "
    "streams hold or discard per their pause policy. One contact: `key_id` + `external_id`; "
    "a refusal refuses the call. A batch: `contacts` (up to 1000); refused contacts come back in "
    "`data.errors` with HTTP 200 and the others are sent.",
    tags=["Trigger"],
    parameters=[EVENT_ID, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, *RESPONSE_HEADERS],
    **request_body(
        {"oneOf": [_schemas_ref("TriggerSingle"), _schemas_ref("TriggerBatch")]},
        OpenApiExample(
            "One contact",
            value={
                "key_id": "3",
                "external_id": "jane@example.org",
                "trigger_id": "order-1001",
                "data": {"order_id": "A-1001"},
            },
            request_only=True,
        ),
        OpenApiExample(
            "A batch",
            value={
                "key_id": "3",
                "contacts": [
                    {"external_id": "jane@example.org", "data": {"order_id": "A-1001"}},
                    {"external_id": "john@example.org", "data": {"order_id": "A-1002"}},
                ],
            },
            request_only=True,
        ),
    ),
    responses=responses(success(_schemas_ref("TriggerResult")), *IDEMPOTENT),
)

BROADCAST = extend_schema(
    operation_id="broadcast",
    summary="Send a broadcast stream to addresses outside the contact database",
    description="For mail streams of kind `broadcast`: `{email, data}` (Emarsys' shape; a bad "
    "address refuses the call) or `{recipients: [...]}` (up to 1000; bad addresses come back in "
    "`data.errors`). Sent on the bulk lane.",
    tags=["Broadcast"],
    parameters=[
        path_id("stream_id", "mail stream"),
        IDEMPOTENCY_KEY,
        IDEMPOTENT_REPLAYED,
        *RESPONSE_HEADERS,
    ],
    **request_body(
        {"oneOf": [_schemas_ref("BroadcastRecipient"), _schemas_ref("BroadcastRecipients")]},
        OpenApiExample(
            "One recipient",
            value={"email": "a@example.org", "data": {"coupon": "SPRING"}},
            request_only=True,
        ),
        OpenApiExample(
            "Many recipients",
            value={
                "recipients": ["a@example.org", {"email": "b@example.org", "data": {"n": 2}}],
                "data": {"coupon": "SPRING"},
            },
            request_only=True,
        ),
    ),
    responses=responses(success(_schemas_ref("BroadcastResult")), *IDEMPOTENT, 404),
)

CONTACT = {
    "tags": ["Contacts"],
    **request_body(_schemas_ref("ContactUpsert")),
    "responses": responses(success(_schemas_ref("ContactResult")), *IDEMPOTENT),
}
CREATE_IF_NOT_EXISTS = OpenApiParameter(
    "create_if_not_exists",
    {"type": "integer", "enum": [0, 1]},
    OpenApiParameter.QUERY,
    required=False,
    description="1: create contacts that do not exist (2008 for them otherwise). Also taken "
    "in the body.",
)


def read_call(
    operation_id: str, summary: str, description: str, body: str | None, result: dict[str, Any]
) -> Any:
    """A call that reads (or, for fields, adds) without sending anything."""
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        tags=["Contacts"],
        parameters=RESPONSE_HEADERS,
        **(request_body(_schemas_ref(body)) if body else {}),
        responses=responses(success(result), *(WITH_BODY if body else ALWAYS)),
    )


VIEWS: dict[str, Any] = {
    "EventTriggerView": extend_schema_view(post=TRIGGER),
    "BroadcastView": extend_schema_view(post=BROADCAST),
    "EventListView": extend_schema_view(
        get=extend_schema(
            operation_id="list_events",
            parameters=RESPONSE_HEADERS,
            summary="List the external events",
            tags=["Events"],
            responses=responses(
                success({"type": "array", "items": _schemas_ref("Event")}), *ALWAYS
            ),
        ),
        post=extend_schema(
            operation_id="create_event",
            parameters=RESPONSE_HEADERS,
            summary="Create an external event",
            tags=["Events"],
            **request_body(_schemas_ref("EventName")),
            responses=responses(EVENT_OK, *WITH_BODY),
        ),
    ),
    "EventDetailView": extend_schema_view(
        get=extend_schema(
            operation_id="get_event",
            summary="Show an external event",
            tags=["Events"],
            parameters=[EVENT_ID, *RESPONSE_HEADERS],
            responses=responses(EVENT_OK, *ALWAYS),
        ),
        post=extend_schema(
            operation_id="rename_event",
            summary="Rename an external event",
            tags=["Events"],
            parameters=[EVENT_ID, *RESPONSE_HEADERS],
            **request_body(_schemas_ref("EventName")),
            responses=responses(EVENT_OK, *WITH_BODY),
        ),
    ),
    "EventDeleteView": extend_schema_view(
        post=extend_schema(
            operation_id="delete_event",
            summary="Delete an external event no mail stream, program or integration uses",
            tags=["Events"],
            parameters=[EVENT_ID, *RESPONSE_HEADERS],
            request=None,
            responses=responses(
                success(
                    {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "integer"}},
                    }
                ),
                *ALWAYS,
            ),
        )
    ),
    "EventUsagesView": extend_schema_view(
        get=extend_schema(
            operation_id="event_usages",
            summary="List the mail streams and programs an event triggers",
            tags=["Events"],
            parameters=[EVENT_ID, *RESPONSE_HEADERS],
            responses=responses(success(_schemas_ref("EventUsages")), *ALWAYS),
        )
    ),
    "ContactView": extend_schema_view(
        put=extend_schema(
            operation_id="update_contacts",
            summary="Update contacts",
            description="Updates the contacts with these key values; an unknown one is 2008 "
            "unless `create_if_not_exists=1` (then it is created, as POST would).",
            parameters=[
                CREATE_IF_NOT_EXISTS,
                IDEMPOTENCY_KEY,
                IDEMPOTENT_REPLAYED,
                *RESPONSE_HEADERS,
            ],
            **CONTACT,
        ),
        post=extend_schema(
            operation_id="create_contacts",
            summary="Create contacts",
            description="Creates contacts; one whose key value exists already is 2009 (per "
            "contact in a batch).",
            parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, *RESPONSE_HEADERS],
            **CONTACT,
        ),
    ),
    "ContactGetDataView": extend_schema_view(
        post=read_call(
            "get_contact_data",
            "Read contacts' fields",
            "Emarsys's getdata: the requested fields of the contacts with these key values.",
            "ContactGetData",
            _schemas_ref("ContactData"),
        )
    ),
    "ContactCheckIdsView": extend_schema_view(
        post=read_call(
            "check_contact_ids",
            "Contact ids by key value",
            "Emarsys's checkids: the internal id of each key value's contact.",
            "ContactCheckIds",
            _schemas_ref("ContactIds"),
        )
    ),
    "ContactDeleteView": extend_schema_view(
        post=extend_schema(
            operation_id="delete_contacts",
            summary="Delete contacts",
            description="Deletes the contact of each key value (2008 when none, 2010 when "
            "several have it); messages already sent keep their rows.",
            tags=["Contacts"],
            parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, *RESPONSE_HEADERS],
            **request_body(_schemas_ref("ContactDelete")),
            responses=responses(success(_schemas_ref("ContactDeleteResult")), *IDEMPOTENT),
        )
    ),
    "FieldView": extend_schema_view(
        get=read_call(
            "list_fields",
            "List the contact fields",
            "The standard fields and the custom ones, with the Emarsys ids clients send.",
            None,
            {"type": "array", "items": _schemas_ref("Field")},
        ),
        post=extend_schema(
            operation_id="create_field",
            summary="Create a custom contact field",
            description="A custom field, by the id clients send; mark it `unique` to use it as "
            "a key field.",
            tags=["Contacts"],
            parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, *RESPONSE_HEADERS],
            **request_body(_schemas_ref("FieldCreate")),
            responses=responses(
                success(
                    {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "integer"}},
                    }
                ),
                *IDEMPOTENT,
            ),
        ),
    ),
    "SettingsView": extend_schema_view(
        get=extend_schema(
            operation_id="account_settings",
            summary="The account's settings",
            description="A minimal account description, for clients that read it first.",
            tags=["Account"],
            parameters=RESPONSE_HEADERS,
            responses=responses(success(_schemas_ref("Settings")), *ALWAYS),
        )
    ),
    "MessageView": extend_schema_view(
        get=extend_schema(
            operation_id="message_status",
            summary="A message's status, timestamps and event timeline",
            tags=["Messages"],
            parameters=[path_id("message_id", "message"), *RESPONSE_HEADERS],
            responses=responses(success(_schemas_ref("MessageStatus")), *ALWAYS, 404),
        )
    ),
    "WebhookListView": extend_schema_view(
        get=extend_schema(
            operation_id="list_webhooks",
            summary="List status webhook subscriptions",
            tags=["Status webhooks"],
            parameters=RESPONSE_HEADERS,
            responses=responses(
                success({"type": "array", "items": _schemas_ref("WebhookSubscription")}),
                *ALWAYS,
            ),
        ),
        post=extend_schema(
            operation_id="create_webhook",
            summary="Subscribe an endpoint to status webhooks",
            description="The answer carries the subscription's signing secret, the only time "
            "it is shown. Every event is POSTed signed the Standard Webhooks way "
            "(webhook-id, webhook-timestamp, webhook-signature).",
            tags=["Status webhooks"],
            parameters=RESPONSE_HEADERS,
            **request_body(_schemas_ref("WebhookCreate")),
            responses=responses(success(_schemas_ref("WebhookSubscription")), *WITH_BODY),
        ),
    ),
    "WebhookDetailView": extend_schema_view(
        get=extend_schema(
            operation_id="get_webhook",
            summary="A status webhook subscription (without its secret)",
            tags=["Status webhooks"],
            parameters=[WEBHOOK_ID, *RESPONSE_HEADERS],
            responses=responses(success(_schemas_ref("WebhookSubscription")), *ALWAYS, 404),
        )
    ),
    "WebhookDeleteView": extend_schema_view(
        post=extend_schema(
            operation_id="delete_webhook",
            summary="Delete a status webhook subscription and its delivery log",
            tags=["Status webhooks"],
            parameters=[WEBHOOK_ID, *RESPONSE_HEADERS],
            request=None,
            responses=responses(
                success(
                    {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "integer"}},
                    }
                ),
                *ALWAYS,
                404,
            ),
        )
    ),
    # The catch-all that answers unknown API URLs with a 404 envelope is no operation.
    "NotFoundView": extend_schema_view(
        **{
            method: extend_schema(exclude=True)
            for method in ("get", "post", "put", "patch", "delete")
        }
    ),
}


# Views that live in events/api/contact_views.py; the others are in events/api/views.py.
CONTACT_VIEWS = {
    "ContactView",
    "ContactGetDataView",
    "ContactCheckIdsView",
    "ContactDeleteView",
    "FieldView",
    "SettingsView",
}


# Status webhook subscriptions (status_webhooks/api_views.py).
WEBHOOK_VIEWS = {"WebhookListView", "WebhookDetailView", "WebhookDeleteView"}


def _view_extension(view_name: str, decorate: Any) -> type[OpenApiViewExtension]:
    """A view extension that documents `<module>.<view_name>` without changing it."""
    if view_name in WEBHOOK_VIEWS:
        module = "status_webhooks.api_views"
    else:
        module = "events.api." + ("contact_views" if view_name in CONTACT_VIEWS else "views")

    def view_replacement(self: OpenApiViewExtension) -> type:
        return decorate(type(view_name, (self.target_class,), {"__doc__": ""}))

    return type(
        f"{view_name}Schema",
        (OpenApiViewExtension,),
        {
            "target_class": f"{module}.{view_name}",
            "view_replacement": view_replacement,
        },
    )


VIEW_EXTENSIONS = [_view_extension(name, decorate) for name, decorate in VIEWS.items()]


# --- authentication ---------------------------------------------------------------------------


class WSSEScheme(OpenApiAuthenticationExtension):
    target_class = "events.api.authentication.WSSEAuthentication"
    name = "WSSE"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-WSSE",
            "description": 'Emarsys\' UsernameToken: `X-WSSE: UsernameToken Username="…", '
            'PasswordDigest="…", Nonce="…", Created="…"` with '
            "`PasswordDigest = base64(sha1_hex(Nonce + Created + secret))`, `Created` in UTC "
            "ISO 8601 within 5 minutes of the server's clock, and each Nonce accepted once. "
            "`python manage.py create_api_user NAME` issues the username and secret.",
        }


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "events.api.authentication.TokenAuthentication"
    name = "Token"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Token <token>`, for new clients. "
            "`python manage.py create_api_user NAME` issues the token.",
        }


# --- the schema and docs views ----------------------------------------------------------------


class SchemaView(SpectacularJSONAPIView):
    """GET /api/schema/: the OpenAPI 3 schema as JSON; readable without credentials."""


class DocsView(SpectacularSwaggerSplitView):
    """GET /api/docs/: Swagger UI from drf-spectacular-sidecar's static files (no CDN).

    The split view serves its start-up script as a separate response (`?script`), so the page
    runs under a Content-Security-Policy with `script-src 'self'`; the template drops the inline
    style block for the same reason (`style-src 'self'`).
    """

    url_name = "api-schema"
    template_name = "api_docs/swagger_ui.html"
