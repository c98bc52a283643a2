"""The notifications API: channels (and their test), deliveries, dead letters (and replay)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import TeamScopedViewSetMixin, team_roles
from accounts.models import Role
from incidents.models import Incident
from lib.serializers import service_errors_as_400
from notifications import deadletters, escalation, redelivery, services
from notifications.filters import ChannelFilter, DeadLetterFilter, DeliveryFilter
from notifications.models import Channel, ChannelKind, DeadLetter, Delivery, EscalationPolicy
from notifications.serializers import (
    ChannelSerializer,
    ChannelTestResultSerializer,
    DeadLetterSerializer,
    DeliverySerializer,
    EscalationPolicySerializer,
)
from notifications.throttles import ChannelTestThrottled, channel_test_throttle


class ChannelViewSet(TeamScopedViewSetMixin, viewsets.ModelViewSet):
    """Where a team's alerts go. Members read; admins and owners change and test.

    Secrets (webhook signing secret and headers, the Apprise URL) are write-only. A webhook
    created without a signing secret gets a generated one, returned once as
    ``signing_secret`` in the create response.
    """

    queryset = Channel.objects.select_related("team").prefetch_related("monitors")
    serializer_class = ChannelSerializer
    write_role = Role.ADMIN
    filterset_class = ChannelFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "kind"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    _generated_secret: str | None = None

    def create(self, request: Request, *args, **kwargs) -> Response:
        response = super().create(request, *args, **kwargs)
        if self._generated_secret:
            response.data["signing_secret"] = self._generated_secret
        return response

    def perform_create(self, serializer: ChannelSerializer) -> None:
        team = self.team_for_create(serializer)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        with service_errors_as_400():  # the quota, checked again under the team lock
            channel = services.channel_create(team=team, actor=self.request.user, **fields)
        given = (fields.get("secrets") or {}).get("signing_secret")
        self._generated_secret = (
            channel.secrets["signing_secret"]
            if channel.kind == ChannelKind.WEBHOOK and not given
            else None
        )
        serializer.instance = channel

    def perform_update(self, serializer: ChannelSerializer) -> None:
        fields = {k: v for k, v in serializer.validated_data.items() if k not in ("team", "kind")}
        with service_errors_as_400():  # a key taken in the team
            serializer.instance = services.channel_update(
                channel=serializer.instance, actor=self.request.user, **fields
            )

    def perform_destroy(self, instance: Channel) -> None:
        services.channel_delete(channel=instance, actor=self.request.user)

    @extend_schema(request=None, responses=ChannelTestResultSerializer)
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request: Request, pk: str | None = None) -> Response:
        """Send a test message now and report the outcome (delivered or the error).

        At most ``CHANNEL_TEST_THROTTLE_RATE`` (default 5/min) per user and per team: 429 with
        ``Retry-After`` beyond. 400 if the channel is no longer valid (an email recipient left
        the team)."""
        channel = self.get_object()
        try:
            channel_test_throttle(user_id=request.user.pk, team_id=channel.team_id)
        except ChannelTestThrottled as exc:
            raise Throttled(wait=exc.wait, detail=str(exc)) from None
        with service_errors_as_400():
            outcome = services.channel_send_test(channel=channel)
        return Response(ChannelTestResultSerializer(outcome).data)


class EscalationPolicyViewSet(TeamScopedViewSetMixin, viewsets.ModelViewSet):
    """Who else hears about an incident nobody acknowledged: ordered stages, each naming
    channels and the minutes after opening at which they get it. Attached to monitors
    (``monitors`` here, or the monitor's ``escalation_policy``) or the team default
    (``is_default``). Members read; admins and owners change."""

    queryset = EscalationPolicy.objects.select_related("team").prefetch_related(
        "stages__channels", "monitors"
    )
    serializer_class = EscalationPolicySerializer
    write_role = Role.ADMIN
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @staticmethod
    def _specs(stages: list[dict] | None) -> list[escalation.StageSpec] | None:
        if stages is None:
            return None
        return [escalation.StageSpec(s["after_minutes"], list(s["channels"])) for s in stages]

    def perform_create(self, serializer: EscalationPolicySerializer) -> None:
        team = self.team_for_create(serializer)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        fields["stages"] = self._specs(fields["stages"])
        with service_errors_as_400():
            serializer.instance = escalation.escalation_policy_create(
                team=team, actor=self.request.user, **fields
            )

    def perform_update(self, serializer: EscalationPolicySerializer) -> None:
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        if "stages" in fields:
            fields["stages"] = self._specs(fields["stages"])
        with service_errors_as_400():
            serializer.instance = escalation.escalation_policy_update(
                policy=serializer.instance, actor=self.request.user, **fields
            )

    def perform_destroy(self, instance: EscalationPolicy) -> None:
        escalation.escalation_policy_delete(policy=instance, actor=self.request.user)


class DeliveryViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Delivery history: one row per incident event and channel, with every attempt.

    Also served per incident at ``/api/v1/incidents/{id}/deliveries/``. Admins and owners
    retry an undelivered one: ``POST /api/v1/deliveries/{id}/retry/``."""

    team_path = "incident__team"
    queryset = Delivery.objects.select_related("incident").prefetch_related("attempt_log")
    serializer_class = DeliverySerializer
    write_role = Role.ADMIN
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at", "last_attempt_at", "status"]

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Try an undelivered delivery again now (202): pending, failed, dead, or stuck
        sending past its lease; 409 with the reason if it is delivered, skipped or being
        sent right now."""
        delivery = self.get_object()
        try:
            delivery = redelivery.delivery_retry(delivery_id=delivery.id, user=request.user)
        except redelivery.DeliveryNotRetryable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except BrokerError:
            return Response(
                {
                    "detail": "The task broker is unavailable; the delivery will be retried by "
                    "the stalled-delivery sweep."
                },
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    def get_queryset(self):
        queryset = super().get_queryset()
        incident_id = self.kwargs.get("incident_id")
        if incident_id is not None:
            visible = Incident.objects.filter(
                id=incident_id, team_id__in=list(team_roles(self.request))
            )
            if not visible.exists():
                raise NotFound("No such incident.")
            queryset = queryset.filter(incident_id=incident_id)
        return queryset


class DeadLetterViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Tasks that failed for good (retries exhausted or a permanent error) for your teams.

    Admins and owners replay one, at most once: ``POST /api/v1/dead-letters/{id}/replay/``.
    """

    queryset = DeadLetter.objects.select_related("replayed_by")
    serializer_class = DeadLetterSerializer
    write_role = Role.ADMIN
    filterset_class = DeadLetterFilter
    search_fields = ["task_name", "error"]
    ordering_fields = ["last_failed_at", "first_failed_at", "attempts"]

    @extend_schema(request=None, responses={202: DeadLetterSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str | None = None) -> Response:
        """Enqueue the task again (202), or 409 if it was already replayed."""
        dead_letter = self.get_object()
        try:
            dead_letter = deadletters.dead_letter_replay(
                dead_letter_id=dead_letter.id, user=request.user
            )
        except deadletters.AlreadyReplayed as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except BrokerError:
            return Response(
                {"detail": "The task broker is unavailable; the dead letter was not replayed."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(self.get_serializer(dead_letter).data, status=status.HTTP_202_ACCEPTED)
