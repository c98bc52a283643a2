"""gunicorn settings for the web process (read from the environment).

- Logs: gunicorn's own loggers use healthmon's config (JSON lines unless LOG_FORMAT=console).
  Its access log is quiet (lib/logs.py): ``healthmon.request`` writes one line per
  request with the request id, user id and duration instead.
- Metrics: with ``PROMETHEUS_MULTIPROC_DIR`` set, each worker process writes its own files;
  a worker that exits is marked dead so its live gauges go (see healthmon/multiproc.py). The
  directory is emptied before the processes start (Makefile, compose), never here: the
  Celery workers on the same machine share it.
"""

import gc
import os
import sys

from django.core.exceptions import ImproperlyConfigured

from lib.env import envint
from lib.logs import logging_config

try:
    # Importing healthmon loads the settings (its Celery app reads them): their errors too.
    from healthmon.multiproc import mark_process_dead
    from healthmon.ports import web_bind

    bind = web_bind()  # WEB_BIND, else 0.0.0.0:WEB_PORT (8000)
    workers = envint("WEB_CONCURRENCY", 2, minimum=1)
    threads = envint("WEB_THREADS", 4, minimum=1)
    timeout = envint("WEB_TIMEOUT", 30, minimum=1)
except ImproperlyConfigured as exc:
    # One line, as manage.py says it, instead of gunicorn's "Failed to read config file" and a
    # traceback (gunicorn lets SystemExit through).
    sys.exit(f"healthmon: configuration error: {exc}")
worker_class = "gthread"
graceful_timeout = 30
keepalive = 5
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in memory, not on a container's (possibly read-only, overlay) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

_debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
logconfig_dict = logging_config(
    log_format=os.environ.get("LOG_FORMAT", "console" if _debug else "json").lower(),
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
)
# No gunicornc control socket: one fixed path per user would collide between instances on one
# machine, and a container's home is read-only.
control_socket_disable = True


def post_worker_init(worker) -> None:
    from django.urls import get_resolver

    # Import every view now rather than on the first request, then move everything loaded
    # (Django, DRF, the URL conf: ~130,000 objects that live as long as the process) out of
    # the garbage collector's reach: a full collection over them stalled a request by ~85 ms
    # (measured on the monitor list, bench/RESULTS.md).
    get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    mark_process_dead(worker.pid)
