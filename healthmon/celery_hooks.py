"""Everything healthmon hooks into Celery, connected when the Celery app is imported.

Connected at import (not in an AppConfig.ready) because some signals fire before Django
loads its apps in a worker: ``setup_logging`` and the heartbeat's receiver list, which Celery
reads once when the worker starts.
"""

from __future__ import annotations

from celery import signals

from healthmon import heartbeats, multiproc
from lib import logs, request_id


def connect() -> None:
    # Logging: the Django LOGGING config (JSON or console) instead of Celery's own handler.
    signals.setup_logging.connect(logs.configure_celery_logging, weak=False)

    # Request id: publisher -> message headers -> the task's context -> tasks it sends.
    signals.before_task_publish.connect(request_id.put_request_id_in_headers, weak=False)
    signals.task_prerun.connect(request_id.restore_request_id, weak=False)
    signals.task_postrun.connect(request_id.clear_request_id, weak=False)

    # Workers seen recently, per queue (for /health, metrics and alerts).
    signals.worker_ready.connect(heartbeats.remember_worker_queues, weak=False)
    signals.heartbeat_sent.connect(heartbeats.record_worker_heartbeat, weak=False)
    signals.worker_shutdown.connect(heartbeats.forget_this_worker, weak=False)

    # Metrics: a worker-side exporter where pods don't share the multiprocess directory;
    # pool processes that end drop their live gauges.
    signals.worker_ready.connect(multiproc.start_worker_exporter, weak=False)
    signals.worker_process_shutdown.connect(multiproc.mark_this_process_dead, weak=False)
