"""The monitor form's "Test now": the draft is validated like a save, queued to the check
workers (never run in the web), and its report says how each assertion did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from lib import task_names
from monitors import check_draft
from monitors.check_draft import draft_check_run
from monitors.models import CheckResult, DraftCheck, Monitor
from monitors.tests.http_target import HttpTarget

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def target():
    with HttpTarget() as server:
        yield server


@pytest.fixture
def sent(monkeypatch) -> list:
    """The messages the web sends to the broker (the worker's side is run by hand)."""
    messages: list = []
    monkeypatch.setattr(
        check_draft.current_app, "send_task", lambda name, **kw: messages.append((name, kw))
    )
    return messages


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def draft_form(team_id: int, url: str, **fields) -> dict:
    data = {
        "team": team_id,
        "name": "Orders",
        "kind": "http",
        "url": url,
        "method": "GET",
        "expected_status": "200-299",
        "interval": "60",
        "timeout": "5",
        "failure_threshold": "1",
        "success_threshold": "1",
        "header_name": ["Authorization"],
        "header_value": ["Bearer s3cret-token"],
        "assertion_type": ["json", "body"],
        "assertion_field": ["$.status", ""],
        "assertion_operator": ["equals", "contains"],
        "assertion_value": ["ok", "maintenance"],
    }
    data.update(fields)
    return data


def test_test_now_queues_the_draft_and_says_where_its_result_appears(
    alice, target, sent, django_capture_on_commit_callbacks
):
    client = web(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/monitors/test/", draft_form(alice.personal_team.id, target.url("/ok"))
        )

    assert response.status_code == 202, response.content
    draft = DraftCheck.objects.get()
    assert response.json()["result"] == f"/monitors/test/{draft.id}/"
    assert sent == [
        (task_names.RUN_DRAFT_CHECK, {"args": [str(draft.id)], "expires": sent[0][1]["expires"]})
    ]
    assert client.get(f"/monitors/test/{draft.id}/").json() == {"state": "pending", "outcome": None}
    # Nothing saved as a monitor; the headers (credentials) are encrypted at rest.
    assert not Monitor.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT config::text FROM monitors_draftcheck")
        assert "s3cret-token" not in cursor.fetchone()[0]


def test_the_worker_reports_status_code_excerpt_and_each_assertion(alice, target, sent):
    web(alice).post("/monitors/test/", draft_form(alice.personal_team.id, target.url("/ok")))
    draft = DraftCheck.objects.get()

    draft_check_run(draft_id=draft.id)

    outcome = web(alice).get(f"/monitors/test/{draft.id}/").json()
    assert outcome["state"] == "done"
    report = outcome["outcome"]
    assert (report["status"], report["status_code"]) == ("down", 200)
    assert report["reason"].startswith("Assertion 2 failed: body does not contain 'maintenance'")
    assert '"status": "ok"' in report["excerpt"]
    assert [(a["passed"], a["reason"]) for a in report["assertions"]] == [
        (True, ""),
        (False, "body does not contain 'maintenance'"),
    ]
    draft.refresh_from_db()
    assert draft.config == {}  # the credentials are not kept once the check ran
    assert not CheckResult.objects.exists()  # a draft leaves no history


def test_a_target_that_does_not_answer_judges_no_assertion(alice, sent):
    web(alice).post("/monitors/test/", draft_form(alice.personal_team.id, "http://127.0.0.1:9/"))

    draft = draft_check_run(draft_id=DraftCheck.objects.get().id)

    assert draft is not None
    assert draft.outcome["status"] == "error"
    assert [a["passed"] for a in draft.outcome["assertions"]] == [None, None]


def test_a_draft_with_errors_is_refused_with_every_message(alice, target, sent):
    response = web(alice).post(
        "/monitors/test/",
        draft_form(alice.personal_team.id, "ftp://x.example.com/", interval="5"),
    )

    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["interval", "url"]
    assert not DraftCheck.objects.exists() and sent == []


def test_a_draft_result_is_only_for_who_asked(alice, bob, target, sent):
    web(alice).post("/monitors/test/", draft_form(alice.personal_team.id, target.url("/ok")))
    draft = DraftCheck.objects.get()

    assert web(bob).get(f"/monitors/test/{draft.id}/").status_code == 404


def test_a_draft_for_another_teams_monitor_is_refused(alice, bob, target, sent):
    response = web(bob).post(
        "/monitors/test/", draft_form(alice.personal_team.id, target.url("/ok"))
    )

    assert response.status_code == 400 and "team" in response.json()["errors"]
    assert not DraftCheck.objects.exists()


def test_drafts_count_against_the_teams_check_now_limit(alice, target, sent, settings):
    settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM = 1
    client = web(alice)
    form = draft_form(alice.personal_team.id, target.url("/ok"))

    assert client.post("/monitors/test/", form).status_code == 202
    refused = client.post("/monitors/test/", form)

    assert refused.status_code == 429
    assert "limit of 1" in refused.json()["errors"]["__all__"][0]


def test_an_unanswered_draft_expires_and_is_not_run_late(alice, target, sent):
    web(alice).post("/monitors/test/", draft_form(alice.personal_team.id, target.url("/ok")))
    draft = DraftCheck.objects.get()
    DraftCheck.objects.filter(id=draft.id).update(
        requested_at=timezone.now() - check_draft.draft_check_lease() - timedelta(seconds=1)
    )

    assert draft_check_run(draft_id=draft.id) is None
    assert web(alice).get(f"/monitors/test/{draft.id}/").json()["state"] == "expired"
