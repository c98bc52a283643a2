"""Metrics from every process: prometheus_client's multiprocess mode.

Why this and not a worker-side exporter or a push to Redis: gunicorn runs several web
processes and Celery may fork pool processes, so counters live in many processes whatever we
do; multiprocess mode is the library's own answer (each process writes its values to small
mmap files in ``PROMETHEUS_MULTIPROC_DIR``; a scrape merges them), it keeps counters,
histograms and their semantics intact, and on one machine (``make run``, docker compose with a
shared volume) the web's /metrics shows the workers' counters with no extra moving part.
A push to Redis would mean writing our own merge of histograms and our own staleness rules.

Where processes do not share a disk (Kubernetes pods) each worker pod also serves its own
directory on ``WORKER_METRICS_PORT`` (``start_worker_exporter``) and Prometheus scrapes the
worker pods as well; the web's /metrics then carries the web's counters and the state gauges.

Rules of the mode, followed here:
- ``PROMETHEUS_MULTIPROC_DIR`` is set in the environment of the long-running processes (web,
  worker, beat), before prometheus_client is imported, and emptied once before they start
  (Makefile, compose's migrate step; an emptyDir in Kubernetes starts empty).
- Files are named by a process identifier. The default (the pid) collides when containers
  with their own pid namespaces share a volume, so the identifier is ``<hostname>-<pid>``.
- Processes that end are marked dead (gunicorn's ``child_exit``, Celery's
  ``worker_process_shutdown``) so their live gauges disappear.
"""

from __future__ import annotations

import logging
import os
import re
import socket

logger = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def process_identifier(pid: int | None = None) -> str:
    """``<hostname>-<pid>``; underscores are avoided because the file names are split on them."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())
    return f"{host}-{pid if pid is not None else os.getpid()}"


def multiproc_dir() -> str | None:
    return os.environ.get(ENV) or None


def install_process_identifier() -> None:
    """Make prometheus_client name its files ``<kind>_<hostname>-<pid>.db``.

    Must run before the first metric is created, i.e. before Django loads its apps:
    it is called when the ``healthmon`` package is imported (from ``healthmon/celery.py``).
    """
    directory = multiproc_dir()
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)


def scrape_registry():
    """A registry for one scrape: the merged files of every process (multiprocess mode),
    or this process's own metrics."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    directory = multiproc_dir()
    if not directory:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(registry, path=directory)
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of a process that ended (call from its parent or itself)."""
    directory = multiproc_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process_identifier(pid), directory)


def mark_this_process_dead(**kwargs) -> None:
    """Celery's ``worker_process_shutdown`` (prefork pool children)."""
    mark_process_dead(os.getpid())


def start_worker_exporter(**kwargs):
    """Celery's ``worker_ready``: serve this pod's metrics on ``WORKER_METRICS_PORT`` if set.

    The registry is the multiprocess directory when set (prefork pool children write there
    too), else this process's own metrics. Returns the HTTP server (None when disabled).
    """
    port = os.environ.get("WORKER_METRICS_PORT")
    if not port:
        return None
    from prometheus_client import start_http_server

    address = os.environ.get("WORKER_METRICS_ADDR", "0.0.0.0")  # noqa: S104 - a pod's port
    server, _thread = start_http_server(int(port), addr=address, registry=scrape_registry())
    logger.info("worker metrics on %s:%s/metrics", address, server.server_port)
    return server
