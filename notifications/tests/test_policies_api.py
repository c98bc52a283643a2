"""The policies in the API: channel fields, /api/v1/escalation-policies/, and a monitor's
``escalation_policy``."""

from __future__ import annotations

import pytest

from accounts.models import Role
from notifications.models import EscalationPolicy, MonitorEscalation
from notifications.tests.conftest import make_monitor, make_webhook

pytestmark = pytest.mark.django_db

URL = "/api/v1/escalation-policies/"


def test_a_new_channel_groups_for_30_seconds_and_does_not_remind(alice_client):
    response = alice_client.post(
        "/api/v1/channels/",
        {"name": "Ops", "kind": "webhook", "config": {"url": "https://hooks.example.com/x"}},
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["group_window_seconds"] == 30
    assert response.data["reminder_interval_minutes"] == 0
    assert response.data["reminder_max"] == 3


def test_channel_policies_are_changed_and_bounded(alice, alice_client):
    channel = make_webhook(alice.personal_team, "https://hooks.example.com/x")
    url = f"/api/v1/channels/{channel.id}/"

    changed = alice_client.patch(
        url,
        {"group_window_seconds": 0, "reminder_interval_minutes": 15, "reminder_max": 4},
        format="json",
    )
    refused = alice_client.patch(
        url, {"group_window_seconds": 7200, "reminder_max": 0}, format="json"
    )

    assert changed.status_code == 200, changed.data
    channel.refresh_from_db()
    assert (channel.group_window_seconds, channel.reminder_interval_minutes) == (0, 15)
    assert channel.reminder_max == 4
    assert refused.status_code == 400
    assert set(refused.data) == {"group_window_seconds", "reminder_max"}


def policy_body(*channels, **fields) -> dict:
    return {
        "name": "On-call",
        "stages": [
            {"after_minutes": 10, "channels": [channels[0].id]},
            {"after_minutes": 30, "channels": [c.id for c in channels[1:]] or [channels[0].id]},
        ],
        **fields,
    }


def test_an_escalation_policy_is_created_with_ordered_stages_and_read_back(alice, alice_client):
    team = alice.personal_team
    lead = make_webhook(team, "https://hooks.example.com/lead", name="lead")
    cto = make_webhook(team, "https://hooks.example.com/cto", name="cto")
    monitor = make_monitor(team)

    created = alice_client.post(
        URL, policy_body(lead, cto, monitors=[monitor.id], is_default=True), format="json"
    )

    assert created.status_code == 201, created.data
    assert created.data["key"] == "on-call"
    assert created.data["stages"] == [
        {"position": 1, "after_minutes": 10, "channels": [lead.id]},
        {"position": 2, "after_minutes": 30, "channels": [cto.id]},
    ]
    assert created.data["monitors"] == [monitor.id]
    monitor_data = alice_client.get(f"/api/v1/monitors/{monitor.id}/").data
    assert monitor_data["escalation_policy"] == created.data["id"]


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([], "stages"),
        ([{"after_minutes": 30, "channels": []}], "stages"),
        ([{"after_minutes": 0, "channels": ["LEAD"]}], "stages"),
    ],
)
def test_bad_stages_are_a_400_by_field(alice, alice_client, stages, field):
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")
    stages = [
        {**stage, "channels": [lead.id if c == "LEAD" else c for c in stage["channels"]]}
        for stage in stages
    ]

    response = alice_client.post(URL, {"name": "x", "stages": stages}, format="json")

    assert response.status_code == 400
    assert field in response.data


def test_stages_must_rise(alice, alice_client):
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")
    body = {
        "name": "x",
        "stages": [
            {"after_minutes": 30, "channels": [lead.id]},
            {"after_minutes": 10, "channels": [lead.id]},
        ],
    }

    response = alice_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert "later than the one before" in str(response.data["stages"])


def test_another_teams_channels_policies_and_monitors_do_not_exist(
    alice, bob, alice_client, bob_client
):
    bobs = make_webhook(bob.personal_team, "https://hooks.example.com/bob")
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")
    policy = alice_client.post(URL, policy_body(lead), format="json").data
    bobs_monitor = make_monitor(bob.personal_team)

    stolen_channel = alice_client.post(URL, policy_body(bobs), format="json")
    listed = bob_client.get(URL)
    read = bob_client.get(f"{URL}{policy['id']}/")
    attached = bob_client.patch(
        f"/api/v1/monitors/{bobs_monitor.id}/",
        {"escalation_policy": policy["id"]},
        format="json",
    )

    assert stolen_channel.status_code == 400
    assert listed.data["count"] == 0
    assert read.status_code == 404
    assert attached.status_code == 400
    assert not MonitorEscalation.objects.filter(monitor=bobs_monitor).exists()


def test_members_read_policies_and_only_admins_change_them(make_member, alice):
    team, _, admin_client = make_member(Role.ADMIN, "admin@example.com")
    _, _, editor_client = make_member(Role.EDITOR, "editor@example.com")
    lead = make_webhook(team, "https://hooks.example.com/lead")
    body = {**policy_body(lead), "team": team.id}

    by_editor = editor_client.post(URL, body, format="json")
    by_admin = admin_client.post(URL, body, format="json")
    read_by_editor = editor_client.get(f"{URL}{by_admin.data['id']}/")
    deleted_by_editor = editor_client.delete(f"{URL}{by_admin.data['id']}/")

    assert by_editor.status_code == 403
    assert by_admin.status_code == 201, by_admin.data
    assert read_by_editor.status_code == 200
    assert deleted_by_editor.status_code == 403


def test_a_second_default_policy_replaces_the_first(alice, alice_client):
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")

    first = alice_client.post(URL, policy_body(lead, is_default=True), format="json").data
    second = alice_client.post(
        URL, policy_body(lead, name="Night", is_default=True), format="json"
    ).data

    defaults = EscalationPolicy.objects.filter(is_default=True)
    assert [p.id for p in defaults] == [second["id"]]
    assert first["id"] != second["id"]


def test_a_monitor_is_given_a_policy_and_back_to_the_team_default(alice, alice_client):
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")
    policy = alice_client.post(URL, policy_body(lead), format="json").data
    monitor = make_monitor(alice.personal_team)
    url = f"/api/v1/monitors/{monitor.id}/"

    given = alice_client.patch(url, {"escalation_policy": policy["id"]}, format="json")
    cleared = alice_client.patch(url, {"escalation_policy": None}, format="json")

    assert given.data["escalation_policy"] == policy["id"]
    assert cleared.data["escalation_policy"] is None
    assert not MonitorEscalation.objects.filter(monitor=monitor).exists()


def test_policy_stages_are_replaced_by_a_patch(alice, alice_client):
    lead = make_webhook(alice.personal_team, "https://hooks.example.com/lead")
    policy = alice_client.post(URL, policy_body(lead), format="json").data

    changed = alice_client.patch(
        f"{URL}{policy['id']}/",
        {"stages": [{"after_minutes": 5, "channels": [lead.id]}]},
        format="json",
    )

    assert changed.status_code == 200, changed.data
    assert changed.data["stages"] == [{"position": 1, "after_minutes": 5, "channels": [lead.id]}]


def test_dashboard_shows_channel_policies_escalation_policies_and_a_monitors_escalation(
    alice, alice_client
):
    from dashboard.tests.conftest import web_for

    web = web_for(alice)
    lead = make_webhook(
        alice.personal_team,
        "https://hooks.example.com/lead",
        name="lead",
        reminder_interval_minutes=15,
    )
    alice_client.post(URL, policy_body(lead, name="Night shift", is_default=True), format="json")
    monitor = make_monitor(alice.personal_team)

    channels_page = web.get("/channels/").content.decode()
    monitor_page = web.get(f"/monitors/{monitor.id}/").content.decode()

    assert "groups 30 s · reminds every 15 min, at most 3 times" in channels_page
    assert "Night shift" in channels_page
    assert "10 min → lead" in channels_page
    assert "Night shift" in monitor_page
    assert "team default" in monitor_page


def test_the_deliveries_of_a_grouped_message_are_listed_by_sent_in(alice, alice_client):
    from notifications.models import Delivery
    from notifications.tests.conftest import make_incident

    team = alice.personal_team
    channel = make_webhook(team, "https://hooks.example.com/x")
    rows = []
    for n in range(3):
        incident = make_incident(make_monitor(team, name=f"api-{n}"))
        rows.append(
            Delivery.objects.create(
                incident=incident,
                channel=channel,
                channel_name=channel.name,
                channel_kind=channel.kind,
                event="opened",
                payload={},
            )
        )
    Delivery.objects.filter(id__in=[r.id for r in rows[:2]]).update(sent_in=rows[0].id)

    listed = alice_client.get(f"/api/v1/deliveries/?sent_in={rows[0].id}").data

    results = listed["results"]
    assert sorted(d["id"] for d in results) == sorted(r.id for r in rows[:2])
    assert {d["sent_in"] for d in results} == {rows[0].id}
