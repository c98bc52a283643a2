"""The pure parts of the notification policies: when a delivery waits for its group, what a
grouped message says, which escalation stages are valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from notifications.escalation import StageSpec, validate_stages
from notifications.messages import GROUP_LIST_MAX, group_summary, grouped_payload, render
from notifications.models import Channel, ChannelGroupState
from notifications.policies import must_hold

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def state(*, last_seconds_ago: float | None, last_incident: int | None, due: bool) -> object:
    return ChannelGroupState(
        last_event_at=NOW - timedelta(seconds=last_seconds_ago)
        if last_seconds_ago is not None
        else None,
        last_incident_id=last_incident,
        due_at=NOW + timedelta(seconds=10) if due else None,
    )


@pytest.mark.parametrize(
    ("last_seconds_ago", "last_incident", "due", "window", "held"),
    [
        (None, None, False, 30, False),  # a quiet channel's first event goes at once
        (10, 2, False, 30, True),  # another incident 10 s ago: wait for the group
        (29.9, 2, False, 30, True),
        (30, 2, False, 30, False),  # the window passed: quiet again
        (10, 1, False, 30, False),  # the same incident's next event (resolved): at once
        (10, 1, True, 30, True),  # ... unless a group is collecting: it joins
        (500, 2, True, 30, True),  # a group is collecting
        (10, 2, True, 0, False),  # grouping off
    ],
)
def test_when_a_delivery_waits_for_its_group(last_seconds_ago, last_incident, due, window, held):
    current = state(last_seconds_ago=last_seconds_ago, last_incident=last_incident, due=due)

    assert must_hold(state=current, incident_id=1, window=window, now=NOW) is held


def payload(event: str, name: str) -> dict:
    return {
        "event": f"incident.{event}",
        "occurred_at": "2026-12-02T12:00:00Z",
        "team": {"id": 1, "name": "Platform"},
        "incident": {"monitor_name": name},
        "reason": "HTTP 503",
        "links": {"dashboard": "http://testserver/monitors/1/"},
    }


@pytest.mark.parametrize(
    ("events", "summary"),
    [
        (["opened"], "1 monitor down"),
        (["opened"] * 14, "14 monitors down"),
        (["opened", "opened", "resolved"], "2 monitors down, 1 resolved"),
        (["resolved", "resolved"], "2 monitors resolved"),
        (["reminder", "escalated", "acknowledged"], "2 monitors down, 1 acknowledged"),
    ],
)
def test_group_summary_counts_by_what_happened(events, summary):
    assert group_summary([payload(event, "api") for event in events]) == summary


def test_grouped_payload_keeps_each_members_payload():
    members = [payload("opened", f"api-{n}") for n in range(3)]

    grouped = grouped_payload(members)

    assert grouped["event"] == "incident.grouped"
    assert grouped["count"] == 3
    assert grouped["grouped"] == members
    assert grouped["summary"] == "3 monitors down"


def test_a_long_group_is_truncated_for_people_with_and_n_more():
    members = [payload("opened", f"api-{n}") for n in range(GROUP_LIST_MAX + 5)]

    message = render(grouped_payload(members))

    assert message.subject == f"[healthmon] {GROUP_LIST_MAX + 5} monitors down"
    assert "DOWN: api-0 (HTTP 503)" in message.text
    assert f"api-{GROUP_LIST_MAX - 1} " in message.text
    assert f"api-{GROUP_LIST_MAX} " not in message.text
    assert "and 5 more" in message.text
    assert "and 5 more" in message.html


def channel(team_id: int = 1) -> Channel:
    return Channel(team_id=team_id, name="ops", kind="webhook")


@pytest.mark.parametrize(
    ("stages", "error"),
    [
        ([], "at least one stage"),
        ([StageSpec(10, [channel()]), StageSpec(10, [channel()])], "later than the one before"),
        ([StageSpec(0, [channel()])], "at least 1"),
        ([StageSpec(10, [])], "at least one channel"),
        ([StageSpec(10, [channel(team_id=2)])], "policy's team"),
    ],
)
def test_invalid_stages_are_refused_with_the_reason(stages, error):
    with pytest.raises(ValidationError) as caught:
        validate_stages(team_id=1, stages=stages)

    assert error in " ".join(caught.value.message_dict["stages"])


def test_rising_stages_are_valid():
    validate_stages(team_id=1, stages=[StageSpec(10, [channel()]), StageSpec(30, [channel()])])
