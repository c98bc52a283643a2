"""A heartbeat through the kind-first monitor form: created and edited with only its own
fields, never offered "Test now" (refused with the passive message if posted anyway), and
cloned with a ping token of its own."""

from __future__ import annotations

import re

import pytest

from monitors.models import DraftCheck, Monitor
from monitors.services import monitor_create

pytestmark = pytest.mark.django_db


def heartbeat_post(team_id: int, **fields) -> dict:
    """Only what the form shows for a heartbeat: no URL, timeout or assertions."""
    return {
        "team": team_id,
        "name": "Nightly backup",
        "kind": "heartbeat",
        "interval": "86400",
        "cron": "",
        "tz": "UTC",
        "grace": "600",
        "failure_threshold": "1",
        "success_threshold": "1",
        **fields,
    }


def make_heartbeat(team, **fields) -> Monitor:
    values = {"name": "Nightly backup", "kind": "heartbeat", "interval": 86400, "grace": 600}
    return monitor_create(team=team, **{**values, **fields})


def test_a_heartbeat_is_created_with_only_its_own_fields(alice, alice_web):
    response = alice_web.post("/monitors/new/", heartbeat_post(alice.personal_team.id))

    assert response.status_code == 302, response.content.decode()
    monitor = Monitor.objects.get(name="Nightly backup")
    assert (monitor.kind, monitor.interval, monitor.grace) == ("heartbeat", 86400, 600)
    assert monitor.ping_token is not None


def test_the_heartbeat_fields_are_marked_for_heartbeat_and_probe_fields_are_not(alice_web):
    html = alice_web.get("/monitors/new/").content.decode()

    for name in ("interval", "cron", "tz", "grace"):
        assert re.search(
            rf'data-kinds="[a-z ]*\bheartbeat\b[a-z ]*">\s*<label for="id_{name}"', html
        )
    for name in ("timeout", "url"):
        assert not re.search(
            rf'data-kinds="[a-z ]*\bheartbeat\b[a-z ]*">\s*<label for="id_{name}"', html
        )


def test_a_heartbeat_is_edited_through_the_form(alice, alice_web):
    monitor = make_heartbeat(alice.personal_team)
    token = monitor.ping_token

    page = alice_web.get(f"/monitors/{monitor.id}/edit/").content.decode()
    assert 'name="grace" value="600"' in page

    response = alice_web.post(
        f"/monitors/{monitor.id}/edit/",
        heartbeat_post(alice.personal_team.id, cron="0 3 * * *", tz="Europe/Paris", grace="900"),
    )

    assert response.status_code == 302, response.content.decode()
    monitor.refresh_from_db()
    assert (monitor.cron, monitor.tz, monitor.grace) == ("0 3 * * *", "Europe/Paris", 900)
    assert monitor.ping_token == token  # editing keeps the URL the job pings


def test_test_now_is_not_offered_for_a_heartbeat(alice, alice_web):
    html = alice_web.get("/monitors/new/").content.decode()

    panel = re.search(r"<section [^>]*data-test-now[^>]*>", html)
    assert panel is not None
    kinds = re.search(r'data-kinds="([a-z ]*)"', panel.group(0))
    assert kinds is not None
    assert "http" in kinds.group(1).split() and "heartbeat" not in kinds.group(1).split()


@pytest.mark.parametrize("existing", [False, True])
def test_test_now_posted_for_a_heartbeat_answers_that_it_is_passive(alice, alice_web, existing):
    data = heartbeat_post(alice.personal_team.id)
    if existing:
        data["monitor"] = make_heartbeat(alice.personal_team, name="Existing").id

    response = alice_web.post("/monitors/test/", data)

    assert response.status_code == 400
    (message,) = response.json()["errors"]["__all__"]
    assert "heartbeat monitors are passive" in message
    assert not DraftCheck.objects.exists()


def test_a_cloned_heartbeat_gets_its_own_ping_token(alice, alice_web):
    source = make_heartbeat(alice.personal_team, cron="0 3 * * *", tz="Europe/Paris")

    page = alice_web.get(f"/monitors/{source.id}/clone/").content.decode()
    assert 'value="Copy of Nightly backup"' in page and 'value="0 3 * * *"' in page
    assert str(source.ping_token) not in page

    response = alice_web.post(
        f"/monitors/{source.id}/clone/",
        heartbeat_post(
            alice.personal_team.id,
            name="Copy of Nightly backup",
            cron="0 3 * * *",
            tz="Europe/Paris",
        ),
    )

    assert response.status_code == 302, response.content.decode()
    copy = Monitor.objects.get(name="Copy of Nightly backup")
    source_token = source.ping_token
    source.refresh_from_db()
    assert copy.kind == "heartbeat" and copy.cron == "0 3 * * *"
    assert copy.ping_token is not None and copy.ping_token != source.ping_token
    assert source.ping_token == source_token
