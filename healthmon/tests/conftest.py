"""Fixtures for the operations tests: a clean heartbeat store, a closed port."""

from __future__ import annotations

import socket

import pytest

from healthmon import heartbeats


@pytest.fixture
def heartbeat_store():
    """The configured store with beat's tick cleared (worker entries are left alone: the
    session worker keeps refreshing its own)."""
    store = heartbeats.store()
    if isinstance(store, heartbeats.RedisHeartbeatStore):
        store.client.delete(heartbeats.BEAT_KEY)
    return store


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
