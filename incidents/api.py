"""The incidents API: list and detail (with the checks that opened it), acknowledge; and the
state machine's view of each monitor (counters in progress)."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import TeamScopedViewSetMixin
from accounts.models import Role
from incidents import services, updates
from incidents.filters import IncidentFilter
from incidents.models import Incident, IncidentUpdate, MonitorState
from incidents.serializers import (
    IncidentDetailSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    MonitorStateSerializer,
)
from lib.serializers import service_errors_as_400


class IncidentViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Incidents of your teams, newest first. Members read; editors and above acknowledge."""

    queryset = Incident.objects.select_related("acknowledged_by")
    serializer_class = IncidentSerializer
    write_role = Role.EDITOR
    filterset_class = IncidentFilter
    search_fields = ["monitor_name", "cause", "last_reason"]
    ordering_fields = ["started_at", "opened_at", "resolved_at", "failure_count"]

    def get_serializer_class(self):
        if self.action in ("retrieve", "acknowledge"):
            return IncidentDetailSerializer
        if self.action == "updates":
            return IncidentUpdateSerializer
        return IncidentSerializer

    @extend_schema(request=None, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        """Say you are on it: records who and when, and tells the incident's channels once.

        Acknowledging again changes nothing; a resolved incident cannot be acknowledged.
        """
        try:
            incident = services.incident_acknowledge(incident=self.get_object(), user=request.user)
        except services.IncidentAlreadyResolved as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(self.get_serializer(incident).data)

    @extend_schema(methods=["get"], request=None, responses=IncidentUpdateSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=IncidentUpdateSerializer,
        responses={201: IncidentUpdateSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=IncidentUpdateSerializer,
        pagination_class=None,  # every update, as a plain list (documented so, too)
    )
    def updates(self, request: Request, pk: str | None = None) -> Response:
        """The team's updates on this incident, oldest first; editors and above post one
        (status investigating, identified, monitoring or resolved, and a message). Channels
        with ``send_incident_updates`` get each one. A "resolved" update does not resolve the
        incident while its monitor is down: the monitor's recovery does."""
        incident = self.get_object()
        if request.method == "GET":
            found = IncidentUpdate.objects.filter(incident=incident).select_related("author")
            return Response(IncidentUpdateSerializer(found, many=True).data)
        body = IncidentUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with service_errors_as_400():
            update = updates.incident_update_post(
                incident=incident,
                status=body.validated_data["status"],
                message=body.validated_data["message"],
                author=request.user,
            )
        return Response(IncidentUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


class MonitorStateViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """What the state machine knows of each monitor of your teams: the verdict, the counters
    of the run in progress against its thresholds, and the open incident. A monitor that
    was never evaluated has no state yet (its status is unknown)."""

    team_path = "monitor__team"
    queryset = MonitorState.objects.select_related("monitor").order_by("monitor_id")
    serializer_class = MonitorStateSerializer
    filterset_fields = ["state"]
    ordering_fields = ["monitor_id", "last_result_at", "consecutive_failures"]

    def get_queryset(self):
        open_incident = Incident.objects.open_of(OuterRef("monitor_id")).values("id")[:1]
        return super().get_queryset().annotate(open_incident_id=Subquery(open_incident))
