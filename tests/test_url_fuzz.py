"""The fuzz net: generated requests to every URL family answer < 500; under /api/ in the envelope.

Hypothesis builds requests the way clients and attackers send them: any method; paths with junk
segments (Unicode digits, 64-bit overflows, invalid UTF-8, text); headers that matter here
(Content-Type, Content-Length, Transfer-Encoding, X-WSSE, Authorization, Idempotency-Key, the
hook signatures), valid or not; bodies of random JSON with NaN/Infinity/1e400, deep nesting, the
known fields with wrong types, and bytes that are not UTF-8. Requests go through Django's test
client in process, authenticated with a real credential or a real signature much of the time, so
they reach the views and not only the authentication.

Every request is answered and counted; each family's test fails at the end with the first
offending requests. The counts by status code are printed at the end of the module.

    FUZZ_EXAMPLES=3000 pytest tests/test_url_fuzz.py -s      # bigger runs, for measuring
    FUZZ_REPORT=/tmp/fuzz.json ...                              # also write the counts as JSON
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.models import Message
from delivery.tracking_links import click_token, open_token
from events.credentials import wsse_header
from events.models import Integration
from streams.models import MailStream
from tests.hooks_support import make_integration

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # per family: about 10 s on SQLite
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The same requests on every run, so runs before and after a change compare like for like.
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
SECRET = "whsec_fuzz_0123456789abcdef"
WEBHOOK_AUTH = "fuzz:webhook-secret"
COUNTS: dict[str, Counter] = {}
PROBLEMS: Counter = Counter()

# --- building blocks -----------------------------------------------------------------------------

UNICODE_DIGITS = ["\u00b2", "\u0661", "\uff11", "\u0967", "\U0001d7d9", "1\u0661", "\u2460"]
HUGE_NUMBERS = [str(2**63), str(2**64 + 1), "9" * 30, "9" * 400, "0" * 50 + "1", "-1", "1e3"]
junk_segment = st.one_of(
    st.sampled_from(UNICODE_DIGITS + HUGE_NUMBERS + ["", ".", "..", "%FF", "%C0%AF", "%00"]),
    st.text(max_size=30).map(lambda t: quote(t, safe="")),
    st.binary(max_size=12).map(lambda b: quote(b, safe="")),
    st.integers(min_value=0, max_value=2**70).map(str),
)
# WSGI hands header values over as ISO-8859-1 text: nothing above U+00FF can arrive.
header_chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")
header_text = st.text(header_chars, max_size=80)

# Marker strings swapped for literals json.dumps cannot write.
BIG = "__fuzz_1e400__"
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.just(BIG),
    st.sampled_from(["\u0000", "\ud800", "jane@example.org", "3", "id", "\u00b2", "9" * 25]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
contact_entry = st.fixed_dictionaries(
    {},
    optional={
        "external_id": json_values | st.sampled_from(["jane@example.org", "C-1", "1", "²"]),
        "trigger_id": json_values,
        "data": json_values | json_values.map(lambda v: json.dumps(v)),
        "event_time": json_values | st.just("2026-11-27T10:00:00Z"),
        "attachment": json_values
        | st.lists(
            st.fixed_dictionaries(
                {"filename": json_values | st.just("a.pdf"), "data": json_values | st.just("QQ==")}
            ),
            max_size=2,
        ),
        "3": json_values | st.just("new@example.org"),
        "email": json_values | st.just("b@example.org"),
        "1": json_values,
        "31": json_values,
    },
)
api_object = st.fixed_dictionaries(
    {},
    optional={
        "key_id": json_values | st.sampled_from(["3", "email", "id", "external_id", 3]),
        "contacts": json_values | st.lists(contact_entry | json_values, max_size=4),
        "recipients": json_values | st.lists(contact_entry | json_values, max_size=4),
        "name": json_values | st.text(max_size=300),
        # The contact calls' own fields (getdata, checkids, field creation, PUT's flag).
        "keyId": json_values | st.sampled_from(["3", 3, "4711", "id"]),
        "keyValues": json_values | st.lists(json_values, max_size=4),
        "fields": json_values | st.lists(json_values, max_size=4),
        "external_ids": json_values | st.lists(json_values, max_size=4),
        "get_multiple_ids": json_values,
        "create_if_not_exists": json_values,
        "unique": json_values,
        "string_id": json_values | st.text(max_size=80),
        "application_type": json_values,
    },
).flatmap(lambda base: contact_entry.map(lambda entry: {**entry, **base}))
hook_object = st.fixed_dictionaries(
    {
        "id": json_values | st.just("evt_1"),
        "type": json_values | st.sampled_from(["checkout.session.completed", "invoice.paid"]),
        "email": json_values | st.just("max@example.org"),
        "data": st.fixed_dictionaries(
            {
                "object": st.fixed_dictionaries(
                    {
                        "id": json_values,
                        "customer_email": json_values | st.just("max@example.org"),
                        "customer_details": json_values
                        | st.fixed_dictionaries({"email": st.just("max@example.org")}),
                        "amount_total": json_values,
                    }
                )
            }
        )
        | json_values,
    }
)


def encode(document: Any) -> bytes:
    text = json.dumps(document, allow_nan=True).replace(f'"{BIG}"', "1e400")
    return text.encode("utf-8", "surrogatepass")


def deep(depth: int, opener: str) -> bytes:
    inner = "[" * depth + "]" * depth if opener == "[" else '{"a":' * depth + "1" + "}" * depth
    return (
        '{"key_id": "3", "external_id": "jane@example.org", "data": {"x": ' + inner + "}}"
    ).encode()


def bodies(objects: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.one_of(
        objects.map(encode),
        json_values.map(encode),
        st.sampled_from([b"", b"null", b"{}", b"[]", b"[{}]", b'"x"', b"NaN", b"{", b"\xff\xfe"]),
        st.tuples(st.integers(min_value=60, max_value=20_000), st.sampled_from("[{")).map(
            lambda t: deep(*t)
        ),
        st.binary(max_size=200),
    )


def mostly(draw: Any, value: Any, other: st.SearchStrategy, share: int = 3) -> Any:
    """`value` `share` times in `share + 1`, else something drawn from `other`: most requests
    should reach the views, not stop at the URL resolver."""
    return value if draw(st.integers(0, share)) else draw(other)


@dataclass
class Target:
    """What the fuzzed requests aim at: real rows, a real credential and real secrets."""

    token: str
    username: str
    secret: str
    event_id: int
    broadcast_id: int
    message_id: int
    hooks: dict[str, Integration] = field(default_factory=dict)


@pytest.fixture
def target(credential, make_stream, make_contact, make_event) -> Target:
    stream = make_stream()
    broadcast = make_stream(kind=MailStream.Kind.BROADCAST, name="News")
    make_contact("jane@example.org", external_id="C-1")
    message = Message.objects.create(
        stream=stream,
        version_id=stream.current_version_id,
        recipient="jane@example.org",
        message_id="<fuzz@example.com>",
    )
    hooks = {}
    for preset in Integration.Preset.values:
        event = make_event(f"hook {preset}")
        make_stream(event, name=f"Hook {preset}")
        fields: dict[str, Any] = {"secret": SECRET, "slug": f"fuzz-{preset}".replace("_", "-")}
        if preset == Integration.Preset.CUSTOM:
            fields["recipient_path"] = "email"
        hooks[preset] = make_integration(event, preset, **fields)
    return Target(
        token=credential.token,
        username=credential.username,
        secret=credential.secret,
        event_id=stream.event_id,
        broadcast_id=broadcast.pk,
        message_id=message.pk,
        hooks=hooks,
    )


@pytest.fixture
def quiet_logs():
    """Every refused or failed request logs; thousands of lines would drown the report."""
    names = ["django.request", "events.api.envelope", "django.security", "anymail"]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="module", autouse=True)
def print_counts(request):
    yield
    if not COUNTS:
        return
    lines = ["", "Fuzzed requests by family and status code:"]
    for family, counter in sorted(COUNTS.items()):
        total = sum(counter.values())
        five = sum(n for status, n in counter.items() if status >= 500)
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(counter.items()))
        lines.append(
            f"  {family:8} {total:6} requests, {five} >= 500, {PROBLEMS[family]} failing the "
            f"check  ({shown})"
        )
    # Past pytest's capturing: the counts are the point of a measuring run.
    sys.__stdout__.write("\n".join(lines) + "\n")
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "w") as out:
            report = {
                family: {
                    "by_status": {str(s): n for s, n in sorted(counter.items())},
                    "failing_the_check": PROBLEMS[family],
                }
                for family, counter in COUNTS.items()
            }
            json.dump(report, out, indent=1)


@dataclass
class Fuzzed:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.headers} {self.body[:200]!r}"


def send(client: Client, request: Fuzzed) -> Any:
    """One request in a savepoint that is rolled back: each starts from the same rows, and a
    database error cannot poison the requests after it."""
    extra = dict(request.headers)
    content_type = extra.pop("CONTENT_TYPE", "application/json")
    with transaction.atomic():
        response = client.generic(
            request.method, request.path, request.body, content_type=content_type, **extra
        )
        transaction.set_rollback(True)
    return response


def common_headers(body_length: int) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "CONTENT_TYPE": st.sampled_from(
                [
                    "application/json",
                    "application/json; charset=utf-8",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=zz",
                    "application/vnd.api+json",
                    "",
                ]
            )
            | header_text,
            # A Content-Length above the body's would make the test client itself fail; real
            # servers wait for the rest. Absent, smaller, junk and huge ones are all sent.
            "CONTENT_LENGTH": st.sampled_from(
                ["", "0", str(max(body_length - 1, 0)), str(10**8), str(10**30), "abc", "\u00b2"]
            ),
            "HTTP_TRANSFER_ENCODING": st.sampled_from(["chunked", "gzip, chunked", "identity"]),
            "HTTP_IDEMPOTENCY_KEY": header_text | st.text(header_chars, min_size=250, max_size=300),
        },
    )


@st.composite
def api_requests(draw: Any, target: Target) -> Fuzzed:
    event = mostly(draw, str(target.event_id), junk_segment)
    stream = mostly(draw, str(target.broadcast_id), junk_segment)
    message = mostly(draw, str(target.message_id), junk_segment)
    path = draw(
        st.sampled_from(
            [
                "/api/v2/event",
                f"/api/v2/event/{event}",
                f"/api/v2/event/{event}/trigger",
                f"/api/v2/event/{event}/delete",
                f"/api/v2/event/{event}/usages",
                "/api/v2/contact",
                "/api/v2/contact/",
                "/api/v2/contact/getdata",
                "/api/v2/contact/checkids/",
                "/api/v2/contact/delete",
                "/api/v2/field",
                "/api//v2/settings//",
                f"/api/v2/event/{event}/trigger/",
                f"/api/v2/email/{stream}/broadcast",
                f"/api/v2/message/{message}",
                f"/api/v2/{event}",
                f"/api/{event}/{stream}",
                "/api/",
            ]
        )
    )
    method = draw(
        st.sampled_from(["POST", "POST", "POST", "PUT", "GET", "GET", "DELETE", "PATCH"])
        | st.sampled_from(["OPTIONS", "HEAD", "TRACE", "PROPFIND"])
    )
    body = draw(bodies(api_object))
    headers = draw(common_headers(len(body)))
    auth = draw(st.sampled_from(["token", "token", "wsse", "wsse", "none", "junk"]))
    if auth == "token":
        headers["HTTP_AUTHORIZATION"] = f"Token {target.token}"
    elif auth == "wsse":
        nonce = draw(st.sampled_from([None, "n" * 300, "\u00e9" * 20]))
        created = draw(st.sampled_from([None, "2000-01-01T00:00:00Z", "\u00b2", "junk"]))
        headers["HTTP_X_WSSE"] = wsse_header(
            target.username, target.secret, nonce=nonce or secrets.token_hex(16), created=created
        )
    elif auth == "junk":
        headers[draw(st.sampled_from(["HTTP_AUTHORIZATION", "HTTP_X_WSSE"]))] = draw(
            header_text | st.just("UsernameToken ") | st.just("Token a b")
        )
    return Fuzzed(method, path, body, headers)


def sign(integration: Integration, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256)
    if integration.verification == Integration.Verification.STRIPE:
        t = str(int(time.time()))
        v1 = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"HTTP_STRIPE_SIGNATURE": f"t={t},v1={v1}"}
    if integration.verification == Integration.Verification.SHOPIFY:
        return {"HTTP_X_SHOPIFY_HMAC_SHA256": base64.b64encode(digest.digest()).decode()}
    name = "HTTP_" + integration.signature_header.upper().replace("-", "_")
    return {name: digest.hexdigest()}


@st.composite
def hook_requests(draw: Any, target: Target) -> Fuzzed:
    integration = draw(st.sampled_from(list(target.hooks.values())))
    slug = mostly(draw, integration.slug, junk_segment, share=5)
    path = mostly(
        draw,
        f"/hooks/{slug}/",
        st.sampled_from([f"/hooks/{slug}", "/hooks/", f"/hooks/{slug}/x"]),
        share=5,
    )
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "OPTIONS", "HEAD"]))
    body = draw(bodies(hook_object))
    headers = draw(common_headers(len(body)))
    signing = draw(st.sampled_from(["valid", "valid", "valid", "junk", "none"]))
    if signing == "valid":
        headers.update(sign(integration, body))
    elif signing == "junk":
        name = draw(
            st.sampled_from(
                ["HTTP_STRIPE_SIGNATURE", "HTTP_X_SHOPIFY_HMAC_SHA256", "HTTP_X_SIGNATURE"]
            )
        )
        headers[name] = draw(
            header_text
            | st.sampled_from(["t=\u00b2,v1=00", "t=" + "9" * 400 + ",v1=00", "sha256=zz", "=="])
        )
    return Fuzzed(method, path, body, headers)


@st.composite
def tracking_requests(draw: Any, target: Target) -> Fuzzed:
    message_id = mostly(
        draw,
        target.message_id,
        st.sampled_from([0, 2**63, 10**40]) | st.integers(min_value=0, max_value=2**80),
        share=1,
    )
    url = draw(
        st.sampled_from(["https://example.org/", "javascript:alert(1)", "//evil.example/"])
        | st.text(max_size=40)
    )
    kind = draw(st.sampled_from(["o", "c"]))
    token = mostly(
        draw,
        open_token(message_id) if kind == "o" else click_token(message_id, url),
        junk_segment | st.tuples(junk_segment, junk_segment, junk_segment).map(".".join),
        share=1,
    )
    path = mostly(
        draw, f"/t/o/{token}.gif" if kind == "o" else f"/t/c/{token}", st.just(f"/t/{token}")
    )
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"]))
    body = draw(st.sampled_from([b"", b"{}"]) | st.binary(max_size=50))
    return Fuzzed(method, path, body, {})


ESPS = [
    "amazon_ses",
    "brevo",
    "mailersend",
    "mailgun",
    "mailjet",
    "mailtrap",
    "postal",
    "postmark",
    "resend",
    "sendgrid",
    "sendinblue",
    "sparkpost",
    "unisender_go",
    "mandrill",
]


@st.composite
def anymail_requests(draw: Any, target: Target) -> Fuzzed:
    esp = mostly(draw, draw(st.sampled_from(ESPS)), junk_segment, share=5)
    path = f"/anymail/{esp}/tracking/"
    method = draw(st.sampled_from(["POST"] * 5 + ["GET", "HEAD", "PUT"]))
    body = draw(bodies(json_values.map(lambda v: [v]) | hook_object))
    headers = draw(common_headers(len(body)))
    if draw(st.integers(0, 3)):
        credentials = base64.b64encode(WEBHOOK_AUTH.encode()).decode()
        headers["HTTP_AUTHORIZATION"] = f"Basic {credentials}"
    return Fuzzed(method, path, body, headers)


# --- the checks ----------------------------------------------------------------------------------


def is_envelope(response: Any) -> bool:
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and set(body) == {"replyCode", "replyText", "data"}
        and isinstance(body["replyCode"], int)
        and isinstance(body["replyText"], str)
    )


def fuzz(family: str, requests: st.SearchStrategy[Fuzzed], check: Any) -> list[str]:
    """Send `EXAMPLES` generated requests; return what `check` found wrong (first ten)."""
    client = Client(raise_request_exception=False)
    counter = COUNTS.setdefault(family, Counter())
    problems: list[str] = []

    @FUZZ
    @given(request=requests)
    def run(request: Fuzzed) -> None:
        response = send(client, request)
        counter[response.status_code] += 1
        problem = check(request, response)
        if problem:
            PROBLEMS[family] += 1
            if len(problems) < 10:
                problems.append(f"{problem}: {request}")

    run()
    return problems


def no_5xx(request: Fuzzed, response: Any) -> str | None:
    return f"{response.status_code}" if response.status_code >= 500 else None


def no_5xx_and_envelope(request: Fuzzed, response: Any) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}"
    if request.method != "HEAD" and not is_envelope(response):
        return f"{response.status_code} not an envelope ({response.content[:80]!r})"
    return None


def test_api_answers_every_request_below_500_in_the_envelope(target, quiet_logs):
    problems = fuzz("api", api_requests(target), no_5xx_and_envelope)

    assert not problems, "\n".join(problems)


def test_hooks_answer_every_request_below_500(target, quiet_logs):
    problems = fuzz("hooks", hook_requests(target), no_5xx)

    assert not problems, "\n".join(problems)


def test_tracking_answers_every_request_below_500_and_redirects_only_to_signed_urls(
    target, quiet_logs
):
    def check(request: Fuzzed, response: Any) -> str | None:
        if response.status_code >= 500:
            return f"{response.status_code}"
        location = response.get("Location")
        if location is not None and not location.startswith(("https://", "http://")):
            return f"redirect to {location!r}"
        return None

    problems = fuzz("tracking", tracking_requests(target), check)

    assert not problems, "\n".join(problems)


def test_anymail_webhooks_answer_every_request_below_500(target, quiet_logs, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": WEBHOOK_AUTH}

    problems = fuzz("anymail", anymail_requests(target), no_5xx)

    assert not problems, "\n".join(problems)
