"""Check results in the API: a monitor's history and "check now".

``GET /api/v1/monitors/{id}/checks/`` lists results newest first with a cursor (results are
a time series that grows by thousands a day; a cursor on the ``(monitor, -checked_at)``
index stays fast on page 1,000 and never counts rows). ``POST .../check-now/`` runs one
check through the same code path as the scheduler and returns the stored result.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from lib.filters import UtcIsoDateTimeFilter
from monitors import results
from monitors.models import CheckResult, CheckStatus


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
        ]
        read_only_fields = fields

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

    @extend_schema(request=None, responses={201: CheckNowSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="check-now",
        throttle_classes=[ScopedRateThrottle],
        throttle_scope="check_now",
    )
    def check_now(self, request: Request, pk: str | None = None) -> Response:
        """Check this monitor now (editors and above) and return the stored result."""
        monitor = self.get_object()
        stored, outcome = results.check_now(monitor)
        if stored is None:  # deleted while the request ran
            return Response(status=status.HTTP_404_NOT_FOUND)
        stored.failed_assertion = outcome.failed_assertion
        return Response(CheckNowSerializer(stored).data, status=status.HTTP_201_CREATED)
