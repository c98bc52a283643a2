"""Heartbeat stores: Redis (the broker) and files (the single-machine filesystem broker)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from healthmon.heartbeats import (
    FORGET_AFTER,
    BeatTickRecorder,
    FileHeartbeatStore,
    RedisHeartbeatStore,
    default_heartbeat_url,
)


@pytest.fixture(params=["file", "redis"])
def store(request, tmp_path, settings):
    if request.param == "file":
        yield FileHeartbeatStore(tmp_path / "heartbeats")
        return
    # Keys of its own: the session's real worker keeps writing to the default ones.
    prefix = f"healthmon-test-{uuid.uuid4().hex}"
    store = RedisHeartbeatStore(
        settings.CELERY_BROKER_URL, beat_key=f"{prefix}:beat", workers_key=f"{prefix}:workers"
    )
    yield store
    store.client.delete(store.beat_key, store.workers_key)


def test_beat_tick_is_read_back(store):
    assert store.beat_last_tick() is None

    store.record_beat_tick(1_700_000_000.5)

    assert store.beat_last_tick() == 1_700_000_000.5


def test_workers_are_listed_with_their_queues_and_forgotten_on_shutdown(store):
    now = time.time()
    store.record_worker("checks@host-a", ["checks"], now)
    store.record_worker("events@host-b", ["incidents", "notifications"], now)

    seen = {w.hostname: w.queues for w in store.workers()}
    store.forget_worker("checks@host-a")

    assert seen == {"checks@host-a": ["checks"], "events@host-b": ["incidents", "notifications"]}
    assert [w.hostname for w in store.workers()] == ["events@host-b"]


def test_workers_silent_for_a_day_are_dropped(store):
    store.record_worker("gone@host", ["checks"], time.time() - FORGET_AFTER - 1)

    assert store.workers() == []
    assert store.workers() == []


def test_the_beat_recorder_writes_at_most_once_a_second_and_touches_the_file(
    tmp_path, settings, monkeypatch
):
    settings.HEARTBEAT_URL = f"file://{tmp_path / 'heartbeats'}"
    settings.HEARTBEAT_FILE = str(tmp_path / "alive")
    recorder = BeatTickRecorder(every=1.0)
    store = FileHeartbeatStore(tmp_path / "heartbeats")

    recorder()
    first = store.beat_last_tick()
    recorder()  # within the second: skipped

    assert first is not None
    assert store.beat_last_tick() == first
    assert (tmp_path / "alive").exists()


def test_a_broken_store_never_stops_beat(settings, tmp_path, caplog):
    settings.HEARTBEAT_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    BeatTickRecorder()()

    assert "could not record the beat heartbeat" in caplog.text


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("redis://cache:6379/2", "redis://cache:6379/2"),
        ("rediss://cache:6380/0", "rediss://cache:6380/0"),
        ("filesystem://", "file:///srv/var/heartbeats"),
        ("amqp://rabbit//", "file:///srv/var/heartbeats"),
    ],
)
def test_heartbeats_default_to_the_redis_broker_else_to_files(broker, expected):
    assert default_heartbeat_url(broker, Path("/srv/var")) == expected
