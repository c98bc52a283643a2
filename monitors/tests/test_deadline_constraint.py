"""The database itself refuses an active monitor without a deadline: the dispatcher only
claims ``next_check_at <= now``, so such a monitor would never be checked."""

import pytest
from django.db import IntegrityError

from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def test_database_rejects_an_active_monitor_without_a_deadline(alice):
    with pytest.raises(IntegrityError, match="monitor_active_has_deadline"):
        Monitor.objects.create(
            team=alice.personal_team, name="Orders", url="https://o.example/", next_check_at=None
        )


def test_a_paused_monitor_may_have_no_deadline(alice):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="Orders",
        url="https://o.example/",
        is_active=False,
        next_check_at=None,
    )

    assert Monitor.objects.filter(pk=monitor.pk, next_check_at__isnull=True).exists()
