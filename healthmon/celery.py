"""The Celery app: three queues, JSON only, settings chosen per task.

- ``checks``: check batches, consumed by a gevent worker with high concurrency.
- ``incidents``: evaluation of check results (idempotent, late ack).
- ``notifications``: one delivery per message (idempotent, late ack, retried).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")

app = Celery("healthmon")
app.config_from_object("django.conf:settings", namespace="CELERY")

app.conf.task_queues = (
    Queue("checks"),
    Queue("incidents"),
    Queue("notifications"),
)
app.conf.task_default_queue = "incidents"
app.conf.task_routes = {
    "monitors.tasks.*": {"queue": "checks"},
    "incidents.tasks.*": {"queue": "incidents"},
    "notifications.tasks.*": {"queue": "notifications"},
}

app.autodiscover_tasks()
