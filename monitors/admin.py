from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count

from lib.admin import ServiceWritesAdmin
from lib.forms import add_service_errors
from lib.uptime import uptime_text
from monitors import check_now, latency, services, status_pages
from monitors.models import (
    CheckResult,
    CheckRollup,
    Monitor,
    MonitorBadge,
    RollupWatermark,
    StatusPage,
    Tag,
)
from monitors.quotas import lock_team

MAX_ADMIN_CHECKS = 20  # queued to the check workers; the team's check-now limit applies too


class MonitorAdminForm(forms.ModelForm):
    def clean(self) -> dict:
        cleaned = super().clean()
        team = cleaned.get("team") if self.instance.pk is None else self.instance.team
        if team is not None:
            # Monitor.clean checks the team's quotas right after this; the lock is held until
            # monitor_create/monitor_update repeat the check (see ServiceWritesAdmin).
            lock_team(team.pk)
        return cleaned


@admin.register(Monitor)
class MonitorAdmin(ServiceWritesAdmin):
    form = MonitorAdminForm
    # A URL typed without a scheme means https (Django 6's default, chosen explicitly now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "kind",
        "target",
        "team",
        "status",
        "is_active",
        "interval",
        "last_check_status",
        "last_response_time_ms",
        "last_checked_at",
        "next_check_at",
    ]
    list_filter = ["kind", "status", "is_active", "last_check_status", "method", "team"]
    search_fields = ["name", "url", "host"]
    list_select_related = ["team"]
    filter_horizontal = ["tags"]
    readonly_fields = [*Monitor.ENGINE_FIELDS, "ping_url"]
    # The services own the schedule: the first deadline is spread over the interval and a
    # re-activated monitor is due within seconds.
    schedule_fields = ["next_check_at"]
    fieldsets = (
        (None, {"fields": ("team", "name", "kind", "url", "is_active", "tags")}),
        (
            "Target of tcp, dns, tls and icmp monitors",
            {
                "fields": (
                    ("host", "port", "ping_count"),
                    ("use_tls", "tls_server_name"),
                    "send",
                    ("dns_record_type", "dns_resolver"),
                    "starttls",
                )
            },
        ),
        ("Steps of api monitors (JSON)", {"fields": ("steps",)}),
        (
            "Schedule of heartbeat monitors (the period is the interval when cron is empty)",
            {"fields": (("cron", "tz", "grace"), "ping_url", "last_ping_at", "ping_started_at")},
        ),
        (
            "Request",
            {"fields": ("method", "headers", "body", "timeout", "follow_redirects", "verify_tls")},
        ),
        (
            "Judgement",
            {"fields": ("expected_status", "assertions", "failure_threshold", "success_threshold")},
        ),
        ("Schedule", {"fields": ("interval", "next_check_at")}),
        (
            "Current state",
            {"fields": [name for name in Monitor.ENGINE_FIELDS if "ping" not in name]},
        ),
    )
    actions = ["check_now"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        fixed = [*self.readonly_fields, *self.schedule_fields]
        # Tags and channels belong to a team: a monitor is not moved (as in the API).
        # Nor does it change kind (Monitor.clean).
        return [*fixed, "team", "kind"] if obj is not None else fixed

    # The form validates through the model (Monitor.full_clean: the same validators and
    # messages as the API); saving goes through the services, for their side effects.
    def save_model(self, request, obj: Monitor, form, change: bool) -> None:
        fields = {name: value for name, value in form.cleaned_data.items() if name != "tags"}
        tags = [tag.name for tag in form.cleaned_data.get("tags", [])]
        if change:
            stored = Monitor.objects.get(pk=obj.pk)  # its old interval and state matter
            saved = services.monitor_update(monitor=stored, tags=tags, actor=request.user, **fields)
        else:
            saved = services.monitor_create(tags=tags, actor=request.user, **fields)
        # The admin logs and redirects with the object it passed in.
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj: Monitor) -> None:
        services.monitor_delete(monitor=obj, actor=request.user)

    @admin.action(description="Check selected monitors now (queued to the check workers)")
    def check_now(self, request, queryset) -> None:
        monitors = list(queryset[: MAX_ADMIN_CHECKS + 1])
        if len(monitors) > MAX_ADMIN_CHECKS:
            self.message_user(
                request, f"Select at most {MAX_ADMIN_CHECKS} monitors.", messages.ERROR
            )
            return
        for monitor in monitors:
            try:
                check_now.check_now_request(monitor=monitor, requested_by=request.user)
            except check_now.CheckNowRefused as exc:
                self.message_user(request, f"{monitor.name}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{monitor.name}: check queued; its result will be in the check results.",
                    messages.SUCCESS,
                )


@admin.register(CheckResult)
class CheckResultAdmin(admin.ModelAdmin):
    list_display = [
        "monitor",
        "checked_at",
        "status",
        "status_code",
        "response_time_ms",
        "phase",
        "reason",
        "lag",
    ]
    list_filter = ["status", "phase"]
    search_fields = ["monitor__name", "reason"]
    list_select_related = ["monitor"]
    raw_id_fields = ["monitor"]
    date_hierarchy = "checked_at"
    show_full_result_count = False  # counting millions of rows on every page is slow

    @admin.display(description="Schedule lag")
    def lag(self, result: CheckResult) -> str:
        if result.scheduled_for is None:
            return "-"
        return f"{(result.checked_at - result.scheduled_for).total_seconds():.2f}s"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "team"]
    search_fields = ["name"]
    list_filter = ["team"]


# --- History: rollups, status pages, badges -------------------------------------------------


@admin.register(CheckRollup)
class CheckRollupAdmin(admin.ModelAdmin):
    """Read-only: rollups are sums maintained by monitors.rollups, never edited by hand."""

    list_display = [
        "monitor",
        "period",
        "period_start",
        "checks",
        "up",
        "uptime",
        "average_ms",
        "p95_ms",
    ]
    list_filter = ["period"]
    search_fields = ["monitor__name"]
    list_select_related = ["monitor"]
    raw_id_fields = ["monitor"]
    date_hierarchy = "period_start"
    show_full_result_count = False

    @admin.display(description="Uptime")
    def uptime(self, rollup: CheckRollup) -> str:
        return uptime_text(100 * rollup.up / rollup.checks) if rollup.checks else "-"

    @admin.display(description="Avg (ms)")
    def average_ms(self, rollup: CheckRollup) -> str:
        if not rollup.response_count:
            return "-"
        return f"{rollup.response_sum_ms / rollup.response_count:.0f}"

    @admin.display(description="p95 (ms)")
    def p95_ms(self, rollup: CheckRollup) -> str:
        value = latency.percentile(rollup.latency_histogram, 0.95)
        return "-" if value is None else f"{value:.0f}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(admin.ModelAdmin):
    list_display = ["last_id", "gap_id", "gap_seen_at", "updated_at"]
    readonly_fields = ["last_id", "gap_id", "gap_seen_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False


class StatusPageAdminForm(forms.ModelForm):
    """Validated by the services' rules (the API's messages); saved through them."""

    class Meta:
        model = StatusPage
        fields = ["team", "slug", "title", "description", "monitors", "is_public"]

    def clean(self) -> dict:
        cleaned = super().clean()
        team = cleaned.get("team") if self.instance.pk is None else self.instance.team
        try:
            if cleaned.get("slug"):
                status_pages.validate_status_page_slug(cleaned["slug"])
        except ValidationError as exc:
            self.add_error("slug", exc)
        try:
            status_pages.validate_status_page_monitors(
                team_id=team.pk if team else None, monitors=cleaned.get("monitors") or []
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        return cleaned


@admin.register(StatusPage)
class StatusPageAdmin(ServiceWritesAdmin):
    form = StatusPageAdminForm
    list_display = ["title", "slug", "team", "is_public", "monitor_count", "updated_at"]
    list_filter = ["is_public", "team"]
    search_fields = ["title", "slug"]
    list_select_related = ["team"]
    filter_horizontal = ["monitors"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(monitor_total=Count("monitors"))

    @admin.display(description="Monitors", ordering="monitor_total")
    def monitor_count(self, page: StatusPage) -> int:
        return page.monitor_total

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # As in the API: a page shows its own team's monitors and is not moved.
        return [*self.readonly_fields, "team"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj: StatusPage, form: StatusPageAdminForm, change: bool) -> None:
        fields = {k: v for k, v in form.cleaned_data.items() if k not in ("team", "monitors")}
        monitors = list(form.cleaned_data.get("monitors") or [])
        if change:
            stored = StatusPage.objects.get(pk=obj.pk)  # the audit compares with what was stored
            saved = status_pages.status_page_update(
                page=stored, monitors=monitors, actor=request.user, **fields
            )
        else:
            saved = status_pages.status_page_create(
                team=form.cleaned_data["team"], monitors=monitors, actor=request.user, **fields
            )
        obj.pk = saved.pk  # the admin logs and redirects with the object it passed in
        obj.refresh_from_db()

    def delete_model(self, request, obj: StatusPage) -> None:
        status_pages.status_page_delete(page=obj, actor=request.user)


@admin.register(MonitorBadge)
class MonitorBadgeAdmin(admin.ModelAdmin):
    list_display = ["monitor", "created_at"]
    search_fields = ["monitor__name"]
    list_select_related = ["monitor"]
    raw_id_fields = ["monitor"]
    readonly_fields = ["token", "created_at"]
