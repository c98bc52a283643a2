"""The dead-letter store: any task that fails for good, seen in API and CLI, replayed once."""

from __future__ import annotations

import pytest
from celery import shared_task
from celery.signals import task_failure
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

import accounts.tasks  # noqa: F401  (registers the tasks named below)
import incidents.tasks  # noqa: F401
import monitors.tasks  # noqa: F401
from accounts.models import Role
from healthmon.celery import app
from lib import task_names
from notifications import deadletters, selectors, services
from notifications.models import DeadLetter, Delivery, DeliveryStatus
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

URL = "/api/v1/dead-letters/"


@shared_task(name="notifications.tests.always_fails")
def always_fails(label: str) -> None:
    raise RuntimeError(f"boom {label}")


@shared_task(name="notifications.tests.fails_quietly")
def fails_quietly() -> None:
    raise RuntimeError("nobody needs to know")


@pytest.fixture(autouse=True)
def _always_fails_is_dead_lettered(monkeypatch) -> None:
    # A stand-in for the real dead-lettered tasks, whose failures take more to arrange.
    monkeypatch.setattr(
        deadletters,
        "DEAD_LETTERED_TASKS",
        deadletters.DEAD_LETTERED_TASKS | {"notifications.tests.always_fails"},
    )


def dead_delivery(team, receiver) -> Delivery:
    """A delivery dead-lettered by a permanent error (the receiver answers 404)."""
    receiver.default = (404, {})
    monitor = make_monitor(team)
    make_webhook(team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    deliver_notification.apply(args=[delivery_id])
    return Delivery.objects.get(id=delivery_id)


def test_any_failing_task_is_dead_lettered_with_its_arguments_and_traceback():
    result = always_fails.apply(args=["job-7"])

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.task_name == "notifications.tests.always_fails"
    assert dead_letter.task_id == result.id
    assert dead_letter.args == ["job-7"]
    assert dead_letter.exception_type == "RuntimeError"
    assert dead_letter.error == "boom job-7"
    assert "raise RuntimeError" in dead_letter.traceback
    assert dead_letter.attempts == 1
    assert dead_letter.team is None
    assert dead_letter.first_failed_at == dead_letter.last_failed_at
    assert selectors.dead_letter_backlog() == {"notifications.tests.always_fails": 1}


def test_a_task_not_listed_as_dead_lettered_is_not_kept():
    fails_quietly.apply()

    assert not DeadLetter.objects.exists()


PERIODIC_TASKS = [
    task_names.DISPATCH_DUE_CHECKS,
    task_names.RUN_CHECK_BATCH,
    task_names.ROLLUP_CHECK_RESULTS,
    task_names.PRUNE_CHECK_RESULTS,
    task_names.REQUEUE_STALLED_DELIVERIES,
    task_names.DISPATCH_DUE_POLICIES,
    task_names.FLUSH_EXPIRED_TOKENS,
]


# Work owed to someone that nothing else would do again.
OWED_TASKS = [
    task_names.EVALUATE_CHECK_RESULTS,
    task_names.NOTIFY_INCIDENT,
    task_names.DELIVER_NOTIFICATION,
]


@pytest.mark.parametrize("task_name", PERIODIC_TASKS)
def test_a_periodic_task_failing_in_a_database_outage_is_not_dead_lettered(task_name):
    # What the worker sends when the task raised for the last time (here: PostgreSQL down).
    task = app.tasks[task_name]
    task_failure.send(
        sender=task,
        task_id=f"{task_name}-1",
        exception=OperationalError("connection refused"),
        args=[[1, 2]] if task_name.endswith("run_check_batch") else [],
        kwargs={},
        einfo=None,
    )

    assert not DeadLetter.objects.exists()


@pytest.mark.parametrize("task_name", OWED_TASKS)
def test_an_evaluation_or_notification_task_failing_for_good_is_dead_lettered(task_name):
    task_failure.send(
        sender=app.tasks[task_name],
        task_id=f"{task_name}-1",
        exception=OperationalError("connection refused"),
        args=[[1]],
        kwargs={},
        einfo=None,
    )

    assert DeadLetter.objects.get().task_name == task_name


def test_replay_all_leaves_dead_letters_of_periodic_tasks_alone(
    eager, django_capture_on_commit_callbacks, capsys
):
    # Recorded before periodic tasks stopped being dead-lettered.
    now = timezone.now()
    stale = DeadLetter.objects.create(
        task_name=task_names.DISPATCH_DUE_CHECKS,
        task_id="dispatch-1",
        exception_type="OperationalError",
        error="connection refused",
        first_failed_at=now,
        last_failed_at=now,
    )
    always_fails.apply(args=["a"])

    with django_capture_on_commit_callbacks(execute=True):
        call_command("deadletters", "replay", "--all")

    assert "Replayed 1" in capsys.readouterr().out
    stale.refresh_from_db()
    assert stale.replayed_at is None


def test_replay_delivers_exactly_once_after_the_receiver_is_fixed(
    alice, alice_client, receiver, eager, django_capture_on_commit_callbacks
):
    delivery = dead_delivery(alice.personal_team, receiver)
    assert delivery.status == DeliveryStatus.DEAD
    dead_letter = DeadLetter.objects.get()
    receiver.default = (200, {})

    with django_capture_on_commit_callbacks(execute=True):
        first = alice_client.post(f"{URL}{dead_letter.id}/replay/")
    with django_capture_on_commit_callbacks(execute=True):
        second = alice_client.post(f"{URL}{dead_letter.id}/replay/")

    assert first.status_code == 202, first.content
    assert first.data["replayed_by"] == "alice@example.com"
    assert second.status_code == 409
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.successes) == 1
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {str(delivery.key)}
    assert selectors.dead_letter_backlog() == {}


def test_a_replay_that_fails_again_is_a_new_dead_letter(
    alice, alice_client, receiver, eager, django_capture_on_commit_callbacks
):
    dead_delivery(alice.personal_team, receiver)
    first = DeadLetter.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"{URL}{first.id}/replay/")

    second = DeadLetter.objects.exclude(id=first.id).get()
    assert second.task_id == DeadLetter.objects.get(id=first.id).replay_task_id
    assert second.delivery_id == first.delivery_id
    assert Delivery.objects.get().status == DeliveryStatus.DEAD


def test_dead_letters_are_listed_for_their_team_only(alice, alice_client, bob_client, receiver):
    dead_delivery(alice.personal_team, receiver)
    always_fails.apply(args=["system"])  # no team: staff see it in admin and the CLI

    mine = alice_client.get(URL)
    assert mine.status_code == 200
    assert [d["task_name"] for d in mine.data["results"]] == [task_names.DELIVER_NOTIFICATION]
    dead_letter_id = mine.data["results"][0]["id"]
    assert bob_client.get(URL).data["count"] == 0
    assert bob_client.get(f"{URL}{dead_letter_id}/").status_code == 404
    assert bob_client.post(f"{URL}{dead_letter_id}/replay/").status_code == 404


def test_a_dead_delivery_says_whose_alert_was_lost(alice, alice_client, receiver):
    delivery = dead_delivery(alice.personal_team, receiver)

    [letter] = alice_client.get(URL).data["results"]

    assert letter["alert"] == {
        "incident": delivery.incident_id,
        "monitor": delivery.incident.monitor_id,
        "monitor_name": "Payments API",
        "event": "opened",
        "channel": delivery.channel_id,
        "channel_name": "Ops webhook",
        "channel_kind": "webhook",
        "description": (
            f"opened alert for Payments API (incident {delivery.incident_id}) "
            "to Ops webhook (webhook)"
        ),
    }


def test_a_failed_fan_out_says_which_incidents_alerts_were_lost(alice, alice_client):
    incident = make_incident(make_monitor(alice.personal_team))
    DeadLetter.objects.create(
        task_name=task_names.NOTIFY_INCIDENT,
        task_id="fan-out-1",
        args=[incident.id, "opened"],
        exception_type="OperationalError",
        error="database went away",
        first_failed_at=incident.opened_at,
        last_failed_at=incident.opened_at,
        team=alice.personal_team,
    )

    alert = alice_client.get(URL).data["results"][0]["alert"]

    assert (alert["incident"], alert["monitor_name"], alert["channel"]) == (
        incident.id,
        "Payments API",
        None,
    )
    assert alert["description"].endswith("to every channel")


def test_other_tasks_dead_letters_have_no_alert(alice, alice_client):
    always_fails.apply(args=["x"])
    DeadLetter.objects.update(team=alice.personal_team)

    assert alice_client.get(URL).data["results"][0]["alert"] is None


def test_dead_letters_filter_by_replayed(alice, alice_client, receiver):
    dead_delivery(alice.personal_team, receiver)

    assert alice_client.get(URL, {"replayed": "false"}).data["count"] == 1
    assert alice_client.get(URL, {"replayed": "true"}).data["count"] == 0


def test_viewers_see_dead_letters_but_cannot_replay(alice, make_member, receiver):
    team, _, viewer_client = make_member(Role.VIEWER)
    dead_delivery(team, receiver)
    dead_letter = DeadLetter.objects.get()

    assert viewer_client.get(f"{URL}{dead_letter.id}/").status_code == 200
    assert viewer_client.post(f"{URL}{dead_letter.id}/replay/").status_code == 403
    assert DeadLetter.objects.get().replayed_at is None


def test_delivery_history_per_incident(alice, alice_client, bob_client, receiver):
    delivery = dead_delivery(alice.personal_team, receiver)
    url = f"/api/v1/incidents/{delivery.incident_id}/deliveries/"

    response = alice_client.get(url)

    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["status"] == "dead"
    assert row["response_code"] == 404
    assert row["attempts"] == 1
    assert row["attempt_log"][0]["outcome"] == "permanent"
    assert "404" in row["last_error"]
    assert bob_client.get(url).status_code == 404
    assert (
        alice_client.get("/api/v1/deliveries/", {"incident": delivery.incident_id}).data["count"]
        == 1
    )
    assert bob_client.get("/api/v1/deliveries/").data["count"] == 0


# --- manage.py deadletters -----------------------------------------------------------------


def test_command_lists_unreplayed_dead_letters(capsys):
    always_fails.apply(args=["listed"])

    call_command("deadletters", "list")

    out = capsys.readouterr().out
    assert "notifications.tests.always_fails" in out
    assert "boom listed" in out


def test_command_replays_one_by_id_then_refuses_a_second_time(
    eager, django_capture_on_commit_callbacks, capsys
):
    always_fails.apply(args=["again"])
    dead_letter = DeadLetter.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("deadletters", "replay", str(dead_letter.id))
    assert "Replayed 1" in capsys.readouterr().out
    # The replayed task ran (eagerly) and failed again: a second, new dead letter.
    assert DeadLetter.objects.count() == 2

    with pytest.raises(CommandError, match="already replayed"):
        call_command("deadletters", "replay", str(dead_letter.id))


def test_command_replays_all_pending(eager, django_capture_on_commit_callbacks, capsys):
    always_fails.apply(args=["a"])
    always_fails.apply(args=["b"])

    with django_capture_on_commit_callbacks(execute=True):
        call_command("deadletters", "replay", "--all")

    assert "Replayed 2" in capsys.readouterr().out
    assert DeadLetter.objects.filter(replayed_at__isnull=False).count() == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay"], "IDs or --all"),
        (["replay", "1", "--all"], "IDs or --all"),
        (["replay", "999999"], "no such dead letter"),
        (["list", "--limit", "0"], "at least 1"),
    ],
)
def test_command_errors_are_one_line_and_non_zero(argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("deadletters", *argv)
