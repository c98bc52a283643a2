"""The monitor form for each kind: the kind first, that kind's fieldsets, the API's words."""

from __future__ import annotations

import pytest

from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def kind_form(team_id: int, kind: str, **fields) -> dict:
    return {
        "team": team_id,
        "name": f"A {kind} monitor",
        "kind": kind,
        "method": "GET",
        "expected_status": "200-299",
        "interval": "60",
        "timeout": "5",
        "failure_threshold": "2",
        "success_threshold": "1",
        "verify_tls": "on",
        "headers": "",
        "assertions": "",
        **fields,
    }


@pytest.mark.parametrize(
    ("kind", "fields", "described"),
    [
        ("tcp", {"host": "db.internal", "port": "5432"}, "tcp db.internal:5432"),
        ("dns", {"host": "example.com", "dns_record_type": "MX"}, "dns MX example.com"),
        (
            "tls",
            {"host": "mx.test", "port": "587", "starttls": "smtp"},
            "tls mx.test:587 (STARTTLS smtp)",
        ),
        ("icmp", {"host": "127.0.0.1", "ping_count": "4"}, "icmp 127.0.0.1 (4 pings)"),
        (
            "heartbeat",
            {"cron": "0 3 * * *", "tz": "Europe/Paris", "grace": "600"},
            "heartbeat cron &#x27;0 3 * * *&#x27; Europe/Paris, grace 600s",
        ),
    ],
)
def test_a_monitor_of_each_kind_is_created_through_the_form_and_shown(
    alice, alice_web, kind, fields, described
):
    response = alice_web.post("/monitors/new/", kind_form(alice.personal_team.id, kind, **fields))

    monitor = Monitor.objects.get(name=f"A {kind} monitor")
    assert response.status_code == 302, response.content
    assert monitor.kind == kind
    page = alice_web.get(f"/monitors/{monitor.id}/").content.decode()
    assert described in page


def test_the_form_shows_the_apis_message_for_a_missing_target(alice, alice_web):
    response = alice_web.post("/monitors/new/", kind_form(alice.personal_team.id, "tcp", host="db"))

    assert response.status_code == 200
    assert "This field is required for tcp monitors." in response.content.decode()
    assert not Monitor.objects.exists()


def test_fields_say_which_kinds_they_are_for(alice, alice_web):
    page = alice_web.get("/monitors/new/").content.decode()

    assert '<div class="field" data-kinds="icmp">' in page  # ping count
    assert '<div class="field" data-kinds="dns">' in page  # record type, resolver
    assert '<fieldset data-kinds="api">' in page  # steps
    assert 'data-kinds="http" id="id_headers"' in page
    assert 'data-kinds="heartbeat"' in page  # cron, tz, grace
    assert 'name="kind"' in page


API_STEPS = (
    '[{"name": "log in", "method": "POST", "url": "https://api.example.com/login",'
    ' "extract": [{"var": "token", "from": "header", "name": "X-Token"}]},'
    ' {"name": "orders", "url": "https://api.example.com/orders",'
    ' "headers": {"Authorization": "Bearer {{token}}"}}]'
)


def test_an_api_monitor_is_created_from_its_steps_json(alice, alice_web):
    form = kind_form(alice.personal_team.id, "api", steps=API_STEPS)
    response = alice_web.post("/monitors/new/", form)

    assert response.status_code == 302, response.content
    monitor = Monitor.objects.get(kind="api")
    assert [step["name"] for step in monitor.steps] == ["log in", "orders"]
    page = alice_web.get(f"/monitors/{monitor.id}/").content.decode()
    assert "POST https://api.example.com/login → GET https://api.example.com/orders" in page


def test_the_steps_box_shows_the_apis_message_naming_the_step(alice, alice_web):
    steps = API_STEPS.replace(
        '"from": "header", "name": "X-Token"', '"from": "json", "path": "$.["'
    )
    response = alice_web.post(
        "/monitors/new/", kind_form(alice.personal_team.id, "api", steps=steps)
    )

    assert response.status_code == 200
    assert "steps[0].extract[0].path: &#x27;$.[&#x27; is not a valid JSONPath." in (
        response.content.decode()
    )
    assert not Monitor.objects.exists()


def test_a_heartbeat_monitor_made_in_the_form_shows_its_ping_url_and_curl_line(
    alice, alice_web, settings
):
    settings.SITE_URL = "https://hm.example.com"
    form = kind_form(alice.personal_team.id, "heartbeat", interval="3600", tz="", grace="")
    response = alice_web.post("/monitors/new/", form)

    assert response.status_code == 302, response.content
    monitor = Monitor.objects.get(kind="heartbeat")
    assert (monitor.cron, monitor.tz, monitor.grace) == ("", "UTC", 60)  # empty: the defaults
    page = alice_web.get(f"/monitors/{monitor.id}/").content.decode()
    url = f"https://hm.example.com/ping/{monitor.ping_token}"
    assert f'value="{url}"' in page
    assert f"curl -fsS -m 10 --retry 3 {url}</textarea>" in page
    assert "Last ping: none yet" in page
    assert "Check now" not in page  # passive


def test_the_form_refuses_a_bad_cron_expression_with_the_apis_message(alice, alice_web):
    form = kind_form(alice.personal_team.id, "heartbeat", cron="61 * * * *")
    response = alice_web.post("/monitors/new/", form)

    assert response.status_code == 200
    assert "Not a valid cron expression" in response.content.decode()
    assert not Monitor.objects.exists()
