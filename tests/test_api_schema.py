"""The OpenAPI schema of the trigger API (/api/schema/) and its offline docs (/api/docs/)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.test import APIClient

from events.api import urls as api_urls
from events.reply_codes import ReplyCode
from tests.conftest import wait_in_browser

OPERATIONS = {
    ("/api/v2/event", "get"),
    ("/api/v2/event", "post"),
    ("/api/v2/event/{event_id}", "get"),
    ("/api/v2/event/{event_id}", "post"),
    ("/api/v2/event/{event_id}/trigger", "post"),
    ("/api/v2/event/{event_id}/delete", "post"),
    ("/api/v2/event/{event_id}/usages", "get"),
    ("/api/v2/contact", "put"),
    ("/api/v2/contact", "post"),
    ("/api/v2/contact/getdata", "post"),
    ("/api/v2/contact/checkids", "post"),
    ("/api/v2/contact/delete", "post"),
    ("/api/v2/field", "get"),
    ("/api/v2/field", "post"),
    ("/api/v2/settings", "get"),
    ("/api/v2/email/{stream_id}/broadcast", "post"),
    ("/api/v2/message/{message_id}", "get"),
    ("/api/v2/webhook", "get"),
    ("/api/v2/webhook", "post"),
    ("/api/v2/webhook/{subscription_id}", "get"),
    ("/api/v2/webhook/{subscription_id}/delete", "post"),
}
WITH_IDEMPOTENCY = {
    ("/api/v2/event/{event_id}/trigger", "post"),
    ("/api/v2/contact", "put"),
    ("/api/v2/contact", "post"),
    ("/api/v2/contact/delete", "post"),
    ("/api/v2/field", "post"),
    ("/api/v2/email/{stream_id}/broadcast", "post"),
}


@pytest.fixture
def schema(db) -> dict[str, Any]:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_schema_is_served_without_credentials_as_openapi_3(db):
    response = APIClient().get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Triggered Email API"


def test_schema_validates_as_openapi_3_without_warnings(db, tmp_path):
    # --fail-on-warn turns every warning drf-spectacular emits while generating into an error;
    # --validate checks the result against the OpenAPI 3 JSON schema.
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert "/api/v2/event/{event_id}/trigger" in target.read_text()


def test_schema_has_every_routed_api_operation(schema):
    documented = {
        (route, method)
        for route, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    routed = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name == "not-found":
            continue
        route = "/api/" + re.sub(r"<\w+:(\w+)>", r"{\1}", str(pattern.pattern))
        view = pattern.callback.view_class
        routed |= {(route, m) for m in ("get", "post", "put", "patch") if hasattr(view, m)}

    assert routed == OPERATIONS
    assert documented == OPERATIONS


def test_every_reply_code_is_listed_with_its_meaning(schema):
    reply_code = schema["components"]["schemas"]["ReplyCode"]

    assert reply_code["enum"] == sorted(int(code) for code in ReplyCode)
    meanings = dict(zip(reply_code["enum"], reply_code["x-enum-descriptions"], strict=True))
    assert all(meaning.strip() for meaning in meanings.values())
    assert "Too many requests" in meanings[7003]
    for code in ReplyCode:
        assert f"`{int(code)}`" in reply_code["description"]


def test_errors_are_the_emarsys_envelope_with_a_reply_code(schema):
    error = schema["components"]["schemas"]["Error"]

    assert error["required"] == ["replyCode", "replyText", "data"]
    assert error["properties"]["replyCode"] == {"$ref": "#/components/schemas/ReplyCode"}
    for route, method in OPERATIONS:
        operation = schema["paths"][route][method]
        success = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert success["properties"]["replyCode"] == {"type": "integer", "enum": [0]}
        assert set(success["required"]) == {"replyCode", "replyText", "data"}
        for status, response in operation["responses"].items():
            if status != "200":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }, (route, method, status)


def test_each_operation_lists_the_error_statuses_it_can_return(schema):
    for route, method in OPERATIONS:
        statuses = set(schema["paths"][route][method]["responses"])
        # Credentials, the method, the body's framing and size and the rate limit are checked
        # on every call.
        assert {"400", "401", "405", "411", "413", "429"} <= statuses, (route, method)
        if method in {"post", "put"} and not route.endswith("/delete"):
            assert "415" in statuses, (route, method)
        if (route, method) in WITH_IDEMPOTENCY:
            assert {"409", "422"} <= statuses, (route, method)
            names = {p["name"] for p in schema["paths"][route][method]["parameters"]}
            assert "Idempotency-Key" in names
        assert "500" not in statuses
    assert "404" in schema["paths"]["/api/v2/message/{message_id}"]["get"]["responses"]
    assert "404" in schema["paths"]["/api/v2/email/{stream_id}/broadcast"]["post"]["responses"]


def test_refusals_describe_the_headers_that_say_what_to_do(schema):
    for route, method in OPERATIONS:
        responses = schema["paths"][route][method]["responses"]
        assert "Retry-After" in responses["429"]["headers"], (route, method)
        assert "WWW-Authenticate" in responses["401"]["headers"], (route, method)
        replayed = "Idempotent-Replayed" in responses["200"].get("headers", {})
        assert replayed == ((route, method) in WITH_IDEMPOTENCY), (route, method)


def test_both_authentication_schemes_are_described_and_required(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["WSSE"] == {**schemes["WSSE"], "type": "apiKey", "in": "header"}
    assert schemes["WSSE"]["name"] == "X-WSSE"
    assert (
        "PasswordDigest = base64(sha1_hex(Nonce + Created + secret))"
        in (schemes["WSSE"]["description"])
    )
    assert schemes["Token"]["name"] == "Authorization"
    assert "Token <token>" in schemes["Token"]["description"]
    for route, method in OPERATIONS:
        assert schema["paths"][route][method]["security"] == [{"WSSE": []}, {"Token": []}]


def test_trigger_and_broadcast_bodies_are_one_of_their_two_shapes(schema):
    def body(route: str) -> dict[str, Any]:
        operation = schema["paths"][route]["post"]
        return operation["requestBody"]["content"]["application/json"]["schema"]

    trigger = body("/api/v2/event/{event_id}/trigger")["oneOf"]
    single, batch = (resolve(schema, shape) for shape in trigger)
    # key_id may be omitted: Emarsys then uses the email field (3), issue 20.
    assert single["required"] == ["external_id"]
    assert batch["required"] == ["contacts"]
    assert batch["properties"]["contacts"]["maxItems"] == 1000
    # `data` is an object, or (as some Emarsys clients send it) a JSON string of one.
    assert [s["type"] for s in single["properties"]["data"]["oneOf"]] == ["object", "string"]
    assert single["properties"]["event_time"]["pattern"].startswith(r"^\d{4}-")

    broadcast = body("/api/v2/email/{stream_id}/broadcast")["oneOf"]
    one, many = (resolve(schema, shape) for shape in broadcast)
    assert one["required"] == ["email"]
    assert many["required"] == ["recipients"]
    assert (
        many["properties"]["recipients"]["minItems"],
        many["properties"]["recipients"]["maxItems"],
    ) == (1, 1000)


def test_the_request_examples_in_the_schema_are_accepted(schema, api, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")
    make_contact("john@example.org")
    event_id = stream.event_id
    for route in ("/api/v2/event/{event_id}/trigger", "/api/v2/contact"):
        method = "post"
        content = schema["paths"][route][method]["requestBody"]["content"]["application/json"]
        examples = [e["value"] for e in content.get("examples", {}).values()]
        examples += (
            [resolve(schema, content["schema"]).get("example")] if route.endswith("contact") else []
        )
        assert examples, route
        for example in examples:
            response = api.post(route.format(event_id=event_id), example)
            assert response.status_code == 200, (route, example, response.json())
            assert response.json()["replyCode"] == 0


def test_unknown_api_urls_still_answer_with_the_404_envelope(api):
    # The schema and docs routes come before the API's catch-all; only they are taken from it.
    for url in ("/api/schemas", "/api/docs/extra", "/api/schema/x"):
        response = api.get(url)

        assert response.status_code == 404, url
        assert response.json()["replyCode"] == int(ReplyCode.NOT_FOUND)


def test_docs_page_is_served_without_credentials_from_local_files(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "<style>" not in html and "<script>" not in html  # nothing inline for CSP to refuse
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


# --- the docs in a real browser, under a strict Content-Security-Policy -------------------------

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; report-uri /csp-report/"
)
csp_reports: list[bytes] = []


def with_strict_csp(view: Any) -> Any:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()
        response["Content-Security-Policy"] = STRICT_CSP
        return response

    return wrapped


@csrf_exempt
def csp_report(request: HttpRequest) -> HttpResponse:
    csp_reports.append(request.body)
    return HttpResponse(status=204)


def docs_urlpatterns() -> list[Any]:
    from events.api.schema import DocsView

    return [
        path("api/docs/", with_strict_csp(DocsView.as_view())),
        path("csp-report/", csp_report),
        path("", include("triggered_email.urls")),
    ]


urlpatterns = docs_urlpatterns()


@pytest.mark.browser
def test_docs_page_renders_the_operations_under_a_strict_csp(
    browser, live_server, settings, artifacts_dir
):
    settings.ROOT_URLCONF = __name__
    csp_reports.clear()
    browser.get_log("browser")  # drop what earlier tests left in the console

    browser.get(f"{live_server.url}/api/docs/")
    wait_in_browser(browser, lambda b: b.find_elements("css selector", ".opblock-summary"))
    wait_in_browser(
        browser,
        lambda b: "Trigger an external event for one contact or a batch" in b.page_source,
    )
    browser.save_screenshot(str(artifacts_dir / "api-docs.png"))

    title = browser.find_element("css selector", ".info .title").text
    assert "Triggered Email API" in title
    summaries = [e.text for e in browser.find_elements("css selector", ".opblock-summary")]
    assert len(summaries) == len(OPERATIONS), summaries
    assert any("/api/v2/event/{event_id}/trigger" in s for s in summaries), summaries
    assert browser.execute_script("return document.contentType") == "text/html"
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    # Nothing from another host (data: icons in Swagger UI's stylesheet are no request).
    elsewhere = [r for r in resources if not r.startswith((live_server.url, "data:"))]
    assert resources and not elsewhere, elsewhere
    console = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not [e for e in console if "Content Security Policy" in e["message"]], console
    assert not console, console
    assert csp_reports == []
