"""Channels from the dashboard: create, edit (secrets write-only), delete, attach to monitors,
make default with the offer to attach it to the team's existing monitors; roles and teams as
in the API."""

from __future__ import annotations

import re

import pytest

from accounts.models import AuditEntry, Role
from dashboard.tests.conftest import make_monitor, web_for
from notifications import services as notification_services
from notifications.models import Channel, ChannelKind

pytestmark = pytest.mark.django_db

SECRET_APPRISE = "ntfy://ntfy.sh/very-private-topic-4711"
GIVEN_SECRET = "a-signing-secret-of-my-own-123"


def webhook_post(team, **fields) -> dict:
    data = {
        "team": team.id,
        "name": "Ops hook",
        "kind": "webhook",
        "url": "https://hooks.example.com/healthmon",
        "events": ["opened", "resolved", "acknowledged"],
        "enabled": "on",
    }
    data.update(fields)
    return data


def make_channel(team, name: str = "Hook", **fields) -> Channel:
    fields.setdefault("kind", ChannelKind.WEBHOOK)
    fields.setdefault("config", {"url": "https://hooks.example.com/x"})
    return notification_services.channel_create(team=team, name=name, **fields)


def field_block(html: str, name: str) -> str:
    """The HTML of one field's wrapper (label, help, errors, input)."""
    chunks = [
        c
        for c in html.split('<div class="field')
        if f'name="{name}"' in c or f'id="id_{name}' in c or f'for="id_{name}' in c
    ]
    assert chunks, f"no field {name}"
    return chunks[0]


# --- Create ---------------------------------------------------------------------------------


def test_the_create_form_has_the_fields_of_the_fixed_contract(alice_web):
    html = alice_web.get("/channels/new/").content.decode()

    assert 'name="name"' in html and 'name="url"' in html
    assert re.search(r'<select name="kind"[^>]*>', html)
    assert ">Create channel</button>" in html


def test_an_admin_creates_a_webhook_and_sees_its_generated_secret_once(alice, alice_web):
    response = alice_web.post("/channels/new/", webhook_post(alice.personal_team))

    channel = Channel.objects.get(name="Ops hook")
    secret = channel.secrets["signing_secret"]
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert channel.config == {"url": "https://hooks.example.com/healthmon"}
    assert secret not in alice_web.get("/channels/").content.decode()
    assert secret not in alice_web.get(f"/channels/{channel.id}/edit/").content.decode()
    assert AuditEntry.objects.filter(object_type="channel", action="create").count() == 1


def test_a_webhook_with_its_own_secret_keeps_it_and_does_not_show_it(alice, alice_web):
    response = alice_web.post(
        "/channels/new/", webhook_post(alice.personal_team, signing_secret=GIVEN_SECRET)
    )

    channel = Channel.objects.get(name="Ops hook")
    assert channel.secrets["signing_secret"] == GIVEN_SECRET
    assert response.status_code == 302 and response["Location"] == "/channels/"


def test_a_bad_webhook_url_is_a_400_with_the_message_on_the_url_field(alice, alice_web):
    response = alice_web.post(
        "/channels/new/",
        webhook_post(alice.personal_team, url="ftp://files.example.com", signing_secret="short"),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "an http:// or https:// URL with a host is required" in field_block(html, "url")
    assert "at least 16 characters" in field_block(html, "signing_secret")
    assert 'value="short"' not in html  # a secret is never rendered back, even on an error
    assert not Channel.objects.exists()


def test_email_recipients_must_be_team_members_said_on_the_recipients_field(alice, alice_web):
    response = alice_web.post(
        "/channels/new/",
        {
            "team": alice.personal_team.id,
            "name": "Mail",
            "kind": "email",
            "recipients": "alice@example.com, stranger@example.org",
            "events": ["opened"],
        },
    )

    assert response.status_code == 400
    block = field_block(response.content.decode(), "recipients")
    assert "stranger@example.org is not a member of this team" in block

    ok = alice_web.post(
        "/channels/new/",
        {
            "team": alice.personal_team.id,
            "name": "Mail",
            "kind": "email",
            "recipients": "Alice@example.com",
            "events": ["opened"],
        },
    )
    assert ok.status_code == 302
    assert Channel.objects.get(name="Mail").config == {"to": ["alice@example.com"]}


def test_an_apprise_url_is_write_only_and_blank_keeps_it(alice, alice_web):
    created = alice_web.post(
        "/channels/new/",
        {
            "team": alice.personal_team.id,
            "name": "Phone",
            "kind": "apprise",
            "apprise_url": SECRET_APPRISE,
            "events": ["opened", "resolved"],
            "enabled": "on",
        },
    )
    channel = Channel.objects.get(name="Phone")
    assert created.status_code == 302
    assert channel.secrets == {"url": SECRET_APPRISE}

    edit = alice_web.get(f"/channels/{channel.id}/edit/").content.decode()
    assert "very-private-topic" not in edit
    assert "Leave blank to keep the current one" in edit

    alice_web.post(
        f"/channels/{channel.id}/edit/",
        {"name": "Phone (renamed)", "apprise_url": "", "events": ["opened"], "enabled": "on"},
    )
    channel.refresh_from_db()
    assert channel.name == "Phone (renamed)" and channel.events == ["opened"]
    assert channel.secrets == {"url": SECRET_APPRISE}
    assert "very-private-topic" not in alice_web.get("/channels/").content.decode()


# --- Edit, regenerate, delete ---------------------------------------------------------------


def test_regenerating_the_signing_secret_shows_the_new_one_once(alice, alice_web):
    channel = make_channel(alice.personal_team, secrets={"signing_secret": GIVEN_SECRET})

    kept = alice_web.post(
        f"/channels/{channel.id}/edit/",
        {"name": "Hook", "url": "https://hooks.example.com/y", "events": ["opened"]},
    )
    channel.refresh_from_db()
    assert kept.status_code == 302
    assert channel.secrets["signing_secret"] == GIVEN_SECRET
    assert channel.config["url"] == "https://hooks.example.com/y" and not channel.enabled

    response = alice_web.post(
        f"/channels/{channel.id}/edit/",
        {
            "name": "Hook",
            "url": "https://hooks.example.com/y",
            "events": ["opened"],
            "regenerate_secret": "on",
        },
    )
    channel.refresh_from_db()
    new_secret = channel.secrets["signing_secret"]
    assert new_secret != GIVEN_SECRET and len(new_secret) >= 32
    assert new_secret in response.content.decode()


def test_an_admin_deletes_a_channel(alice, alice_web):
    channel = make_channel(alice.personal_team)

    response = alice_web.post(f"/channels/{channel.id}/delete/")

    assert response.status_code == 302
    assert not Channel.objects.filter(id=channel.id).exists()


def test_the_kind_of_a_channel_cannot_change_on_edit(alice, alice_web):
    channel = make_channel(alice.personal_team)

    alice_web.post(
        f"/channels/{channel.id}/edit/",
        {
            "name": "Hook",
            "kind": "email",
            "url": "https://hooks.example.com/x",
            "events": ["opened"],
        },
    )

    channel.refresh_from_db()
    assert channel.kind == ChannelKind.WEBHOOK


# --- Roles and teams ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_members_below_admin_read_channels_but_cannot_change_them(role, make_member):
    team, user, _ = make_member(role)
    channel = make_channel(team)
    web = web_for(user)

    listing = web.get("/channels/")
    assert listing.status_code == 200 and "Hook" in listing.content.decode()
    assert f"/channels/{channel.id}/edit/" not in listing.content.decode()
    # Their personal team is theirs to alert from; the shared one is not offered or accepted.
    assert f'<option value="{team.id}"' not in web.get("/channels/new/").content.decode()
    refused = web.post("/channels/new/", webhook_post(team, signing_secret=GIVEN_SECRET))
    assert refused.status_code == 400 and not Channel.objects.filter(name="Ops hook").exists()
    assert web.get(f"/channels/{channel.id}/edit/").status_code == 403
    assert web.post(f"/channels/{channel.id}/delete/").status_code == 403
    assert web.post(f"/channels/{channel.id}/default/", {"attach": "yes"}).status_code == 403
    channel.refresh_from_db()
    assert not channel.is_default


def test_another_teams_channel_is_404_everywhere(alice, bob, bob_web):
    channel = make_channel(alice.personal_team)

    for url in ("edit", "default", "delete", "test"):
        assert bob_web.post(f"/channels/{channel.id}/{url}/").status_code == 404
    assert "Hook" not in bob_web.get("/channels/").content.decode()
    assert Channel.objects.filter(id=channel.id).exists()


def test_a_channel_cannot_be_created_in_or_attached_to_another_team(alice, bob, alice_web):
    bobs_monitor = make_monitor(bob.personal_team, "Bob's API")
    make_monitor(alice.personal_team, "Alice's API")

    response = alice_web.post(
        "/channels/new/",
        webhook_post(bob.personal_team, signing_secret=GIVEN_SECRET, monitors=[bobs_monitor.id]),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in field_block(html, "team")
    assert "Select a valid choice" in field_block(html, "monitors")
    assert "Bob&#x27;s API" not in html
    assert not Channel.objects.exists()


# --- Attach to monitors, make default -------------------------------------------------------


def test_attach_and_detach_monitors_from_the_channel_page(alice, alice_web):
    orders, search = (make_monitor(alice.personal_team, name) for name in ("Orders", "Search"))
    channel = make_channel(alice.personal_team)
    form = {"name": "Hook", "url": "https://hooks.example.com/x", "events": ["opened"]}

    alice_web.post(f"/channels/{channel.id}/edit/", {**form, "monitors": [orders.id, search.id]})
    assert set(channel.monitors.all()) == {orders, search}

    alice_web.post(f"/channels/{channel.id}/edit/", {**form, "monitors": [search.id]})
    assert set(channel.monitors.all()) == {search}


def test_a_channel_created_default_offers_to_attach_to_existing_monitors(alice, alice_web):
    orders, search = (make_monitor(alice.personal_team, name) for name in ("Orders", "Search"))

    created = alice_web.post(
        "/channels/new/",
        webhook_post(alice.personal_team, signing_secret=GIVEN_SECRET, is_default="on"),
    )
    channel = Channel.objects.get(name="Ops hook")
    assert created.status_code == 302
    assert created["Location"] == f"/channels/{channel.id}/default/"

    confirm = alice_web.get(created["Location"]).content.decode()
    assert "Orders" in confirm and "Search" in confirm
    assert "Attach to these 2 monitors" in confirm

    alice_web.post(created["Location"], {"attach": "yes"})
    assert set(channel.monitors.all()) == {orders, search}


def test_the_secret_page_leads_on_to_the_attach_offer(alice, alice_web):
    make_monitor(alice.personal_team, "Orders")

    response = alice_web.post("/channels/new/", webhook_post(alice.personal_team, is_default="on"))

    channel = Channel.objects.get(name="Ops hook")
    html = response.content.decode()
    assert channel.secrets["signing_secret"] in html
    assert f'href="/channels/{channel.id}/default/"' in html


def test_make_default_for_new_monitors_only_leaves_existing_ones(alice, alice_web):
    orders = make_monitor(alice.personal_team, "Orders")
    channel = make_channel(alice.personal_team)

    confirm = alice_web.get(f"/channels/{channel.id}/default/").content.decode()
    assert "Make default, new monitors only" in confirm
    alice_web.post(f"/channels/{channel.id}/default/", {"attach": "no"})

    channel.refresh_from_db()
    assert channel.is_default and not channel.monitors.exists()
    listing = alice_web.get("/channels/").content.decode()
    assert "Default, but 1 existing monitor does not alert to it." in listing
    newer = make_monitor(alice.personal_team, "Newer")
    assert list(channel.monitors.all()) == [newer]
    assert orders not in channel.monitors.all()


def test_a_channel_made_default_through_the_api_is_flagged_until_attached(
    alice, alice_client, alice_web
):
    orders = make_monitor(alice.personal_team, "Orders")
    response = alice_client.post(
        "/api/v1/channels/",
        {
            "name": "API hook",
            "kind": "webhook",
            "config": {"url": "https://h.example.com/"},
            "is_default": True,
        },
        format="json",
    )
    channel = Channel.objects.get(id=response.json()["id"])

    assert "Default, but 1 existing monitor" in alice_web.get("/channels/").content.decode()
    alice_web.post(f"/channels/{channel.id}/default/", {"attach": "yes"})
    assert list(channel.monitors.all()) == [orders]
    assert "Default, but" not in alice_web.get("/channels/").content.decode()


def test_attaching_to_existing_monitors_never_reaches_another_teams(alice, bob, alice_web):
    mine = make_monitor(alice.personal_team, "Mine")
    make_monitor(bob.personal_team, "Bob's")
    channel = make_channel(alice.personal_team)

    alice_web.post(f"/channels/{channel.id}/default/", {"attach": "yes"})

    assert list(channel.monitors.all()) == [mine]


def test_the_channels_page_no_longer_sends_users_to_the_api(alice_web):
    html = alice_web.get("/channels/").content.decode()

    assert "POST /api/v1/channels/" not in html
    assert 'href="/channels/new/"' in html


# --- Grouping, reminders and updates ------------------------------------------------------


def test_the_form_sets_grouping_reminders_and_updates_on_create_and_edit(alice, alice_web):
    html = alice_web.get("/channels/new/").content.decode()
    assert "Grouping, reminders and updates" in html
    assert 'name="group_window_seconds" value="30"' in field_block(html, "group_window_seconds")

    response = alice_web.post(
        "/channels/new/",
        webhook_post(
            alice.personal_team,
            signing_secret=GIVEN_SECRET,
            group_window_seconds="120",
            reminder_interval_minutes="15",
            reminder_max="5",
            send_incident_updates="on",
        ),
    )

    assert response.status_code == 302, response.content.decode()
    channel = Channel.objects.get(name="Ops hook")
    assert (channel.group_window_seconds, channel.reminder_interval_minutes) == (120, 15)
    assert channel.reminder_max == 5 and channel.send_incident_updates is True

    edit = alice_web.get(f"/channels/{channel.id}/edit/").content.decode()
    assert 'value="120"' in field_block(edit, "group_window_seconds")
    assert 'value="15"' in field_block(edit, "reminder_interval_minutes")
    assert "checked" in field_block(edit, "send_incident_updates")

    response = alice_web.post(
        f"/channels/{channel.id}/edit/",
        webhook_post(
            alice.personal_team,
            group_window_seconds="0",
            reminder_interval_minutes="0",
            reminder_max="1",
        ),
    )

    assert response.status_code == 302, response.content.decode()
    channel.refresh_from_db()
    assert (channel.group_window_seconds, channel.reminder_interval_minutes) == (0, 0)
    assert channel.reminder_max == 1 and channel.send_incident_updates is False


def test_policy_fields_out_of_bounds_are_400s_with_the_apis_messages(alice, alice_web):
    response = alice_web.post(
        "/channels/new/",
        webhook_post(alice.personal_team, group_window_seconds="3601", reminder_max="0"),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "less than or equal to 3600" in field_block(html, "group_window_seconds")
    assert "greater than or equal to 1" in field_block(html, "reminder_max")
    assert not Channel.objects.exists()


def test_a_form_without_the_policy_fields_keeps_the_defaults(alice, alice_web):
    alice_web.post("/channels/new/", webhook_post(alice.personal_team, signing_secret=GIVEN_SECRET))

    channel = Channel.objects.get(name="Ops hook")
    assert (channel.group_window_seconds, channel.reminder_interval_minutes) == (30, 0)
    assert channel.reminder_max == 3 and channel.send_incident_updates is False
