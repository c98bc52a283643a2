"""Retention: raw results pruned in bounded batches, by the periodic task and the command."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from healthmon.celery import app
from lib import task_names
from monitors.models import CheckResult, CheckRollup, RollupPeriod
from monitors.rollups import prune_history, rollup_new_results
from monitors.tasks import prune_check_results, rollup_check_results
from monitors.tests.history_data import make_monitor


def results_aged(monitor, *days_ago):
    now = timezone.now()
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=now - timedelta(days=d), status="up")
            for d in days_ago
        ]
    )


@pytest.mark.django_db
def test_results_past_the_retention_are_deleted_and_history_stays(alice, settings):
    settings.CHECK_RETENTION_DAYS = 30
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 40, 31, 29, 1, 0)
    rollup_new_results()
    days_before = CheckRollup.objects.filter(period=RollupPeriod.DAY).count()

    run = prune_history()

    assert run.check_results == 2 and run.complete
    assert CheckResult.objects.count() == 3
    assert CheckRollup.objects.filter(period=RollupPeriod.DAY).count() == days_before


@pytest.mark.django_db
def test_results_not_rolled_up_yet_are_kept_whatever_their_age(alice):
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 40)
    rollup_new_results()
    results_aged(monitor, 45)  # stored late: not rolled up yet

    run = prune_history()

    assert run.check_results == 1
    assert CheckResult.objects.count() == 1
    rollup_new_results()
    assert prune_history().check_results == 1


@pytest.mark.django_db
def test_pruning_runs_in_bounded_batches(alice):
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, *([40] * 25))
    rollup_new_results()

    first = prune_history(batch_size=10, max_batches=2)
    second = prune_history(batch_size=10, max_batches=2)

    assert (first.check_results, first.complete) == (20, False)
    assert (second.check_results, second.complete) == (5, True)


@pytest.mark.django_db
def test_hourly_rollups_expire_and_daily_ones_stay(alice, settings):
    settings.HOURLY_ROLLUP_RETENTION_DAYS = 35
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 400, 36, 34)
    rollup_new_results()

    run = prune_history()

    assert run.hourly_rollups == 2
    assert CheckRollup.objects.filter(period=RollupPeriod.HOUR).count() == 1
    assert CheckRollup.objects.filter(period=RollupPeriod.DAY).count() == 3


@pytest.mark.django_db
def test_periodic_tasks_roll_up_and_prune(alice):
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 40, 0)

    assert rollup_check_results.apply().get() == 2
    assert prune_check_results.apply().get() == 1


@pytest.mark.django_db(transaction=True)  # the scheduler manages its own connection
def test_beat_registers_rollup_and_prune_tasks():
    DatabaseScheduler(app=app, lazy=True).setup_schedule()

    rollup = PeriodicTask.objects.get(task=task_names.ROLLUP_CHECK_RESULTS)
    prune = PeriodicTask.objects.get(task=task_names.PRUNE_CHECK_RESULTS)
    assert (rollup.interval.every, rollup.interval.period) == (5, "seconds")
    assert (prune.interval.every, prune.interval.period) == (600, "seconds")
    assert app.amqp.router.route({}, rollup.task)["queue"].name == "checks"


@pytest.mark.django_db
def test_prune_checks_command(alice):
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 12, 8, 2)
    call_command("rollup_checks", stdout=io.StringIO())
    out = io.StringIO()

    call_command("prune_checks", "--days", "7", "--batch-size", "1", stdout=out)

    assert "Deleted 2 check results older than 7 days" in out.getvalue()
    assert CheckResult.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "ten"], ["--batch-size", "-5"]])
def test_prune_checks_refuses_bad_numbers(args):
    with pytest.raises(CommandError, match="must be a whole number"):
        call_command("prune_checks", *args)


@pytest.mark.django_db
def test_rollup_checks_command(alice):
    monitor = make_monitor(alice.personal_team)
    results_aged(monitor, 1, 0)
    out = io.StringIO()
    call_command("rollup_checks", stdout=out)
    assert "Rolled up 2 check results" in out.getvalue()
