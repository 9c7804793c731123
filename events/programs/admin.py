"""Admin for automation programs: steps inline and ordered, runs per step, each run's history."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from events.programs.models import Program, ProgramRun, ProgramRunStep, ProgramStep
from events.programs.runs import change_program_status

IN_FLIGHT = [ProgramRun.Status.WAITING, ProgramRun.Status.RUNNING]


class ProgramStepInline(admin.TabularInline):
    model = ProgramStep
    extra = 1
    ordering = ["position"]
    fields = [
        "position",
        "kind",
        "wait_for",
        "wait_until_path",
        "subject",
        "field",
        "operator",
        "value",
        "on_false",
        "skip_steps",
        "stream",
    ]


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    inlines = [ProgramStepInline]
    list_display = ["name", "entry_event", "status", "runs_in_flight", "runs_queued", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["runs_by_step"]
    fields = ["name", "entry_event", "status", "description", "runs_by_step"]
    actions = ["activate", "pause", "finish"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                in_flight=Count("runs", filter=Q(runs__status__in=IN_FLIGHT)),
                queued=Count("runs", filter=Q(runs__status=ProgramRun.Status.QUEUED)),
            )
        )

    @admin.display(description="runs in flight", ordering="in_flight")
    def runs_in_flight(self, obj: Program) -> int:
        return obj.in_flight

    @admin.display(description="queued entries", ordering="queued")
    def runs_queued(self, obj: Program) -> int:
        return obj.queued

    @admin.display(description="runs per step")
    def runs_by_step(self, obj: Program) -> str:
        if not obj.pk:
            return "Runs appear here once the program has entries."
        # A run "is at" the step it executed last while it waits (a wait step holds its runs).
        at = dict(
            obj.runs.filter(status__in=IN_FLIGHT)
            .values_list("position")
            .annotate(n=Count("id"))
            .values_list("position", "n")
        )
        executed = dict(
            ProgramRunStep.objects.filter(run__program=obj)
            .values_list("position")
            .annotate(n=Count("id"))
            .values_list("position", "n")
        )
        ended = dict(
            obj.runs.exclude(status__in=IN_FLIGHT)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        runs_url = reverse("admin:events_programrun_changelist") + f"?program__id__exact={obj.pk}"
        rows = [("entry (not started yet)", "", at.get(0, 0), "")]
        rows += [
            (
                f"{s.position}. {s.get_kind_display()}",
                s.describe(),
                at.get(s.position, 0),
                executed.get(s.position, 0),
            )
            for s in obj.steps.order_by("position").select_related("stream")
        ]
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        totals = ", ".join(
            f"{ProgramRun.Status(status).label}: {n}" for status, n in sorted(ended.items())
        )
        return format_html(
            "<table><tr><th>step</th><th></th><th>runs here now</th><th>executed</th></tr>{}"
            "</table><p>{}</p><p><a href='{}'>All runs and their history</a></p>",
            body,
            totals or "No run has ended yet.",
            runs_url,
        )

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            # Resuming starts the entries queued while paused.
            change_program_status(obj, obj.status)

    def _set_status(self, request, queryset, status: str) -> None:
        for program in queryset:
            change_program_status(program, status)
        self.message_user(
            request,
            f"{queryset.count()} program(s) now {Program.Status(status).label}.",
            messages.SUCCESS,
        )

    @admin.action(description="Activate (start queued entries)")
    def activate(self, request, queryset) -> None:
        self._set_status(request, queryset, Program.Status.ACTIVE)

    @admin.action(description="Pause (queue new entries, hold runs)")
    def pause(self, request, queryset) -> None:
        self._set_status(request, queryset, Program.Status.PAUSED)

    @admin.action(description="Finish (no new entries)")
    def finish(self, request, queryset) -> None:
        self._set_status(request, queryset, Program.Status.FINISHED)


class ProgramRunStepInline(admin.TabularInline):
    model = ProgramRunStep
    verbose_name_plural = "history"
    fields = ["position", "kind", "description", "outcome", "executed_at", "trigger"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProgramRun)
class ProgramRunAdmin(admin.ModelAdmin):
    """Runs are written by the engine only: shown, never edited."""

    inlines = [ProgramRunStepInline]
    list_display = ["id", "program", "email", "status", "position", "next_due_at", "entered_at"]
    list_filter = ["status", "program"]
    search_fields = ["email"]
    raw_id_fields = ["contact", "entry_trigger"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
