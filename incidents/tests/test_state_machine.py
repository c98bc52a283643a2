"""The threshold state machine, by tables: thresholds 1..3, blips, flaps, out-of-order results.

Sequences are written as strings: ``F`` a failing check, ``S`` a passing one, one minute
apart; check ids are the positions. Events are written compactly:

- ``open a-b n``: incident opened, started at check ``a``, threshold reached at check ``b``,
  ``n`` failing checks so far;
- ``fail i``: a failing check ``i`` counted by the open incident;
- ``resolve a@b``: resolved at check ``a`` (first success of the recovery), threshold
  reached at check ``b``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from incidents.state_machine import (
    FailureRecorded,
    IncidentOpened,
    IncidentResolved,
    Memory,
    Observation,
    Thresholds,
    run,
    transition,
)
from monitors.models import MonitorStatus

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def observations(sequence: str, *, first: int = 0) -> list[Observation]:
    return [
        Observation(at(i), char == "S", f"reason {i}" if char == "F" else "", check_id=i)
        for i, char in enumerate(sequence, start=first)
    ]


def index(moment: datetime) -> int:
    return int((moment - T0) / timedelta(minutes=1))


def describe(event) -> str:
    if isinstance(event, IncidentOpened):
        return f"open {index(event.started_at)}-{event.check_id} {event.failure_count}"
    if isinstance(event, FailureRecorded):
        return f"fail {event.check_id}"
    assert isinstance(event, IncidentResolved)
    return f"resolve {index(event.resolved_at)}@{event.check_id}"


def play(sequence: str, failure: int, success: int, memory: Memory | None = None):
    thresholds = Thresholds(failure, success)
    memory, events, _ = run(memory or Memory(), observations(sequence), thresholds)
    return memory, [describe(e) for e in events]


U, UP, DOWN = MonitorStatus.UNKNOWN, MonitorStatus.UP, MonitorStatus.DOWN

# (sequence, failure_threshold, success_threshold, final state, events)
TABLE = [
    # A new monitor: the first success makes it UP at once, whatever success_threshold says.
    ("", 1, 1, U, []),
    ("S", 1, 1, UP, []),
    ("S", 3, 3, UP, []),
    # A new monitor that fails from the start alerts like any other.
    ("F", 1, 1, DOWN, ["open 0-0 1"]),
    ("F", 2, 1, U, []),
    ("FF", 2, 1, DOWN, ["open 0-1 2"]),
    ("FFF", 3, 1, DOWN, ["open 0-2 3"]),
    ("FS", 2, 1, UP, []),
    # Threshold 1: every flip is visible.
    ("SF", 1, 1, DOWN, ["open 1-1 1"]),
    ("SFS", 1, 1, UP, ["open 1-1 1", "resolve 2@2"]),
    ("SFSFS", 1, 1, UP, ["open 1-1 1", "resolve 2@2", "open 3-3 1", "resolve 4@4"]),
    # Threshold 2: a single failing check is a blip that changes nothing visible.
    ("SFS", 2, 1, UP, []),
    ("SFSFSFS", 2, 1, UP, []),
    ("SFF", 2, 1, DOWN, ["open 1-2 2"]),
    ("SFFF", 2, 1, DOWN, ["open 1-2 2", "fail 3"]),
    ("SFFS", 2, 1, UP, ["open 1-2 2", "resolve 3@3"]),
    # Threshold 3: two failures are still a blip; the third opens, dated from the first.
    ("SFFS", 3, 1, UP, []),
    ("SFFSFF", 3, 1, UP, []),
    ("SFFF", 3, 1, DOWN, ["open 1-3 3"]),
    ("SFFSFFF", 3, 1, DOWN, ["open 4-6 3"]),
    # Recovery needs success_threshold successes in a row and is dated from the first.
    ("SFFS", 2, 2, DOWN, ["open 1-2 2"]),
    ("SFFSS", 2, 2, UP, ["open 1-2 2", "resolve 3@4"]),
    ("SFFSSS", 2, 3, UP, ["open 1-2 2", "resolve 3@5"]),
    # A success blip during an outage neither resolves it nor restarts it: the failures
    # after it count into the same incident, and the recovery is dated from the real one.
    ("SFFSF", 2, 2, DOWN, ["open 1-2 2", "fail 4"]),
    ("SFFSFSS", 2, 2, UP, ["open 1-2 2", "fail 4", "resolve 5@6"]),
    ("SFFSSFSSS", 2, 3, UP, ["open 1-2 2", "fail 5", "resolve 6@8"]),
    # Flapping around the thresholds.
    ("FSFSFSFS", 2, 1, UP, []),
    ("FFSFFSFF", 2, 2, DOWN, ["open 0-1 2", "fail 3", "fail 4", "fail 6", "fail 7"]),
    ("FFSSFFSS", 2, 2, UP, ["open 0-1 2", "resolve 2@3", "open 4-5 2", "resolve 6@7"]),
    ("FFFSSSFFF", 3, 3, DOWN, ["open 0-2 3", "resolve 3@5", "open 6-8 3"]),
    # Long outage: every failing check is counted by the incident.
    ("SFFFFF", 2, 1, DOWN, ["open 1-2 2", "fail 3", "fail 4", "fail 5"]),
]


@pytest.mark.parametrize(("sequence", "failure", "success", "state", "events"), TABLE)
def test_table(sequence, failure, success, state, events):
    memory, described = play(sequence, failure, success)

    assert memory.state == state
    assert described == events


def test_incident_cause_is_the_first_failure_and_last_reason_the_threshold_check():
    _, events, _ = run(Memory(state=UP), observations("FFF"), Thresholds(3, 1))

    assert events == [
        IncidentOpened(
            started_at=at(0),
            opened_at=at(2),
            cause="reason 0",
            failure_count=3,
            last_reason="reason 2",
            check_id=2,
        )
    ]


def test_counters_and_run_starts_are_remembered_between_batches():
    thresholds = Thresholds(3, 2)
    memory, events, _ = run(Memory(state=UP), observations("FF"), thresholds)
    assert events == []
    assert (memory.consecutive_failures, memory.failing_since, memory.failing_cause) == (
        2,
        at(0),
        "reason 0",
    )

    memory, events, _ = run(memory, observations("F", first=2), thresholds)
    assert [describe(e) for e in events] == ["open 0-2 3"]

    memory, events, _ = run(memory, observations("S", first=3), thresholds)
    assert events == []
    assert (memory.state, memory.consecutive_successes, memory.recovering_since) == (
        DOWN,
        1,
        at(3),
    )

    memory, events, _ = run(memory, observations("S", first=4), thresholds)
    assert [describe(e) for e in events] == ["resolve 3@4"]
    assert memory == Memory(
        state=UP, consecutive_successes=2, last_result_at=at(4), recovering_since=None
    )


def test_a_blip_leaves_no_trace_once_the_next_result_of_the_other_kind_arrives():
    memory, _ = play("SFS", 2, 1)

    assert memory == Memory(state=UP, consecutive_successes=1, last_result_at=at(2))


# --- Out of order ---------------------------------------------------------------------------


def test_result_older_than_the_last_evaluated_changes_nothing():
    memory, _ = play("SF", 2, 1)  # one failure at minute 1, below the threshold
    late = Observation(at(0) - timedelta(seconds=1), False, "late", check_id=99)

    new, events = transition(memory, late, Thresholds(2, 1))

    assert new is memory
    assert events == ()


def test_result_with_the_same_time_as_the_last_evaluated_is_a_duplicate():
    memory, _ = play("SF", 2, 1)
    duplicate = Observation(at(1), False, "again", check_id=1)

    new, events = transition(memory, duplicate, Thresholds(2, 1))

    assert (new, events) == (memory, ())


def test_replaying_a_whole_batch_is_a_no_op():
    thresholds = Thresholds(2, 1)
    memory, events, _ = run(Memory(state=UP), observations("FF"), thresholds)
    assert len(events) == 1

    again, replayed, _ = run(memory, observations("FF"), thresholds)

    assert again == memory
    assert replayed == []


def test_a_batch_is_applied_in_the_order_the_checks_happened_not_arrived():
    shuffled = list(reversed(observations("SFFS")))

    memory, events, _ = run(Memory(), shuffled, Thresholds(2, 1))

    assert [describe(e) for e in events] == ["open 1-2 2", "resolve 3@3"]
    assert memory.state == UP


def test_a_slow_batch_overtaken_by_a_newer_one_is_ignored():
    thresholds = Thresholds(1, 1)
    memory, _, _ = run(Memory(state=UP), observations("S", first=5), thresholds)

    # A failure checked at minute 4 arrives after the success checked at minute 5.
    memory, events, _ = run(memory, observations("F", first=4), thresholds)

    assert (memory.state, events) == (UP, [])


def test_lowering_the_threshold_applies_to_the_run_in_progress():
    memory, _ = play("SFF", 3, 1)  # two failures: still UP under threshold 3

    memory, events, _ = run(memory, observations("F", first=3), Thresholds(1, 1))

    assert [describe(e) for e in events] == ["open 1-3 3"]


def test_thresholds_below_one_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Thresholds(0, 1)


# --- Exhaustive: every sequence up to 8 checks, every threshold pair 1..3 ---------------------


def oracle(sequence: str, failure: int, success: int) -> tuple[MonitorStatus, list[str]]:
    """The rules restated over runs of equal results, independently of the implementation."""
    state, events = U, []
    runs = [(char, len(list(group))) for char, group in itertools.groupby(sequence)]
    position = 0
    for char, length in runs:
        if char == "F":
            if state == DOWN:
                events += [f"fail {position + k}" for k in range(length)]
            elif length >= failure:
                state = DOWN
                events.append(f"open {position}-{position + failure - 1} {failure}")
                events += [f"fail {position + k}" for k in range(failure, length)]
        elif state == U:
            state = UP
        elif state == DOWN and length >= success:
            state = UP
            events.append(f"resolve {position}@{position + success - 1}")
        position += length
    return state, events


SEQUENCES = ["".join(p) for n in range(9) for p in itertools.product("SF", repeat=n)]
THRESHOLD_PAIRS = list(itertools.product((1, 2, 3), repeat=2))


@pytest.mark.parametrize(("failure", "success"), THRESHOLD_PAIRS)
def test_every_sequence_matches_the_rules(failure, success):
    for sequence in SEQUENCES:
        memory, events = play(sequence, failure, success)
        assert (memory.state, events) == oracle(sequence, failure, success), sequence
        opened = sum(e.startswith("open") for e in events)
        resolved = sum(e.startswith("resolve") for e in events)
        # Never two open incidents, never a recovery without an outage.
        assert opened - resolved == (1 if memory.state == DOWN else 0), sequence


@pytest.mark.parametrize(("failure", "success"), THRESHOLD_PAIRS)
def test_every_sequence_split_into_batches_gives_the_same_answer(failure, success):
    thresholds = Thresholds(failure, success)
    for sequence in SEQUENCES[::7]:
        whole, whole_events, _ = run(Memory(), observations(sequence), thresholds)
        memory, events = Memory(), []
        for i, char in enumerate(sequence):
            memory, new, _ = run(memory, observations(char, first=i), thresholds)
            # Each batch is also delivered twice.
            memory, duplicate, _ = run(memory, observations(char, first=i), thresholds)
            assert duplicate == []
            events += new
        assert (memory, events) == (whole, whole_events), sequence
