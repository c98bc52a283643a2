"""Channels written through the real Django admin go through the channel services: each write
is audited with the staff user as actor and validated with the API's messages."""

from __future__ import annotations

import json

import pytest

from accounts.models import AuditEntry
from notifications.models import Channel
from notifications.tests.conftest import make_monitor, make_webhook

pytestmark = pytest.mark.django_db

CHANNELS = "/admin/notifications/channel/"


def webhook_form(team, **overrides) -> dict:
    """What the admin's form posts for a valid webhook channel, with ``overrides``."""
    data = {
        "team": team.id,
        "name": "Ops hook",
        "kind": "webhook",
        "config": '{"url": "https://hooks.example.com/ops"}',
        "events": '["opened", "resolved"]',
        "enabled": "on",
    }
    data.update(overrides)
    return data


def form_errors(response) -> dict[str, list[str]]:
    return dict(response.context["adminform"].form.errors)


def audit_trail() -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(object_type="channel")
        .order_by("id")
        .values_list("action", "actor__email")
    )


def test_channel_added_in_the_admin_is_audited_with_the_staff_user(admin_client, admin_user, alice):
    monitor = make_monitor(alice.personal_team)

    response = admin_client.post(
        f"{CHANNELS}add/", webhook_form(alice.personal_team, monitors=[monitor.id])
    )

    assert response.status_code == 302, form_errors(response)
    assert list(Channel.objects.get().monitors.all()) == [monitor]
    assert audit_trail() == [("create", admin_user.email)]


def test_channel_changed_in_the_admin_is_audited_with_its_changes(admin_client, admin_user, alice):
    channel = make_webhook(alice.personal_team, "https://hooks.example.com/ops", name="Ops hook")

    response = admin_client.post(
        f"{CHANNELS}{channel.id}/change/", webhook_form(alice.personal_team, name="Pager hook")
    )

    assert response.status_code == 302, form_errors(response)
    entry = AuditEntry.objects.get(object_type="channel", action="update")
    assert entry.actor == admin_user
    assert entry.changes["name"] == ["Ops hook", "Pager hook"]


def test_a_signing_secret_typed_in_the_admin_is_audited_as_changed_without_its_value(
    admin_client, alice
):
    channel = make_webhook(alice.personal_team, "https://hooks.example.com/ops")
    secret = "a-new-signing-secret-of-32-chars!"

    admin_client.post(
        f"{CHANNELS}{channel.id}/change/", webhook_form(alice.personal_team, signing_secret=secret)
    )

    channel.refresh_from_db()
    entry = AuditEntry.objects.get(object_type="channel", action="update")
    assert channel.secrets["signing_secret"] == secret
    assert entry.changes["secrets"] == "changed"


def test_channel_deleted_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, alice
):
    channel = make_webhook(alice.personal_team, "https://hooks.example.com/ops")

    admin_client.post(f"{CHANNELS}{channel.id}/delete/", {"post": "yes"})

    assert not Channel.objects.exists()
    assert audit_trail()[1:] == [("delete", admin_user.email)]


def test_bulk_delete_of_channels_in_the_admin_audits_each_one(admin_client, admin_user, alice):
    channels = [
        make_webhook(alice.personal_team, f"https://hooks.example.com/{name}") for name in "ab"
    ]

    admin_client.post(
        CHANNELS,
        {"action": "delete_selected", "post": "yes", "_selected_action": [c.id for c in channels]},
    )

    assert not Channel.objects.exists()
    assert audit_trail()[2:] == [("delete", admin_user.email)] * 2


def test_admin_refuses_a_bad_webhook_url_with_the_apis_message(admin_client, alice, alice_client):
    bad = {"url": "ftp://hooks.example.com/ops"}
    api = alice_client.post(
        "/api/v1/channels/", {"name": "Ops", "kind": "webhook", "config": bad}, format="json"
    )

    response = admin_client.post(
        f"{CHANNELS}add/", webhook_form(alice.personal_team, config=json.dumps(bad))
    )

    assert api.status_code == 400
    assert response.status_code == 200
    assert form_errors(response)["config"] == [str(message) for message in api.data["config"]]
    assert not Channel.objects.exists()


def test_admin_refuses_another_teams_monitor_on_a_channel(admin_client, alice, bob):
    foreign = make_monitor(alice.personal_team)

    response = admin_client.post(
        f"{CHANNELS}add/", webhook_form(bob.personal_team, monitors=[foreign.id])
    )

    assert response.status_code == 200
    assert form_errors(response)["monitors"] == [f"Monitor {foreign.id} belongs to another team."]
    assert not Channel.objects.exists()


def test_admin_add_past_the_channel_quota_shows_the_apis_message(
    settings, admin_client, alice, alice_client
):
    settings.TEAM_MAX_CHANNELS = 1
    make_webhook(alice.personal_team, "https://hooks.example.com/first")
    api = alice_client.post(
        "/api/v1/channels/",
        {"name": "B", "kind": "webhook", "config": {"url": "https://hooks.example.com/b"}},
        format="json",
    )

    response = admin_client.post(f"{CHANNELS}add/", webhook_form(alice.personal_team))

    assert response.status_code == 200
    assert form_errors(response)["__all__"] == [str(m) for m in api.data["non_field_errors"]]
    assert Channel.objects.count() == 1
