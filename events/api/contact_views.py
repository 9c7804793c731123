"""Emarsys's v2 contact, field and settings calls (events.contact_api does the work)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from events import contact_api
from events.api.base import ApiView
from events.api.envelope import ok
from events.json_bodies import may_hold_non_finite


class ContactView(ApiView):
    """POST /api/v2/contact creates contacts (2009 for an existing one); PUT updates them (2008
    for an unknown one unless `create_if_not_exists=1`, in the query string or the body).

    Fields by Emarsys field id ("1" first name, "2" last name, "3" email, "31" opt-in, custom
    fields by their id) or by name; `contacts` (≤ 1000) or one contact at the body's root.
    """

    def post(self, request: Request) -> Response:
        return self.idempotent(request, lambda: self._write(request, create=True, update=False))

    def put(self, request: Request) -> Response:
        return self.idempotent(request, lambda: self._write(request, create=None, update=True))

    def _write(self, request: Request, *, create: bool | None, update: bool) -> Response:
        body = self.json_object(request)
        if create is None:
            flag = request.query_params.get(
                "create_if_not_exists", body.get("create_if_not_exists")
            )
            create = contact_api.create_if_not_exists(flag)
        return ok(
            contact_api.write_contacts(
                body, create=create, update=update, suspect=may_hold_non_finite(request.body)
            )
        )


class ContactGetDataView(ApiView):
    """POST /api/v2/contact/getdata — `{"keyId", "keyValues", "fields"}`."""

    def post(self, request: Request) -> Response:
        return ok(contact_api.contact_data(self.json_object(request)))


class ContactCheckIdsView(ApiView):
    """POST /api/v2/contact/checkids — `{"key_id", "external_ids", "get_multiple_ids"?}`."""

    def post(self, request: Request) -> Response:
        return ok(contact_api.check_ids(self.json_object(request)))


class ContactDeleteView(ApiView):
    """POST /api/v2/contact/delete — `{"key_id", "<key field>": value}` or `contacts`."""

    def post(self, request: Request) -> Response:
        return self.idempotent(
            request, lambda: ok(contact_api.delete_contacts(self.json_object(request)))
        )


class FieldView(ApiView):
    """GET /api/v2/field lists the contact fields with their Emarsys ids; POST creates one."""

    def get(self, request: Request) -> Response:
        return ok(contact_api.field_list())

    def post(self, request: Request) -> Response:
        return self.idempotent(
            request, lambda: ok(contact_api.create_field(self.json_object(request)))
        )


class SettingsView(ApiView):
    """GET /api/v2/settings — a minimal account description."""

    def get(self, request: Request) -> Response:
        return ok(contact_api.account_settings(request.get_host()))
