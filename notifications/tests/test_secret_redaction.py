"""Channel secrets never reach what viewers read (errors, attempts, dead letters) or the logs."""

from __future__ import annotations

import logging

import pytest

from lib.logs import JsonFormatter
from notifications import services
from notifications.models import DeadLetter, Delivery, DeliveryAttempt
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

TOKEN = "S3cr3t-token"


def logged(caplog) -> str:
    """What the console and the JSON handlers would have written for the captured records."""
    json_lines = [JsonFormatter().format(record) for record in caplog.records]
    return caplog.text + "\n".join(json_lines)


def test_a_header_with_leading_whitespace_stays_out_of_errors_dead_letters_and_logs(
    alice, receiver, caplog
):
    receiver.default = (500, {})
    monitor = make_monitor(alice.personal_team)
    make_webhook(
        alice.personal_team,
        receiver.url,
        monitors=[monitor],
        secrets={"headers": {"Authorization": f" \t{TOKEN}"}},
    )
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")

    with caplog.at_level(logging.INFO):
        deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get(id=delivery_id)
    dead_letter = DeadLetter.objects.get(delivery=delivery)
    attempts = DeliveryAttempt.objects.filter(delivery=delivery).values_list("error", flat=True)
    failure_logs = [r for r in caplog.records if r.name == "celery.app.trace" and r.exc_info]
    assert delivery.last_error and list(attempts) and dead_letter.traceback and failure_logs
    for text in [delivery.last_error, *attempts, dead_letter.error, dead_letter.traceback]:
        assert TOKEN not in text
    assert "[redacted]" in delivery.last_error
    assert TOKEN not in logged(caplog)


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
