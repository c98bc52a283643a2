from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.utils.html import format_html

from lib.admin import ServiceWritesAdmin
from lib.forms import add_service_errors
from monitors.quotas import lock_team
from notifications import deadletters, redelivery, services
from notifications.channel_config import validate_channel_monitors, validate_channel_settings
from notifications.models import Channel, ChannelKind, DeadLetter, Delivery, DeliveryAttempt
from notifications.quotas import validate_channel_quota
from notifications.services import merge_secrets
from notifications.transports import apprise_display_url


class ChannelAdminForm(forms.ModelForm):
    """Secrets are write-only here too: blank keeps the stored value, nothing is shown.

    Validated by the services' own validators (the API's messages); saved by
    ``ChannelAdmin.save_model`` through ``channel_create`` / ``channel_update``."""

    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook: HMAC signing secret (16+ characters). Blank keeps the current one; "
        "a new webhook without one gets a generated secret, shown once after saving.",
    )
    apprise_url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Apprise: the service URL (its tokens are credentials). Blank keeps it.",
    )

    class Meta:
        model = Channel
        fields = [
            "team",
            "name",
            "kind",
            "config",
            "enabled",
            "events",
            "is_default",
            "monitors",
            *services.POLICY_FIELDS,
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in services.POLICY_FIELDS:  # omitted: the stored value, or the default
            self.fields[name].required = False

    def clean(self) -> dict:
        cleaned = super().clean()
        adding = self.instance.pk is None
        team = cleaned.get("team") if adding else self.instance.team
        kind = cleaned.get("kind") if adding else self.instance.kind
        self.secret_changes = {}
        if cleaned.get("signing_secret"):
            self.secret_changes["signing_secret"] = cleaned["signing_secret"]
        if cleaned.get("apprise_url"):
            self.secret_changes["url"] = cleaned["apprise_url"]
        if kind is None or team is None:
            return cleaned
        try:
            if adding:
                lock_team(team.pk)  # held until the admin's transaction ends (ServiceWritesAdmin)
                validate_channel_quota(team_id=team.pk)
            stored = {} if adding else self.instance.secrets
            cleaned["config"], _ = validate_channel_settings(
                kind,
                cleaned.get("config") or {},
                merge_secrets(stored, self.secret_changes),
                team_id=team.pk,
            )
            validate_channel_monitors(team_id=team.pk, monitors=cleaned.get("monitors") or [])
        except ValidationError as exc:
            add_service_errors(self, exc)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(ServiceWritesAdmin):
    form = ChannelAdminForm
    list_display = [
        "name",
        "team",
        "kind",
        "enabled",
        "is_default",
        "events",
        "monitor_count",
        "target",
        "updated_at",
    ]
    list_filter = ["kind", "enabled", "is_default", "team"]
    search_fields = ["name", "team__name"]
    list_select_related = ["team"]
    autocomplete_fields = ["team", "monitors"]
    readonly_fields = ["target", "secrets_set", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("team", "name", "kind", "enabled", "events", "is_default")}),
        ("Where to", {"fields": ("config", "target")}),
        ("Secrets (write-only)", {"fields": ("signing_secret", "apprise_url", "secrets_set")}),
        ("Monitors", {"fields": ("monitors",)}),
        ("Grouping and reminders", {"fields": services.POLICY_FIELDS}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # As in the API: a channel stays in its team (recipients are members) and its kind.
        return [*self.readonly_fields, "team", "kind"] if obj is not None else self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(monitors_total=Count("monitors"))

    @admin.display(description="Monitors", ordering="monitors_total")
    def monitor_count(self, channel: Channel) -> int:
        return channel.monitors_total

    @admin.display(description="Target (redacted)")
    def target(self, channel: Channel) -> str:
        if channel.kind == ChannelKind.EMAIL:
            return ", ".join(channel.config.get("to", []))
        if channel.kind == ChannelKind.WEBHOOK:
            return channel.config.get("url", "")
        return apprise_display_url(channel.secrets.get("url", ""))

    @admin.display(description="Secrets stored")
    def secrets_set(self, channel: Channel) -> str:
        return ", ".join(sorted(channel.secrets)) or "-"

    def save_model(self, request, obj: Channel, form: ChannelAdminForm, change: bool) -> None:
        data = form.cleaned_data
        fields = {
            name: data[name] for name in ("name", "config", "enabled", "events", "is_default")
        }
        fields.update(
            (name, data[name]) for name in services.POLICY_FIELDS if data.get(name) is not None
        )
        monitors = list(data.get("monitors") or [])
        if change:
            stored = Channel.objects.get(pk=obj.pk)  # the audit compares with what was stored
            saved = services.channel_update(
                channel=stored,
                secrets=form.secret_changes,
                monitors=monitors,
                actor=request.user,
                **fields,
            )
        else:
            saved = services.channel_create(
                team=data["team"],
                kind=data["kind"],
                secrets=form.secret_changes,
                monitors=monitors,
                actor=request.user,
                **fields,
            )
        # The admin logs and redirects with the object it passed in.
        obj.pk = saved.pk
        obj.refresh_from_db()
        if obj.kind == ChannelKind.WEBHOOK and not change and not data.get("signing_secret"):
            self.message_user(
                request,
                f"Generated webhook signing secret (shown once): {obj.secrets['signing_secret']}",
                messages.WARNING,
            )

    def delete_model(self, request, obj: Channel) -> None:
        services.channel_delete(channel=obj, actor=request.user)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "outcome", "response_code", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "incident",
        "event",
        "channel_name",
        "channel_kind",
        "status",
        "attempts",
        "response_code",
        "short_error",
        "last_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "channel_kind"]
    search_fields = ["=incident__id", "channel_name", "incident__monitor_name", "=key"]
    list_select_related = ["incident"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["retry"]
    readonly_fields = [
        "key",
        "incident",
        "channel",
        "channel_name",
        "channel_kind",
        "event",
        "purpose",
        "round",
        "sent_in",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "payload",
        "created_at",
        "last_attempt_at",
        "delivered_at",
    ]
    show_full_result_count = False

    @admin.display(description="Last error")
    def short_error(self, delivery: Delivery) -> str:
        return delivery.last_error[:80]

    @admin.action(description="Retry selected undelivered deliveries")
    def retry(self, request, queryset: QuerySet[Delivery]) -> None:
        retried, refused = 0, []
        for delivery_id in queryset.values_list("id", flat=True):
            try:
                redelivery.delivery_retry(delivery_id=delivery_id, user=request.user)
                retried += 1
            except redelivery.DeliveryNotRetryable as exc:
                refused.append(str(exc))
        self.message_user(request, f"Retried {retried} deliveries.")
        if refused:
            self.message_user(request, " ".join(refused), level=messages.WARNING)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "task_name",
        "team",
        "lost_alert",
        "short_error",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "replayed_at",
    ]
    list_filter = ["task_name", ("replayed_at", admin.EmptyFieldListFilter), "team"]
    search_fields = ["task_id", "task_name", "error"]
    list_select_related = ["team"]
    date_hierarchy = "last_failed_at"
    actions = ["replay"]
    readonly_fields = [
        "task_name",
        "task_id",
        "args",
        "kwargs",
        "exception_type",
        "error",
        "formatted_traceback",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "delivery",
        "lost_alert",
        "team",
        "replayed_at",
        "replayed_by",
        "replay_task_id",
    ]
    exclude = ["traceback"]

    @admin.display(description="Lost alert")
    def lost_alert(self, dead_letter: DeadLetter) -> str:
        alert = deadletters.lost_alerts([dead_letter]).get(dead_letter.id)
        return "-" if alert is None else alert.describe()

    @admin.display(description="Error")
    def short_error(self, dead_letter: DeadLetter) -> str:
        return dead_letter.error[:100]

    @admin.display(description="Traceback")
    def formatted_traceback(self, dead_letter: DeadLetter) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", dead_letter.traceback)

    @admin.action(description="Replay selected dead letters (at most once each)")
    def replay(self, request, queryset: QuerySet[DeadLetter]) -> None:
        replayed, skipped = 0, 0
        # Oldest first, as ``replay --all``: an incident's "opened" is pending again before
        # its "resolved" is enqueued, so they go out in order (the list shows newest first).
        oldest_first = queryset.order_by("first_failed_at", "id")
        for dead_letter_id in oldest_first.values_list("id", flat=True):
            try:
                deadletters.dead_letter_replay(dead_letter_id=dead_letter_id, user=request.user)
                replayed += 1
            except deadletters.AlreadyReplayed:
                skipped += 1
        self.message_user(request, f"Replayed {replayed}; {skipped} had already been replayed.")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
