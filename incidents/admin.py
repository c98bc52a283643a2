from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from incidents import selectors, services
from incidents.models import Incident, MonitorState


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "monitor_name",
        "team",
        "is_open",
        "started_at",
        "resolved_at",
        "duration_display",
        "failure_count",
        "cause",
        "acknowledged_by",
        "resolution",
    ]
    list_filter = [
        OpenFilter,
        "resolution",
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "team",
    ]
    search_fields = ["monitor_name", "cause", "last_reason"]
    list_select_related = ["team", "acknowledged_by"]
    date_hierarchy = "started_at"
    # Open incidents first (resolved_at NULL), then the most recently resolved.
    ordering = [F("resolved_at").desc(nulls_first=True), "-started_at"]
    actions = ["acknowledge"]
    readonly_fields = [
        "team",
        "monitor",
        "monitor_name",
        "started_at",
        "opened_at",
        "resolved_at",
        "duration_display",
        "resolution",
        "cause",
        "last_reason",
        "failure_count",
        "acknowledged_by",
        "acknowledged_at",
        "opening_check_id",
        "resolving_check_id",
        "opening_checks",
    ]
    fields = readonly_fields

    @admin.display(boolean=True, description="open")
    def is_open(self, incident: Incident) -> bool:
        return incident.is_open

    @admin.display(description="duration")
    def duration_display(self, incident: Incident) -> str:
        duration = incident.duration
        if duration is None:
            return "ongoing"
        minutes, seconds = divmod(int(duration.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"

    @admin.display(description="checks that opened it")
    def opening_checks(self, incident: Incident) -> str:
        checks = selectors.incident_opening_checks(incident)
        if not checks:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> {} {}</li>',
                (
                    (
                        reverse("admin:monitors_checkresult_change", args=[check.id]),
                        check.checked_at.strftime("%Y-%m-%d %H:%M:%S"),
                        check.status,
                        check.reason,
                    )
                    for check in checks
                ),
            ),
        )

    @admin.action(description="Acknowledge selected open incidents")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        count = 0
        for incident in queryset.filter(resolved_at__isnull=True, acknowledged_at__isnull=True):
            try:
                services.incident_acknowledge(incident=incident, user=request.user)
            except services.IncidentAlreadyResolved:
                continue  # resolved meanwhile
            count += 1
        self.message_user(request, f"Acknowledged {count} incident(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # incidents are opened by the state machine only


@admin.register(MonitorState)
class MonitorStateAdmin(admin.ModelAdmin):
    list_display = [
        "monitor",
        "state",
        "consecutive_failures",
        "consecutive_successes",
        "failing_since",
        "recovering_since",
        "last_result_at",
    ]
    list_filter = ["state"]
    search_fields = ["monitor__name", "monitor__url"]
    list_select_related = ["monitor"]
    readonly_fields = [
        "monitor",
        "state",
        "consecutive_failures",
        "consecutive_successes",
        "last_result_at",
        "failing_since",
        "failing_cause",
        "recovering_since",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by the first evaluation of a monitor

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # written only under the evaluation's row lock
