"""Per-team quotas on monitors (TEAM_MAX_MONITORS, TEAM_MAX_CHECKS_PER_SECOND), the same
from the API, the CLI, the admin and the services, and safe under concurrent creates."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from config.tests.test_monitors_command import run
from monitors.models import Monitor
from monitors.services import monitor_create, monitor_pause, monitor_update
from monitors.tests.test_admin_writes import ADD, admin_errors, admin_form

URL = "https://quota.example.com/health"


def make(team, interval: int = 60, **fields) -> Monitor:
    return monitor_create(
        team=team, name=f"m{Monitor.objects.count()}", url=URL, interval=interval, **fields
    )


@pytest.fixture
def two_monitors_max(settings):
    settings.TEAM_MAX_MONITORS = 2


@pytest.mark.django_db
def test_api_refuses_a_monitor_past_the_team_limit_naming_limit_and_usage(
    two_monitors_max, alice, alice_client
):
    make(alice.personal_team), make(alice.personal_team)

    response = alice_client.post("/api/v1/monitors/", {"name": "third", "url": URL})

    assert response.status_code == 400
    message = response.data["non_field_errors"][0]
    assert "has 2 monitors" in message and "TEAM_MAX_MONITORS" in message and "is 2" in message
    assert Monitor.objects.count() == 2


@pytest.mark.django_db
def test_the_limit_is_per_team(two_monitors_max, alice, bob):
    make(alice.personal_team), make(alice.personal_team)

    make(bob.personal_team)

    assert Monitor.objects.filter(team=bob.personal_team).count() == 1


@pytest.mark.django_db
def test_zero_means_unlimited(settings, alice):
    settings.TEAM_MAX_MONITORS = 0
    settings.TEAM_MAX_CHECKS_PER_SECOND = 0

    for _ in range(3):
        make(alice.personal_team, interval=30)

    assert Monitor.objects.count() == 3


@pytest.mark.django_db
def test_api_refuses_an_interval_that_exceeds_the_checks_per_second(settings, alice, alice_client):
    settings.TEAM_MAX_CHECKS_PER_SECOND = 0.05  # one monitor every 20 s
    make(alice.personal_team, interval=30)  # 0.033/s

    response = alice_client.post("/api/v1/monitors/", {"name": "b", "url": URL, "interval": 40})

    assert response.status_code == 400
    message = response.data["non_field_errors"][0]
    assert "make 0.03 checks per second" in message and "would make 0.06" in message
    assert "TEAM_MAX_CHECKS_PER_SECOND" in message


@pytest.mark.django_db
def test_shortening_an_interval_past_the_checks_per_second_is_refused(settings, alice):
    settings.TEAM_MAX_CHECKS_PER_SECOND = 0.05
    monitor = make(alice.personal_team, interval=60)

    with pytest.raises(ValidationError, match="checks per second"):
        monitor_update(monitor=monitor, interval=10, timeout=5)

    assert Monitor.objects.get().interval == 60


@pytest.mark.django_db
def test_api_refuses_to_resume_a_monitor_past_the_checks_per_second(settings, alice, alice_client):
    paused = make(alice.personal_team, interval=30)
    monitor_pause(monitor=paused)
    make(alice.personal_team, interval=30)
    settings.TEAM_MAX_CHECKS_PER_SECOND = 0.05

    response = alice_client.post(f"/api/v1/monitors/{paused.id}/resume/")

    assert response.status_code == 400
    assert "TEAM_MAX_CHECKS_PER_SECOND" in response.data["non_field_errors"][0]
    assert Monitor.objects.get(pk=paused.pk).is_active is False


@pytest.mark.django_db
def test_a_team_over_a_lowered_limit_may_still_rename_its_monitors(settings, alice):
    monitor = make(alice.personal_team, interval=30)
    make(alice.personal_team, interval=30)
    settings.TEAM_MAX_MONITORS = 1
    settings.TEAM_MAX_CHECKS_PER_SECOND = 0.01

    monitor_update(monitor=monitor, name="renamed")

    assert Monitor.objects.get(pk=monitor.pk).name == "renamed"


@pytest.mark.django_db
def test_the_cli_prints_the_same_message_and_fails(two_monitors_max, alice):
    make(alice.personal_team), make(alice.personal_team)

    code, _, err = run("create", "--team", str(alice.personal_team.id), "--name", "c", "--url", URL)

    assert code == 1
    assert "This team has 2 monitors, its limit (TEAM_MAX_MONITORS) is 2" in err


@pytest.mark.django_db
def test_the_admin_shows_the_same_message(two_monitors_max, admin_client, alice):
    make(alice.personal_team), make(alice.personal_team)

    response = admin_client.post(ADD, admin_form(alice.personal_team))

    assert response.status_code == 200
    assert "This team has 2 monitors" in str(admin_errors(response))
    assert Monitor.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_cannot_both_take_the_last_slot(two_monitors_max, alice):
    team = alice.personal_team
    make(team)
    first_saved, commit_first = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                make(team)
                first_saved.set()
                commit_first.wait(5)  # still holding the last slot, uncommitted
            outcomes["first"] = "created"
        finally:
            first_saved.set()
            connection.close()

    def second() -> None:
        try:
            make(team)
            outcomes["second"] = "created"
        except ValidationError as exc:
            outcomes["second"] = exc.messages[0]
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_saved.wait(5)
    threads[1].start()
    threads[1].join(0.5)  # it waits for the team lock (without one it would pass now)
    commit_first.set()
    for thread in threads:
        thread.join(10)

    assert outcomes["first"] == "created"
    assert "has 2 monitors" in str(outcomes["second"])
    assert Monitor.objects.filter(team=team).count() == 2
