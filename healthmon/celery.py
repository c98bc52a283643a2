"""The Celery app: three queues, JSON only, settings chosen per task.

- ``checks``: check batches and the dispatcher, consumed by a gevent worker with high
  concurrency. Batches ack early, never retry and expire after one interval: the next
  scheduled run replaces a lost one (see monitors/tasks.py).
- ``incidents``: evaluation of check results (idempotent, late ack, reject on worker loss).
- ``notifications``: one delivery per message (idempotent, late ack, reject on worker loss,
  retried by the task itself).

gevent and the database (verified by monitors/tests/test_worker_gevent.py):

- psycopg 3 picks its wait function when it is imported: a cooperative one only if
  ``select`` is already monkey-patched. Celery patches before importing anything only when
  ``-P gevent`` is on the command line (not via a config setting), so always start check
  workers with ``-P gevent``; ``check_gevent_database`` below refuses to start a gevent
  worker whose psycopg would block the whole process.
- Celery's Django fixup closes the connection around every task, so ``CONN_MAX_AGE`` does
  nothing there; settings.py enables Django 5.2's psycopg pool instead
  (``DB_POOL_MAX_SIZE``, default 10 per process). Greenlets never share a connection:
  each borrows one from the pool (waiting up to ``DB_POOL_TIMEOUT``), and a check batch
  returns it while its HTTP requests run. Keep DB_POOL_MAX_SIZE x worker processes (+ web)
  below PostgreSQL's max_connections.
- Soft time limits do not exist on the gevent pool: every request has its own timeout and
  every task a hard ``time_limit``.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init
from django.conf import settings
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
# gevent workers resolve host names with c-ares inside the event loop. gevent's default runs
# every getaddrinfo() (even for an IP literal) on a pool of 10 native threads: ~9% of the
# check worker's CPU in py-spy profiles (bench/RESULTS.md), and at most 10 lookups in flight,
# a ceiling for thousands of distinct hosts behind a slow DNS server. c-ares reads /etc/hosts
# and resolv.conf but no other nsswitch source (mDNS, LDAP): GEVENT_RESOLVER=thread restores
# the default. Read by gevent when the hub first resolves a name, i.e. after this import.
os.environ.setdefault("GEVENT_RESOLVER", "ares")

from healthmon import celery_hooks, multiproc
from lib import task_names

# Before any Prometheus metric exists (django-prometheus creates its own when Django loads
# the apps); then logging, request ids, heartbeats and metrics hooks (healthmon/celery_hooks).
multiproc.install_process_identifier()
celery_hooks.connect()

app = Celery("healthmon")
app.config_from_object("django.conf:settings", namespace="CELERY")

app.conf.task_queues = (
    # Each queue on its own direct exchange and routing key: a bare Queue("checks") would be
    # bound to the default exchange with the default routing key, and every route would land
    # in the default queue.
    Queue("checks", Exchange("checks", type="direct"), routing_key="checks"),
    Queue("incidents", Exchange("incidents", type="direct"), routing_key="incidents"),
    Queue("notifications", Exchange("notifications", type="direct"), routing_key="notifications"),
)
app.conf.task_default_queue = "incidents"
app.conf.task_routes = {name: {"queue": queue} for name, queue in task_names.QUEUE_OF_TASK.items()}

# JSON only: a pickle payload from a compromised broker would be code execution.
app.conf.task_serializer = "json"
app.conf.result_serializer = "json"
app.conf.accept_content = ["json"]

# Prefetch reserves multiplier x concurrency messages per worker. With -c 100 a multiplier
# of 1 still reserves 100 batches; more would hold messages another worker could run now,
# and reserved check batches only age towards their expiry.
app.conf.worker_prefetch_multiplier = 1
# A hard limit for every task (no soft limits on gevent); tasks that need less set their own.
app.conf.task_time_limit = 300
# A task running when the broker connection drops finishes its work. Only late-acked tasks
# would be cancelled (lib/task_acks.py), and those are idempotent: running one again when
# its unacknowledged message comes back is safe, but cancelling one mid-way is not free. A
# delivery cancelled after the receiver's 2xx and before the outcome was written stayed
# "sending" until its lease lapsed and was then sent again (bench/faults.py, broker-kill).
# Celery warns at each connection loss that its default will change; this is deliberate.
app.conf.worker_cancel_long_running_tasks_on_connection_loss = False

# Redis' visibility_timeout: CELERY_VISIBILITY_TIMEOUT in settings.py, which says why.

# When each task's message is acknowledged is chosen in its own decorator, from the two
# policies of lib/task_acks.py; nothing here overrides it.

# Beat (django-celery-beat's DatabaseScheduler) writes these into PeriodicTask rows at start
# (update_or_create by name, so restarts and a second beat are idempotent; an admin's
# "enabled" switch is kept). Housekeeping tasks of other apps go here too.
app.conf.beat_schedule = {
    # History (monitors/rollups.py): merge new check results into hourly and daily rollups;
    # prune raw results past CHECK_RETENTION_DAYS in bounded batches.
    "rollup-check-results": {
        "task": task_names.ROLLUP_CHECK_RESULTS,
        "schedule": 5.0,
        "options": {"expire_seconds": 5},
    },
    "prune-check-results": {
        "task": task_names.PRUNE_CHECK_RESULTS,
        "schedule": 600.0,
        "options": {"expire_seconds": 600},
    },
    "dispatch-due-checks": {
        "task": task_names.DISPATCH_DUE_CHECKS,
        "schedule": 1.0,
        # A dispatch that waited 2 s is superseded by the next one; don't run a queue of them.
        "options": {"expire_seconds": 2},
    },
    # Refresh tokens past their lifetime (JWT_REFRESH_DAYS) and their blacklist entries.
    "flush-expired-tokens": {
        "task": task_names.FLUSH_EXPIRED_TOKENS,
        "schedule": 86400.0,
        "options": {"expire_seconds": 3600},
    },
    # Grouping windows that ended, reminders and escalation stages that fell due
    # (notifications/policies.py); a run that waited 2 s is superseded by the next one.
    "dispatch-due-policies": {
        "task": task_names.DISPATCH_DUE_POLICIES,
        "schedule": 1.0,
        "options": {"expire_seconds": 2},
    },
    # Takes over "sending" rows past their lease and re-enqueues lost tasks: its interval
    # bounds how long an alert whose worker died stays stuck beyond NOTIFY_SENDING_LEASE.
    "requeue-stalled-deliveries": {
        "task": task_names.REQUEUE_STALLED_DELIVERIES,
        "schedule": float(settings.NOTIFY_SWEEP_INTERVAL),
        "options": {"expire_seconds": settings.NOTIFY_SWEEP_INTERVAL},
    },
}


@worker_init.connect
def check_gevent_database(sender=None, **kwargs) -> None:
    """Refuse to run a gevent worker whose psycopg would block every greenlet."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover
        return
    if not monkey.is_module_patched("select"):
        return
    from psycopg import waiting

    if getattr(waiting, "wait_c", None) is not None and waiting.wait is waiting.wait_c:
        # SystemExit, because Celery logs and ignores ordinary exceptions from signal handlers.
        raise SystemExit(
            "psycopg was imported before gevent patched the process, so database calls "
            "would block the whole worker. Start the worker with `-P gevent` on the "
            "command line (celery -A healthmon worker -P gevent ...)."
        )


@worker_init.connect
def check_countdowns_fit(sender=None, **kwargs) -> None:
    """Refuse to start a worker whose retry countdowns outlast Redis' visibility timeout
    (Celery runs Django's system checks at start but ignores their errors)."""
    from healthmon.checks import check_countdowns_fit_visibility_timeout

    errors = check_countdowns_fit_visibility_timeout(None)
    if errors:
        raise SystemExit(" ".join(f"{error.msg} {error.hint}" for error in errors))


app.autodiscover_tasks()
