"""Datetime filters of the list endpoints answer 400, never 500, for any ISO 8601 value."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from monitors.models import CheckResult, CheckStatus
from monitors.tests.history_data import make_monitor

pytestmark = pytest.mark.django_db

FILTERS = [
    ("/api/v1/incidents/", "started_before"),
    ("/api/v1/incidents/", "started_after"),
    ("/api/v1/monitors/{id}/checks/", "since"),
    ("/api/v1/monitors/{id}/checks/", "until"),
]


@pytest.fixture
def checks_url(alice):
    monitor = make_monitor(alice.personal_team)
    return lambda url: url.format(id=monitor.id)


@pytest.mark.parametrize(("url", "name"), FILTERS)
def test_an_offset_postgresql_does_not_take_is_accepted_as_utc(alice_client, checks_url, url, name):
    # PostgreSQL refuses offsets past +/-15:59 ("time zone displacement out of range").
    response = alice_client.get(checks_url(url), {name: "2024-01-01T00:00:00+23:59"})

    assert response.status_code == 200


@pytest.mark.parametrize(("url", "name"), FILTERS)
def test_a_datetime_out_of_range_in_utc_is_the_fields_400(alice_client, checks_url, url, name):
    response = alice_client.get(checks_url(url), {name: "0001-01-01T00:00:00+05:00"})

    assert response.status_code == 400
    assert "between years 1 and 9999" in str(response.data[name])


@pytest.mark.parametrize(("url", "name"), FILTERS)
def test_a_value_that_is_not_a_datetime_is_the_fields_400(alice_client, checks_url, url, name):
    response = alice_client.get(checks_url(url), {name: "yesterday"})

    assert response.status_code == 400 and name in response.data


def test_started_before_compares_the_instant_whatever_the_offset(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    started = timezone.now().replace(microsecond=0) - timedelta(days=1)
    Incident.objects.create(
        team=monitor.team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=started,
        opened_at=started,
    )
    # The same instant one second later, written 20 hours ahead of UTC.
    later = (started + timedelta(seconds=1)).astimezone(timezone.get_fixed_timezone(20 * 60))

    response = alice_client.get("/api/v1/incidents/", {"started_before": later.isoformat()})

    assert response.status_code == 200 and response.data["count"] == 1


def test_checks_since_compares_the_instant_whatever_the_offset(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    at = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    CheckResult.objects.create(monitor=monitor, checked_at=at, status=CheckStatus.UP)
    same_instant = at.astimezone(timezone.get_fixed_timezone(-(18 * 60)))

    response = alice_client.get(
        f"/api/v1/monitors/{monitor.id}/checks/", {"since": same_instant.isoformat()}
    )

    assert response.status_code == 200 and len(response.data["results"]) == 1
