"""``manage.py healthmon_status``: the pure renderer by table, the command on a real DB."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from healthmon.heartbeats import BeatTickRecorder
from healthmon.status import render_status
from incidents.models import Incident
from monitors.models import Monitor

UP = {"status": "up", "latency_ms": 1.25}


def snapshot(**overrides) -> dict:
    base = {
        "at": "2026-01-05T10:00:00+00:00",
        "healthy": True,
        "components": {
            "database": UP,
            "broker": UP,
            "beat": {"status": "up", "last_tick_age_seconds": 0.8},
            "workers": {
                "status": "up",
                "queues": {"checks": 1, "incidents": 1, "notifications": 1},
                "workers": ["celery@a"],
            },
            "queues": {"status": "up", "depths": {"checks": 0, "incidents": 3, "notifications": 0}},
        },
        "monitors": {"up": 10, "down": 1, "unknown": 2, "paused": 3},
        "open_incidents": [
            {
                "id": 7,
                "monitor": "payments",
                "since": "2026-01-05T09:50:00+00:00",
                "minutes": 10,
                "reason": "HTTP 500",
                "acknowledged": True,
            }
        ],
        "open_incident_count": 1,
        "dead_letters": {},
    }
    base.update(overrides)
    return base


def test_a_healthy_system_on_one_screen():
    assert render_status(snapshot()) == (
        "healthmon status at 2026-01-05 10:00:00 UTC: HEALTHY\n"
        "  Database     up (1.2 ms)\n"
        "  Broker       up (1.2 ms)\n"
        "  Beat         last tick 0.8s ago\n"
        "  Workers      checks 1, incidents 1, notifications 1  (celery@a)\n"
        "  Queues       checks 0, incidents 3, notifications 0 waiting\n"
        "  Monitors     13 active: 10 up, 1 down, 2 unknown; 3 paused\n"
        "  Incidents    1 open\n"
        "    #7 payments: down 10m, acknowledged (HTTP 500)\n"
        "  Dead letters 0 waiting for replay\n"
    )


@pytest.mark.parametrize(
    ("component", "value", "expected"),
    [
        ("beat", {"status": "down", "last_tick_age_seconds": None},
         "Beat         last tick never  DOWN"),
        ("beat", {"status": "down", "last_tick_age_seconds": 600},
         "Beat         last tick 10m ago  DOWN"),
        ("broker", {"status": "down", "reason": "refused"}, "Broker       DOWN: refused"),
        ("queues", {"status": "down", "reason": "refused"}, "Queues       unknown: refused"),
        (
            "workers",
            {"status": "down", "queues": {"checks": 0, "incidents": 1, "notifications": 1},
             "workers": ["celery@b"]},
            "Workers      checks 0, incidents 1, notifications 1  (celery@b)  DOWN",
        ),
    ],
)  # fmt: skip
def test_a_part_that_is_down_says_so(component, value, expected):
    data = snapshot(healthy=False)
    data["components"][component] = value

    text = render_status(data)

    assert "DOWN" in text.splitlines()[0]
    assert f"  {expected}\n" in text


def test_failing_channels_are_listed_with_their_last_error_and_the_oldest_undelivered_age():
    data = snapshot()
    data["components"]["notifications"] = {
        "status": "degraded",
        "failing_channels": 1,
        "failing_channel_ids": [4],
        "oldest_undelivered_age_seconds": 600.0,
        "failing": [
            {
                "id": 4,
                "name": "Ops webhook",
                "kind": "webhook",
                "team_id": 1,
                "failed_in_a_row": 3,
                "dead_letters": 2,
                "last_error": "HTTP 500 (server error)",
            }
        ],
    }

    text = render_status(data)

    assert "DEGRADED" in text.splitlines()[0]
    assert (
        "  Alerts       1 channel(s) failing; oldest undelivered since 10m ago  DEGRADED\n"
        "    channel #4 Ops webhook (webhook): 3 failed in a row, 2 dead letter(s) this hour; "
        "last error: HTTP 500 (server error)\n"
    ) in text


def test_dead_letters_are_listed_by_task():
    text = render_status(snapshot(dead_letters={"notifications.tasks.deliver_notification": 2}))

    assert "Dead letters 2 waiting for replay (notifications.tasks.deliver_notification 2)" in text


@pytest.mark.django_db
def test_command_summarises_the_database_and_exits_1_with_check_when_beat_is_down(alice):
    team = alice.personal_team
    later = timezone.now() + timedelta(hours=1)
    down = Monitor.objects.create(
        team=team, name="payments", url="https://p.example/", status="down", next_check_at=later
    )
    Monitor.objects.create(
        team=team, name="orders", url="https://o.example/", status="up", next_check_at=later
    )
    Monitor.objects.create(team=team, name="old", url="https://x.example/", is_active=False)
    Incident.objects.create(
        team=team,
        monitor=down,
        monitor_name="payments",
        started_at=timezone.now(),
        opened_at=timezone.now(),
        cause="HTTP 500",
    )
    BeatTickRecorder()()
    out = io.StringIO()

    call_command("healthmon_status", stdout=out)

    text = out.getvalue()
    assert "Monitors     2 active: 1 up, 1 down, 0 unknown; 1 paused" in text
    assert "Incidents    1 open" in text
    assert "payments: down 0m (HTTP 500)" in text
    assert "Beat         last tick" in text


@pytest.mark.django_db
def test_check_fails_with_a_one_line_reason_and_json_is_machine_readable(heartbeat_store):
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^unhealthy: beat: beat has never ticked"):
        call_command("healthmon_status", "--check", stdout=out)

    out = io.StringIO()
    call_command("healthmon_status", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["components"]["beat"]["status"] == "down"
    assert data["monitors"] == {"up": 0, "down": 0, "unknown": 0, "paused": 0}
