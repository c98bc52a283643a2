"""Celery's per-tick lines about the housekeeping on beat's schedule are DEBUG, not INFO."""

import logging

import pytest

DISPATCH = "monitors.tasks.dispatch_due_checks"
CHECK_BATCH = "monitors.tasks.run_check_batch"


@pytest.fixture
def info_level(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def test_beat_sending_the_dispatcher_is_not_logged_at_info(info_level):
    logging.getLogger("celery.beat").info(
        "Scheduler: Sending due task %s (%s)", "dispatch-due-checks", DISPATCH
    )

    assert info_level.records == []


def test_worker_receiving_and_finishing_the_dispatcher_is_not_logged_at_info(info_level):
    logging.getLogger("celery.worker.strategy").info("Task %s[%s] received", DISPATCH, "id-1")
    logging.getLogger("celery.app.trace").info("Task %s[%s] succeeded", DISPATCH, "id-1")

    assert info_level.records == []


def test_check_batches_are_still_logged_at_info(info_level):
    logging.getLogger("celery.app.trace").info("Task %s[%s] succeeded", CHECK_BATCH, "id-2")

    assert [r.levelname for r in info_level.records] == ["INFO"]


def test_a_failing_dispatcher_is_still_an_error(info_level):
    logging.getLogger("celery.app.trace").error("Task %s[%s] raised", DISPATCH, "id-3")

    assert [r.levelname for r in info_level.records] == ["ERROR"]


def test_log_level_debug_shows_the_routine_lines_as_debug(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("celery.beat").info(
        "Scheduler: Sending due task %s (%s)", "dispatch-due-checks", DISPATCH
    )

    assert [r.levelname for r in caplog.records] == ["DEBUG"]
