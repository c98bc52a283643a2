"""Heartbeat monitors: the schedule math, validation, the ping endpoint (every suffix, HEAD,
POST bodies, 404s, no login, no cookies), the dispatcher's missed deadlines, and when a ping
is handed to the state machine."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from healthmon.pings import PingEndpoint
from monitors import heartbeats
from monitors.kinds.heartbeat import deadline_after, following_deadline, missed_reason
from monitors.models import CheckResult, Monitor
from monitors.scheduling import claim_due_monitors
from monitors.services import monitor_create, monitor_pause, monitor_update

PARIS = ZoneInfo("Europe/Paris")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- The schedule (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_ping", "schedule", "deadline"),
    [
        # period: last ping + interval + grace
        (at(2026, 1, 1, 12), {"interval": 300, "cron": "", "tz": "UTC"}, at(2026, 1, 1, 12, 6)),
        # cron in UTC: the next occurrence strictly after the ping, + grace
        (
            at(2026, 1, 1, 3),
            {"interval": 60, "cron": "0 3 * * *", "tz": "UTC"},
            at(2026, 1, 2, 3, 1),
        ),
        (
            at(2026, 1, 1, 2, 59),
            {"interval": 60, "cron": "0 3 * * *", "tz": "UTC"},
            at(2026, 1, 1, 3, 1),
        ),
        # cron in Paris, winter (UTC+1): 03:00 local is 02:00 UTC
        (
            at(2026, 1, 10, 12),
            {"interval": 60, "cron": "0 3 * * *", "tz": "Europe/Paris"},
            at(2026, 1, 11, 2, 1),
        ),
        # ... and in summer (UTC+2): 01:00 UTC, the same local time across the DST change
        (
            at(2026, 3, 28, 12),
            {"interval": 60, "cron": "0 3 * * *", "tz": "Europe/Paris"},
            at(2026, 3, 29, 1, 1),
        ),
        # 02:30 does not exist on 2026-03-29 in Paris: the run is at 03:00 local (01:00 UTC)
        (
            at(2026, 3, 28, 12),
            {"interval": 60, "cron": "30 2 * * *", "tz": "Europe/Paris"},
            at(2026, 3, 29, 1, 1),
        ),
        # 2026-10-25: back to UTC+1; 03:00 local is 02:00 UTC again
        (
            at(2026, 10, 24, 12),
            {"interval": 60, "cron": "0 3 * * *", "tz": "Europe/Paris"},
            at(2026, 10, 25, 2, 1),
        ),
    ],
    ids=[
        "period",
        "cron-utc-at-run",
        "cron-utc-before-run",
        "cron-paris-winter",
        "cron-paris-summer",
        "cron-paris-skipped-time",
        "cron-paris-fall-back",
    ],
)
def test_deadline_is_the_next_expected_ping_plus_grace(last_ping, schedule, deadline):
    assert deadline_after(last_ping, grace=60, **schedule) == deadline


def test_a_missed_deadline_moves_on_by_one_expected_run_in_phase():
    missed = at(2026, 1, 1, 12, 6)  # expected 12:05 + 60 s grace
    assert following_deadline(
        missed=missed, now=missed + timedelta(seconds=1), interval=300, cron="", tz="UTC", grace=60
    ) == at(2026, 1, 1, 12, 11)
    daily = {"interval": 60, "cron": "0 3 * * *", "tz": "Europe/Paris", "grace": 600}
    missed = at(2026, 3, 28, 2, 10)  # 03:00 local (UTC+1) + 10 min
    assert following_deadline(missed=missed, now=missed, **daily) == at(2026, 3, 29, 1, 10)


def test_a_dispatcher_far_behind_counts_the_next_deadline_from_now():
    missed = at(2026, 1, 1, 12, 6)
    now = missed + timedelta(hours=1)
    assert following_deadline(
        missed=missed, now=now, interval=300, cron="", tz="UTC", grace=60
    ) == now + timedelta(seconds=300)  # one period on from now


def test_the_missed_reason_names_the_last_ping_and_the_expected_time():
    reason = missed_reason(
        last_ping_at=at(2026, 1, 1, 12), deadline=at(2026, 1, 1, 12, 6), grace=60
    )
    assert (
        reason
        == "No ping since 2026-01-01 12:00:00 UTC: expected at 2026-01-01 12:05:00 UTC (+60s grace)"
    )
    assert missed_reason(last_ping_at=None, deadline=at(2026, 1, 1, 12, 6), grace=60).startswith(
        "No ping yet: expected at 2026-01-01 12:05:00 UTC"
    )


@pytest.mark.parametrize(
    ("suffix", "parsed"),
    [
        ("", ("success", None)),
        ("start", ("start", None)),
        ("fail", ("fail", None)),
        ("0", ("success", 0)),
        ("1", ("fail", 1)),
        ("255", ("fail", 255)),
        ("256", None),
        ("0001", None),
        ("log", None),
    ],
)
def test_ping_suffixes(suffix, parsed):
    result = heartbeats.parse_signal(suffix)
    assert (None if result is None else (str(result[0]), result[1])) == parsed


# --- Writing heartbeat monitors ------------------------------------------------------------

pytestmark = pytest.mark.django_db

HEARTBEAT: dict[str, Any] = {
    "name": "Nightly backup",
    "kind": "heartbeat",
    "interval": 3600,
    "grace": 300,
}


def create(client, data: dict):
    return client.post("/api/v1/monitors/", data, format="json")


def test_a_heartbeat_monitor_gets_an_unguessable_ping_url(alice_client, settings):
    settings.SITE_URL = "https://hm.example.com"
    before = timezone.now()
    response = create(alice_client, HEARTBEAT)

    assert response.status_code == 201, response.content
    body = response.json()
    token = uuid.UUID(body["ping_url"].rsplit("/", 1)[1])
    assert token.version == 4
    assert body["ping_url"] == f"https://hm.example.com/ping/{token}"
    assert (body["cron"], body["tz"], body["grace"], body["last_ping_at"]) == ("", "UTC", 300, None)
    assert body["failure_threshold"] == 1  # one missed run is an outage
    deadline = datetime.fromisoformat(body["next_check_at"])
    assert before + timedelta(seconds=3900) <= deadline <= timezone.now() + timedelta(seconds=3900)
    # The URL is read-only: a client cannot choose it.
    monitor_id = body["id"]
    alice_client.patch(f"/api/v1/monitors/{monitor_id}/", {"ping_url": "x"}, format="json")
    assert Monitor.objects.get(pk=monitor_id).ping_token == token


def test_other_kinds_have_no_ping_url(alice_client):
    response = create(alice_client, {"name": "Web", "url": "https://example.com/"})
    assert response.json()["ping_url"] is None


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({**HEARTBEAT, "cron": "0 25 * * *"}, {"cron"}),
        ({**HEARTBEAT, "cron": "0 3 * * *", "tz": "Mars/Olympus"}, {"tz"}),
        ({**HEARTBEAT, "grace": 0}, {"grace"}),
        ({**HEARTBEAT, "grace": 8 * 86400}, {"grace"}),
        (
            {**HEARTBEAT, "url": "https://example.com/", "host": "db", "port": 5432},
            {"url", "host", "port"},
        ),
        (
            {**HEARTBEAT, "assertions": [{"type": "response_time_below", "value": 100}]},
            {"assertions"},
        ),
        (
            {"name": "Web", "url": "https://example.com/", "cron": "* * * * *", "grace": 5},
            {"cron", "grace"},
        ),
    ],
    ids=[
        "cron",
        "tz",
        "grace-low",
        "grace-high",
        "target-fields",
        "assertions",
        "http-with-schedule",
    ],
)
def test_bad_heartbeat_config_is_a_400_naming_the_fields(alice_client, data, errors):
    response = create(alice_client, data)
    assert response.status_code == 400
    assert set(response.json()) == errors, response.json()


def test_a_cron_heartbeat_is_due_after_its_next_run_in_its_zone(alice):
    monitor = monitor_create(
        team=alice.personal_team,
        name="Report",
        kind="heartbeat",
        cron="0 3 * * *",
        tz="Europe/Paris",
        grace=120,
    )
    local = monitor.next_check_at.astimezone(PARIS)
    assert (local.hour, local.minute) == (3, 2)
    assert monitor.next_check_at - timezone.now() <= timedelta(days=1, minutes=2)


def test_changing_the_schedule_counts_from_the_last_ping(alice):
    monitor = monitor_create(team=alice.personal_team, **HEARTBEAT)
    last = timezone.now() - timedelta(minutes=10)
    Monitor.objects.filter(pk=monitor.pk).update(last_ping_at=last)
    monitor = monitor_update(monitor=Monitor.objects.get(pk=monitor.pk), interval=600, grace=60)
    assert monitor.next_check_at == last + timedelta(seconds=660)


def test_check_now_says_a_heartbeat_is_passive(alice_client):
    monitor_id = create(alice_client, HEARTBEAT).json()["id"]
    response = alice_client.post(f"/api/v1/monitors/{monitor_id}/check-now/")
    assert response.status_code == 400
    assert "passive" in response.json()["kind"][0]


# --- The ping endpoint -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sent_for_evaluation(monkeypatch) -> list:
    """Pings hand results to evaluation through the broker; here they are collected instead.

    A check worker started by another test module may still be consuming the broker, and
    an evaluation it ran against this module's rows would race the database flush of the
    transactional tests below (a deadlock in their teardown). Tests that follow a message
    read this list (or patch the function themselves)."""
    messages: list = []
    monkeypatch.setattr(heartbeats, "send_for_evaluation", messages.append)
    return messages


@pytest.fixture
def beat(alice) -> Monitor:
    return monitor_create(team=alice.personal_team, **HEARTBEAT)


def results(monitor: Monitor) -> list[CheckResult]:
    return list(CheckResult.objects.filter(monitor=monitor).order_by("id"))


@pytest.mark.parametrize(
    ("suffix", "status", "reason"),
    [
        ("", "up", "Ping received"),
        ("/", "up", "Ping received"),
        ("/0", "up", "Ping received (exit code 0)"),
        ("/fail", "down", "The job reported a failure"),
        ("/3", "down", "The job reported exit code 3"),
    ],
)
def test_a_ping_stores_a_result_and_moves_the_deadline(anon_client, beat, suffix, status, reason):
    response = anon_client.get(f"/ping/{beat.ping_token}{suffix}")

    assert response.status_code == 200
    assert response.content == b"OK\n"
    assert "Set-Cookie" not in response
    (result,) = results(beat)
    assert (result.status, result.reason, result.ping_body) == (status, reason, None)
    beat.refresh_from_db()
    assert beat.last_ping_at == result.checked_at
    assert beat.next_check_at == result.checked_at + timedelta(seconds=3600 + 300)
    assert (beat.last_check_status, beat.last_reason) == (status, reason)


def test_start_then_success_measures_the_run_time(anon_client, beat):
    assert anon_client.post(f"/ping/{beat.ping_token}/start").status_code == 200
    assert results(beat) == []  # a start is not a result, and does not move the deadline
    Monitor.objects.filter(pk=beat.pk).update(
        ping_started_at=timezone.now() - timedelta(seconds=42)
    )
    anon_client.get(f"/ping/{beat.ping_token}")
    (result,) = results(beat)
    assert 42_000 <= result.response_time_ms < 44_000
    beat.refresh_from_db()
    assert beat.ping_started_at is None
    assert beat.last_response_time_ms == result.response_time_ms


@pytest.mark.parametrize(
    "path",
    [
        f"/ping/{uuid.uuid4()}",  # no such monitor
        "/ping/not-a-uuid",
        "/ping/{token}/256",
        "/ping/{token}/log",
    ],
)
def test_a_wrong_ping_url_is_a_404(anon_client, beat, path):
    response = anon_client.get(path.format(token=beat.ping_token))
    assert response.status_code == 404
    assert results(beat) == []


def test_the_token_of_another_kind_of_monitor_is_a_404(anon_client, beat, alice):
    # Only heartbeat monitors have tokens; one forced on another kind still opens nothing.
    other = monitor_create(team=alice.personal_team, name="Web", url="https://example.com/")
    token = uuid.uuid4()
    Monitor.objects.filter(pk=other.pk).update(ping_token=token)
    assert anon_client.get(f"/ping/{token}").status_code == 404


def test_head_and_post_work_and_a_post_keeps_the_first_10_kib(anon_client, beat):
    head = anon_client.head(f"/ping/{beat.ping_token}")
    assert (head.status_code, head.content) == (200, b"")
    body = b"backup done\n" + b"x" * 20_000
    post = anon_client.post(f"/ping/{beat.ping_token}/fail", body, content_type="text/plain")
    assert post.status_code == 200
    _, failed = results(beat)
    assert failed.status == "down"
    assert failed.ping_body is not None
    assert len(failed.ping_body) == 10 * 1024
    assert failed.ping_body.startswith("backup done\n")


def test_other_methods_are_refused(anon_client, beat):
    response = anon_client.put(f"/ping/{beat.ping_token}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST, HEAD"


def test_a_paused_monitor_answers_but_records_nothing(anon_client, beat):
    monitor_pause(monitor=beat)
    response = anon_client.get(f"/ping/{beat.ping_token}")
    assert response.status_code == 200
    assert b"paused" in response.content
    assert anon_client.get(f"/ping/{beat.ping_token}/start").status_code == 200
    assert results(beat) == []
    beat.refresh_from_db()
    assert (beat.last_ping_at, beat.ping_started_at) == (None, None)


def test_a_ping_needs_no_login_and_sets_no_cookie_even_with_a_session(client, alice, beat):
    client.force_login(alice)  # a browser with a dashboard session, say
    response = client.post(f"/ping/{beat.ping_token}")  # and no CSRF token
    assert response.status_code == 200
    assert not response.cookies


def test_a_cron_monitors_ping_moves_its_deadline_to_the_next_run(anon_client, alice):
    monitor = monitor_create(
        team=alice.personal_team, name="Report", kind="heartbeat", cron="*/5 * * * *", grace=30
    )
    assert anon_client.get(f"/ping/{monitor.ping_token}").status_code == 200
    (result,) = results(monitor)
    monitor.refresh_from_db()
    expected = deadline_after(
        result.checked_at, interval=60, cron="*/5 * * * *", tz="UTC", grace=30
    )
    assert monitor.next_check_at == expected
    assert monitor.next_check_at.minute % 5 == 0 and monitor.next_check_at.second == 30


# --- The raw WSGI endpoint (what gunicorn runs: healthmon/wsgi.py) -----------------------------


def wsgi_call(path: str, method: str = "GET", body: bytes = b"") -> tuple[str, dict, bytes]:
    def inner(environ, start_response):  # Django: must not be reached for /ping/
        raise AssertionError("the ping went through Django")

    captured: dict = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    chunks = PingEndpoint(inner)(environ, start_response)
    return captured["status"], captured["headers"], b"".join(chunks)


# Real transactions: the endpoint opens and closes the connection as a request would.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("method", "suffix", "status", "body"),
    [
        ("GET", "", "200 OK", b"OK\n"),
        ("POST", "/0", "200 OK", b"OK\n"),
        ("HEAD", "/fail", "200 OK", b""),
        ("DELETE", "", "405 Method Not Allowed", b"Use GET, POST or HEAD\n"),
        ("GET", "/nope", "404 Not Found", b"Not a ping URL\n"),
    ],
)
def test_the_wsgi_endpoint_answers_in_front_of_django(beat, method, suffix, status, body):
    answer = wsgi_call(f"/ping/{beat.ping_token}{suffix}", method, b"hello")
    assert (answer[0], answer[2]) == (status, body)
    assert "Set-Cookie" not in answer[1]


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_endpoint_keeps_a_post_body_and_says_404_for_an_unknown_token(beat):
    wsgi_call(f"/ping/{beat.ping_token}", "POST", b"rows: 1200\n")
    assert results(beat)[0].ping_body == "rows: 1200\n"
    assert wsgi_call(f"/ping/{uuid.uuid4()}")[0] == "404 Not Found"


def test_other_paths_go_to_django():
    reached = []
    app = PingEndpoint(lambda environ, start_response: reached.append(environ["PATH_INFO"]) or [])
    app({"PATH_INFO": "/api/v1/monitors/", "REQUEST_METHOD": "GET"}, lambda *a: None)
    assert reached == ["/api/v1/monitors/"]


# --- Evaluation messages: only when a result can change something ----------------------------


@pytest.fixture
def sent(monkeypatch) -> list[list[int]]:
    messages: list[list[int]] = []
    monkeypatch.setattr(heartbeats, "send_for_evaluation", messages.append)
    return messages


def test_a_success_while_up_sends_no_evaluation_message(anon_client, beat, sent):
    Monitor.objects.filter(pk=beat.pk).update(status="up", last_check_status="up")
    anon_client.get(f"/ping/{beat.ping_token}")
    assert sent == []
    assert len(results(beat)) == 1  # stored all the same


@pytest.mark.parametrize(
    ("status", "last_check_status", "suffix"),
    [
        ("unknown", "", ""),  # a new monitor's first ping makes it UP
        ("down", "down", ""),  # a recovery
        ("up", "down", ""),  # a failure counted, below the threshold: the success resets it
        ("up", "up", "/fail"),  # every failure
        ("up", "up", "/2"),
    ],
)
def test_results_that_can_change_the_state_are_sent(
    anon_client, beat, sent, status, last_check_status, suffix
):
    Monitor.objects.filter(pk=beat.pk).update(status=status, last_check_status=last_check_status)
    anon_client.get(f"/ping/{beat.ping_token}{suffix}")
    assert sent == [[results(beat)[0].id]]


# --- Missed deadlines: the dispatcher ------------------------------------------------------


def test_the_dispatcher_records_a_missed_deadline_as_down_without_a_probe(beat):
    last_ping = timezone.now() - timedelta(seconds=4000)
    missed = last_ping + timedelta(seconds=3900)
    Monitor.objects.filter(pk=beat.pk).update(last_ping_at=last_ping, next_check_at=missed)

    claims, found = claim_due_monitors()

    assert (claims, found) == ([], 1)  # nothing to probe
    (result,) = results(beat)
    assert (result.status, result.phase, result.scheduled_for) == ("down", "timeout", missed)
    assert result.reason == missed_reason(last_ping_at=last_ping, deadline=missed, grace=300)
    beat.refresh_from_db()
    assert beat.next_check_at == missed + timedelta(seconds=3600)  # one period on
    assert beat.last_check_status == "down"


def test_a_heartbeat_is_never_claimed_before_its_deadline(beat):
    # Other monitors are claimed up to a tick ahead; a heartbeat may still ping until then.
    Monitor.objects.filter(pk=beat.pk).update(next_check_at=timezone.now() + timedelta(seconds=1))
    assert claim_due_monitors(lookahead=2.0) == ([], 0)
    assert results(beat) == []


def test_a_ping_after_the_dispatchers_down_result_is_newer_than_it(anon_client, beat):
    # The dispatcher stored its DOWN result "in the future" of the ping's clock (the ping
    # waited for its lock): the ping's result still comes after it, or the state machine
    # would drop it as stale.
    ahead = timezone.now() + timedelta(seconds=5)
    Monitor.objects.filter(pk=beat.pk).update(last_checked_at=ahead)
    anon_client.get(f"/ping/{beat.ping_token}")
    assert results(beat)[0].checked_at > ahead


@pytest.mark.django_db(transaction=True)
def test_concurrent_pings_are_all_stored_in_order(alice):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is PostgreSQL's")
    beat = monitor_create(team=alice.personal_team, **HEARTBEAT)
    errors: list[BaseException] = []

    def ping_many() -> None:
        try:
            for _ in range(20):
                heartbeats.record_ping(token=beat.ping_token, signal=heartbeats.Signal.SUCCESS)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ping_many) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stored = results(beat)
    assert len(stored) == 120
    assert len({result.checked_at for result in stored}) == 120  # each strictly after another
    beat.refresh_from_db()
    assert beat.last_ping_at == max(result.checked_at for result in stored)
    assert beat.next_check_at == beat.last_ping_at + timedelta(seconds=3900)


# --- Operations: metrics and manage.py check_monitor ---------------------------------------


def test_pings_are_counted_with_the_heartbeat_kind_on_metrics(
    anon_client, beat, django_capture_on_commit_callbacks
):
    from healthmon.tests.test_metrics import samples, value

    def counted(status: str) -> float:
        text = anon_client.get("/metrics").content.decode()
        return value(samples(text), "healthmon_checks_total", kind="heartbeat", status=status) or 0

    up, down = counted("up"), counted("down")
    with django_capture_on_commit_callbacks(execute=True):  # as after a real commit
        anon_client.get(f"/ping/{beat.ping_token}")  # the first: evaluated (UNKNOWN -> UP)
        Monitor.objects.filter(pk=beat.pk).update(status="up")
        anon_client.get(f"/ping/{beat.ping_token}")  # UP -> UP: counted, not evaluated
        anon_client.get(f"/ping/{beat.ping_token}/fail")
    assert (counted("up") - up, counted("down") - down) == (2, 1)


def test_check_monitor_says_a_heartbeat_is_passive_and_shows_its_pings(beat, anon_client):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("check_monitor", str(beat.pk), stdout=out)
    text = out.getvalue()
    assert "Passive: a heartbeat monitor is not checked" in text
    assert f"/ping/{beat.ping_token}" in text
    assert "Last ping:      never" in text
    assert f"Next deadline:  {beat.next_check_at:%Y-%m-%d %H:%M:%S}" in text

    anon_client.get(f"/ping/{beat.ping_token}")
    Monitor.objects.filter(pk=beat.pk).update(next_check_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("check_monitor", str(beat.pk), stdout=out)
    assert exited.value.code == 1  # late
    assert "(passed)" in out.getvalue() and "Last ping:      20" in out.getvalue()
