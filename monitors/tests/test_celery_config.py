"""Per-task Celery settings and the beat registration of the dispatcher."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from healthmon.celery import app
from lib import task_names
from lib.task_acks import ACK_ON_RECEIPT, REDELIVER_IF_LOST


@pytest.fixture(scope="module")
def tasks():
    app.loader.import_default_modules()
    return app.tasks


def test_check_batches_ack_early_never_retry_and_have_a_hard_limit(tasks):
    batch = tasks[task_names.RUN_CHECK_BATCH]

    assert batch.acks_late is False
    assert batch.max_retries == 0
    assert batch.time_limit and batch.time_limit > 60


# Each task's acknowledgement choice, written out: a task moved from one policy to the other
# (or given a third way) fails here.
ACK_POLICY = {
    task_names.RUN_CHECK_BATCH: ACK_ON_RECEIPT,
    task_names.RUN_CHECK_NOW: ACK_ON_RECEIPT,
    task_names.RUN_DRAFT_CHECK: ACK_ON_RECEIPT,
    task_names.DISPATCH_DUE_CHECKS: ACK_ON_RECEIPT,
    task_names.ROLLUP_CHECK_RESULTS: ACK_ON_RECEIPT,
    task_names.PRUNE_CHECK_RESULTS: ACK_ON_RECEIPT,
    task_names.FLUSH_EXPIRED_TOKENS: ACK_ON_RECEIPT,
    task_names.EVALUATE_CHECK_RESULTS: REDELIVER_IF_LOST,
    task_names.NOTIFY_INCIDENT: REDELIVER_IF_LOST,
    task_names.DELIVER_NOTIFICATION: REDELIVER_IF_LOST,
    task_names.REQUEUE_STALLED_DELIVERIES: REDELIVER_IF_LOST,
    task_names.DISPATCH_DUE_POLICIES: REDELIVER_IF_LOST,
}


def test_the_idempotent_tasks_ack_late_and_requeue_on_worker_loss():
    assert REDELIVER_IF_LOST == {"acks_late": True, "reject_on_worker_lost": True}
    assert ACK_ON_RECEIPT == {"acks_late": False, "reject_on_worker_lost": False}


@pytest.mark.parametrize(("name", "policy"), ACK_POLICY.items())
def test_each_task_acknowledges_as_its_decorator_chose(tasks, name, policy):
    task = tasks[name]

    assert {option: getattr(task, option) for option in policy} == policy


def test_no_setting_overrides_the_tasks_own_ack_choice():
    assert not app.conf.task_annotations
    assert app.conf.task_acks_late is False
    assert app.conf.task_reject_on_worker_lost is None


def test_every_project_task_is_named_and_routed_to_its_queue(tasks):
    ours = {name for name in tasks if not name.startswith("celery.")}

    assert ours >= set(task_names.QUEUE_OF_TASK)
    assert ours - set(task_names.QUEUE_OF_TASK) <= {
        name for name in ours if ".tests." in name or name.startswith("probe.")
    }
    for name, queue in task_names.QUEUE_OF_TASK.items():
        assert app.amqp.router.route({}, name)["queue"].name == queue


def test_json_only_bounded_prefetch_and_routes():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.amqp.router.route({}, task_names.RUN_CHECK_BATCH)["queue"].name == "checks"
    assert app.amqp.router.route({}, task_names.EVALUATE_CHECK_RESULTS)["queue"].name == "incidents"


@pytest.mark.django_db(transaction=True)  # the scheduler manages its own connection
def test_beat_registers_the_dispatcher_once_per_second_idempotently():
    for _ in range(2):  # a restarted (or second) beat updates the row, never adds one
        DatabaseScheduler(app=app, lazy=True).setup_schedule()

    rows = PeriodicTask.objects.filter(task=task_names.DISPATCH_DUE_CHECKS)
    assert rows.count() == 1
    row = rows.get()
    assert (row.interval.every, row.interval.period) == (1, "seconds")
    assert row.expire_seconds == 2
    assert row.enabled
