"""API for history: a monitor's stats and monthly SLA report, badges, and status pages."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import TeamField, TeamScopedViewSetMixin, default_team, teams_of
from accounts.models import Role
from lib.serializers import service_errors_as_400
from lib.uptime import uptime_figure
from monitors import status_pages
from monitors.models import Monitor, MonitorBadge, StatusPage
from reports.stats import WINDOWS, monitor_stats, sla_report

# --- Stats and SLA ----------------------------------------------------------------------------


EXCLUDE_MAINTENANCE_HELP = (
    "Leave maintenance windows out: their checks and downtime are removed, so uptime is "
    "measured over the time outside maintenance (default false)"
)


class StatsQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS), default="24h")
    exclude_maintenance = serializers.BooleanField(
        default=False, help_text=EXCLUDE_MAINTENANCE_HELP
    )


class MonitorStatsSerializer(serializers.Serializer):
    window = serializers.CharField()
    since = serializers.DateTimeField(help_text="Start of the window (aligned to a UTC bucket)")
    until = serializers.DateTimeField()
    checks = serializers.IntegerField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    uptime_percent = serializers.FloatField(allow_null=True)
    response_time_avg_ms = serializers.FloatField(allow_null=True, help_text="UP checks only")
    response_time_p50_ms = serializers.FloatField(allow_null=True)
    response_time_p95_ms = serializers.FloatField(allow_null=True)
    incidents = serializers.IntegerField(help_text="Incidents that started in the window")
    downtime_seconds = serializers.FloatField(help_text="Time in the window under an incident")
    mttr_seconds = serializers.FloatField(
        allow_null=True, help_text="Mean time to recovery of incidents resolved in the window"
    )
    exclude_maintenance = serializers.BooleanField()
    maintenance_seconds = serializers.FloatField(
        help_text="Maintenance time left out (0 unless exclude_maintenance)"
    )
    maintenance_checks = serializers.IntegerField(
        help_text="Checks made during maintenance, left out of checks and up"
    )


class SlaQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        help_text="YYYY-MM (UTC); defaults to the current month",
        error_messages={"invalid": "Use the form YYYY-MM, e.g. 2026-05."},
    )
    target = serializers.FloatField(
        min_value=0, max_value=100, required=False, help_text="SLA target in %, e.g. 99.9"
    )
    exclude_maintenance = serializers.BooleanField(
        default=False, help_text=EXCLUDE_MAINTENANCE_HELP
    )

    def validate_month(self, value: str) -> str:
        year, month = (int(part) for part in value.split("-"))
        now = timezone.now()
        if (year, month) > (now.year, now.month):
            raise serializers.ValidationError("This month has not started yet.")
        if year < 2000:
            raise serializers.ValidationError("Choose a month from 2000 on.")
        return value


class SlaDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    checks = serializers.IntegerField()
    up = serializers.IntegerField()
    uptime_percent = serializers.FloatField(allow_null=True)
    response_time_avg_ms = serializers.FloatField(allow_null=True)
    response_time_p95_ms = serializers.FloatField(allow_null=True)
    incidents = serializers.IntegerField()
    downtime_seconds = serializers.FloatField()


class SlaIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class SlaReportSerializer(serializers.Serializer):
    monitor_id = serializers.IntegerField()
    monitor_name = serializers.CharField()
    month = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    target_percent = serializers.FloatField(allow_null=True)
    checks = serializers.IntegerField()
    up = serializers.IntegerField()
    uptime_percent = serializers.FloatField(allow_null=True)
    target_met = serializers.BooleanField(allow_null=True)
    allowed_downtime_seconds = serializers.FloatField(allow_null=True)
    response_time_avg_ms = serializers.FloatField(allow_null=True)
    response_time_p50_ms = serializers.FloatField(allow_null=True)
    response_time_p95_ms = serializers.FloatField(allow_null=True)
    incidents = serializers.IntegerField()
    downtime_seconds = serializers.FloatField()
    mttr_seconds = serializers.FloatField(allow_null=True)
    days = SlaDaySerializer(many=True)
    incident_list = SlaIncidentSerializer(many=True)
    exclude_maintenance = serializers.BooleanField()
    maintenance_seconds = serializers.FloatField(
        help_text="Maintenance time left out of the period (0 unless exclude_maintenance)"
    )
    maintenance_checks = serializers.IntegerField(
        help_text="Checks made during maintenance, left out of checks and up"
    )


SLA_CSV_COLUMNS = [
    "day",
    "checks",
    "up",
    "uptime_percent",
    "response_time_avg_ms",
    "response_time_p95_ms",
    "incidents",
    "downtime_seconds",
]


class SlaCsvRenderer(BaseRenderer):
    """The SLA report as CSV: one row per day, then the month's totals. A report that
    excludes maintenance says so first, in a ``#`` comment line."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        if not isinstance(data, dict) or "days" not in data:  # an error answer
            writer.writerow(["field", "message"])
            for name, messages in (data or {}).items():
                for message in messages if isinstance(messages, list) else [messages]:
                    writer.writerow([name, message])
            return out.getvalue().encode()
        if data.get("exclude_maintenance"):
            out.write(
                f"# exclude_maintenance: true ({data['maintenance_seconds']:g} seconds and "
                f"{data['maintenance_checks']} checks of maintenance left out)\r\n"
            )
        writer.writerow(SLA_CSV_COLUMNS)
        for row in [*data["days"], {**data, "day": data["month"]}]:
            writer.writerow([csv_cell(c, row[c]) for c in SLA_CSV_COLUMNS])
        return out.getvalue().encode()


def csv_cell(column: str, value: object) -> object:
    """A spreadsheet shows what the pages show: uptime as the dashboard writes it."""
    if value is None:
        return ""
    return uptime_figure(value) if column == "uptime_percent" else value


# --- Badges ---------------------------------------------------------------------------------


class BadgeSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    status_svg = serializers.URLField(allow_null=True)
    uptime_svg = serializers.URLField(allow_null=True)


def badge_payload(request: Request, badge: MonitorBadge | None) -> dict:
    if badge is None:
        return {"enabled": False, "status_svg": None, "uptime_svg": None}
    return {
        "enabled": True,
        "status_svg": request.build_absolute_uri(reverse("badge-status", args=[badge.token])),
        "uptime_svg": request.build_absolute_uri(reverse("badge-uptime", args=[badge.token])),
    }


class MonitorHistoryActionsMixin:
    """``stats``, ``sla`` and ``badge`` actions of the monitors viewset."""

    @extend_schema(
        parameters=[StatsQuerySerializer],
        responses=MonitorStatsSerializer,
        summary="Uptime, latency and incident figures over a window",
    )
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str | None = None) -> Response:
        """From rollups: as fast for a year of checks as for an hour. Windows are aligned to
        UTC hours (24h, 7d) or days (30d, 90d) and end now."""
        monitor = self.get_object()
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = monitor_stats(
            monitor=monitor,
            window=query.validated_data["window"],
            exclude_maintenance=query.validated_data["exclude_maintenance"],
        )
        return Response(MonitorStatsSerializer(asdict(result)).data)

    @extend_schema(
        parameters=[
            SlaQuerySerializer,
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
        ],
        responses={(200, "application/json"): SlaReportSerializer, (200, "text/csv"): str},
        summary="Monthly SLA report (JSON, or CSV with ?format=csv)",
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer, SlaCsvRenderer],
    )
    def sla(self, request: Request, pk: str | None = None) -> Response:
        """A month's availability, day by day, with incidents, downtime, MTTR and, given a
        ``target``, whether it was met and the error budget it allowed."""
        monitor = self.get_object()
        query = SlaQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        month = query.validated_data.get("month") or f"{now.year:04d}-{now.month:02d}"
        year, month_number = (int(part) for part in month.split("-"))
        report = sla_report(
            monitor=monitor,
            year=year,
            month=month_number,
            target_percent=query.validated_data.get("target"),
            now=now,
            exclude_maintenance=query.validated_data["exclude_maintenance"],
        )
        response = Response(SlaReportSerializer(asdict(report)).data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            filename = f"sla-monitor-{monitor.id}-{month}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @extend_schema(request=None, responses={200: BadgeSerializer, 201: BadgeSerializer})
    @action(detail=True, methods=["get", "post", "delete"])
    def badge(self, request: Request, pk: str | None = None) -> Response:
        """SVG badges for READMEs. POST publishes them under an unguessable URL (editors);
        DELETE unpublishes them, so a new POST gives new URLs."""
        monitor = self.get_object()
        badge = MonitorBadge.objects.filter(monitor=monitor).first()
        if request.method == "POST":
            created = badge is None
            if created:
                badge, created = MonitorBadge.objects.get_or_create(monitor=monitor)
            return Response(
                badge_payload(request, badge),
                status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            )
        if request.method == "DELETE":
            MonitorBadge.objects.filter(monitor=monitor).delete()
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(badge_payload(request, badge))


# --- Status pages ---------------------------------------------------------------------------


class TeamMonitorsField(serializers.PrimaryKeyRelatedField):
    """Monitors of the user's teams (others answer "does not exist", like a 404)."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Monitor.objects.none()
        return Monitor.objects.filter(team__in=teams_of(request))


class StatusPageSerializer(serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    monitors = TeamMonitorsField(many=True, required=False, help_text="Monitor ids to show")
    public_url = serializers.SerializerMethodField()

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "team",
            "key",
            "slug",
            "title",
            "description",
            "monitors",
            "is_public",
            "public_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The (team, key) uniqueness is the services' (monitors.keys.assign_key): DRF's own
        # validator would make ``team`` required, which defaults to the personal team.
        validators: list = []

    def get_public_url(self, page: StatusPage) -> str:
        path = reverse("status-page", args=[page.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def validate_slug(self, value: str) -> str:
        status_pages.validate_status_page_slug(value)
        return value.lower()

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A status page cannot be moved to another team.")
        return team

    def validate(self, attrs: dict) -> dict:
        team = attrs.get("team") or (self.instance.team if self.instance else None)
        if team is None:
            request = self.context.get("request")
            team = default_team(request) if request else None
        monitors = attrs.get("monitors") or []
        status_pages.validate_status_page_monitors(
            team_id=team.id if team else None, monitors=monitors
        )
        return attrs


class StatusPageViewSet(TeamScopedViewSetMixin, viewsets.ModelViewSet):
    """Public status pages of your teams (shown at ``/status/<slug>/``). Editors manage them."""

    queryset = StatusPage.objects.prefetch_related("monitors").select_related("team")
    serializer_class = StatusPageSerializer
    write_role = Role.EDITOR
    search_fields = ["title", "slug"]
    ordering_fields = ["title", "created_at"]
    filterset_fields = ["team", "is_public"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: StatusPageSerializer) -> None:
        team = self.team_for_create(serializer)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        with service_errors_as_400():  # a key taken in the team
            serializer.instance = status_pages.status_page_create(
                team=team, actor=self.request.user, **fields
            )

    def perform_update(self, serializer: StatusPageSerializer) -> None:
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        with service_errors_as_400():
            serializer.instance = status_pages.status_page_update(
                page=serializer.instance, actor=self.request.user, **fields
            )

    def perform_destroy(self, instance: StatusPage) -> None:
        status_pages.status_page_delete(page=instance, actor=self.request.user)
