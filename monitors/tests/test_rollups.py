"""Incremental rollups compared with figures computed directly from raw results."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from monitors.latency import BUCKET_FIELDS
from monitors.models import CheckResult, CheckRollup, CheckStatus, RollupWatermark
from monitors.rollups import advance_watermark, rollup_backlog, rollup_batch, rollup_new_results
from monitors.tests.history_data import expected_rollups, generate_results, make_monitor

NOW = datetime(2026, 5, 20, 14, 30, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def stored_rollups(period: str) -> dict:
    return {
        (row.monitor_id, row.period_start): {
            "checks": row.checks,
            "up": row.up,
            "response_count": row.response_count,
            "response_sum_ms": row.response_sum_ms,
            "histogram": row.latency_histogram,
        }
        for row in CheckRollup.objects.filter(period=period)
    }


def all_results() -> list[CheckResult]:
    return list(CheckResult.objects.all())


@pytest.mark.django_db
def test_rollups_match_figures_computed_from_raw_results(alice):
    monitors = [make_monitor(alice.personal_team, f"API {n}") for n in range(3)]
    generate_results(monitors, start=NOW - timedelta(days=3), end=NOW, per_monitor=1500)

    run = rollup_new_results(now=NOW)

    assert run.results == 4500
    results = all_results()
    for period in ("hour", "day"):
        assert stored_rollups(period) == expected_rollups(results, period)


@pytest.mark.django_db
def test_rolling_up_in_pieces_adds_to_existing_rows(alice):
    monitors = [make_monitor(alice.personal_team, f"API {n}") for n in range(2)]
    start = NOW - timedelta(hours=30)
    generate_results(monitors, start=start, end=NOW, per_monitor=400, seed=1)
    rollup_new_results(now=NOW, batch_size=150)  # several batches, each adding to rows
    generate_results(monitors, start=start, end=NOW, per_monitor=300, seed=2)  # same hours

    rollup_new_results(now=NOW)

    results = all_results()
    assert len(results) == 1400
    for period in ("hour", "day"):
        assert stored_rollups(period) == expected_rollups(results, period)


@pytest.mark.django_db
def test_a_second_run_with_nothing_new_changes_nothing(alice):
    monitor = make_monitor(alice.personal_team)
    generate_results([monitor], start=NOW - timedelta(hours=5), end=NOW, per_monitor=100)
    rollup_new_results(now=NOW)
    before = stored_rollups("hour")

    run = rollup_new_results(now=NOW)

    assert run.results == 0
    assert stored_rollups("hour") == before


@pytest.mark.django_db
def test_results_without_response_time_count_for_uptime_only(alice):
    monitor = make_monitor(alice.personal_team)
    at = NOW - timedelta(minutes=5)
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=at, status=CheckStatus.ERROR),
            CheckResult(monitor=monitor, checked_at=at, status=CheckStatus.UP),
            CheckResult(monitor=monitor, checked_at=at, status=CheckStatus.UP, response_time_ms=0),
            CheckResult(
                monitor=monitor, checked_at=at, status=CheckStatus.DOWN, response_time_ms=30
            ),
        ]
    )

    rollup_new_results(now=NOW)

    row = CheckRollup.objects.get(period="hour")
    assert (row.checks, row.up, row.down, row.response_count, row.response_sum_ms) == (
        4,
        2,
        2,
        1,
        0,
    )
    assert row.latency_00 == 1
    assert sum(row.latency_histogram) == 1


@pytest.mark.django_db
def test_hours_and_days_are_utc_buckets(alice):
    monitor = make_monitor(alice.personal_team)
    edge = datetime(2026, 5, 19, 23, 59, 59, 999000, tzinfo=UTC)
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=edge, status=CheckStatus.UP),
            CheckResult(monitor=monitor, checked_at=edge + timedelta(milliseconds=1), status="up"),
        ]
    )

    rollup_new_results(now=NOW)

    days = sorted(CheckRollup.objects.filter(period="day").values_list("period_start", "checks"))
    assert days == [
        (datetime(2026, 5, 19, tzinfo=UTC), 1),
        (datetime(2026, 5, 20, tzinfo=UTC), 1),
    ]
    hours = sorted(CheckRollup.objects.filter(period="hour").values_list("period_start", flat=True))
    assert hours == [datetime(2026, 5, 19, 23, tzinfo=UTC), datetime(2026, 5, 20, tzinfo=UTC)]


@pytest.mark.django_db
def test_every_histogram_bucket_has_a_column():
    names = {f.name for f in CheckRollup._meta.get_fields()}
    assert set(BUCKET_FIELDS) <= names


# --- The watermark: out-of-order commits ----------------------------------------------------

T0 = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "last_id", "visible", "gap", "now", "expected"),
    [
        ("nothing new", 10, [], None, T0, (10, None, None, 0)),
        ("contiguous ids", 10, [11, 12, 13], None, T0, (13, None, None, 0)),
        ("a gap is waited for", 10, [11, 12, 15, 16], None, T0, (12, 16, T0, 0)),
        (
            "a gap within its grace keeps the first sighting",
            12,
            [15, 16, 17],
            (16, T0),
            T0 + timedelta(seconds=30),
            (12, 16, T0, 0),
        ),
        (
            "a gap that filled in is passed",
            12,
            [13, 14, 15, 16],
            (16, T0),
            T0 + timedelta(seconds=30),
            (16, None, None, 0),
        ),
        (
            "after the grace, every id missing at the sighting is given up",
            12,
            [15, 16, 18, 19],
            (16, T0),
            T0 + GRACE,
            (16, 19, T0 + GRACE, 2),
        ),
        (
            "ids handed out after the sighting still get their own grace",
            12,
            [15, 16, 17, 20],
            (16, T0),
            T0 + GRACE,
            (17, 20, T0 + GRACE, 2),
        ),
        (
            "a gap past the sighting ends the abandoned range at the sighting",
            12,
            [13, 20],
            (16, T0),
            T0 + GRACE,
            (16, 20, T0 + GRACE, 3),
        ),
        (
            "a new gap after a passed one starts a new sighting",
            16,
            [17, 19],
            (16, T0),
            T0 + timedelta(seconds=10),
            (17, 19, T0 + timedelta(seconds=10), 0),
        ),
        (
            "ids past a truncated batch are not given up",
            12,
            [15, 16],
            (30, T0),
            T0 + GRACE,
            (16, None, None, 2),
        ),
    ],
)
def test_advance_watermark(case, last_id, visible, gap, now, expected):
    gap_id, gap_seen_at = gap or (None, None)
    step = advance_watermark(
        last_id=last_id,
        visible_ids=visible,
        gap_id=gap_id,
        gap_seen_at=gap_seen_at,
        now=now,
        grace=GRACE,
    )
    assert (step.last_id, step.gap_id, step.gap_seen_at, step.abandoned) == expected, case


@pytest.mark.django_db
def test_rows_of_a_deleted_monitor_hold_the_rollup_only_for_the_grace(alice, settings):
    settings.ROLLUP_GAP_GRACE_SECONDS = 60
    kept, deleted = make_monitor(alice.personal_team), make_monitor(alice.personal_team, "Gone")
    at = NOW - timedelta(minutes=1)
    for monitor in (kept, deleted, kept):
        CheckResult.objects.create(monitor=monitor, checked_at=at, status="up")
    deleted.delete()  # leaves a hole in the ids

    first = rollup_batch(now=NOW)
    assert first.results == 1
    later = rollup_batch(now=NOW + timedelta(seconds=61))

    assert later.results == 1 and later.abandoned == 1
    assert CheckRollup.objects.get(period="hour", monitor=kept).checks == 2
    watermark = RollupWatermark.objects.get()
    assert watermark.gap_id is None and watermark.last_id == CheckResult.objects.latest("id").id


@pytest.mark.django_db(transaction=True)
def test_a_batch_committing_late_is_not_skipped(alice):
    """Two check batches commit out of id order: the rollup waits for the slower one."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a second concurrent connection (PostgreSQL)")
    import psycopg

    monitor = make_monitor(alice.personal_team)
    CheckResult.objects.create(monitor=monitor, checked_at=NOW - timedelta(minutes=1), status="up")
    rollup_new_results(now=NOW)  # the watermark exists before the race
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    )
    try:
        slow = other.execute(
            "INSERT INTO monitors_checkresult (monitor_id, checked_at, status, phase, reason) "
            "VALUES (%s, %s, 'down', '', '') RETURNING id",
            [monitor.id, NOW - timedelta(seconds=30)],
        ).fetchone()[0]
        fast = CheckResult.objects.create(monitor=monitor, checked_at=NOW, status="up")
        assert fast.id > slow

        waiting = rollup_new_results(now=NOW)
        assert waiting.results == 0
        assert RollupWatermark.objects.get().last_id == slow - 1

        other.commit()
        done = rollup_new_results(now=NOW + timedelta(seconds=1))
    finally:
        other.close()

    assert done.results == 2 and done.abandoned == 0
    row = CheckRollup.objects.get(period="hour", monitor=monitor)
    assert (row.checks, row.up) == (3, 2)


@pytest.mark.django_db
def test_backlog_says_how_far_rollups_are_behind(alice):
    monitor = make_monitor(alice.personal_team)
    assert rollup_backlog(now=NOW).pending_ids == 0
    generate_results([monitor], start=NOW - timedelta(minutes=10), end=NOW, per_monitor=5)
    rollup_new_results(now=NOW)
    assert rollup_backlog(now=NOW).oldest_pending_seconds == 0
    CheckResult.objects.create(monitor=monitor, checked_at=NOW - timedelta(seconds=42), status="up")

    backlog = rollup_backlog(now=NOW)

    assert backlog.pending_ids == 1
    assert backlog.oldest_pending_seconds == 42
