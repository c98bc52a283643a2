"""Making a channel default, and attaching it to the team's existing monitors (services)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditEntry
from monitors.models import Monitor
from notifications import services

pytestmark = pytest.mark.django_db


def monitor(team, name: str) -> Monitor:
    return Monitor.objects.create(
        team=team,
        name=name,
        url=f"https://{name}.example.com/",
        next_check_at=timezone.now() + timedelta(hours=1),
    )


def hook(team):
    return services.channel_create(
        team=team, name="Hook", kind="webhook", config={"url": "https://h.example.com/"}
    )


def test_make_default_with_attach_reaches_existing_monitors_once(alice):
    first, second = monitor(alice.personal_team, "a"), monitor(alice.personal_team, "b")
    channel = hook(alice.personal_team)
    channel.monitors.add(first)

    added = services.channel_make_default(channel=channel, attach_existing=True, actor=alice)
    again = services.channel_make_default(channel=channel, attach_existing=True, actor=alice)

    channel.refresh_from_db()
    assert channel.is_default
    assert (added, again) == (1, 0)
    assert set(channel.monitors.all()) == {first, second}
    entry = AuditEntry.objects.filter(object_type="channel", changes__has_key="monitors").get()
    assert entry.changes == {"monitors": [1, 2]}


def test_make_default_without_attach_leaves_existing_monitors(alice):
    existing = monitor(alice.personal_team, "a")
    channel = hook(alice.personal_team)

    assert services.channel_make_default(channel=channel, attach_existing=False) == 0

    assert not channel.monitors.exists()
    assert list(monitor(alice.personal_team, "new").channels.all()) == [channel]
    assert existing.channels.count() == 0


def test_attach_refuses_monitors_of_another_team(alice, bob):
    channel = hook(alice.personal_team)

    with pytest.raises(ValidationError) as refused:
        services.channel_attach_monitors(
            channel=channel, monitors=[monitor(bob.personal_team, "bobs")]
        )

    assert "belongs to another team" in str(refused.value)
    assert not channel.monitors.exists()
