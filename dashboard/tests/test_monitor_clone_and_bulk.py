"""Clone a monitor into a prefilled create form; pause and resume several from the overview."""

from __future__ import annotations

import pytest

from accounts.models import Role
from dashboard.tests.conftest import make_monitor, web_for
from dashboard.tests.test_channel_pages import make_channel
from dashboard.tests.test_monitor_alerts import monitor_post
from monitors.models import Monitor
from monitors.services import monitor_pause

pytestmark = pytest.mark.django_db


# --- Clone ----------------------------------------------------------------------------------


def test_clone_opens_the_create_form_filled_in_as_a_copy(alice, alice_web):
    source = make_monitor(
        alice.personal_team,
        "Orders API",
        url="https://orders.example.com/health",
        interval=120,
        headers={"Accept": "application/json"},
        key="orders-prod-key",
    )
    channel = make_channel(alice.personal_team, monitors=[source])

    html = alice_web.get(f"/monitors/{source.id}/clone/").content.decode()

    assert "<h1>New monitor</h1>" in html
    assert 'value="Copy of Orders API"' in html
    assert 'value="https://orders.example.com/health"' in html
    assert 'value="120"' in html
    assert "application/json" in html
    assert f'value="{channel.id}"' in html and "checked" in html
    assert "orders-prod-key" not in html  # the copy gets its own key


def test_posting_the_clone_form_creates_a_second_monitor_with_its_own_key(alice, alice_web):
    source = make_monitor(alice.personal_team, "Orders API", key="orders-api")

    response = alice_web.post(
        f"/monitors/{source.id}/clone/",
        monitor_post(alice.personal_team, name="Copy of Orders API", url=source.url),
    )

    copy = Monitor.objects.get(name="Copy of Orders API")
    assert response.status_code == 302 and response["Location"] == f"/monitors/{copy.id}/"
    assert copy.id != source.id and copy.key and copy.key != source.key
    assert copy.url == source.url


def test_the_detail_page_links_to_clone(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    assert (
        f'href="/monitors/{monitor.id}/clone/"'
        in alice_web.get(f"/monitors/{monitor.id}/").content.decode()
    )


def test_another_teams_monitor_cannot_be_cloned(alice, bob_web):
    monitor = make_monitor(alice.personal_team, "Alice's secret API")

    response = bob_web.get(f"/monitors/{monitor.id}/clone/")

    assert response.status_code == 404


def test_a_viewer_cannot_clone(make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    monitor = make_monitor(team)

    assert web_for(viewer).get(f"/monitors/{monitor.id}/clone/").status_code == 403


# --- Bulk pause and resume ------------------------------------------------------------------


def test_pause_then_resume_the_ticked_monitors(alice, alice_web):
    a, b, untouched = (make_monitor(alice.personal_team, n) for n in ("A", "B", "C"))

    response = alice_web.post(
        "/monitors/bulk/", {"action": "pause", "ids": [a.id, b.id], "query": "state=up"}
    )

    assert response.status_code == 302 and response["Location"] == "/?state=up"
    assert [m.is_active for m in Monitor.objects.order_by("name")] == [False, False, True]
    alice_web.post("/monitors/bulk/", {"action": "resume", "ids": [a.id]})
    assert [m.is_active for m in Monitor.objects.order_by("name")] == [True, False, True]
    assert untouched.is_active


def test_the_overview_has_a_checkbox_per_monitor_and_the_bulk_bar(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    html = alice_web.get("/").content.decode()

    assert 'id="bulk-form"' in html and ">Pause selected</button>" in html
    assert f'name="ids" value="{monitor.id}" form="bulk-form"' in html


def test_an_id_of_another_team_is_404_and_nothing_changes(alice, bob, alice_web):
    mine = make_monitor(alice.personal_team, "Mine")
    bobs = make_monitor(bob.personal_team, "Bob's")

    response = alice_web.post("/monitors/bulk/", {"action": "pause", "ids": [mine.id, bobs.id]})

    assert response.status_code == 404
    assert Monitor.objects.filter(is_active=False).count() == 0


def test_garbage_ids_are_404(alice, alice_web):
    response = alice_web.post("/monitors/bulk/", {"action": "pause", "ids": ["1; DROP"]})

    assert response.status_code == 404


def test_a_viewer_cannot_pause_in_bulk(make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    monitor = make_monitor(team)

    response = web_for(viewer).post("/monitors/bulk/", {"action": "pause", "ids": [monitor.id]})

    assert response.status_code == 403
    monitor.refresh_from_db()
    assert monitor.is_active


def test_an_unknown_action_changes_nothing(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    alice_web.post("/monitors/bulk/", {"action": "delete", "ids": [monitor.id]})

    assert Monitor.objects.filter(id=monitor.id, is_active=True).exists()


def test_bulk_resume_says_how_many_were_resumed(alice, alice_web):
    paused = make_monitor(alice.personal_team, "Paused")
    running = make_monitor(alice.personal_team, "Running")
    monitor_pause(monitor=paused, actor=alice)

    response = alice_web.post(
        "/monitors/bulk/", {"action": "resume", "ids": [paused.id, running.id]}, follow=True
    )

    assert "1 monitor resumed." in response.content.decode()


# --- The overview's team filter -------------------------------------------------------------


def test_with_several_teams_the_overview_filters_by_team(alice, shared_team, alice_web):
    make_monitor(alice.personal_team, "Personal API")
    make_monitor(shared_team, "Platform API")

    everything = alice_web.get("/").content.decode()
    platform = alice_web.get(f"/?team={shared_team.id}").content.decode()

    assert 'name="team"' in everything
    assert "Personal API" in everything and "Platform API" in everything
    assert "Platform API" in platform and "Personal API" not in platform
    assert (
        f'href="/?team={shared_team.id}"'
        in alice_web.get(f"/team/{shared_team.id}/").content.decode()
    )


def test_with_one_team_there_is_no_team_filter_and_another_teams_id_shows_nothing(
    alice, bob, alice_web
):
    make_monitor(alice.personal_team, "Personal API")
    make_monitor(bob.personal_team, "Bob's API")

    assert 'name="team"' not in alice_web.get("/").content.decode()
    foreign = alice_web.get(f"/?team={bob.personal_team.id}").content.decode()
    assert "Bob&#x27;s API" not in foreign and "Personal API" not in foreign
