"""Each new monitor kind end to end, with a real gevent worker and real servers on
127.0.0.1: created through the API -> a scheduled check is UP -> the server stops (or
changes) -> DOWN -> an incident -> the webhook receives it -> the server is back -> the
incident resolves and the webhook receives that too.

The dispatcher is driven by hand (``due_now``: the monitor's deadline moved to now, then
one dispatcher tick), as beat would every second, so no test waits out an interval.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from conftest import wait_for
from incidents.models import Incident
from monitors.models import CheckResult, Monitor
from monitors.tasks import dispatch_due_checks
from monitors.tests.kind_servers import (
    DnsServer,
    EchoServer,
    LoginServer,
    TlsServer,
    self_signed_cert,
)
from notifications import services as channel_services
from notifications.tests.receivers import Receiver, start_receiver

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    target = Receiver()
    stop = start_receiver(target)
    yield target
    stop()


def due_now(monitor_id: int) -> CheckResult:
    """One scheduled check of the monitor, through the dispatcher and the worker."""
    before = CheckResult.objects.filter(monitor_id=monitor_id).count()
    Monitor.objects.filter(pk=monitor_id).update(
        next_check_at=timezone.now() - timedelta(seconds=1)
    )
    dispatch_due_checks.delay()
    wait_for(
        lambda: CheckResult.objects.filter(monitor_id=monitor_id).count() > before,
        timeout=30,
        message="the worker did not check the monitor",
    )
    return CheckResult.objects.filter(monitor_id=monitor_id).order_by("-id")[0]


def events(receiver: Receiver) -> list[str]:
    return [request.json()["event"] for request in receiver.successes]


def go_down_and_recover(
    alice, alice_client, receiver, data: dict, *, break_it: Callable, fix_it: Callable
) -> tuple[CheckResult, CheckResult]:
    channel = channel_services.channel_create(
        team=alice.personal_team,
        name="Ops webhook",
        kind="webhook",
        config={"url": receiver.url},
        secrets={"signing_secret": "s3cret-s3cret-s3cret"},
    )
    payload = {**data, "interval": 30, "timeout": 2, "failure_threshold": 1}
    response = alice_client.post(
        "/api/v1/monitors/", {**payload, "channels": [channel.id]}, format="json"
    )
    assert response.status_code == 201, response.content
    monitor_id = response.json()["id"]

    up = due_now(monitor_id)
    assert up.status == "up", up.reason
    wait_for(lambda: Monitor.objects.get(pk=monitor_id).status == "up", timeout=20)

    break_it()
    down = due_now(monitor_id)
    assert down.status != "up"
    incident = wait_for(
        lambda: Incident.objects.filter(monitor_id=monitor_id, resolved_at__isnull=True).first(),
        timeout=20,
        message="no incident opened",
    )
    wait_for(lambda: "incident.opened" in events(receiver), timeout=30, message="no webhook")
    opened = next(r.json() for r in receiver.successes if r.json()["event"] == "incident.opened")
    assert opened["monitor"]["kind"] == data["kind"]
    assert opened["incident"]["last_reason"] == down.reason

    fix_it()
    assert due_now(monitor_id).status == "up"
    wait_for(
        lambda: Incident.objects.get(pk=incident.pk).resolved_at is not None,
        timeout=20,
        message="the incident was not resolved",
    )
    wait_for(lambda: "incident.resolved" in events(receiver), timeout=30, message="no webhook")
    # History reads results and rollups, whatever the kind.
    checks = alice_client.get(f"/api/v1/monitors/{monitor_id}/checks/").json()["results"]
    assert [check["status"] for check in checks] == ["up", down.status, "up"]
    for view in ("stats", "sla"):
        assert alice_client.get(f"/api/v1/monitors/{monitor_id}/{view}/").status_code == 200
    return up, down


def test_tcp_monitor_goes_down_when_its_server_stops_and_recovers(
    celery_worker_process, alice, alice_client, receiver
):
    server = EchoServer().start()
    try:
        data = {
            "name": "Echo",
            "kind": "tcp",
            "host": "127.0.0.1",
            "port": server.port,
            "send": "HELLO",
            "assertions": [{"type": "reply_contains", "value": "HELLO"}],
        }
        up, down = go_down_and_recover(
            alice, alice_client, receiver, data, break_it=server.stop, fix_it=server.start
        )
    finally:
        server.stop()
    assert up.response_time_ms is not None
    assert (down.status, down.phase) == ("error", "connect")
    assert down.reason == f"Connection refused by 127.0.0.1:{server.port}"


def test_dns_monitor_goes_down_when_the_record_changes_and_recovers(
    celery_worker_process, alice, alice_client, receiver
):
    records = {("api.test", "A"): ["192.0.2.10"]}
    server = DnsServer(records)
    try:
        data = {
            "name": "API record",
            "kind": "dns",
            "host": "api.test",
            "dns_record_type": "A",
            "dns_resolver": f"127.0.0.1:{server.port}",
            "assertions": [{"type": "answer_contains", "value": "192.0.2.10"}],
        }
        _, down = go_down_and_recover(
            alice,
            alice_client,
            receiver,
            data,
            break_it=lambda: records.update({("api.test", "A"): ["192.0.2.99"]}),
            fix_it=lambda: records.update({("api.test", "A"): ["192.0.2.10"]}),
        )
    finally:
        server.stop()
    assert (down.status, down.phase) == ("down", "assertion")
    assert "do not include '192.0.2.10'" in down.reason


def test_tls_monitor_goes_down_when_the_certificate_nears_expiry_and_recovers(
    celery_worker_process, alice, alice_client, receiver, tmp_path
):
    fresh, expiring = (self_signed_cert(tmp_path, days=days) for days in (90, 3))
    server = TlsServer(fresh, smtp=True)
    try:
        data = {
            "name": "Mail certificate",
            "kind": "tls",
            "host": "127.0.0.1",
            "port": server.port,
            "starttls": "smtp",
            "verify_tls": False,
            "assertions": [{"type": "cert_valid_days", "value": 14}],
        }
        up, down = go_down_and_recover(
            alice,
            alice_client,
            receiver,
            data,
            break_it=lambda: server.use(expiring),
            fix_it=lambda: server.use(fresh),
        )
    finally:
        server.stop()
    assert up.cert_expires_at is not None
    assert (down.status, down.phase) == ("down", "assertion")
    assert Monitor.objects.get(name="Mail certificate").cert_expires_at > down.cert_expires_at


def test_api_monitor_goes_down_when_its_protected_endpoint_fails_and_recovers(
    celery_worker_process, alice, alice_client, receiver
):
    password = "probe-password-of-the-team"
    server = LoginServer(password=password)
    created = alice_client.post(
        "/api/v1/variables/", {"name": "password", "value": password}, format="json"
    )
    assert created.status_code == 201, created.content
    try:
        data = {
            "name": "Orders API",
            "kind": "api",
            "steps": [
                {
                    "name": "log in",
                    "method": "POST",
                    "url": f"{server.url}/login",
                    "body": '{"user": "probe", "password": "{{password}}"}',
                    "extract": [{"var": "token", "from": "json", "path": "$.token"}],
                },
                {
                    "name": "get orders",
                    "url": f"{server.url}/orders",
                    "headers": {"Authorization": "Bearer {{token}}"},
                    "assertions": [{"type": "json_path_equals", "path": "$.count", "value": 2}],
                },
            ],
        }
        up, down = go_down_and_recover(
            alice,
            alice_client,
            receiver,
            data,
            break_it=lambda: setattr(server, "orders_status", 500),
            fix_it=lambda: setattr(server, "orders_status", 200),
        )
    finally:
        server.stop()
    assert up.reason == "2 steps passed, HTTP 200"
    assert (down.status, down.phase) == ("down", "status")
    assert down.reason == "step 2 'get orders': HTTP 500, expected 200-299"
    incident = Incident.objects.get(monitor__name="Orders API")
    assert incident.cause == down.reason
    # The team's secret is nowhere a viewer can read.
    monitor_page = alice_client.get(f"/api/v1/monitors/{incident.monitor_id}/").content.decode()
    checks_page = alice_client.get(f"/api/v1/monitors/{incident.monitor_id}/checks/")
    bodies = [request.body.decode() for request in receiver.successes]
    for text in (monitor_page, checks_page.content.decode(), *bodies):
        assert password not in text


def test_icmp_monitor_goes_down_when_its_round_trip_limit_is_missed_and_recovers(
    celery_worker_process, alice, alice_client, receiver
):
    # Every address of 127/8 answers on Linux, and no test may ping anything else, so the
    # host cannot be made silent: DOWN is an assertion the real round trip fails.
    def assert_only(*assertions: dict) -> Callable[[], None]:
        def patch() -> None:
            monitor_id = Monitor.objects.get(name="Gateway").pk
            response = alice_client.patch(
                f"/api/v1/monitors/{monitor_id}/", {"assertions": list(assertions)}, format="json"
            )
            assert response.status_code == 200, response.content

        return patch

    healthy = {"type": "packet_loss_below", "value": 50}
    data = {
        "name": "Gateway",
        "kind": "icmp",
        "host": "127.0.0.1",
        "ping_count": 3,
        "assertions": [healthy],
    }
    up, down = go_down_and_recover(
        alice,
        alice_client,
        receiver,
        data,
        break_it=assert_only(healthy, {"type": "rtt_below", "value": 0.001}),
        fix_it=assert_only(healthy),
    )
    assert up.reason.startswith("3/3 replies from 127.0.0.1, 0% loss")
    assert up.response_time_ms is not None
    assert (down.status, down.phase) == ("down", "assertion")
    assert down.reason.startswith("Assertion 2 failed: average round trip ")


@pytest.fixture
def beat_ticks():
    """The dispatcher's tick every second, as beat sends it (DESIGN: the path of one check):
    a heartbeat's deadline passes on its own time, not when a test says."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            dispatch_due_checks.delay()
            stop.wait(1.0)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_heartbeat_monitor_alerts_within_its_grace_when_its_job_stops_pinging_and_recovers(
    celery_worker_process, alice, alice_client, receiver, live_server, settings, beat_ticks
):
    settings.MONITOR_MIN_INTERVAL = 1
    channel = channel_services.channel_create(
        team=alice.personal_team,
        name="Ops webhook",
        kind="webhook",
        config={"url": receiver.url},
        secrets={"signing_secret": "s3cret-s3cret-s3cret"},
    )
    period, grace = 3, 2
    response = alice_client.post(
        "/api/v1/monitors/",
        {
            "name": "Nightly export",
            "kind": "heartbeat",
            "interval": period,
            "grace": grace,
            "channels": [channel.id],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    monitor_id = response.json()["id"]
    ping_path = urlsplit(response.json()["ping_url"]).path

    def ping(suffix: str = "") -> None:  # the job, over HTTP
        with urllib.request.urlopen(live_server.url + ping_path + suffix, timeout=10) as answer:
            assert answer.status == 200

    ping()
    wait_for(lambda: Monitor.objects.get(pk=monitor_id).status == "up", timeout=20)
    ping("/start")
    ping()  # a run of the job, measured

    # The job stops pinging: its deadline passes, the dispatcher records the miss, the state
    # machine opens an incident and the webhook is told, within the grace time + 5 s.
    last_ping = Monitor.objects.get(pk=monitor_id).last_ping_at
    expected = last_ping + timedelta(seconds=period)
    incident = wait_for(
        lambda: Incident.objects.filter(monitor_id=monitor_id, resolved_at__isnull=True).first(),
        timeout=period + grace + 20,
        message="no incident opened",
    )
    assert incident.opened_at <= expected + timedelta(seconds=grace + 5)
    assert incident.cause.startswith(f"No ping since {last_ping:%Y-%m-%d %H:%M:%S} UTC")
    wait_for(lambda: "incident.opened" in events(receiver), timeout=30, message="no webhook")
    opened = next(r.json() for r in receiver.successes if r.json()["event"] == "incident.opened")
    assert opened["monitor"]["kind"] == "heartbeat"
    assert timezone.now() <= expected + timedelta(seconds=grace + 5 + 5)  # webhook delivery

    ping()  # the job is back
    wait_for(
        lambda: Incident.objects.get(pk=incident.pk).resolved_at is not None,
        timeout=20,
        message="the incident was not resolved",
    )
    wait_for(lambda: "incident.resolved" in events(receiver), timeout=30, message="no webhook")
    statuses = [check.status for check in CheckResult.objects.filter(monitor_id=monitor_id)]
    assert statuses[0] == "up" and "down" in statuses
    assert CheckResult.objects.filter(
        monitor_id=monitor_id, response_time_ms__isnull=False
    ).exists()
    for view in ("stats", "sla"):
        assert alice_client.get(f"/api/v1/monitors/{monitor_id}/{view}/").status_code == 200
