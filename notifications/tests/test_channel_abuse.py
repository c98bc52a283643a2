"""A channel cannot be used as a relay: tests are throttled per user and per team in the
shared cache, email goes to team members only, and a team has at most TEAM_MAX_CHANNELS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accounts.models import Membership, Role
from conftest import ROOT
from notifications import services
from notifications.models import Channel

pytestmark = pytest.mark.django_db

URL = "/api/v1/channels/"


def channel_test_url(channel: Channel) -> str:
    return f"{URL}{channel.id}/test/"


def webhook(team, url: str) -> Channel:
    return services.channel_create(team=team, name="Hook", kind="webhook", config={"url": url})


def email(team, *to: str) -> Channel:
    return services.channel_create(team=team, name="Mail", kind="email", config={"to": list(to)})


# --- throttle ---------------------------------------------------------------------------------


def test_channel_tests_past_the_rate_are_refused_with_429(settings, alice, alice_client, receiver):
    settings.CHANNEL_TEST_THROTTLE_RATE = "3/min"
    channel = webhook(alice.personal_team, receiver.url)

    codes = [alice_client.post(channel_test_url(channel)).status_code for _ in range(5)]

    assert codes == [200, 200, 200, 429, 429]
    assert len(receiver.requests) == 3
    refused = alice_client.post(channel_test_url(channel))
    assert int(refused["Retry-After"]) > 0
    assert "3/min" in refused.data["detail"]


def test_the_throttle_is_per_team_across_its_members(
    settings, alice, bob, alice_client, bob_client, shared_team, receiver
):
    settings.CHANNEL_TEST_THROTTLE_RATE = "2/min"
    shared_team.add(bob, Role.ADMIN)
    channel = webhook(shared_team, receiver.url)

    alice_codes = [alice_client.post(channel_test_url(channel)).status_code for _ in range(2)]
    bob_code = bob_client.post(channel_test_url(channel)).status_code

    assert alice_codes == [200, 200] and bob_code == 429
    assert len(receiver.requests) == 2


def test_the_throttle_is_per_user_across_their_teams(settings, alice, alice_client, receiver):
    settings.CHANNEL_TEST_THROTTLE_RATE = "2/min"
    first = webhook(alice.personal_team, receiver.url)
    other_team = alice_client.post("/api/v1/teams/", {"name": "Other"}).data["id"]
    second = Channel.objects.get(
        pk=alice_client.post(
            URL,
            {"team": other_team, "name": "H2", "kind": "webhook", "config": {"url": receiver.url}},
        ).data["id"]
    )

    codes = [
        alice_client.post(channel_test_url(channel)).status_code
        for channel in (first, first, second)
    ]

    assert codes == [200, 200, 429]


def test_the_throttle_counts_across_processes_in_the_default_cache(tmp_path):
    """Production's default cache (no CACHE_URL) is shared by every process on the machine."""
    script = (
        "from notifications.throttles import channel_test_throttle, ChannelTestThrottled\n"
        "try:\n"
        "    channel_test_throttle(user_id=1, team_id=1)\n"
        "    print('allowed')\n"
        "except ChannelTestThrottled:\n"
        "    print('throttled')\n"
    )
    # No CACHE_URL and no Redis broker: the file cache under HEALTHMON_VAR_DIR, private here.
    unset = {"CACHE_URL", "CELERY_BROKER_URL", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(DEBUG="true", HEALTHMON_VAR_DIR=str(tmp_path), CHANNEL_TEST_THROTTLE_RATE="2/min")

    def one_process() -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[-1]  # after Django shell's banner

    assert [one_process() for _ in range(3)] == ["allowed", "allowed", "throttled"]


# --- email recipients -------------------------------------------------------------------------


def test_email_to_an_address_outside_the_team_is_refused_with_a_field_message(alice_client):
    response = alice_client.post(
        URL,
        {"name": "Mail", "kind": "email", "config": {"to": ["alice@example.com", "x@spam.io"]}},
    )

    assert response.status_code == 400
    [message] = response.data["config"]
    assert "x@spam.io is not a member of this team" in message
    assert not Channel.objects.exists()


def test_email_to_members_of_the_team_is_accepted(alice, bob, alice_client, shared_team):
    shared_team.add(bob, Role.VIEWER)

    response = alice_client.post(
        URL,
        {
            "team": shared_team.id,
            "name": "Mail",
            "kind": "email",
            "config": {"to": ["alice@example.com", "bob@example.com"]},
        },
    )

    assert response.status_code == 201, response.data


def test_an_operator_may_allow_any_recipient(settings, alice_client):
    settings.EMAIL_RECIPIENTS_ANY = True

    response = alice_client.post(
        URL, {"name": "Mail", "kind": "email", "config": {"to": ["ops@example.org"]}}
    )

    assert response.status_code == 201, response.data


def test_an_email_channel_has_at_most_ten_recipients(settings, alice_client):
    settings.EMAIL_RECIPIENTS_ANY = True
    to = [f"ops{n}@example.org" for n in range(11)]

    response = alice_client.post(URL, {"name": "Mail", "kind": "email", "config": {"to": to}})

    assert response.status_code == 400
    assert "to: at most 10 addresses." in response.data["config"]


def test_a_test_to_a_recipient_who_left_the_team_is_refused(
    alice, bob, alice_client, shared_team, smtp
):
    shared_team.add(bob, Role.VIEWER)
    channel = email(shared_team, "bob@example.com")
    Membership.objects.filter(team=shared_team, user=bob).delete()

    response = alice_client.post(channel_test_url(channel))

    assert response.status_code == 400
    assert "bob@example.com is not a member" in response.data["config"][0]
    assert smtp.envelopes == []


def test_the_admin_refuses_a_recipient_outside_the_team(admin_client, alice):
    response = admin_client.post(
        "/admin/notifications/channel/add/",
        {
            "team": alice.personal_team.id,
            "name": "Relay",
            "kind": "email",
            "config": '{"to": ["x@spam.io"]}',
            "events": '["opened"]',
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "x@spam.io is not a member of this team" in response.content.decode()
    assert not Channel.objects.exists()


# --- channel quota ----------------------------------------------------------------------------


def test_api_refuses_a_channel_past_the_team_limit_naming_limit_and_usage(
    settings, alice, alice_client
):
    settings.TEAM_MAX_CHANNELS = 1
    webhook(alice.personal_team, "https://hooks.example.com/a")

    response = alice_client.post(
        URL, {"name": "B", "kind": "webhook", "config": {"url": "https://hooks.example.com/b"}}
    )

    assert response.status_code == 400
    assert response.data["non_field_errors"] == [
        "This team has 1 channels, its limit (TEAM_MAX_CHANNELS) is 1: delete channels before "
        "adding another."
    ]
    assert Channel.objects.count() == 1


def test_the_admin_refuses_a_channel_past_the_team_limit(settings, admin_client, alice):
    settings.TEAM_MAX_CHANNELS = 1
    webhook(alice.personal_team, "https://hooks.example.com/a")

    response = admin_client.post(
        "/admin/notifications/channel/add/",
        {
            "team": alice.personal_team.id,
            "name": "B",
            "kind": "webhook",
            "config": '{"url": "https://hooks.example.com/b"}',
            "events": '["opened"]',
        },
    )

    assert response.status_code == 200
    assert "its limit (TEAM_MAX_CHANNELS) is 1" in response.content.decode()
    assert Channel.objects.count() == 1
