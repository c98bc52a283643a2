"""MonitorSerializer's direct attribute reads (lib.serializers.DirectReadMixin) give
exactly what DRF's own field-by-field representation gives."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from api.serializers import MonitorSerializer
from monitors.models import Monitor
from monitors.services import monitor_create

pytestmark = pytest.mark.django_db


class PlainMonitorSerializer(MonitorSerializer):
    """The same fields, represented by DRF's own ``Serializer.to_representation``."""

    def to_representation(self, instance):
        return serializers.ModelSerializer.to_representation(self, instance)


def test_every_field_is_represented_as_drf_would(alice):
    now = timezone.now()
    monitor = monitor_create(
        team=alice.personal_team,
        name="Orders API",
        url="https://orders.example.com/health?x=1",
        method="POST",
        headers={"Accept": "application/json"},
        body='{"ping": true}',
        expected_status="200-299,301",
        timeout=2.5,
        interval=60,
        failure_threshold=3,
        assertions=[{"type": "json_path_equals", "path": "$.status", "value": "ok"}],
        tags=["prod", "eu"],
    )
    Monitor.objects.filter(pk=monitor.pk).update(
        status="down",
        last_checked_at=now,
        last_check_status="timeout",
        last_status_code=None,
        last_response_time_ms=1234,
        last_reason="Timed out after 2.5 s",
        cert_expires_at=now + timedelta(days=40),
    )
    request = APIRequestFactory().get("/")
    request.user = alice
    for instance in (monitor, Monitor.objects.get(pk=monitor.pk)):  # in memory, and loaded
        context = {"request": request}
        direct = MonitorSerializer(instance, context=context).data
        plain = PlainMonitorSerializer(instance, context=context).data

        assert direct == plain
        assert list(direct) == list(plain)  # same keys, same order
        assert direct["timeout"] == 2.5
        assert direct["headers"] == {"Accept": "application/json"}
