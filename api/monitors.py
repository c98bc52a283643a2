"""The monitors API: CRUD, pause and resume; check history and check-now (check_api)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import OuterRef, Prefetch, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import TeamScopedViewSetMixin
from accounts.models import Role
from api.filters import MonitorFilter
from api.history import MonitorHistoryActionsMixin
from api.serializers import (
    PREFETCHED_CHANNELS,
    PREFETCHED_CHILDREN,
    PREFETCHED_PARENTS,
    PREFETCHED_TAGS,
    MonitorSerializer,
)
from incidents import maintenance
from incidents.dependencies import monitor_set_dependencies
from incidents.maintenance_api import MaintenanceWindowSerializer, MonitorMaintenanceSerializer
from incidents.models import Incident, MonitorDependency
from lib.serializers import service_errors_as_400
from monitors import services
from monitors.check_api import MonitorChecksMixin
from monitors.models import Monitor, Tag
from notifications import escalation
from notifications.models import Channel

NOT_GIVEN = object()  # a field absent from a PATCH, as opposed to null


class MonitorViewSet(
    TeamScopedViewSetMixin, MonitorChecksMixin, MonitorHistoryActionsMixin, viewsets.ModelViewSet
):
    """Monitors of your teams. Viewers read; editors and above change."""

    queryset = Monitor.objects.all()
    serializer_class = MonitorSerializer
    write_role = Role.EDITOR
    filterset_class = MonitorFilter
    search_fields = ["name", "url"]
    ordering_fields = ["name", "created_at", "last_checked_at", "last_response_time_ms", "status"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    # Actions that answer with MonitorSerializer; the others (checks, stats, sla, badge,
    # check-now, delete) only need the row.
    serializing_actions = frozenset(
        {"list", "retrieve", "create", "update", "partial_update", "pause", "resume"}
    )

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action not in self.serializing_actions:
            return queryset
        # The open incident id in the same query (a correlated subquery served by the
        # partial unique index), instead of one query per monitor on a page.
        open_incident = Incident.objects.open_of(OuterRef("pk")).values("id")[:1]
        queryset = queryset.select_related("escalation")  # its escalation_policy
        return queryset.annotate(open_incident_id=Subquery(open_incident)).prefetch_related(
            Prefetch("tags", queryset=Tag.objects.only("id", "name"), to_attr=PREFETCHED_TAGS),
            Prefetch("channels", queryset=Channel.objects.only("id"), to_attr=PREFETCHED_CHANNELS),
            Prefetch(
                "parent_links", queryset=MonitorDependency.objects.all(), to_attr=PREFETCHED_PARENTS
            ),
            Prefetch(
                "child_links", queryset=MonitorDependency.objects.all(), to_attr=PREFETCHED_CHILDREN
            ),
        )

    def perform_create(self, serializer: MonitorSerializer) -> None:
        team = self.team_for_create(serializer)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        parents = fields.pop("depends_on", None)
        policy = fields.pop("escalation_policy", NOT_GIVEN)
        with service_errors_as_400(), transaction.atomic():
            monitor = services.monitor_create(team=team, actor=self.request.user, **fields)
            if parents:
                monitor_set_dependencies(monitor=monitor, parents=parents, actor=self.request.user)
            if policy is not NOT_GIVEN:
                escalation.monitor_set_escalation_policy(monitor=monitor, policy=policy)
        serializer.instance = monitor

    def perform_update(self, serializer: MonitorSerializer) -> None:
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        parents = fields.pop("depends_on", None)
        policy = fields.pop("escalation_policy", NOT_GIVEN)
        with service_errors_as_400(), transaction.atomic():
            monitor = services.monitor_update(
                monitor=serializer.instance, actor=self.request.user, **fields
            )
            if parents is not None:
                monitor_set_dependencies(monitor=monitor, parents=parents, actor=self.request.user)
            if policy is not NOT_GIVEN:
                escalation.monitor_set_escalation_policy(monitor=monitor, policy=policy)
        # The lists prefetched for reading predate the write: read the relations again.
        for to_attr in (PREFETCHED_TAGS, PREFETCHED_CHANNELS, PREFETCHED_PARENTS):
            monitor.__dict__.pop(to_attr, None)
        Monitor.escalation.related.delete_cached_value(monitor)  # type: ignore[attr-defined]
        serializer.instance = monitor

    def perform_destroy(self, instance: Monitor) -> None:
        services.monitor_delete(monitor=instance, actor=self.request.user)

    @extend_schema(request=None, responses=MonitorSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """Stop checking; the monitor's state is frozen until it is resumed."""
        monitor = services.monitor_pause(monitor=self.get_object(), actor=request.user)
        return Response(self.get_serializer(monitor).data)

    @extend_schema(request=None, responses=MonitorSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Start checking again within a few seconds (400 past the team's checks per second)."""
        with service_errors_as_400():
            monitor = services.monitor_resume(monitor=self.get_object(), actor=request.user)
        return Response(self.get_serializer(monitor).data, status=status.HTTP_200_OK)

    @extend_schema(
        request=MonitorMaintenanceSerializer, responses={201: MaintenanceWindowSerializer}
    )
    @action(detail=True, methods=["post"])
    def maintenance(self, request: Request, pk: str | None = None) -> Response:
        """Start maintenance of this monitor now for ``minutes`` (default 30): its checks go on,
        but it opens no incident and sends nothing until the window ends."""
        monitor = self.get_object()
        body = MonitorMaintenanceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with service_errors_as_400():
            window = maintenance.maintenance_start_now(
                team=monitor.team,
                minutes=body.validated_data["minutes"],
                monitors=[monitor],
                actor=request.user,
            )
        data = MaintenanceWindowSerializer(window, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)
