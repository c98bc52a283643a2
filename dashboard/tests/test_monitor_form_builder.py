"""The monitor form people fill without the docs: the kind first, then only its fields;
headers as rows; assertions built from (check, field, operator, value) rows; every error at
once, each on its field (and on its row). All of it works without JavaScript."""

from __future__ import annotations

import html
import re

import pytest

from dashboard import forms as dashboard_forms
from dashboard.assertion_rows import Row, assertion_to_row, rows_to_assertions
from dashboard.forms import KIND_FIELDS, KindFields
from dashboard.tests.conftest import make_monitor
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def form_post(team_id: int, **fields) -> dict:
    data = {
        "team": team_id,
        "name": "Checkout",
        "kind": "http",
        "url": "https://checkout.example.com/health",
        "method": "GET",
        "expected_status": "200-299",
        "interval": "60",
        "timeout": "5",
        "failure_threshold": "2",
        "success_threshold": "1",
        "verify_tls": "on",
        "header_name": ["", ""],
        "header_value": ["", ""],
        "assertion_type": ["", ""],
        "assertion_field": ["", ""],
        "assertion_operator": ["is", "is"],
        "assertion_value": ["", ""],
        "tags": "",
    }
    data.update(fields)
    return data


def test_each_kind_is_offered_first_with_what_it_checks(alice, alice_web):
    page = alice_web.get("/monitors/new/").content.decode()

    radios = re.findall(r'<input type="radio" name="kind" value="(\w+)"', page)
    assert radios == list(KIND_FIELDS)
    assert page.index('name="kind"') < page.index('name="name"') < page.index('name="url"')
    assert "A port accepts connections" in page


def test_each_field_says_which_kinds_use_it(alice, alice_web):
    page = alice_web.get("/monitors/new/").content.decode()

    assert re.search(r'data-kinds="tcp tls">\s*<label for="id_port"', page)
    assert re.search(r'data-kinds="tcp dns tls icmp">\s*<label for="id_host"', page)
    assert re.search(r'data-kinds="http">\s*<label for="id_url"', page)
    assert re.search(r'<div class="field">\s*<label for="id_failure_threshold"', page)


def test_adding_a_kind_is_one_entry(alice, alice_web, monkeypatch):
    kinds = {**KIND_FIELDS, "icmp": KIND_FIELDS["icmp"]}
    kinds["heartbeat"] = KindFields("Heartbeat", "Your job pings us on schedule", ("interval",))
    monkeypatch.setattr(dashboard_forms, "KIND_FIELDS", kinds)

    page = alice_web.get("/monitors/new/").content.decode()

    assert '<input type="radio" name="kind" value="heartbeat"' in page
    assert "Your job pings us on schedule" in page
    assert re.search(r'data-kinds="[a-z ]*heartbeat">\s*<label for="id_interval"', page)
    assert not re.search(r'data-kinds="[a-z ]*heartbeat">\s*<label for="id_timeout"', page)


def test_header_rows_become_the_headers_object(alice, alice_web):
    data = form_post(
        alice.personal_team.id,
        header_name=["Accept", "", "X-Team"],
        header_value=["application/json", "", "payments"],
    )

    response = alice_web.post("/monitors/new/", data)

    assert response.status_code == 302, response.content
    assert Monitor.objects.get().headers == {"Accept": "application/json", "X-Team": "payments"}


def test_a_header_value_without_a_name_is_refused_on_the_headers(alice, alice_web):
    data = form_post(alice.personal_team.id, header_name=[""], header_value=["secret"])

    form = alice_web.post("/monitors/new/", data).context["form"]

    assert form.errors["headers"] == ["Header 1: give the header a name."]
    assert not Monitor.objects.exists()


def test_assertion_rows_become_the_assertions_json(alice, alice_web):
    data = form_post(
        alice.personal_team.id,
        assertion_type=["status", "", "json", "header", "response_time"],
        assertion_field=["", "", "$.status", "Content-Type", ""],
        assertion_operator=["is", "is", "equals", "contains", "below"],
        assertion_value=["200", "", "ok", "json", "500"],
    )

    response = alice_web.post("/monitors/new/", data)

    assert response.status_code == 302, response.content
    assert Monitor.objects.get().assertions == [
        {"type": "status_code", "value": "200"},
        {"type": "json_path_equals", "path": "$.status", "value": "ok"},
        {"type": "header_contains", "name": "Content-Type", "value": "json"},
        {"type": "response_time_below", "value": 500},
    ]


def test_every_error_shows_at_once_each_on_its_field_and_row(alice, alice_web):
    data = form_post(
        alice.personal_team.id,
        url="ftp://files.example.com/",
        interval="5",
        assertion_type=["response_time", "body", "json"],
        assertion_field=["", "", "$.["],
        assertion_operator=["below", "contains", "exists"],
        assertion_value=["fast", "", ""],
    )

    response = alice_web.post("/monitors/new/", data)

    errors = response.context["form"].errors
    assert sorted(errors) == ["assertions", "interval", "url"]
    assert errors["assertions"] == [
        "Assertion 1: Response time (ms) needs a number.",
        "Assertion 2: body_contains: value must be a non-empty string.",
        "Assertion 3: json_path_exists: '$.[' is not a valid JSONPath"
        " (Parse error near the end of string!).",
    ]
    page = html.unescape(response.content.decode())
    rows = re.findall(r'<li class="row assertion-row has-error".*?</li>\s*</ul>', page, re.S)
    assert len(rows) == 3
    assert "needs a number" in rows[0] and "non-empty string" in rows[1]
    assert "3 fields need attention" in page
    assert not Monitor.objects.exists()


def test_an_edited_monitor_shows_its_assertions_and_headers_as_rows(alice, alice_web):
    monitor = make_monitor(
        alice.personal_team,
        headers={"Authorization": "Bearer abc"},
        assertions=[
            {"type": "json_path_equals", "path": "$.count", "value": 3},
            {"type": "json_path_equals", "path": "$.id", "value": "3"},
            {"type": "json_path_exists", "path": "$.items"},
        ],
    )

    page = alice_web.get(f"/monitors/{monitor.id}/edit/").content.decode()

    assert 'name="header_name" value="Authorization"' in page
    values = [html.unescape(v) for v in re.findall(r'name="assertion_value" value="([^"]*)"', page)]
    assert values[:3] == ["3", '"3"', ""]  # the number 3 and the text "3" stay apart


def test_saving_an_edited_monitor_keeps_its_assertions(alice, alice_web):
    assertions = [
        {"type": "json_path_equals", "path": "$.count", "value": 3},
        {"type": "json_path_equals", "path": "$.id", "value": "3"},
        {"type": "body_not_contains", "value": "error"},
    ]
    monitor = make_monitor(alice.personal_team, assertions=assertions)
    rows = [assertion_to_row(spec) for spec in assertions]
    data = form_post(
        alice.personal_team.id,
        assertion_type=[r.type for r in rows],
        assertion_field=[r.field for r in rows],
        assertion_operator=[r.operator for r in rows],
        assertion_value=[r.value for r in rows],
    )

    response = alice_web.post(f"/monitors/{monitor.id}/edit/", data)

    assert response.status_code == 302, response.content
    monitor.refresh_from_db()
    assert monitor.assertions == assertions


def test_what_another_kinds_hidden_fields_hold_is_ignored(alice, alice_web):
    data = form_post(alice.personal_team.id, kind="tcp", host="db.internal", port="5432")

    response = alice_web.post("/monitors/new/", data)  # url still filled in, hidden for tcp

    assert response.status_code == 302, response.content
    monitor = Monitor.objects.get()
    assert (monitor.kind, monitor.url, monitor.port) == ("tcp", "", 5432)


def test_a_post_with_json_boxes_instead_of_rows_still_works(alice, alice_web):
    data = form_post(alice.personal_team.id, headers='{"Accept": "text/plain"}')
    for key in ("header_name", "header_value", "assertion_type"):
        del data[key]
    data["assertions"] = '[{"type": "body_contains", "value": "ok"}]'

    assert alice_web.post("/monitors/new/", data).status_code == 302
    monitor = Monitor.objects.get()
    assert monitor.headers == {"Accept": "text/plain"}
    assert monitor.assertions == [{"type": "body_contains", "value": "ok"}]


@pytest.mark.parametrize(
    ("row", "spec"),
    [
        (Row("status", "", "is", "200-299,301"), {"type": "status_code", "value": "200-299,301"}),
        (Row("body", "", "not_contains", "error"), {"type": "body_not_contains", "value": "error"}),
        (
            Row("json", "$.ok", "equals", "true"),
            {"type": "json_path_equals", "path": "$.ok", "value": True},
        ),
        (Row("json", "$.items", "exists", ""), {"type": "json_path_exists", "path": "$.items"}),
        (
            Row("header", "ETag", "equals", "x"),
            {"type": "header_equals", "name": "ETag", "value": "x"},
        ),
        (Row("cert", "", "at_least", "14"), {"type": "cert_valid_days", "value": 14}),
        (Row("packet_loss", "", "below", "2.5"), {"type": "packet_loss_below", "value": 2.5}),
        (Row("answer", "", "matches", "10.*"), {"type": "answer_matches", "value": "10.*"}),
        (
            Row("condition", "", "holds", "[STATUS] == 200"),
            {"type": "condition", "value": "[STATUS] == 200"},
        ),
    ],
)
def test_a_row_becomes_its_assertion_and_back(row, spec):
    assert rows_to_assertions([row]) == ([spec], [])
    assert rows_to_assertions([assertion_to_row(spec)]) == ([spec], [])


def test_an_operator_the_check_does_not_take_is_named():
    _, problems = rows_to_assertions([Row("status", "", "contains", "200")])

    assert problems == ["Assertion 1: Status code takes “is”."]
