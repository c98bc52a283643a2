"""Admin pages of the history models render for staff."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.tests.conftest import make_monitor
from monitors.models import CheckResult, MonitorBadge, StatusPage
from monitors.rollups import rollup_new_results

pytestmark = pytest.mark.django_db


def test_history_admin_pages_render(admin_user, alice):
    monitor = make_monitor(alice.personal_team)
    CheckResult.objects.create(
        monitor=monitor, checked_at=timezone.now() - timedelta(minutes=1), status="up",
        response_time_ms=90,
    )  # fmt: skip
    rollup_new_results()
    page = StatusPage.objects.create(team=alice.personal_team, slug="acme", title="Acme")
    page.monitors.add(monitor)
    MonitorBadge.objects.create(monitor=monitor)
    client = Client()
    client.force_login(admin_user)

    for url in [
        "/admin/monitors/checkrollup/",
        "/admin/monitors/rollupwatermark/",
        "/admin/monitors/statuspage/",
        f"/admin/monitors/statuspage/{page.id}/change/",
        "/admin/monitors/monitorbadge/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    rollups = client.get("/admin/monitors/checkrollup/").content.decode()
    assert "100%" in rollups and ">90<" in rollups
