"""Dependencies and flapping end to end: a real gevent worker, Redis, PostgreSQL, targets
whose health is switched by the test and a webhook receiver counting messages, all on
127.0.0.1. ``dispatch_due_checks.delay()`` and ``dispatch_due_policies.delay()`` stand in
for beat; the hook's grouping window is short (GROUP_WINDOW) so that a group is released
within the test's waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from conftest import wait_for
from incidents.dependencies import monitor_set_dependencies
from incidents.models import Incident
from monitors.models import Monitor
from monitors.services import monitor_pause
from monitors.tasks import dispatch_due_checks
from notifications.models import IN_FLIGHT, Delivery
from notifications.tasks import dispatch_due_policies

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GROUP_WINDOW = 5  # seconds; the default (30) behaves the same, only later


class Switchboard:
    """``GET /t/<name>`` answers 200 while ``name`` is up, 503 once it is set down (or,
    for a toggling name, alternately); ``POST /hook`` records the webhooks it receives."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.toggling: dict[str, int] = {}
        self.webhooks: list[dict] = []
        self._lock = threading.Lock()
        board = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:
                pass

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                with board._lock:
                    if name in board.toggling:
                        board.toggling[name] += 1
                        failing = board.toggling[name] % 2 == 1
                    else:
                        failing = name in board.down
                self._answer(503 if failing else 200)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with board._lock:
                    board.webhooks.append(json.loads(body))
                self._answer(200)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def set_down(self, *names: str) -> None:
        with self._lock:
            self.down.update(names)

    def set_up(self, *names: str) -> None:
        with self._lock:
            self.down.difference_update(names)

    def received(self) -> list[tuple[str, str]]:
        """(event, monitor name) of every webhook, in arrival order; a grouped message as
        ("incident.grouped", its members' monitor names joined by "+", in its order)."""
        with self._lock:
            return [(h["event"], _monitor_names(h)) for h in self.webhooks]

    def covered(self) -> list[dict]:
        """Every incident event the webhooks told of, a grouped message's members each."""
        with self._lock:
            return [m for h in self.webhooks for m in h.get("grouped") or [h]]


def _monitor_names(hook: dict) -> str:
    return "+".join(m["incident"]["monitor_name"] for m in hook.get("grouped") or [hook])


@pytest.fixture
def board() -> Iterator[Switchboard]:
    switchboard = Switchboard()
    thread = threading.Thread(target=switchboard.server.serve_forever, daemon=True)
    thread.start()
    yield switchboard
    switchboard.server.shutdown()
    switchboard.server.server_close()


def checked_monitor(team, board: Switchboard, name: str, **fields) -> Monitor:
    fields.setdefault("failure_threshold", 1)
    fields.setdefault("success_threshold", 1)
    return Monitor.objects.create(
        team=team,
        name=name,
        url=f"{board.base}/t/{name}",
        interval=1,
        timeout=0.8,
        next_check_at=timezone.now(),
        **fields,
    )


def drive_until(predicate, *, timeout: float):
    """Stand in for beat: fire the real dispatchers until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatch_due_checks.delay()
        dispatch_due_policies.delay()
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"not done within {timeout}s; see test-artifacts/celery-worker.log")


def hook_for(team, board: Switchboard, monitors: list[Monitor]) -> None:
    from notifications.services import channel_create

    channel_create(
        team=team,
        name="ops hook",
        kind="webhook",
        config={"url": f"{board.base}/hook"},
        monitors=monitors,
        group_window_seconds=GROUP_WINDOW,
    )


def all_sent() -> bool:
    """No delivery held for its group or otherwise still on its way."""
    return not Delivery.objects.filter(status__in=IN_FLIGHT).exists()


def test_a_gateway_outage_sends_one_message_then_the_children_still_down_alert(
    task_ledger, alice, board
):
    team = alice.personal_team
    gateway = checked_monitor(team, board, "gateway")
    children = [checked_monitor(team, board, f"api{i}", failure_threshold=2) for i in range(3)]
    for child in children:
        monitor_set_dependencies(monitor=child, parents=[gateway])
    hook_for(team, board, [gateway, *children])
    drive_until(lambda: Monitor.objects.filter(status="up").count() == 4, timeout=30)

    # The gateway goes down first, then everything behind it.
    board.set_down("gateway")
    drive_until(lambda: Incident.objects.filter(monitor=gateway).exists(), timeout=30)
    board.set_down("api0", "api1", "api2")
    drive_until(lambda: Incident.objects.filter(monitor__in=children).count() == 3, timeout=30)
    held = Incident.objects.filter(monitor__in=children)
    assert all(i.is_suppressed for i in held)
    assert {i.suppressed_reason for i in held} == {"suppressed: gateway is down"}
    wait_for(lambda: board.received(), timeout=20, message="the gateway's alert never came")
    task_ledger.wait_until_settled()
    assert board.received() == [("incident.opened", "gateway")]
    assert board.webhooks[0]["covers_dependents"] == 3

    # api0 recovers while the gateway is down: silently. Then the gateway recovers.
    board.set_up("api0")
    drive_until(
        lambda: Incident.objects.filter(monitor=children[0], resolved_at__isnull=False).exists(),
        timeout=30,
    )
    board.set_up("gateway")
    drive_until(
        lambda: (
            Incident.objects.filter(monitor__in=children[1:], released_at__isnull=False).count()
            == 2
        ),
        timeout=30,
    )
    for monitor in (gateway, *children):
        monitor_pause(monitor=monitor)
    # The gateway's recovery and the two released children come at once: the first of them
    # goes out at once, the other two in one grouped message when the window ends.
    task_ledger.wait_until_settled()  # every fan-out ran: what is owed exists, maybe held
    drive_until(all_sent, timeout=GROUP_WINDOW + 30)
    task_ledger.wait_until_settled()
    received = board.received()
    assert len(received) == 3, received  # the whole outage: at most three messages
    assert received[0] == ("incident.opened", "gateway")
    assert [event for event, _ in received[1:]].count("incident.grouped") == 1
    grouped = next(h for h in board.webhooks if h["event"] == "incident.grouped")
    assert grouped["count"] == 2
    assert sorted((m["event"], m["incident"]["monitor_name"]) for m in board.covered()) == [
        ("incident.opened", "api1"),
        ("incident.opened", "api2"),
        ("incident.opened", "gateway"),
        ("incident.resolved", "gateway"),
    ]
    released = next(m for m in board.covered() if m["incident"]["monitor_name"] == "api1")
    assert released["incident"]["suppressed"] is False
    assert released["incident"]["suppressed_reason"] == "suppressed: gateway is down"


def test_a_flapping_monitor_sends_one_flapping_message_then_silence(task_ledger, alice, board):
    team = alice.personal_team
    board.toggling["flappy"] = 0  # 503, 200, 503, 200, ...: a state change at every check
    monitor = checked_monitor(team, board, "flappy", flap_threshold=3, flap_window_minutes=30)
    hook_for(team, board, [monitor])
    drive_until(lambda: Incident.objects.filter(monitor=monitor).count() >= 5, timeout=60)
    monitor_pause(monitor=monitor)
    # The second "opened" came within the window of the first incident's messages: it waits
    # for the window, and the flapping notice (not grouped) waits for it.
    task_ledger.wait_until_settled()  # every fan-out ran: what is owed exists, maybe held
    drive_until(all_sent, timeout=GROUP_WINDOW + 30)
    task_ledger.wait_until_settled()
    incidents = Incident.objects.filter(monitor=monitor).count()
    assert incidents >= 5  # every incident is still recorded
    # Opened, resolved, opened; the fourth change (the second recovery) is the flapping one.
    assert board.received() == [
        ("incident.opened", "flappy"),
        ("incident.resolved", "flappy"),
        ("incident.opened", "flappy"),
        ("incident.flapping", "flappy"),
    ]
    assert board.webhooks[-1]["state"] == "up"
