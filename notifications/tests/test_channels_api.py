"""The channels API: validation, write-only secrets, team isolation and roles, test sends."""

from __future__ import annotations

import pytest

from accounts.models import Role
from incidents.models import IncidentEvent
from notifications.models import Channel
from notifications.tests.conftest import make_monitor

pytestmark = pytest.mark.django_db

URL = "/api/v1/channels/"


def create(client, **data):
    return client.post(URL, data, format="json")


def webhook(url: str = "https://hooks.example.com/healthmon", **extra) -> dict:
    return {"name": "Ops webhook", "kind": "webhook", "config": {"url": url}, **extra}


def test_webhook_without_secret_gets_one_generated_and_shown_only_once(alice_client):
    response = create(alice_client, **webhook())

    assert response.status_code == 201, response.content
    generated = response.data["signing_secret"]
    assert len(generated) >= 32
    assert response.data["secrets_set"] == ["signing_secret"]
    assert "secrets" not in response.data
    assert Channel.objects.get().secrets["signing_secret"] == generated

    shown = alice_client.get(f"{URL}{response.data['id']}/")
    assert generated not in shown.content.decode()
    assert "signing_secret" not in shown.data


def test_secrets_never_appear_in_responses(alice_client):
    response = create(
        alice_client,
        name="Slack",
        kind="apprise",
        secrets={"url": "slack://TokenAAAA/TokenBBBB/TokenCCCC/#ops"},
    )

    assert response.status_code == 201, response.content
    listing = alice_client.get(URL).content.decode()
    for token in ("TokenAAAA", "TokenBBBB", "TokenCCCC"):
        assert token not in response.content.decode()
        assert token not in listing
    assert response.data["target"].startswith("slack://")
    assert response.data["secrets_set"] == ["url"]


def test_a_new_channel_subscribes_to_every_event_incidents_announce(alice_client):
    response = create(alice_client, **webhook())

    assert response.status_code == 201, response.content
    assert response.data["events"] == [
        "opened",
        "resolved",
        "acknowledged",
        "flapping",
        "stable",
    ]
    assert response.data["events"] == list(IncidentEvent.values)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "m", "kind": "email", "config": {"to": ["not-an-address"]}}, "config"),
        ({"name": "m", "kind": "email", "config": {}}, "config"),
        ({"name": "m", "kind": "email", "config": {"to": ["a@x.io"], "cc": "b"}}, "config"),
        ({"name": "w", "kind": "webhook", "config": {"url": "ftp://x.io/"}}, "config"),
        (
            {"name": "w", "kind": "webhook", "config": {"url": "https://x.io", "timeout": 0}},
            "config",
        ),
        (webhook(secrets={"signing_secret": "short"}), "secrets"),
        (webhook(secrets={"headers": {"Idempotency-Key": "mine"}}), "secrets"),
        (webhook(secrets={"headers": {"X-A": "line\nbreak"}}), "secrets"),
        ({"name": "a", "kind": "apprise", "secrets": {"url": "nonsense://x"}}, "secrets"),
        ({"name": "a", "kind": "apprise", "secrets": {}}, "secrets"),
        ({"name": "a", "kind": "apprise", "secrets": "slack://a/b/c"}, "secrets"),
        ({"name": "x", "kind": "carrier-pigeon"}, "kind"),
        (webhook(events=["exploded"]), "events"),
        (webhook(events=[]), "events"),
        ({"kind": "webhook", "config": {"url": "https://x.io"}}, "name"),
    ],
)
def test_invalid_channels_are_rejected_with_field_errors(alice_client, data, field):
    response = create(alice_client, **data)

    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Channel.objects.exists()


def test_invalid_apprise_url_is_not_echoed_back(alice_client):
    response = create(alice_client, name="a", kind="apprise", secrets={"url": "nonsense://p4ss"})

    assert response.status_code == 400
    assert "p4ss" not in response.content.decode()


def test_update_changes_only_the_secrets_named(alice_client):
    created = create(
        alice_client, **webhook(secrets={"signing_secret": "a" * 20, "headers": {"X-A": "1"}})
    )
    url = f"{URL}{created.data['id']}/"

    response = alice_client.patch(url, {"secrets": {"headers": None}, "name": "Renamed"})

    assert response.status_code == 200, response.content
    channel = Channel.objects.get()
    assert channel.secrets == {"signing_secret": "a" * 20}
    assert channel.name == "Renamed"


def test_kind_cannot_change(alice_client):
    created = create(alice_client, **webhook())

    response = alice_client.patch(f"{URL}{created.data['id']}/", {"kind": "email"})

    assert response.status_code == 400
    assert "kind" in response.data


def test_channel_links_monitors_of_its_team_only(alice_client, alice, bob):
    mine = make_monitor(alice.personal_team)
    theirs = make_monitor(bob.personal_team)

    ok = create(alice_client, **webhook(monitors=[mine.id]))
    foreign = create(alice_client, **webhook(monitors=[theirs.id]))

    assert ok.status_code == 201, ok.content
    assert ok.data["monitors"] == [mine.id]
    assert list(mine.channels.all()) == [Channel.objects.get()]
    assert foreign.status_code == 400
    assert "monitors" in foreign.data


def test_monitor_of_another_of_my_teams_is_refused(alice_client, alice, shared_team):
    other_team_monitor = make_monitor(shared_team)

    response = create(alice_client, **webhook(monitors=[other_team_monitor.id]))

    assert response.status_code == 400
    assert "another team" in str(response.data["monitors"])


def test_default_channels_attach_to_new_monitors(alice_client, alice):
    create(alice_client, **webhook(is_default=True, name="Default"))
    create(alice_client, **webhook(name="Not default"))

    monitor = make_monitor(alice.personal_team)

    assert [c.name for c in monitor.channels.all()] == ["Default"]


def test_other_teams_channels_are_invisible(alice_client, bob_client):
    created = create(alice_client, **webhook())
    url = f"{URL}{created.data['id']}/"

    assert bob_client.get(URL).data["count"] == 0
    assert bob_client.get(url).status_code == 404
    assert bob_client.patch(url, {"name": "x"}).status_code == 404
    assert bob_client.post(f"{url}test/").status_code == 404
    assert bob_client.delete(url).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_viewers_and_editors_read_but_cannot_change_channels(alice_client, make_member, role):
    team, _, member_client = make_member(role)
    created = create(alice_client, **webhook(team=team.id))
    url = f"{URL}{created.data['id']}/"

    assert member_client.get(url).status_code == 200
    assert member_client.patch(url, {"name": "x"}).status_code == 403
    assert member_client.post(f"{url}test/").status_code == 403
    assert member_client.delete(url).status_code == 403
    assert create(member_client, **webhook(team=team.id)).status_code == 403


def test_admins_manage_team_channels(make_member):
    team, _, admin_client = make_member(Role.ADMIN)

    response = create(admin_client, **webhook(team=team.id))

    assert response.status_code == 201
    assert Channel.objects.get().team == team


def test_anonymous_requests_are_refused(anon_client):
    assert anon_client.get(URL).status_code == 401


def test_test_message_reports_delivery(alice_client, receiver):
    created = create(
        alice_client, **webhook(url=receiver.url, secrets={"signing_secret": "x" * 16})
    )

    response = alice_client.post(f"{URL}{created.data['id']}/test/")

    assert response.status_code == 200
    assert response.data["delivered"] is True
    assert response.data["response_code"] == 200
    [request] = receiver.requests
    assert request.json()["event"] == "test"
    assert request.signature_valid("x" * 16)


def test_test_message_reports_the_failure(alice_client, receiver):
    receiver.default = (401, {})
    created = create(alice_client, **webhook(url=receiver.url))

    response = alice_client.post(f"{URL}{created.data['id']}/test/")

    assert response.status_code == 200
    assert response.data["delivered"] is False
    assert response.data["response_code"] == 401
    assert "401" in response.data["error"]


def test_email_test_message_reaches_the_smtp_server(alice_client, smtp):
    created = create(alice_client, name="Mail", kind="email", config={"to": "Alice@example.com"})

    response = alice_client.post(f"{URL}{created.data['id']}/test/")

    assert response.data["delivered"] is True, response.data
    assert smtp.envelopes[0].rcpt_tos == ["alice@example.com"]
    assert created.data["config"] == {"to": ["alice@example.com"]}


def test_an_email_test_that_cannot_connect_says_where_it_tried(alice_client, settings):
    from notifications.tests.receivers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    created = create(alice_client, name="Mail", kind="email", config={"to": "alice@example.com"})

    response = alice_client.post(f"{URL}{created.data['id']}/test/")

    assert response.data["delivered"] is False
    assert response.data["error"].startswith(
        f"The SMTP server 127.0.0.1:{settings.EMAIL_PORT} could not be reached: "
    )
