"""Where a monitor's alerts go: the channels on the monitor form, its detail page, and the
overview's flag on monitors that alert nobody."""

from __future__ import annotations

import pytest

from dashboard.tests.conftest import make_monitor
from dashboard.tests.test_channel_pages import field_block, make_channel
from monitors.models import Monitor
from notifications.selectors import monitors_alerting_nobody

pytestmark = pytest.mark.django_db

FLAG = "data-alerts-nobody"


def monitor_post(team, **fields) -> dict:
    data = {
        "team": team.id,
        "name": "Checkout",
        "kind": "http",
        "url": "https://shop.example.com/health",
        "method": "GET",
        "expected_status": "200-299",
        "interval": 60,
        "timeout": 10,
        "failure_threshold": 2,
        "success_threshold": 1,
        "channels__shown": "1",
    }
    data.update(fields)
    return data


def overview_row(html: str, monitor: Monitor) -> str:
    start = html.index(f'data-monitor-id="{monitor.id}"')
    return html[start : html.index("</tr>", start)]


# --- The selector ---------------------------------------------------------------------------


def test_a_monitor_alerts_nobody_without_an_enabled_channel_told_of_openings(alice):
    team = alice.personal_team
    bare, disabled, resolved_only, alerted = (
        make_monitor(team, name) for name in ("bare", "disabled", "resolved-only", "alerted")
    )
    make_channel(team, "off", enabled=False, monitors=[disabled])
    make_channel(team, "late", events=["resolved"], monitors=[resolved_only])
    make_channel(team, "on", monitors=[alerted])

    ids = [bare.id, disabled.id, resolved_only.id, alerted.id]
    assert monitors_alerting_nobody(ids) == {bare.id, disabled.id, resolved_only.id}


# --- Overview and detail --------------------------------------------------------------------


def test_the_overview_flags_monitors_that_alert_nobody(alice, alice_web):
    silent = make_monitor(alice.personal_team, "Silent")
    heard = make_monitor(alice.personal_team, "Heard")
    make_channel(alice.personal_team, monitors=[heard])

    html = alice_web.get("/").content.decode()

    assert FLAG in overview_row(html, silent)
    assert FLAG not in overview_row(html, heard)
    assert FLAG in overview_row(alice_web.get("/live/overview/").content.decode(), silent)


def test_the_detail_page_says_where_alerts_go(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    make_channel(alice.personal_team, "Pager", monitors=[monitor])
    make_channel(alice.personal_team, "Old list", enabled=False, monitors=[monitor])

    html = alice_web.get(f"/monitors/{monitor.id}/").content.decode()

    section = html[html.index("data-monitor-alerts") :]
    assert 'Pager <span class="muted">(Signed webhook)' in section
    assert 'Old list <span class="muted">(Signed webhook, disabled)' in section
    assert FLAG not in section


def test_the_detail_page_warns_a_monitor_alerts_nobody(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    html = alice_web.get(f"/monitors/{monitor.id}/").content.decode()

    assert "This monitor alerts nobody: no channel is attached." in html


# --- The monitor form's channels ------------------------------------------------------------


def test_a_monitor_created_with_chosen_channels_gets_those_only(alice, alice_web):
    default = make_channel(alice.personal_team, "Default", is_default=True)
    chosen = make_channel(alice.personal_team, "Chosen")

    response = alice_web.post(
        "/monitors/new/", monitor_post(alice.personal_team, channels=[chosen.id])
    )

    monitor = Monitor.objects.get(name="Checkout")
    assert response.status_code == 302
    assert list(monitor.channels.all()) == [chosen]
    assert default not in monitor.channels.all()


def test_a_monitor_created_with_no_channel_ticked_gets_the_default_channels(alice, alice_web):
    default = make_channel(alice.personal_team, "Default", is_default=True)
    make_channel(alice.personal_team, "Other")

    alice_web.post("/monitors/new/", monitor_post(alice.personal_team))

    assert list(Monitor.objects.get(name="Checkout").channels.all()) == [default]


def test_editing_with_no_channel_ticked_detaches_them_all(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Checkout")
    make_channel(alice.personal_team, monitors=[monitor])

    alice_web.post(f"/monitors/{monitor.id}/edit/", monitor_post(alice.personal_team))

    assert not monitor.channels.exists()


def test_an_edit_posted_without_the_channel_field_leaves_channels_alone(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Checkout")
    channel = make_channel(alice.personal_team, monitors=[monitor])
    data = monitor_post(alice.personal_team, name="Checkout v2")
    del data["channels__shown"]

    alice_web.post(f"/monitors/{monitor.id}/edit/", data)

    monitor.refresh_from_db()
    assert monitor.name == "Checkout v2"
    assert list(monitor.channels.all()) == [channel]


def test_the_edit_form_shows_the_monitors_channels_ticked(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Checkout")
    on = make_channel(alice.personal_team, "On", monitors=[monitor])
    make_channel(alice.personal_team, "Off")

    html = alice_web.get(f"/monitors/{monitor.id}/edit/").content.decode()

    block = field_block(html, "channels")
    assert f'value="{on.id}"' in block and "checked" in block
    assert block.count("checked") == 1


def test_another_teams_channel_is_refused_on_the_channels_field(alice, bob, alice_web):
    bobs = make_channel(bob.personal_team, "Bob's pager")

    response = alice_web.post(
        "/monitors/new/", monitor_post(alice.personal_team, channels=[bobs.id])
    )

    assert "Select a valid choice" in field_block(response.content.decode(), "channels")
    assert not Monitor.objects.filter(name="Checkout").exists()


def test_a_channel_of_another_of_my_teams_is_refused_with_the_apis_message(
    alice, shared_team, alice_web
):
    other = make_channel(shared_team, "Platform pager")

    response = alice_web.post(
        "/monitors/new/", monitor_post(alice.personal_team, channels=[other.id])
    )

    block = field_block(response.content.decode(), "channels")
    assert f"Channel {other.id} belongs to another team." in block
    assert not Monitor.objects.filter(name="Checkout").exists()
