"""Tasks loaded only into the probe worker of test_worker_gevent.py (``--include``).

Each task reports to a Redis list (results are disabled in healthmon), so the test can see
when each ran and which PostgreSQL backend served it.
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import shared_task
from django.db import connection


def _report(key: str, **payload) -> None:
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    client.rpush(key, json.dumps(payload))
    client.expire(key, 600)


@shared_task(name="probe.db_sleep", ignore_result=True)
def db_sleep(key: str, seconds: float) -> None:
    started = time.time()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), pg_sleep(%s)", [seconds])
        pid = cursor.fetchone()[0]
    _report(key, kind="db", pid=pid, started=started, ended=time.time())


@shared_task(name="probe.tick", ignore_result=True)
def tick(key: str) -> None:
    _report(key, kind="tick", at=time.time())
