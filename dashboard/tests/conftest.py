from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from monitors.models import Monitor


@pytest.fixture
def alice_web(alice: User) -> Client:
    """A browser session logged in as alice."""
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_web(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


def web_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_monitor(team, name: str = "Orders API", **fields) -> Monitor:
    fields.setdefault("url", "https://orders.internal.example.com/health")
    fields.setdefault("next_check_at", timezone.now() + timedelta(hours=1))
    return Monitor.objects.create(team=team, name=name, **fields)
