"""Is healthmon itself healthy? Component checks and the /live, /ready, /health endpoints.

- ``/live``: the process answers. Nothing else is checked, so a database outage never makes
  Kubernetes restart every web pod (that would not fix the database).
- ``/ready``: this web process can serve: the database and the broker answer. 503 otherwise,
  with the reason, so a load balancer stops sending traffic.
- ``/health``: the whole system for humans and external monitors: database, broker, beat's
  last tick, workers seen recently per queue, queue depths, and whether alerts get out
  (failing channels, the oldest undelivered alert). 503 when any part is down; 200 with
  ``"status": "degraded"`` when only notifications are in trouble.

Why degraded is not 503: the usual cause of failing channels is a receiver that belongs to a
team (a webhook answering 500, a revoked chat token), not healthmon. A 503 would page the
operator, or make an orchestrator act, for a fault neither can fix, and would hide a real
outage of healthmon's own parts behind one that is always on somewhere on a busy install.
Monitors of /health that should also see this match on ``"degraded"`` in the body. The
public answer carries counts and channel ids only; names and (redacted) errors are for
``healthmon_status``, like worker hostnames.

The endpoints are answered by ``OpsEndpointsMiddleware`` before host validation, sessions and
authentication: Kubernetes probes and Prometheus address pods by IP, which is not in
ALLOWED_HOSTS, and a probe should cost one query, not a session lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from healthmon import heartbeats

QUEUES = ("checks", "incidents", "notifications")

logger = logging.getLogger(__name__)


@dataclass
class ComponentStatus:
    ok: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    # Working, but something needs a human (shown, and the reason given, but no 503).
    degraded: bool = False

    @property
    def status(self) -> str:
        if not self.ok:
            return "down"
        return "degraded" if self.degraded else "up"

    def as_dict(self) -> dict[str, Any]:
        data = {"status": self.status, **self.details}
        if self.reason:
            data["reason"] = self.reason
        return data


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_database() -> ComponentStatus:
    started = time.monotonic()
    try:
        if connection.settings_dict.get("OPTIONS", {}).get("pool"):
            # Borrow from the pool with the probe's timeout: Django would wait
            # DB_POOL_TIMEOUT, longer than a Kubernetes probe waits for the answer.
            connection.pool.open()  # no-op once open; Django opens it on first use
            with connection.pool.connection(timeout=settings.PROBE_TIMEOUT) as conn:
                conn.execute("SELECT 1").fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception as exc:  # any failure means "not ready", with the reason shown
        return ComponentStatus(ok=False, reason=_one_line(exc))
    return ComponentStatus(ok=True, details={"latency_ms": _ms_since(started)})


def _broker_connection():
    from healthmon.celery import app

    timeout = settings.PROBE_TIMEOUT
    options = {**(app.conf.broker_transport_options or {}), "socket_timeout": timeout}
    return app.connection_for_read(
        settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options
    )


def check_broker() -> ComponentStatus:
    started = time.monotonic()
    try:
        with _broker_connection() as conn:
            # One attempt, no back-off: a probe must answer within its own timeout.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    except Exception as exc:
        return ComponentStatus(ok=False, reason=_one_line(exc))
    return ComponentStatus(ok=True, details={"latency_ms": _ms_since(started)})


def queue_depths(queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting per queue, through kombu, so it is right for every broker: LLEN of
    each priority list on Redis, the message count on RabbitMQ, files on the filesystem
    broker. Raises if the broker cannot be reached."""
    with _broker_connection() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        channel = conn.default_channel
        return {
            queue: channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count
            for queue in queues
        }


def check_beat(now: float | None = None) -> ComponentStatus:
    now = now or time.time()
    try:
        last_tick = heartbeats.store().beat_last_tick()
    except Exception as exc:
        return ComponentStatus(ok=False, reason=f"heartbeat store: {_one_line(exc)}")
    if last_tick is None:
        return ComponentStatus(
            ok=False, reason="beat has never ticked", details={"last_tick_age_seconds": None}
        )
    age = round(max(now - last_tick, 0.0), 1)
    details = {"last_tick_age_seconds": age}
    if age > settings.HEALTH_BEAT_MAX_AGE:
        return ComponentStatus(
            ok=False,
            reason=f"beat last ticked {age:.0f}s ago (limit {settings.HEALTH_BEAT_MAX_AGE}s)",
            details=details,
        )
    return ComponentStatus(ok=True, details=details)


def workers_by_queue(now: float | None = None) -> dict[str, list[str]]:
    """Hostnames of the workers seen within ``HEALTH_WORKER_MAX_AGE``, per queue they consume."""
    now = now or time.time()
    recent = [
        worker
        for worker in heartbeats.store().workers()
        if now - worker.seen_at <= settings.HEALTH_WORKER_MAX_AGE
    ]
    return {queue: sorted(w.hostname for w in recent if queue in w.queues) for queue in QUEUES}


def check_workers(now: float | None = None, *, names: bool = False) -> ComponentStatus:
    """Workers seen per queue; ``names`` adds their hostnames (not on the public /health)."""
    try:
        by_queue = workers_by_queue(now)
    except Exception as exc:
        return ComponentStatus(ok=False, reason=f"heartbeat store: {_one_line(exc)}")
    idle = [queue for queue, hosts in by_queue.items() if not hosts]
    details: dict[str, Any] = {"queues": {queue: len(hosts) for queue, hosts in by_queue.items()}}
    if names:
        details["workers"] = sorted({host for hosts in by_queue.values() for host in hosts})
    if idle:
        return ComponentStatus(
            ok=False,
            reason=f"no worker seen in the last {settings.HEALTH_WORKER_MAX_AGE}s "
            f"for queue(s): {', '.join(idle)}",
            details=details,
        )
    return ComponentStatus(ok=True, details=details)


def check_queues() -> ComponentStatus:
    try:
        depths = queue_depths()
    except Exception as exc:
        return ComponentStatus(ok=False, reason=_one_line(exc))
    return ComponentStatus(ok=True, details={"depths": depths})


def check_notifications(now: datetime | None = None, *, names: bool = False) -> ComponentStatus:
    """Do alerts get out? Failing channels (ids; ``names`` adds name, kind and the redacted
    last error, not on the public /health) and the age of the oldest alert still owed."""
    from notifications.selectors import failing_channels, oldest_undelivered_age

    now = now or timezone.now()
    try:
        failing = failing_channels(
            now=now, failures=settings.HEALTH_CHANNEL_FAILURES, window=timedelta(hours=1)
        )
        oldest = oldest_undelivered_age(now=now)
    except Exception as exc:  # the database component reports the outage itself
        return ComponentStatus(ok=True, degraded=True, reason=f"unknown: {_one_line(exc)}")
    details: dict[str, Any] = {
        "failing_channels": len(failing),
        "failing_channel_ids": [channel.id for channel in failing],
        "oldest_undelivered_age_seconds": None if oldest is None else round(oldest, 1),
    }
    if names:
        details["failing"] = [asdict(channel) for channel in failing]
    problems = []
    if failing:
        problems.append(f"{len(failing)} channel(s) failing: ids {details['failing_channel_ids']}")
    if oldest is not None and oldest > settings.HEALTH_UNDELIVERED_MAX_AGE:
        problems.append(
            f"oldest undelivered alert is {oldest:.0f}s old "
            f"(limit {settings.HEALTH_UNDELIVERED_MAX_AGE}s)"
        )
    return ComponentStatus(
        ok=True, degraded=bool(problems), reason="; ".join(problems), details=details
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _report(path: str, components: dict[str, ComponentStatus]) -> JsonResponse:
    down = [name for name, status in components.items() if not status.ok]
    degraded = [name for name, status in components.items() if status.ok and status.degraded]
    body: dict[str, Any] = {"status": "down" if down else "degraded" if degraded else "up"}
    if down or degraded:
        body["reason"] = "; ".join(f"{name}: {components[name].reason}" for name in down + degraded)
    body["components"] = {name: status.as_dict() for name, status in components.items()}
    response = JsonResponse(body, status=503 if down else 200)
    response["Cache-Control"] = "no-store"
    if down:
        # One warning with the reason instead of django.request's bare "Service Unavailable".
        response._has_been_logged = True
        logger.warning("%s: %s", path, body["reason"], extra={"probe": path})
    return response


# --- Views ---------------------------------------------------------------------------------


def live(request: HttpRequest) -> HttpResponse:
    response = JsonResponse({"status": "up"})
    response["Cache-Control"] = "no-store"
    return response


def ready(request: HttpRequest) -> HttpResponse:
    return _report("/ready", {"database": check_database(), "broker": check_broker()})


def health(request: HttpRequest) -> HttpResponse:
    return _report(
        "/health",
        {
            "database": check_database(),
            "broker": check_broker(),
            "beat": check_beat(),
            "workers": check_workers(),
            "queues": check_queues(),
            "notifications": check_notifications(),
        },
    )


def _endpoints() -> dict[str, Callable[[HttpRequest], HttpResponse]]:
    from healthmon.exposition import metrics

    return {"/live": live, "/ready": ready, "/health": health, "/metrics": metrics}


class OpsEndpointsMiddleware:
    """Answers /live, /ready, /health and /metrics before the rest of the stack (first in
    MIDDLEWARE): no host validation, session, authentication or request metrics for probes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.endpoints = _endpoints()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.endpoints.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        return view(request)
