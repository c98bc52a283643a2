from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.access import TeamField, default_team, team_roles
from incidents.models import IncidentEvent
from monitors.models import Monitor
from notifications.channel_config import validate_channel_monitors, validate_channel_settings
from notifications.deadletters import lost_alerts
from notifications.models import (
    Channel,
    ChannelKind,
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    EscalationPolicy,
)
from notifications.services import merge_secrets
from notifications.transports import apprise_display_url


class TeamMonitorField(serializers.PrimaryKeyRelatedField):
    """A monitor of one of the user's teams (others do not exist, as far as they know)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Monitor.objects.none()
        return Monitor.objects.filter(team_id__in=list(team_roles(request)))


class TeamChannelField(serializers.PrimaryKeyRelatedField):
    """A channel of one of the user's teams."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Channel.objects.none()
        return Channel.objects.filter(team_id__in=list(team_roles(request)))


class EscalationStageSerializer(serializers.Serializer):
    position = serializers.IntegerField(read_only=True)
    after_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, help_text="Minutes after the incident opened"
    )
    channels = TeamChannelField(
        many=True, pk_field=serializers.IntegerField(), help_text="Channel ids (same team)"
    )


class EscalationPolicySerializer(serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    stages = EscalationStageSerializer(
        many=True, help_text="In order; each later than the one before"
    )
    monitors = TeamMonitorField(
        many=True, required=False, help_text="Monitors using this policy (same team)"
    )

    class Meta:
        model = EscalationPolicy
        fields = [
            "id",
            "team",
            "key",
            "name",
            "is_default",
            "stages",
            "monitors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list = []  # (team, key) and one default: the services' (escalation.py)

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A policy cannot be moved to another team.")
        return team

    def to_representation(self, policy: EscalationPolicy) -> dict:
        data = super().to_representation(policy)
        data["stages"] = [
            {
                "position": stage.position,
                "after_minutes": stage.after_minutes,
                "channels": sorted(channel.id for channel in stage.channels.all()),
            }
            for stage in policy.stages.all()
        ]
        return data


class ChannelSerializer(serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    config = serializers.JSONField(
        required=False,
        help_text='email: {"to": ["ops@example.com"]}; webhook: {"url": "https://...", '
        '"timeout": 10}; apprise: {}',
    )
    secrets = serializers.JSONField(
        write_only=True,
        required=False,
        help_text='Write-only. webhook: {"signing_secret": "...", "headers": {"Authorization": '
        '"Bearer ..."}}; apprise: {"url": "slack://..."}. On update, name only the keys to '
        "change; null removes one.",
    )
    secrets_set = serializers.SerializerMethodField(help_text="Names of the secrets stored")
    target = serializers.SerializerMethodField(
        help_text="Where messages go, secrets redacted (addresses, URL, Apprise URL)"
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=IncidentEvent.choices),
        min_length=1,
        required=False,
        help_text="Any of opened, resolved, acknowledged (default: all)",
    )
    monitors = TeamMonitorField(many=True, required=False, help_text="Monitor ids (same team)")

    class Meta:
        model = Channel
        fields = [
            "id",
            "team",
            "key",
            "name",
            "kind",
            "config",
            "secrets",
            "secrets_set",
            "target",
            "enabled",
            "events",
            "is_default",
            "send_incident_updates",
            "monitors",
            "group_window_seconds",
            "reminder_interval_minutes",
            "reminder_max",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The (team, key) uniqueness is the services' (monitors.keys.assign_key): DRF's own
        # validator would make ``team`` required, which defaults to the personal team.
        validators: list = []

    def get_secrets_set(self, channel: Channel) -> list[str]:
        return sorted(channel.secrets)

    def get_target(self, channel: Channel) -> str:
        if channel.kind == ChannelKind.EMAIL:
            return ", ".join(channel.config.get("to", []))
        if channel.kind == ChannelKind.WEBHOOK:
            return channel.config.get("url", "")
        return apprise_display_url(channel.secrets.get("url", ""))

    def validate_events(self, value: list[str]) -> list[str]:
        # Canonical order, no duplicates.
        return [event for event in IncidentEvent.values if event in value]

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A channel cannot be moved to another team.")
        return team

    def validate_kind(self, kind: str) -> str:
        if self.instance is not None and kind != self.instance.kind:
            raise serializers.ValidationError(
                "The kind of a channel cannot change; create a new channel."
            )
        return kind

    def _team_id(self, attrs: dict) -> int | None:
        if self.instance is not None:
            return self.instance.team_id
        if attrs.get("team") is not None:
            return attrs["team"].id
        team = default_team(self.context["request"])
        return team.id if team else None

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", self.instance.kind if self.instance else None)
        config = attrs.get("config", self.instance.config if self.instance else {})
        secrets = attrs.get("secrets", {})
        if not isinstance(secrets, dict):
            raise serializers.ValidationError({"secrets": ["secrets must be an object."]})
        if self.instance is not None:
            secrets = merge_secrets(self.instance.secrets, secrets)
        team_id = self._team_id(attrs)
        try:
            attrs["config"], _ = validate_channel_settings(kind, config, secrets, team_id=team_id)
            validate_channel_monitors(team_id=team_id, monitors=attrs.get("monitors", []))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class ChannelTestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField()


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "response_code", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    idempotency_key = serializers.UUIDField(source="key", read_only=True)
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "idempotency_key",
            "incident",
            "channel",
            "channel_name",
            "channel_kind",
            "event",
            "purpose",
            "round",
            "sent_in",
            "sequence",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]
        read_only_fields = fields


class LostAlertSerializer(serializers.Serializer):
    incident = serializers.IntegerField(source="incident_id")
    monitor = serializers.IntegerField(source="monitor_id", allow_null=True)
    monitor_name = serializers.CharField()
    event = serializers.CharField()
    channel = serializers.IntegerField(source="channel_id", allow_null=True)
    channel_name = serializers.CharField()
    channel_kind = serializers.CharField()
    description = serializers.CharField(source="describe")


class DeadLetterListSerializer(serializers.ListSerializer):
    """Reads the lost alerts of a whole page at once (two queries, not two per row)."""

    def to_representation(self, data):
        letters = list(data.all() if hasattr(data, "all") else data)
        self.child.context["lost_alerts"] = lost_alerts(letters)
        return super().to_representation(letters)


class DeadLetterSerializer(serializers.ModelSerializer):
    replayed_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    alert = serializers.SerializerMethodField(
        help_text="Whose alert was lost (notification tasks; null for others)"
    )

    @extend_schema_field(LostAlertSerializer(allow_null=True))
    def get_alert(self, letter: DeadLetter) -> dict | None:
        alerts = self.context.get("lost_alerts")
        if alerts is None:  # one dead letter (retrieve, replay)
            alerts = lost_alerts([letter])
        alert = alerts.get(letter.id)
        return None if alert is None else LostAlertSerializer(alert).data

    class Meta:
        model = DeadLetter
        list_serializer_class = DeadLetterListSerializer
        fields = [
            "id",
            "task_name",
            "task_id",
            "args",
            "kwargs",
            "exception_type",
            "error",
            "traceback",
            "attempts",
            "first_failed_at",
            "last_failed_at",
            "delivery",
            "alert",
            "team",
            "replayed_at",
            "replayed_by",
            "replay_task_id",
        ]
        read_only_fields = fields
