"""The marketers' admin: email campaigns, mail streams (editor with live preview, publish,
launch/pause/resume, test sends) and their versions.

Admin views parse the request, call one service function (streams.*, delivery.stream_control,
delivery.sample_sends) and report the outcome; the behaviour lives in those functions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from delivery.models import Message
from delivery.sample_sends import TestSendError, send_test
from delivery.stream_control import (
    HeldVersion,
    StreamStateError,
    held_max_age,
    launch_stream,
    pause_stream,
    resume_stream,
    summarise_held,
)
from streams.admin_forms import (
    CopyCampaignForm,
    EmailCampaignForm,
    MailStreamForm,
    SendTestForm,
    StreamAttachmentForm,
)
from streams.copying import copy_campaign, copy_stream
from streams.editor_hints import editor_hints
from streams.models import (
    EmailCampaign,
    MailStream,
    StreamAttachment,
    StreamVersion,
    sender_domain_allowed,
)
from streams.previewing import (
    Preview,
    SampleDataError,
    parse_sample,
    preview_draft,
    preview_version,
)
from streams.publishing import (
    PublishError,
    check_draft,
    draft_of,
    publish_draft,
    save_content,
)
from streams.rendering import TemplateProblem
from streams.sanitizing import clean_template_html, describe_removed
from streams.version_diff import diff_versions


def _campaign_problem(exc: ValidationError, campaign: EmailCampaign) -> str:
    problems = "; ".join(" ".join(errors) for errors in exc.message_dict.values())
    return f"{problems} Fix it in the campaign “{campaign}” first, then copy it again."


def _change_url(obj: Any) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


# --- email campaigns ----------------------------------------------------------------------------


@admin.register(EmailCampaign)
class EmailCampaignAdmin(admin.ModelAdmin):
    form = EmailCampaignForm
    list_display = ["name", "subject", "sender_email", "stream_count", "updated_at"]
    search_fields = ["name", "subject", "sender_email"]
    actions = ["copy_into_stream"]
    change_form_template = "admin/streams/emailcampaign/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(stream_total=Count("streams"))

    @admin.display(description="mail streams copied from it", ordering="stream_total")
    def stream_count(self, campaign: EmailCampaign) -> int:
        return campaign.stream_total

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.copy_view)
        return [
            path("<path:object_id>/copy-to-stream/", view, name="streams_emailcampaign_copy"),
            *super().get_urls(),
        ]

    @admin.action(description="Copy into a new mail stream", permissions=["copy"])
    def copy_into_stream(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        campaigns = list(queryset[:2])
        if len(campaigns) != 1:
            self.message_user(
                request,
                "Choose one campaign to copy: each copy needs its own event and name.",
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(
            reverse("admin:streams_emailcampaign_copy", args=[campaigns[0].pk])
        )

    def has_copy_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("streams.add_mailstream")

    def copy_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        if campaign is None:  # also an id that is not a number: not found, not a 500
            raise Http404(f"No email campaign with id {object_id!r}.")
        if not (self.has_view_permission(request, campaign) and self.has_copy_permission(request)):
            raise PermissionDenied
        initial = {"name": campaign.name}
        if sender_domain_allowed(campaign.sender_email):
            initial["sender_email"] = campaign.sender_email
        form = CopyCampaignForm(request.POST or None, initial=initial)
        stream = None
        if request.method == "POST" and form.is_valid():
            try:
                stream = copy_campaign(
                    campaign,
                    event=form.cleaned_data["event"],
                    name=form.cleaned_data["name"],
                    sender_email=form.cleaned_data["sender_email"],
                    author=request.user,
                )
            except ValidationError as exc:
                # The campaign holds a value a stream refuses (a sender name with a line
                # break, stored before that was checked): say which, on the form.
                form.add_error(None, _campaign_problem(exc, campaign))
        if stream is not None:
            self.message_user(
                request,
                f"Created the draft mail stream “{stream}” from “{campaign}”. Check the "
                "preview, publish, then launch it. The campaign is unchanged.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(_change_url(stream))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Copy “{campaign}” into a new mail stream",
            "opts": self.opts,
            "original": campaign,
            "form": form,
        }
        return TemplateResponse(request, "admin/streams/emailcampaign/copy_to_stream.html", context)


# --- mail streams -------------------------------------------------------------------------------


class StreamAttachmentInline(admin.TabularInline):
    model = StreamAttachment
    form = StreamAttachmentForm
    fields = ["file", "filename", "content_type", "size"]
    readonly_fields = ["filename", "content_type", "size"]
    extra = 0
    verbose_name = "static attachment (sent with every message)"
    verbose_name_plural = "static attachments (sent with every message)"


class StreamVersionInline(admin.TabularInline):
    model = StreamVersion
    fields = ["number", "subject", "published_at", "author"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "versions (newest first)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def sent_last_24h() -> Subquery:
    """Messages of each stream sent in the last 24 hours (test sends excluded)."""
    now = timezone.now()
    since = now - timedelta(hours=24)
    counts = (
        Message.objects.filter(
            stream=OuterRef("pk"),
            status=Message.Status.SENT,
            is_test=False,
            sent_at__gte=since,
            # Bounds the scan of message_stream_received_idx: nothing sent in the last day was
            # received before the oldest a held or retried message can be.
            received_at__gte=since - held_max_age() - timedelta(days=1),
        )
        .order_by()
        .values("stream")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@admin.register(MailStream)
class MailStreamAdmin(admin.ModelAdmin):
    form = MailStreamForm
    list_display = [
        "name",
        "status_badge",
        "event",
        "kind",
        "lane",
        "current_version_number",
        "sends_24h",
    ]
    list_filter = ["status", "kind", "lane", "event"]
    search_fields = ["name", "event__name"]
    list_select_related = ["event", "current_version"]
    actions = ["copy_streams"]
    inlines = [StreamAttachmentInline, StreamVersionInline]
    readonly_fields = ["status", "current_version_link", "draft_state", "source_campaign"]
    change_form_template = "admin/streams/mailstream/change_form.html"
    fieldsets = [
        ("Content (the draft)", {"fields": ["subject", "html_source", "text"]}),
        (
            "Sample data for the preview and test sends",
            {"fields": ["sample_data", "sample_contact"]},
        ),
        (
            "Stream",
            {
                "fields": [
                    "name",
                    "event",
                    "kind",
                    "lane",
                    "sender_name",
                    "sender_email",
                    "reply_to",
                ]
            },
        ),
        (
            "Behaviour",
            {
                "fields": [
                    "pause_policy",
                    "require_attachment",
                    "track_opens",
                    "track_clicks",
                    "retention_days",
                    "esp_message_stream",
                ]
            },
        ),
        (
            "Status",
            {"fields": ["status", "current_version_link", "draft_state", "source_campaign"]},
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(sent_24h=sent_last_24h())

    @admin.display(description="status", ordering="status")
    def status_badge(self, stream: MailStream) -> str:
        colours = {"live": "#15803d", "paused": "#b45309", "draft": "#6b7280"}
        return format_html(
            '<strong style="color:{}">{}</strong>', colours[stream.status], stream.status
        )

    @admin.display(description="current version")
    def current_version_number(self, stream: MailStream) -> str:
        return f"v{stream.current_version.number}" if stream.current_version else "—"

    @admin.display(description="sent (24 h)", ordering="sent_24h")
    def sends_24h(self, stream: MailStream) -> int:
        return stream.sent_24h

    @admin.display(description="current version")
    def current_version_link(self, stream: MailStream) -> str:
        if stream.current_version is None:
            return "none published yet"
        version = stream.current_version
        return format_html(
            '<a href="{}">v{}</a>, published {}',
            _change_url(version),
            version.number,
            timezone.localtime(version.published_at).strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description="draft")
    def draft_state(self, stream: MailStream) -> str:
        draft = draft_of(stream) if stream.pk else None
        if draft is None:
            return "no unpublished changes"
        return f"v{draft.number}, not published yet"

    # --- saving: the stream's settings, then its draft ---

    def save_model(self, request: HttpRequest, obj: MailStream, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        removed = describe_removed(data["html_source"], clean_template_html(data["html_source"]))
        draft = save_content(
            obj,
            subject=data["subject"],
            html_source=data["html_source"],
            text=data["text"],
            author=request.user,
        )
        if removed:
            self.message_user(
                request,
                "Removed from the HTML when saving: " + "; ".join(removed) + ".",
                messages.WARNING,
            )
        if draft is not None and "_publish" not in request.POST:
            self._warn_if_broken(request, obj, draft)

    def _warn_if_broken(self, request: HttpRequest, stream: MailStream, draft: Any) -> None:
        try:
            check_draft(stream, draft)
        except TemplateProblem as problem:
            self.message_user(
                request,
                f"Draft v{draft.number} is saved but does not render, so it cannot be "
                f"published yet: {problem}",
                messages.WARNING,
            )

    def response_add(self, request: HttpRequest, obj: MailStream, post_url_continue: Any = None):
        if "_publish" in request.POST:
            return self._publish_and_return(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: MailStream) -> HttpResponse:
        if "_publish" in request.POST:
            return self._publish_and_return(request, obj)
        if "_send_test" in request.POST:
            # "Save and send test": what was on screen is the saved draft now, and the test
            # page sends exactly that.
            self.message_user(
                request,
                "Saved what was in the editor. The test below sends it.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:streams_mailstream_send_test", args=[obj.pk])
            )
        return super().response_change(request, obj)

    def _publish_and_return(self, request: HttpRequest, stream: MailStream) -> HttpResponse:
        self._publish(request, stream)
        return HttpResponseRedirect(_change_url(stream))

    def _publish(self, request: HttpRequest, stream: MailStream) -> None:
        try:
            version = publish_draft(stream)
        except PublishError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        live = " New triggers use it from now on." if stream.status != "draft" else ""
        self.message_user(
            request, f"Published version {version.number} of “{stream}”.{live}", messages.SUCCESS
        )

    # --- the editor page: live preview and stream actions ---

    def get_urls(self) -> list:
        def view(function: Any) -> Any:
            return self.admin_site.admin_view(function)

        actions = [
            ("publish", self.publish_view),
            ("launch", self.launch_view),
            ("pause", self.pause_view),
            ("resume", self.resume_view),
            ("send-test", self.send_test_view),
        ]
        return [
            path("preview/", view(self.preview_view), name="streams_mailstream_preview"),
            *(
                path(
                    f"<path:object_id>/{action}/",
                    view(function),
                    name=f"streams_mailstream_{action.replace('-', '_')}",
                )
                for action, function in actions
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: MailStream | None = None,
    ) -> HttpResponse:
        form = context["adminform"].form
        context["preview"] = self._preview_for_form(form)
        context["editor_hints"] = editor_hints(obj.sample_data if obj is not None else None)
        if obj is not None:
            context["held_count"] = obj.messages.filter(status=Message.Status.HELD).count()
            context["held_max_age_hours"] = int(held_max_age().total_seconds() // 3600)
            context["pause_policies"] = MailStream.PausePolicy.choices
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _preview_for_form(self, form: Any) -> Preview:
        def value(name: str) -> str:
            if form.is_bound:
                return form.data.get(name, "")
            # The bound field resolves callable initials (the model's `default=dict` on the
            # Add page) and writes JSON fields as the text the marketer would see.
            return form[name].value() or ""

        names = ("subject", "html_source", "text", "sample_data", "sample_contact")
        return self._preview({name: value(name) for name in names}, form.instance.name)

    def _preview(self, values: dict[str, str], stream_name: str = "") -> Preview:
        try:
            data = parse_sample(values.get("sample_data", ""), "Sample event data")
            contact = parse_sample(values.get("sample_contact", ""), "Sample contact")
        except SampleDataError as exc:
            return Preview(problem=TemplateProblem("sample data", str(exc)))
        return preview_draft(
            subject=values.get("subject", ""),
            html=values.get("html_source", "").replace("\r\n", "\n"),
            text=values.get("text", "").replace("\r\n", "\n"),
            data=data,
            contact=contact,
            stream={"name": stream_name},
        )

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        if not (self.has_change_permission(request) or self.has_add_permission(request)):
            raise PermissionDenied
        if request.method != "POST":
            return JsonResponse({"error": "POST the draft to preview it."}, status=405)
        preview = self._preview(request.POST.dict(), request.POST.get("name", ""))
        return JsonResponse(preview.as_json())

    def _stream_for_action(self, request: HttpRequest, object_id: str) -> MailStream:
        stream = self.get_object(request, object_id)
        if stream is None:  # also an id that is not a number: not found, not a 500
            raise Http404(f"No mail stream with id {object_id!r}.")
        if not self.has_change_permission(request, stream):
            raise PermissionDenied
        return stream

    @staticmethod
    def _back(stream: MailStream) -> HttpResponseRedirect:
        return HttpResponseRedirect(_change_url(stream))

    @method_decorator(require_POST)
    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stream = self._stream_for_action(request, object_id)
        self._publish(request, stream)
        return self._back(stream)

    @method_decorator(require_POST)
    def launch_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stream = self._stream_for_action(request, object_id)
        try:
            launch_stream(stream)
        except StreamStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request, f"“{stream}” is live: its event's triggers now send it.", messages.SUCCESS
            )
        return self._back(stream)

    def _confirm(
        self, request: HttpRequest, stream: MailStream, action: str, **extra: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.capitalize()} “{stream}”?",
            "opts": self.opts,
            "original": stream,
            "action": action,
            "summary": summarise_held(stream),
            "held_max_age_hours": int(held_max_age().total_seconds() // 3600),
            "pause_policies": MailStream.PausePolicy.choices,
            **extra,
        }
        return TemplateResponse(
            request, "admin/streams/mailstream/confirm_stream_action.html", context
        )

    def pause_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Asks first (what the chosen policy will do), pauses on the confirming POST."""
        stream = self._stream_for_action(request, object_id)
        policy = request.POST.get("policy") or request.GET.get("policy") or stream.pause_policy
        if policy not in MailStream.PausePolicy.values:
            policy = stream.pause_policy
        if request.method != "POST" or "_confirm" not in request.POST:
            return self._confirm(request, stream, "pause", policy=policy)
        try:
            result = pause_stream(stream, policy)
        except StreamStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back(stream)
        policy = result.stream.get_pause_policy_display()
        waiting = (
            f" {result.held_from_lane} messages waiting in the lane are held."
            if result.held_from_lane
            else ""
        )
        what = "Pause policy changed" if result.policy_changed else f"“{stream}” is paused"
        self.message_user(request, f"{what}: new triggers are {policy}.{waiting}", messages.SUCCESS)
        return self._back(stream)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Asks first; when a version was published during the pause, also which version the
        held messages go out with (no default: the person chooses)."""
        stream = self._stream_for_action(request, object_id)
        choice = request.POST.get("held_version", "")
        if request.method != "POST" or "_confirm" not in request.POST:
            return self._confirm(request, stream, "resume", held_versions=HeldVersion.choices)
        if choice not in HeldVersion.values:
            if summarise_held(stream).older_version:
                return self._confirm(
                    request,
                    stream,
                    "resume",
                    held_versions=HeldVersion.choices,
                    choice_missing=True,
                )
            choice = HeldVersion.TRIGGERED
        try:
            result = resume_stream(stream, held_version=choice)
        except StreamStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._back(stream)
        hours = int(held_max_age().total_seconds() // 3600)
        expired = (
            f", {result.expired} expired (held longer than {hours} h) and were not sent"
            if result.expired
            else ""
        )
        stream.refresh_from_db()
        with_version = (
            f" with the current v{stream.current_version.number}"
            if choice == HeldVersion.CURRENT
            else " with the version each was triggered with"
        )
        self.message_user(
            request,
            f"“{stream}” is live again: {result.released} held messages released to the "
            f"lane{with_version if result.released else ''}{expired}.",
            messages.SUCCESS,
        )
        return self._back(stream)

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        stream = self._stream_for_action(request, object_id)
        form = SendTestForm(request.POST or None, initial={"to": request.user.email})
        if request.method == "POST" and form.is_valid():
            # The draft (or, without one, the current version), unless the current is asked for.
            version = None
            if form.cleaned_data["version"] == "current":
                version = stream.current_version
                if version is None:
                    self.message_user(request, "No version is published yet.", messages.ERROR)
                    return self._back(stream)
            try:
                result = send_test(stream, form.cleaned_data["to"], version=version)
            except (TestSendError, TemplateProblem) as exc:
                self.message_user(request, f"No test sent: {exc}", messages.ERROR)
                return self._back(stream)
            log = reverse("admin:delivery_message_change", args=[result.message.pk])
            if result.sent:
                self.message_user(
                    request,
                    format_html(
                        'Test of v{} sent to {} (<a href="{}">message #{}</a>).',
                        result.message.version.number,
                        result.message.recipient,
                        log,
                        result.message.pk,
                    ),
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    format_html(
                        'The test to {} was not accepted: {} (<a href="{}">message #{}</a>).',
                        result.message.recipient,
                        result.reason,
                        log,
                        result.message.pk,
                    ),
                    messages.ERROR,
                )
            return self._back(stream)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test of “{stream}”",
            "opts": self.opts,
            "original": stream,
            "form": form,
            "draft": draft_of(stream),
        }
        return TemplateResponse(request, "admin/streams/mailstream/send_test.html", context)

    @admin.action(description="Copy into a new draft stream", permissions=["add"])
    def copy_streams(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        copies = []
        for stream in queryset:
            try:
                copies.append(copy_stream(stream, author=request.user))
            except ValidationError as exc:
                problems = "; ".join(" ".join(errors) for errors in exc.message_dict.values())
                self.message_user(request, f"“{stream}” was not copied: {problems}", messages.ERROR)
        if not copies:
            return None
        if len(copies) == 1:
            self.message_user(request, f"Created the draft “{copies[0]}”.", messages.SUCCESS)
            return HttpResponseRedirect(_change_url(copies[0]))
        self.message_user(
            request,
            format_html(
                "Created {} draft streams: {}",
                len(copies),
                format_html_join(
                    ", ", '<a href="{}">{}</a>', ((_change_url(c), c) for c in copies)
                ),
            ),
            messages.SUCCESS,
        )
        return None


# --- versions -------------------------------------------------------------------------------------


@admin.register(StreamVersion)
class StreamVersionAdmin(admin.ModelAdmin):
    """Read-only: published versions never change, drafts are edited on the stream's page."""

    list_display = ["stream", "number", "subject", "state", "published_at", "author"]
    list_filter = ["stream"]
    list_select_related = ["stream", "author"]
    search_fields = ["stream__name", "subject"]
    fields = ["stream", "number", "state", "author", "created_at", "published_at", "subject"]
    readonly_fields = fields
    change_form_template = "admin/streams/streamversion/change_form.html"

    @admin.display(description="state")
    def state(self, version: StreamVersion) -> str:
        return "published" if version.is_published else "draft"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: StreamVersion | None = None,
    ) -> HttpResponse:
        if obj is not None:
            previous = obj.stream.versions.filter(number__lt=obj.number).order_by("-number").first()
            context["version"] = obj
            context["previous"] = previous
            context["diff"] = diff_versions(previous, obj)
            context["preview"] = preview_version(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
