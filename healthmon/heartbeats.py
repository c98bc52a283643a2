"""Signs of life from beat and the workers, kept where the web process can read them.

- **beat**: ``healthmon.beat.HeartbeatScheduler`` records the time of a scheduler tick every
  ``HEARTBEAT_INTERVAL`` seconds (the dispatcher fires every second, so beat ticks that often).
- **workers**: Celery's ``heartbeat_sent`` signal (every 2 s while the worker runs) records the
  worker's hostname and the queues it consumes, at most every ``HEARTBEAT_INTERVAL`` seconds;
  a clean shutdown removes it.

/health counts a process down after about three missed heartbeats (``HEALTH_*_MAX_AGE``).

Also, for liveness probes, ``HEARTBEAT_FILE`` (if set) is touched on each heartbeat.

Where: ``HEARTBEAT_URL``, which defaults to the broker when the broker is Redis (one hash and
one key, a few writes per second), else to files under ``var/heartbeats`` (the single-machine
filesystem broker). With RabbitMQ set ``HEARTBEAT_URL`` to a Redis URL or a shared directory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

BEAT_KEY = "healthmon:beat:last_tick"
WORKERS_KEY = "healthmon:workers"
# Workers not seen for a day are forgotten (a crashed worker never says goodbye).
FORGET_AFTER = 86_400.0
TIMEOUT = 2.0


@dataclass(frozen=True)
class WorkerSeen:
    hostname: str
    seen_at: float
    queues: list[str] = field(default_factory=list)


class HeartbeatStore(Protocol):
    def record_beat_tick(self, at: float) -> None: ...
    def beat_last_tick(self) -> float | None: ...
    def record_worker(self, hostname: str, queues: list[str], at: float) -> None: ...
    def forget_worker(self, hostname: str) -> None: ...
    def workers(self) -> list[WorkerSeen]: ...


class RedisHeartbeatStore:
    """One key for beat's last tick, one hash of workers (hostname -> seen_at, queues)."""

    def __init__(
        self, url: str, *, beat_key: str = BEAT_KEY, workers_key: str = WORKERS_KEY
    ) -> None:
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
        )
        self.beat_key = beat_key
        self.workers_key = workers_key

    def record_beat_tick(self, at: float) -> None:
        self.client.set(self.beat_key, repr(at))

    def beat_last_tick(self) -> float | None:
        raw = self.client.get(self.beat_key)
        return float(raw) if raw else None

    def record_worker(self, hostname: str, queues: list[str], at: float) -> None:
        payload = json.dumps({"seen_at": at, "queues": queues})
        self.client.hset(self.workers_key, hostname, payload)

    def forget_worker(self, hostname: str) -> None:
        self.client.hdel(self.workers_key, hostname)

    def workers(self) -> list[WorkerSeen]:
        found = self.client.hgetall(self.workers_key).items()
        seen = [_worker(name.decode(), raw) for name, raw in found]
        stale = [w.hostname for w in seen if w.seen_at < time.time() - FORGET_AFTER]
        if stale:
            self.client.hdel(self.workers_key, *stale)
        return [w for w in seen if w.hostname not in stale]


class FileHeartbeatStore:
    """One small JSON file per worker and one for beat, written atomically (rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.workers_dir = directory / "workers"

    def _write(self, path: Path, content: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, path)

    def record_beat_tick(self, at: float) -> None:
        self._write(self.directory / "beat", repr(at))

    def beat_last_tick(self) -> float | None:
        try:
            return float((self.directory / "beat").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _worker_path(self, hostname: str) -> Path:
        return self.workers_dir / hostname.replace("/", "_")

    def record_worker(self, hostname: str, queues: list[str], at: float) -> None:
        payload = json.dumps({"hostname": hostname, "seen_at": at, "queues": queues})
        self._write(self._worker_path(hostname), payload)

    def forget_worker(self, hostname: str) -> None:
        self._worker_path(hostname).unlink(missing_ok=True)

    def workers(self) -> list[WorkerSeen]:
        found = []
        for path in self.workers_dir.glob("[!.]*") if self.workers_dir.is_dir() else []:
            try:
                raw = path.read_text()
                worker = _worker(json.loads(raw)["hostname"], raw)
            except (OSError, ValueError, KeyError):
                continue
            if worker.seen_at < time.time() - FORGET_AFTER:
                path.unlink(missing_ok=True)
            else:
                found.append(worker)
        return found


def _worker(hostname: str, raw: str | bytes) -> WorkerSeen:
    data = json.loads(raw)
    return WorkerSeen(hostname=hostname, seen_at=float(data["seen_at"]), queues=data["queues"])


@cache
def _store_for(url: str) -> HeartbeatStore:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHeartbeatStore(url)
    if url.startswith("file://"):
        return FileHeartbeatStore(Path(url.removeprefix("file://")))
    raise ValueError(f"HEARTBEAT_URL must be redis://, rediss://, unix:// or file://, not {url!r}")


def store() -> HeartbeatStore:
    """The store named by ``settings.HEARTBEAT_URL`` (one client per URL and process)."""
    return _store_for(settings.HEARTBEAT_URL)


def touch_heartbeat_file() -> None:
    """Touch ``HEARTBEAT_FILE`` if set: a liveness probe that needs no Python, no broker and
    no network (``find FILE -mmin -2`` in Kubernetes or compose) sees the loop is alive."""
    path = settings.HEARTBEAT_FILE
    if path:
        try:
            Path(path).touch()
        except OSError:
            logger.warning("could not touch HEARTBEAT_FILE %s", path, exc_info=True)


# --- Beat ------------------------------------------------------------------------------------


class BeatTickRecorder:
    """Records beat's ticks at most once per ``every`` seconds (default
    ``HEARTBEAT_INTERVAL``); never breaks the beat loop."""

    def __init__(self, every: float | None = None) -> None:
        self.every = settings.HEARTBEAT_INTERVAL if every is None else every
        self.last_recorded = 0.0

    def __call__(self) -> None:
        now = time.time()
        if now - self.last_recorded < self.every:
            return
        touch_heartbeat_file()
        try:
            store().record_beat_tick(now)
            self.last_recorded = now
        except Exception:  # a missed heartbeat must not stop the scheduler
            logger.warning("could not record the beat heartbeat", exc_info=True)
            self.last_recorded = now  # and must not retry (and log) on every tick


# --- Workers ---------------------------------------------------------------------------------

_worker_queues: dict[str, list[str]] = {}
# When each worker of this process last recorded its heartbeat (monotonic seconds).
_worker_recorded: dict[str, float] = {}


def remember_worker_queues(sender=None, **kwargs) -> None:
    """``worker_ready``: note the queues this worker consumes (sender is the consumer)."""
    hostname = sender.hostname
    queues = sorted(q.name for q in sender.task_consumer.queues) if sender.task_consumer else []
    _worker_queues[hostname] = queues
    record_worker_heartbeat_for(hostname)


def record_worker_heartbeat(sender=None, **kwargs) -> None:
    """``heartbeat_sent``: sender is the Heart, whose event dispatcher knows the hostname.
    Celery's heart beats every 2 s; one write per ``HEARTBEAT_INTERVAL`` is enough."""
    hostname = sender.eventer.hostname
    now = time.monotonic()
    # 0.5 s of slack: the 2 s heart must not miss a 4 s interval by a timer's jitter.
    if now - _worker_recorded.get(hostname, -math.inf) >= settings.HEARTBEAT_INTERVAL - 0.5:
        _worker_recorded[hostname] = now
        record_worker_heartbeat_for(hostname)


def record_worker_heartbeat_for(hostname: str) -> None:
    touch_heartbeat_file()
    try:
        store().record_worker(hostname, _worker_queues.get(hostname, []), time.time())
    except Exception:  # a missed heartbeat must not disturb the worker
        logger.warning("could not record the worker heartbeat", exc_info=True)


def forget_this_worker(sender=None, **kwargs) -> None:
    """``worker_shutdown``: a worker that stops cleanly leaves at once, not after a timeout."""
    for hostname in list(_worker_queues):
        try:
            store().forget_worker(hostname)
        except Exception:
            logger.warning("could not remove the worker heartbeat", exc_info=True)


def default_heartbeat_url(broker_url: str, var_dir: Path) -> str:
    if broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return f"file://{var_dir / 'heartbeats'}"
