"""Exactly one incident when many evaluations of one failing monitor race on PostgreSQL.

Each thread has its own database connection (Django connections are per thread) and
commits for real, so the row lock and the partial unique constraint are what keep the
count at one, not the test's transaction.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from incidents.models import Incident, MonitorState
from incidents.services import evaluate_check_results
from incidents.tests.conftest import make_monitor, store_results
from monitors.models import CheckResult, MonitorStatus

pytestmark = pytest.mark.django_db(transaction=True)

EVALUATIONS = 50


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent transactions need PostgreSQL")


def race(batches: list[list[int]]):
    """Start one evaluation per batch at the same moment, each on its own connection."""
    start = threading.Barrier(len(batches))

    def evaluate(ids: list[int]):
        try:
            start.wait()
            return evaluate_check_results(ids)
        finally:
            connections.close_all()  # give this thread's connection back

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        return list(pool.map(evaluate, batches))


def up_monitor(owner, **fields):
    """A monitor already evaluated once (UP), so the race is on its existing state row."""
    monitor = make_monitor(owner, **fields)
    evaluate_check_results(store_results(monitor, "S"))
    return monitor


def test_fifty_evaluations_of_the_same_failing_results_open_exactly_one_incident(alice, sent):
    monitor = up_monitor(alice, failure_threshold=2)
    ids = store_results(monitor, "FFF", first=1)

    evaluations = race([ids] * EVALUATIONS)

    incident = Incident.objects.get()
    assert incident.failure_count == 3  # each result counted once, not fifty times
    assert sum(e.evaluated for e in evaluations) == 3
    assert sum(e.stale for e in evaluations) == 3 * (EVALUATIONS - 1)
    state = MonitorState.objects.get(monitor=monitor)
    assert (state.state, state.consecutive_failures) == ("down", 3)
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.DOWN
    # The winner announced it; the others replayed it (notifications drop duplicates).
    assert sum(len(e.announcements) for e in evaluations) == 1


def test_fifty_overlapping_batches_of_failing_results_open_exactly_one_incident(alice, sent):
    monitor = up_monitor(alice, failure_threshold=3)
    ids = store_results(monitor, "F" * EVALUATIONS, first=1)

    # Evaluation i gets results 0..i: whatever order they run in, every result is
    # evaluated exactly once (by whoever gets it first) and the rest find it stale.
    evaluations = race([ids[: i + 1] for i in range(EVALUATIONS)])

    incident = Incident.objects.get()
    assert incident.failure_count == EVALUATIONS
    assert incident.started_at == CheckResult.objects.get(id=ids[0]).checked_at
    assert sum(e.evaluated for e in evaluations) == EVALUATIONS
    assert sum(len(e.announcements) for e in evaluations) == 1


def test_concurrent_evaluations_of_a_new_monitor_create_one_state_row(alice, sent):
    monitors = [make_monitor(alice, f"m{i}", failure_threshold=1) for i in range(5)]
    ids = [result_id for m in monitors for result_id in store_results(m, "F")]

    # Every evaluation covers all five monitors, in a different order.
    race([ids[i:] + ids[:i] for i in range(10)])

    assert MonitorState.objects.count() == 5
    assert Incident.objects.count() == 5
