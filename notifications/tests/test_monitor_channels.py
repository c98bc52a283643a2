"""Monitors and channels, seen from the monitors API (the link lives on Channel)."""

from __future__ import annotations

import pytest

from notifications.tests.conftest import make_webhook

pytestmark = pytest.mark.django_db

MONITORS = "/api/v1/monitors/"


def new_monitor(client, **extra):
    data = {"name": "API", "url": "https://api.example.com/health", "interval": 60, **extra}
    return client.post(MONITORS, data, format="json")


def test_new_monitor_gets_the_teams_default_channels(alice, alice_client):
    default = make_webhook(alice.personal_team, "https://hooks.example.com/a", is_default=True)
    make_webhook(alice.personal_team, "https://hooks.example.com/b", name="Other")

    response = new_monitor(alice_client)

    assert response.status_code == 201, response.content
    assert response.data["channels"] == [default.id]


def test_explicit_channels_replace_the_defaults(alice, alice_client):
    make_webhook(alice.personal_team, "https://hooks.example.com/a", is_default=True)
    chosen = make_webhook(alice.personal_team, "https://hooks.example.com/b", name="Chosen")

    response = new_monitor(alice_client, channels=[chosen.id])

    assert response.data["channels"] == [chosen.id]


def test_monitor_channels_can_be_changed_and_listed(alice, alice_client):
    channel = make_webhook(alice.personal_team, "https://hooks.example.com/a")
    monitor_id = new_monitor(alice_client).data["id"]

    patched = alice_client.patch(f"{MONITORS}{monitor_id}/", {"channels": [channel.id]})
    listed = alice_client.get(MONITORS)

    assert patched.status_code == 200, patched.content
    assert patched.data["channels"] == [channel.id]
    assert listed.data["results"][0]["channels"] == [channel.id]
    assert list(channel.monitors.values_list("id", flat=True)) == [monitor_id]


def test_channels_of_other_teams_cannot_be_linked(alice_client, bob, shared_team):
    bobs = make_webhook(bob.personal_team, "https://hooks.example.com/bob")
    other_team = make_webhook(shared_team, "https://hooks.example.com/platform")

    invisible = new_monitor(alice_client, channels=[bobs.id])
    wrong_team = new_monitor(alice_client, channels=[other_team.id])

    assert invisible.status_code == 400
    assert "channels" in invisible.data
    assert wrong_team.status_code == 400
    assert "another team" in str(wrong_team.data["channels"])
