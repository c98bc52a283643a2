"""Per-task Celery settings and the beat registration of the dispatcher."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from healthmon.celery import app


@pytest.fixture(scope="module")
def tasks():
    app.loader.import_default_modules()
    return app.tasks


def test_check_batches_ack_early_never_retry_and_have_a_hard_limit(tasks):
    batch = tasks["monitors.tasks.run_check_batch"]

    assert batch.acks_late is False
    assert batch.max_retries == 0
    assert batch.time_limit and batch.time_limit > 60


@pytest.mark.parametrize(
    "name",
    ["incidents.tasks.evaluate_check_results", "notifications.tasks.deliver_notification"],
)
def test_idempotent_tasks_ack_late_and_requeue_on_worker_loss(tasks, name):
    if name not in tasks:
        pytest.skip(f"{name} is not written yet")
    task = tasks[name]

    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_json_only_bounded_prefetch_and_routes():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.amqp.router.route({}, "monitors.tasks.run_check_batch")["queue"].name == "checks"
    assert (
        app.amqp.router.route({}, "incidents.tasks.evaluate_check_results")["queue"].name
        == "incidents"
    )


@pytest.mark.django_db(transaction=True)  # the scheduler manages its own connection
def test_beat_registers_the_dispatcher_once_per_second_idempotently():
    for _ in range(2):  # a restarted (or second) beat updates the row, never adds one
        DatabaseScheduler(app=app, lazy=True).setup_schedule()

    rows = PeriodicTask.objects.filter(task="monitors.tasks.dispatch_due_checks")
    assert rows.count() == 1
    row = rows.get()
    assert (row.interval.every, row.interval.period) == (1, "seconds")
    assert row.expire_seconds == 2
    assert row.enabled
