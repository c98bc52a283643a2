from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from incidents import selectors
from incidents.models import (
    INCIDENT_UPDATE_MAX_LENGTH,
    Incident,
    IncidentUpdate,
    MonitorState,
    Resolution,
    Suppression,
)
from monitors.check_api import CheckResultSerializer


class AcknowledgerSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField(help_text="open or resolved")
    duration_seconds = serializers.SerializerMethodField(
        help_text="resolved_at - started_at (the downtime observed); null while open"
    )
    acknowledged_by = AcknowledgerSerializer(read_only=True, allow_null=True)
    suppressed = serializers.SerializerMethodField(
        help_text="Held: recorded but not notified (a monitor it depends on is down, or the "
        "monitor is flapping); false once released"
    )
    resolution = serializers.ChoiceField(
        choices=Resolution.choices, allow_blank=True, read_only=True, help_text='"" while open'
    )
    suppression = serializers.ChoiceField(
        choices=Suppression.choices,
        allow_blank=True,
        read_only=True,
        help_text='Why it was held (kept once released); "" if never held',
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "team",
            "monitor",
            "monitor_name",
            "status",
            "started_at",
            "opened_at",
            "resolved_at",
            "duration_seconds",
            "resolution",
            "cause",
            "last_reason",
            "failure_count",
            "acknowledged_by",
            "acknowledged_at",
            "suppressed",
            "suppression",
            "suppressed_reason",
            "suppressed_by",
            "released_at",
            "flapping_started_at",
            "flapping_ended_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_suppressed(self, incident: Incident) -> bool:
        return incident.is_suppressed

    def get_status(self, incident: Incident) -> str:
        return "open" if incident.is_open else "resolved"

    def get_duration_seconds(self, incident: Incident) -> float | None:
        duration = incident.duration
        return duration.total_seconds() if duration is not None else None


class IncidentDetailSerializer(IncidentSerializer):
    checks = serializers.SerializerMethodField(
        help_text="The failing run that opened the incident: checks from started_at to "
        "opened_at, oldest first (empty once the monitor is deleted or results are pruned)"
    )

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "checks"]
        read_only_fields = fields

    @extend_schema_field(CheckResultSerializer(many=True))
    def get_checks(self, incident: Incident) -> list[dict]:
        return CheckResultSerializer(selectors.incident_opening_checks(incident), many=True).data


class MonitorStateSerializer(serializers.ModelSerializer):
    monitor_name = serializers.CharField(source="monitor.name", read_only=True)
    is_paused = serializers.SerializerMethodField()
    failure_threshold = serializers.IntegerField(source="monitor.failure_threshold", read_only=True)
    success_threshold = serializers.IntegerField(source="monitor.success_threshold", read_only=True)
    open_incident = serializers.IntegerField(
        source="open_incident_id",
        allow_null=True,
        read_only=True,
        help_text="Id of the open incident, if any",
    )

    class Meta:
        model = MonitorState
        fields = [
            "monitor",
            "monitor_name",
            "state",
            "is_paused",
            "consecutive_failures",
            "failure_threshold",
            "consecutive_successes",
            "success_threshold",
            "failing_since",
            "failing_cause",
            "recovering_since",
            "last_result_at",
            "flapping_since",
            "open_incident",
        ]
        read_only_fields = fields

    def get_is_paused(self, state: MonitorState) -> bool:
        return not state.monitor.is_active


class IncidentUpdateSerializer(serializers.ModelSerializer):
    message = serializers.CharField(max_length=INCIDENT_UPDATE_MAX_LENGTH)
    author = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = IncidentUpdate
        fields = ["id", "incident", "status", "message", "author", "created_at"]
        read_only_fields = ["id", "incident", "author", "created_at"]
