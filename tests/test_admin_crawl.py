"""Every admin page, loaded as a superuser and as a marketer: no 5xx anywhere.

The URL list is derived from what the site registers (admin.site._registry, admin.site.get_urls()
and each ModelAdmin's get_urls()), so a new model, admin view or action is crawled without
touching this test; a registered model without a seeded object fails with a message saying so.
The URLs visited are written to test-artifacts/admin_crawl_urls.txt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.test import Client, RequestFactory
from django.urls import URLPattern, reverse
from django.utils import timezone

from events.models import ExternalEvent
from streams.marketers import MARKETER_PERMISSIONS
from tests.seeding import Seeded, seed_world

pytestmark = pytest.mark.django_db

# The views every ModelAdmin has; anything else in its get_urls() is a custom view.
STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change"}
# Objects per model whose change/history/delete pages are opened (messages: one per status).
OBJECTS_PER_MODEL = 12
JUNK_IDS = ["junk", "99999999999999999999", "-1", "1.5", "%F0%9F%92%A5"]
JUNK_SEARCHES = ["<script>x</script>'\"%_\\", "#99999999999999999999", "x" * 3000, "\u202e\u200b"]


@dataclass
class Crawl:
    """Visits URLs, remembers what each answered, and collects every 5xx or wrong status."""

    client: Client
    who: str
    visited: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def visit(
        self,
        url: str,
        *,
        method: str = "get",
        data: Any = None,
        expect: set[int] | None = None,
        label: str = "",
    ) -> Any:
        what = f"{method.upper()} {url}" + (f" [{label}]" if label else "")
        try:
            response = getattr(self.client, method)(url, data=data or {})
        except Exception as exc:  # an exception the test client re-raises is a 500
            self.visited.append(f"{self.who}\t{method.upper()}\t{url}\t500\t{label}".rstrip())
            self.problems.append(f"{self.who} {what}: raised {exc!r}")
            return None
        status = response.status_code
        self.visited.append(f"{self.who}\t{method.upper()}\t{url}\t{status}\t{label}".rstrip())
        if status >= 500:
            self.problems.append(f"{self.who} {what}: HTTP {status}")
        elif expect is not None and status not in expect:
            self.problems.append(f"{self.who} {what}: HTTP {status}, expected {sorted(expect)}")
        return response


class FormValues(HTMLParser):
    """What a browser would submit for the admin's change form as it is shown (`<form id=
    "…_form">`): inputs, checked boxes, selected options (the first of a select without one),
    textareas. File inputs and buttons are left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: list[tuple[str, str]] = []
        # Names of the fields a person types into (text inputs and textareas).
        self.typed: set[str] = set()
        self.in_form = False
        self.select: str | None = None
        self.select_multiple = False
        self.select_first: str | None = None
        self.select_chosen = False
        self.option: dict[str, str] | None = None
        self.option_text = ""
        self.textarea: str | None = None
        self.textarea_text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self.in_form = True
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((name, a.get("value", "on" if kind == "checkbox" else "")))
            if kind in ("text", "email", "url", "number", "search", "tel", "password"):
                self.typed.add(name)
        elif tag == "select" and name:
            self.select, self.select_multiple = name, "multiple" in a
            self.select_first, self.select_chosen = None, False
        elif tag == "option" and self.select:
            self.option, self.option_text = a, ""
        elif tag == "textarea" and name:
            self.textarea, self.textarea_text = name, ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea_text += data
        if self.option is not None:
            self.option_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag == "option" and self.option is not None and self.select:
            value = self.option.get("value", self.option_text)
            if self.select_first is None:
                self.select_first = value
            if "selected" in self.option:
                self.data.append((self.select, value))
                self.select_chosen = True
            self.option = None
        elif tag == "select" and self.select:
            if (
                not self.select_chosen
                and not self.select_multiple
                and self.select_first is not None
            ):
                self.data.append((self.select, self.select_first))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # The parser drops the newline right after <textarea>, as browsers do.
            self.data.append((self.textarea, self.textarea_text.removeprefix("\n")))
            self.typed.add(self.textarea)
            self.textarea = None


def typed_fields(html: str) -> set[str]:
    parser = FormValues()
    parser.feed(html)
    return parser.typed


def form_as_shown(html: str) -> dict[str, list[str]]:
    parser = FormValues()
    parser.feed(html)
    values: dict[str, list[str]] = {}
    for name, value in parser.data:
        values.setdefault(name, []).append(value)
    return values


def _request_for(user: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user or AnonymousUser()
    return request


def _allowed(ok: bool) -> set[int]:
    return {200} if ok else {403}


def _seeded_objects(model: Any) -> list[Any]:
    objects = list(model._default_manager.order_by("-pk")[:OBJECTS_PER_MODEL])
    if not objects:
        pytest.fail(
            f"{model._meta.label} is registered in the admin but the crawl seeded no "
            f"{model._meta.verbose_name}: create one in tests/seeding.py (seed_world) so its "
            "change, history and delete pages are loaded."
        )
    return objects


def _fill(route: str, values: dict[str, str]) -> str | None:
    """`<path:object_id>/publish/` → `12/publish/`; None when a parameter has no value."""

    def value(match: re.Match) -> str:
        name = match.group(2)
        if name not in values:
            raise KeyError(name)
        return str(values[name])

    try:
        return re.sub(r"<(?:(\w+):)?(\w+)>", value, route)
    except KeyError:
        return None


def _filter_queries(response: Any) -> list[str]:
    """The query strings of every list-filter choice the changelist offers (and the date
    hierarchy's, and each sortable column)."""
    context = response.context
    changelist = context.get("cl") if context else None
    if changelist is None:
        return []
    queries = []
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            queries.append(choice["query_string"])
    if changelist.date_hierarchy:
        today = timezone.localdate()
        name = changelist.date_hierarchy
        queries.append(f"?{name}__year={today.year}")
        queries.append(f"?{name}__year={today.year}&{name}__month={today.month}")
        queries.append(
            f"?{name}__year={today.year}&{name}__month={today.month}&{name}__day={today.day}"
        )
        queries.append(f"?{name}__year=junk&{name}__month=13")
    for index in range(1, len(changelist.list_display) + 1):
        queries.append(f"?o={index}")
        queries.append(f"?o=-{index}")
    queries += ["?p=2", "?p=junk", "?o=junk", "?all=", "?e=1", "?not_a_field=1"]
    return sorted(set(queries))


def crawl_model_admin(crawl: Crawl, model: Any, model_admin: Any, user: Any) -> None:
    info = model._meta.app_label, model._meta.model_name
    request = _request_for(user)
    objects = _seeded_objects(model)
    can_view = model_admin.has_view_or_change_permission(request)

    changelist = reverse("admin:{}_{}_changelist".format(*info))
    first = crawl.visit(changelist, expect=_allowed(can_view))
    if first is not None and first.status_code == 200:
        for query in _filter_queries(first):
            crawl.visit(changelist + query, expect={200, 302})
    for junk in JUNK_SEARCHES:
        crawl.visit(changelist + "?" + urlencode({"q": junk}), expect=_allowed(can_view))

    can_add = model_admin.has_add_permission(request)
    add = reverse("admin:{}_{}_add".format(*info))
    shown = crawl.visit(add, expect=_allowed(can_add))
    # An empty form posted: the form's errors, never a crash.
    crawl.visit(add, method="post", expect={200, 403} if can_add else {403})
    if shown is not None and shown.status_code == 200:
        # The add form submitted as shown (defaults only): saved, or its errors shown.
        crawl.visit(add, method="post", data=form_as_shown(shown.content.decode()))

    for junk in JUNK_IDS:
        # A mistyped or stale link: a redirect or a 404, never a crash.
        for view in ("change", "history", "delete"):
            crawl.visit(changelist + f"{junk}/{view}/")
    for obj in objects:
        pk = obj.pk
        can_see = model_admin.has_view_or_change_permission(request, obj)
        change = reverse("admin:{}_{}_change".format(*info), args=[pk])
        shown = crawl.visit(change, expect=_allowed(can_see))
        if shown is not None and shown.status_code == 200 and "_form" in shown.content.decode():
            # Saved unchanged, as a user clicking "Save" does: saved or errors, never a crash.
            values = form_as_shown(shown.content.decode())
            if values:
                crawl.visit(change, method="post", data=values)
        crawl.visit(
            reverse("admin:{}_{}_history".format(*info), args=[pk]), expect=_allowed(can_see)
        )
        crawl.visit(
            reverse("admin:{}_{}_delete".format(*info), args=[pk]),
            expect=_allowed(model_admin.has_delete_permission(request, obj)),
        )

    # The oldest object: the seeded one with complete content (later ones are odd cases).
    crawl_typed_values(crawl, model, info, objects[-1])

    obj = objects[0]
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern):
            continue
        name = (pattern.name or "").removeprefix("{}_{}_".format(*info))
        if name in STANDARD_VIEWS:
            continue
        route = _fill(str(pattern.pattern), {"object_id": obj.pk, "pk": obj.pk, "id": obj.pk})
        if route is None:
            crawl.problems.append(
                f"{model._meta.label}: custom admin URL {pattern.pattern} has a parameter the "
                "crawl cannot fill: teach _fill its name."
            )
            continue
        url = changelist + route
        crawl.visit(url)
        # Custom views that take a form: an empty POST is answered, not crashed on.
        crawl.visit(url, method="post")
        for junk in JUNK_IDS:
            junk_route = _fill(str(pattern.pattern), {"object_id": junk, "pk": junk, "id": junk})
            if junk_route and junk_route != route:
                crawl.visit(changelist + junk_route)
                crawl.visit(changelist + junk_route, method="post")

    crawl_actions(crawl, changelist, model_admin, objects, user)


# What people type (or paste) into any text field: JSON the database cannot store, deep
# nesting, a NUL character, hostile markup, a very long text.
TYPED_VALUES = {
    "non-finite JSON": '{"x": NaN, "y": 1e999}',
    "deep nesting": "[" * 3000 + "]" * 3000,
    "NUL and surrogate": '{"x": "a\\u0000\\ud800"} a\x00b',
    "markup": '"><img src=x onerror=alert(1)>{{ x }}{% if %}',
    "long": "x" * 100_000,
}


def crawl_typed_values(crawl: Crawl, model: Any, info: tuple[str, str], obj: Any) -> None:
    """Save the change form with every typed field set to each of TYPED_VALUES: saved, or the
    form's errors shown; never a crash."""
    change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
    shown = crawl.client.get(change)
    if shown.status_code != 200:
        return
    html = shown.content.decode()
    values, typed = form_as_shown(html), typed_fields(html)
    if not typed or "csrfmiddlewaretoken" not in values:
        return
    for label, value in TYPED_VALUES.items():
        crawl.visit(
            change,
            method="post",
            data={**values, **{name: value for name in typed}},
            label=label,
        )
    # One field at a time too: with every field hostile, another field's error can hide one
    # that only a valid rest of the form reaches (the save).
    for label in ("non-finite JSON", "deep nesting", "NUL and surrogate"):
        for name in sorted(typed):
            crawl.visit(
                change,
                method="post",
                data={**values, name: TYPED_VALUES[label]},
                label=f"{label} in {name}",
            )


def crawl_actions(
    crawl: Crawl, changelist: str, model_admin: Any, objects: list[Any], user: Any
) -> None:
    """POST the changelist's action form with one object selected, for each action the user
    has (delete_selected shows its confirmation page; custom actions run)."""
    actions = model_admin.get_actions(_request_for(user))
    for name in actions:
        expect = None
        if name == "delete_selected":
            expect = {200}
        crawl.visit(
            changelist,
            method="post",
            data={"action": name, "_selected_action": [str(objects[-1].pk)], "index": "0"},
            expect=expect,
            label=f"action {name}",
        )


def crawl_site_views(crawl: Crawl) -> None:
    """The admin site's own views: index, app lists, password change, view-on-site, jsi18n,
    autocomplete, and a URL no view has."""
    registry = admin.site._registry
    app_labels = sorted({model._meta.app_label for model in registry})
    some_objects = [(model, model._default_manager.first()) for model in registry]
    for pattern in admin.site.get_urls():
        if not isinstance(pattern, URLPattern):
            continue
        if pattern.name == "logout":
            continue  # a GET is refused (405) and a POST ends the crawl's session
        if pattern.name == "app_list":
            for label in app_labels:
                crawl.visit(reverse("admin:app_list", args=[label]))
            continue
        if pattern.name == "view_on_site":
            for model, obj in some_objects:
                if obj is not None:
                    content_type = ContentType.objects.get_for_model(model)
                    crawl.visit(reverse("admin:view_on_site", args=[content_type.pk, obj.pk]))
            continue
        if pattern.name == "autocomplete":
            base = reverse("admin:autocomplete")
            crawl.visit(base)
            crawl.visit(base + "?app_label=events&model_name=trigger&field_name=event&term=<x>")
            continue
        if pattern.name:
            crawl.visit(reverse(f"admin:{pattern.name}"))
        else:
            # The catch-all that answers URLs no view has.
            crawl.visit("/admin/no-such-page/")
            crawl.visit("/admin/events/no-such-model/")


@pytest.fixture
def world(api, smtp_server) -> Seeded:
    return seed_world(api, smtp_server)


def run_crawl(who: str, user: Any, artifacts_dir: Any) -> Crawl:
    client = Client()
    client.force_login(user)
    crawl = Crawl(client, who)
    crawl_site_views(crawl)
    for model, model_admin in admin.site._registry.items():
        crawl_model_admin(crawl, model, model_admin, user)
    (artifacts_dir / f"admin_crawl_urls_{who}.txt").write_text("\n".join(crawl.visited) + "\n")
    return crawl


def test_every_admin_page_answers_a_superuser_without_a_server_error(world, artifacts_dir):
    crawl = run_crawl("superuser", world.superuser, artifacts_dir)

    assert not crawl.problems, "\n".join(crawl.problems)
    assert len(crawl.visited) > 300


def test_every_admin_page_answers_a_marketer_as_its_permissions_say(world, artifacts_dir):
    # The objects as seeded (actions the crawl runs, such as copying streams, add more).
    seeded = {model: _seeded_objects(model) for model in admin.site._registry}
    crawl = run_crawl("marketer", world.marketer, artifacts_dir)

    assert not crawl.problems, "\n".join(crawl.problems)
    # The pages the Marketers group exists for are open to it (not only "no 5xx").
    visited = set(crawl.visited)
    for url in [
        "/admin/",
        "/admin/streams/mailstream/",
        f"/admin/streams/mailstream/{world.stream.pk}/change/",
        "/admin/streams/mailstream/add/",
        "/admin/events/contact/import/",
        f"/admin/delivery/message/{world.messages['sent'].pk}/change/",
        f"/admin/events/externalevent/{ExternalEvent.objects.order_by('-pk')[0].pk}/trigger-test/",
    ]:
        assert f"marketer\tGET\t{url}\t200" in visited, url
    # And every page the group's permissions name: view/change → the list and each object's
    # page, add → the add form (for registered models; inlines are opened with their parent).
    for app_label, codename in MARKETER_PERMISSIONS:
        action, model_name = codename.split("_", 1)
        model = apps.get_model(app_label, model_name)
        if model not in admin.site._registry:
            continue
        base = f"/admin/{app_label}/{model_name}/"
        if action in ("view", "change"):
            assert f"marketer\tGET\t{base}\t200" in visited, base
            for obj in seeded[model]:
                assert f"marketer\tGET\t{base}{obj.pk}/change/\t200" in visited, (base, obj.pk)
        if action == "add":
            assert f"marketer\tGET\t{base}add/\t200" in visited, base


def test_a_registered_model_without_seeded_objects_fails_the_crawl_with_a_clear_message(db):
    from events.models import Trigger

    with pytest.raises(pytest.fail.Exception, match=r"create one in tests/seeding\.py"):
        _seeded_objects(Trigger)


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/admin/events/externalevent/junk/trigger-test/"),
        ("get", "/admin/events/externalevent/1.5/trigger-test/"),
        ("get", "/admin/streams/emailcampaign/junk/copy-to-stream/"),
        ("get", "/admin/streams/mailstream/junk/send-test/"),
        ("post", "/admin/streams/mailstream/junk/publish/"),
    ],
)
def test_a_custom_admin_url_with_an_id_that_is_not_a_number_answers_404(method, url, admin_client):
    response = getattr(admin_client, method)(url)

    assert response.status_code == 404


def test_the_login_attempts_cleanup_action_answers_without_a_server_error(admin_client):
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.create(
        username="mallory", ip_address="203.0.113.7", failures_since_start=1
    )

    response = admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "cleanup_expired_attempts", "_selected_action": [attempt.pk], "index": "0"},
    )

    assert response.status_code == 302
