"""Check results in the API: a monitor's history and "check now".

``GET /api/v1/monitors/{id}/checks/`` lists results newest first with a cursor (results are
a time series that grows by thousands a day; a cursor on the ``(monitor, -checked_at)``
index stays fast on page 1,000 and never counts rows). ``POST .../check-now/`` queues one
check to the check workers (monitors/check_now.py) and answers 202 with the URL where its
stored result appears: ``GET .../check-now/{request_id}/`` answers 202 while it is pending,
then 200 with the result.

There is deliberately no "wait for the result" option: a web thread parked on a slow target
is exactly what made ten check-now calls stall everybody's requests. Clients poll the URL
(``Retry-After`` says how often); it is one indexed row read.
"""

from __future__ import annotations

import django_filters
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from lib.filters import UtcIsoDateTimeFilter
from monitors import check_now as check_now_service
from monitors.models import CheckNowRequest, CheckResult, CheckStatus

# Seconds a client should wait before asking for a pending check-now result again.
CHECK_NOW_POLL_SECONDS = 1


class CheckResultSerializer(serializers.ModelSerializer):
    lag_ms = serializers.SerializerMethodField(
        help_text="checked_at - scheduled_for: how late the scheduler ran this check"
    )

    class Meta:
        model = CheckResult
        fields = [
            "id",
            "checked_at",
            "scheduled_for",
            "lag_ms",
            "status",
            "status_code",
            "response_time_ms",
            "phase",
            "reason",
            "cert_expires_at",
            "ping_body",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "ping_body": {"help_text": "heartbeat: the first 10 KiB of the ping's body, if any"}
        }

    def get_lag_ms(self, result: CheckResult) -> int | None:
        if result.scheduled_for is None:
            return None
        return round((result.checked_at - result.scheduled_for).total_seconds() * 1000)


class CheckNowSerializer(CheckResultSerializer):
    failed_assertion = serializers.JSONField(
        allow_null=True, help_text="The first assertion that did not hold, if any"
    )

    class Meta(CheckResultSerializer.Meta):
        fields = [*CheckResultSerializer.Meta.fields, "failed_assertion"]
        read_only_fields = fields


class CheckNowPendingSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The check-now request")
    status = serializers.ChoiceField(choices=["pending"])
    result = serializers.URLField(help_text="Where the result appears (also in Location)")


class CheckNowGoneSerializer(serializers.Serializer):
    detail = serializers.CharField()


class CheckNowLimitReached(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "check_now_limit"


class CheckResultPageSerializer(serializers.Serializer):
    """The cursor page, for the schema."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CheckResultSerializer(many=True)


class CheckResultFilter(django_filters.FilterSet):
    since = UtcIsoDateTimeFilter(
        field_name="checked_at", lookup_expr="gte", help_text="ISO 8601, inclusive"
    )
    until = UtcIsoDateTimeFilter(
        field_name="checked_at", lookup_expr="lt", help_text="ISO 8601, exclusive"
    )
    status = django_filters.MultipleChoiceFilter(choices=CheckStatus.choices)

    class Meta:
        model = CheckResult
        fields = ["since", "until", "status"]


class CheckResultPagination(CursorPagination):
    ordering = ("-checked_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class MonitorChecksMixin:
    """Adds ``checks`` and ``check-now`` to ``MonitorViewSet``."""

    throttle_scope: str | None = None  # set for check-now only

    @extend_schema(
        responses=CheckResultPageSerializer,
        parameters=[
            OpenApiParameter("since", str, description="checked_at >= (ISO 8601)"),
            OpenApiParameter("until", str, description="checked_at < (ISO 8601)"),
            OpenApiParameter(
                "status", str, many=True, enum=[c.value for c in CheckStatus], explode=True
            ),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def checks(self, request: Request, pk: str | None = None) -> Response:
        """This monitor's check results, newest first."""
        monitor = self.get_object()
        found = CheckResultFilter(
            request.query_params, queryset=CheckResult.objects.filter(monitor=monitor)
        )
        if not found.is_valid():
            raise ValidationError(found.errors)
        paginator = CheckResultPagination()
        page = paginator.paginate_queryset(found.qs, request, view=self)
        return paginator.get_paginated_response(CheckResultSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={
            202: CheckNowPendingSerializer,
            400: OpenApiResponse(description="A heartbeat monitor: it is passive"),
            429: OpenApiResponse(
                description="Throttled (CHECK_NOW_THROTTLE_RATE per user) or the team has "
                "CHECK_NOW_MAX_CONCURRENT_PER_TEAM check-now requests running"
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="check-now",
        throttle_classes=[ScopedRateThrottle],
        throttle_scope="check_now",
    )
    def check_now(self, request: Request, pk: str | None = None) -> Response:
        """Queue a check of this monitor now (editors and above). Answers 202 with the URL
        where the stored result appears; poll it."""
        monitor = self.get_object()
        try:
            queued = check_now_service.check_now_request(monitor=monitor, requested_by=request.user)
        except check_now_service.CheckNowLimitReached as exc:
            raise CheckNowLimitReached(str(exc)) from None
        except check_now_service.NothingToCheck as exc:
            raise ValidationError({"kind": [str(exc)]}) from None
        url = request.build_absolute_uri(
            reverse(
                "monitor-check-now-result",
                kwargs={"pk": monitor.pk, "request_id": queued.id},
            )
        )
        return Response(
            {"id": queued.id, "status": "pending", "result": url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url, "Retry-After": str(CHECK_NOW_POLL_SECONDS)},
        )

    @extend_schema(
        responses={
            200: CheckNowSerializer,
            202: CheckNowPendingSerializer,
            410: OpenApiResponse(
                CheckNowGoneSerializer,
                description="Never answered within its lease (worker lost or queue backlog), "
                "or the result was pruned: ask again",
            ),
        }
    )
    @action(
        detail=True,
        methods=["get"],
        # A UUID, with or without dashes: anything else is no request (404 from the router).
        url_path=(
            r"check-now/(?P<request_id>[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?"
            r"[0-9a-f]{12})"
        ),
        url_name="check-now-result",
        filterset_class=None,
        pagination_class=None,
    )
    def check_now_result(
        self, request: Request, pk: str | None = None, request_id: str | None = None
    ) -> Response:
        """The result of a check-now request: 202 while pending, then the stored result."""
        monitor = self.get_object()
        asked = (
            CheckNowRequest.objects.select_related("result")
            .filter(monitor=monitor, id=request_id)
            .first()
        )
        if asked is None:
            raise NotFound("No such check-now request for this monitor.")
        if check_now_service.check_now_is_pending(asked):
            url = request.build_absolute_uri(request.path)
            return Response(
                {"id": asked.id, "status": "pending", "result": url},
                status=status.HTTP_202_ACCEPTED,
                headers={"Retry-After": str(CHECK_NOW_POLL_SECONDS)},
            )
        if asked.result is None:
            detail = (
                "This check-now was not answered in time (no check worker took it, or it "
                "was lost); ask for a new one."
                if asked.finished_at is None
                else "This check-now's result is no longer kept."
            )
            return Response({"detail": detail}, status=status.HTTP_410_GONE)
        stored = asked.result
        stored.failed_assertion = asked.failed_assertion
        return Response(CheckNowSerializer(stored).data)
