"""The maintenance windows API (``/api/v1/maintenance-windows/``): CRUD, start now, end now.

Viewers read; editors and above write. Monitors are named by id and tags by name, as in the
monitors API; both must belong to the window's team.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import TeamField, TeamScopedViewSetMixin, acting_user, team_roles
from accounts.models import Role, Team
from incidents import maintenance
from incidents.models import MaintenanceWindow
from lib.serializers import service_errors_as_400
from monitors.models import Monitor, Tag


@extend_schema_field(OpenApiTypes.INT)
class TeamMonitorIdField(serializers.PrimaryKeyRelatedField):
    """A monitor of one of the user's teams, by id (others do not exist, as far as they know)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Monitor.objects.none()
        return Monitor.objects.filter(team_id__in=list(team_roles(request)))


class TagNamesField(serializers.ListField):
    """Tags are written and read as names (as on monitors)."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, tags) -> list[str]:
        return [tag.name for tag in tags.all()]


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    monitors = TeamMonitorIdField(many=True, required=False, help_text="Monitor ids (same team)")
    tags = TagNamesField(
        required=False, help_text="Tag names (same team): covers the monitors carrying any"
    )
    timezone = serializers.CharField(
        max_length=64, required=False, default="UTC", help_text="IANA time zone (recurring)"
    )
    active_now = serializers.SerializerMethodField(help_text="Whether the window is active now")
    next_start = serializers.SerializerMethodField(
        help_text="Start of the next occurrence (after now), null if none within a year"
    )

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "team",
            "key",
            "name",
            "starts_at",
            "ends_at",
            "recurrence",
            "duration_minutes",
            "timezone",
            "whole_team",
            "monitors",
            "tags",
            "active_now",
            "next_start",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "active_now", "next_start", "created_at", "updated_at"]
        validators: list = []  # (team, key) is the services' (monitors.keys.assign_key)
        extra_kwargs = {"recurrence": {"required": False, "allow_blank": True}}

    def _now(self) -> datetime:
        # One "now" for every window of a response.
        now = getattr(self, "_now_value", None)
        if now is None:
            now = self._now_value = timezone.now()
        return now

    def get_active_now(self, window: MaintenanceWindow) -> bool:
        return maintenance.active_interval(window, self._now()) is not None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_start(self, window: MaintenanceWindow) -> str | None:
        start = maintenance.next_start(window, after=self._now())
        return None if start is None else serializers.DateTimeField().to_representation(start)

    def validate_team(self, team: Team) -> Team:
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A window cannot be moved to another team.")
        return team


@extend_schema_field(OpenApiTypes.INT)
class TeamIdField(TeamField):
    """``TeamField`` where no model tells the schema its type."""


class StartNowSerializer(serializers.Serializer):
    team = TeamIdField(required=False, help_text="Owning team; defaults to your personal team")
    minutes = serializers.IntegerField(
        min_value=1, max_value=maintenance.MAX_START_NOW_MINUTES, default=30
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    monitors = TeamMonitorIdField(many=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    whole_team = serializers.BooleanField(default=False)


class MonitorMaintenanceSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=1, max_value=maintenance.MAX_START_NOW_MINUTES, default=30
    )


def _service_fields(data: dict) -> dict:
    fields = {k: v for k, v in data.items() if k not in ("team", "monitors", "tags", "timezone")}
    if "timezone" in data:
        fields["timezone_name"] = data["timezone"]
    return fields


class MaintenanceWindowViewSet(TeamScopedViewSetMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """Maintenance windows of your teams: while one is active, the monitors it covers are
    checked but open no incident and send nothing; a monitor still down when it ends alerts
    at its next check. One-off (``starts_at``, ``ends_at``) or recurring (``recurrence``: cron
    or RRULE, ``duration_minutes``, ``timezone``); scope: ``monitors``, ``tags`` or
    ``whole_team``. Viewers read; editors and above change."""

    queryset = MaintenanceWindow.objects.prefetch_related(
        Prefetch("monitors", queryset=Monitor.objects.only("id", "team_id")),
        Prefetch("tags", queryset=Tag.objects.only("id", "name")),
    )
    serializer_class = MaintenanceWindowSerializer
    write_role = Role.EDITOR
    search_fields = ["name", "key"]
    ordering_fields = ["created_at", "starts_at", "ends_at", "name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        if self.action == "start_now":
            return StartNowSerializer
        return MaintenanceWindowSerializer

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        team = self.team_for_create(serializer)
        data = serializer.validated_data
        with service_errors_as_400():
            tags = maintenance.tags_named(team=team, names=data.get("tags", []))
            serializer.instance = maintenance.maintenance_window_create(
                team=team,
                actor=acting_user(self.request),
                monitors=data.get("monitors", []),
                tags=tags,
                **_service_fields(data),
            )

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        window = serializer.instance
        assert isinstance(window, MaintenanceWindow)
        data = serializer.validated_data
        with service_errors_as_400():
            tags = (
                maintenance.tags_named(team=window.team, names=data["tags"])
                if "tags" in data
                else None
            )
            serializer.instance = maintenance.maintenance_window_update(
                window=window,
                actor=acting_user(self.request),
                monitors=data.get("monitors"),
                tags=tags,
                **_service_fields(data),
            )

    def perform_destroy(self, instance: MaintenanceWindow) -> None:
        maintenance.maintenance_window_delete(window=instance, actor=acting_user(self.request))

    @extend_schema(request=StartNowSerializer, responses={201: MaintenanceWindowSerializer})
    @action(detail=False, methods=["post"], url_path="start-now")
    def start_now(self, request: Request) -> Response:
        """Start maintenance now for ``minutes`` (default 30): a one-off window from now."""
        serializer = StartNowSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        team = self.team_for_create(serializer)
        data = serializer.validated_data
        with service_errors_as_400():
            window = maintenance.maintenance_start_now(
                team=team,
                minutes=data["minutes"],
                name=data["name"],
                whole_team=data["whole_team"],
                monitors=data.get("monitors", []),
                tags=maintenance.tags_named(team=team, names=data.get("tags", [])),
                actor=acting_user(request),
            )
        body = MaintenanceWindowSerializer(window, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=MaintenanceWindowSerializer)
    @action(detail=True, methods=["post"], url_path="end-now")
    def end_now(self, request: Request, pk: str | None = None) -> Response:
        """End a one-off window now (400 for a recurring one: edit or delete it)."""
        with service_errors_as_400():
            window = maintenance.maintenance_window_end_now(
                window=self.get_object(), actor=acting_user(request)
            )
        return Response(
            MaintenanceWindowSerializer(window, context=self.get_serializer_context()).data
        )
