"""Channel secrets never reach what viewers read (errors, attempts, dead letters) or the logs."""

from __future__ import annotations

import logging

import pytest

from lib.logs import JsonFormatter
from notifications import services
from notifications.models import Channel, DeadLetter, Delivery, DeliveryAttempt
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

TOKEN = "S3cr3t-token"


def logged(caplog) -> str:
    """What the console and the JSON handlers would have written for the captured records."""
    json_lines = [JsonFormatter().format(record) for record in caplog.records]
    return caplog.text + "\n".join(json_lines)


def fail_for_good(team, receiver, header_value: str) -> Delivery:
    """A webhook with this Authorization value, to a receiver that answers 500, retried out."""
    receiver.default = (500, {})
    monitor = make_monitor(team)
    channel = make_webhook(team, receiver.url, monitors=[monitor])
    # Stored as is, past the validators: rows written before them, or a value that only the
    # HTTP client refuses, must be kept out of errors all the same.
    Channel.objects.filter(id=channel.id).update(
        secrets={**channel.secrets, "headers": {"Authorization": header_value}}
    )
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    deliver_notification.apply(args=[delivery_id])
    return Delivery.objects.get(id=delivery_id)


def stored_errors(delivery: Delivery) -> list[str]:
    """What viewers can read: last error, every attempt, the dead letter's error and traceback."""
    dead_letter = DeadLetter.objects.get(delivery=delivery)
    attempts = DeliveryAttempt.objects.filter(delivery=delivery).values_list("error", flat=True)
    texts = [delivery.last_error, *attempts, dead_letter.error, dead_letter.traceback]
    assert all(texts[:2]) and dead_letter.traceback  # there is something to leak from
    return texts


@pytest.mark.parametrize(
    "header_value",
    [
        f" \t{TOKEN}",  # sent (the receiver fails)
        f" \t{TOKEN}\r\n",  # refused and quoted, repr-escaped, by http.client
    ],
)
def test_a_header_with_whitespace_stays_out_of_errors_dead_letters_and_logs(
    alice, receiver, caplog, header_value
):
    with caplog.at_level(logging.INFO):
        delivery = fail_for_good(alice.personal_team, receiver, header_value)

    failure_logs = [r for r in caplog.records if r.name == "celery.app.trace" and r.exc_info]
    assert failure_logs  # Celery logged the failure with its traceback
    for text in stored_errors(delivery):
        assert TOKEN not in text
    assert TOKEN not in logged(caplog)


def test_a_refused_header_value_is_quoted_redacted(alice, receiver):
    delivery = fail_for_good(alice.personal_team, receiver, f" \t{TOKEN}\r\n")

    assert "Invalid header value" in delivery.last_error
    assert "[redacted]" in delivery.last_error


def test_an_invalid_apprise_url_is_never_logged_in_full(alice_client, caplog):
    with caplog.at_level(logging.DEBUG, logger="apprise"):
        response = alice_client.post(
            "/api/v1/channels/",
            {"name": "Chat", "kind": "apprise", "secrets": {"url": f"slack://{TOKEN}/x"}},
            format="json",
        )

    assert response.status_code == 400
    assert any(record.name == "apprise" for record in caplog.records)  # Apprise did complain
    assert TOKEN not in logged(caplog)
    assert TOKEN not in str(response.data)
