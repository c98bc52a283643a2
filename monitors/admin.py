from django.contrib import admin, messages

from monitors import results
from monitors.models import CheckResult, Monitor, Tag

MAX_ADMIN_CHECKS = 20  # each runs inside the admin request


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "url",
        "team",
        "status",
        "is_active",
        "interval",
        "last_check_status",
        "last_response_time_ms",
        "last_checked_at",
        "next_check_at",
    ]
    list_filter = ["status", "is_active", "last_check_status", "method", "team"]
    search_fields = ["name", "url"]
    list_select_related = ["team"]
    filter_horizontal = ["tags"]
    readonly_fields = [
        "status",
        "last_checked_at",
        "last_check_status",
        "last_status_code",
        "last_response_time_ms",
        "last_reason",
        "cert_expires_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = (
        (None, {"fields": ("team", "name", "url", "is_active", "tags")}),
        (
            "Request",
            {"fields": ("method", "headers", "body", "timeout", "follow_redirects", "verify_tls")},
        ),
        (
            "Judgement",
            {"fields": ("expected_status", "assertions", "failure_threshold", "success_threshold")},
        ),
        ("Schedule", {"fields": ("interval", "next_check_at")}),
        ("Current state", {"fields": readonly_fields}),
    )
    actions = ["check_now"]

    @admin.action(description="Check selected monitors now (stores the results)")
    def check_now(self, request, queryset) -> None:
        monitors = list(queryset[: MAX_ADMIN_CHECKS + 1])
        if len(monitors) > MAX_ADMIN_CHECKS:
            self.message_user(
                request, f"Select at most {MAX_ADMIN_CHECKS} monitors.", messages.ERROR
            )
            return
        for monitor in monitors:
            _, outcome = results.check_now(monitor)
            level = messages.SUCCESS if outcome.is_up else messages.WARNING
            self.message_user(
                request, f"{monitor.name}: {outcome.status.upper()} - {outcome.reason}", level
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
