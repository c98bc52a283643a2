"""Gatus conditions through the API: refused with the reason when written, and judged by a
real worker checking a real local server, with the resolved values in the reason."""

from __future__ import annotations

import pytest

from conftest import wait_for
from monitors.models import Monitor
from monitors.tests.http_target import HttpTarget

URL = "/api/v1/monitors/"


@pytest.fixture(scope="module")
def target():
    with HttpTarget() as server:
        yield server


def create_monitor(client, url: str, conditions: list[str]):
    assertions = [{"type": "condition", "value": condition} for condition in conditions]
    return client.post(
        URL,
        {"name": "Orders", "url": url, "timeout": 5, "assertions": assertions},
        format="json",
    )


@pytest.mark.django_db
def test_a_condition_that_cannot_be_evaluated_is_refused_with_its_number_and_reason(
    alice_client,
):
    response = create_monitor(
        alice_client, "https://orders.example.com/health", ["[STATUS] == 200", "[STATUS] === 200"]
    )

    assert response.status_code == 400
    assert response.data["assertions"] == [
        "Assertion 2: condition '[STATUS] === 200': unknown operator '==='"
    ]
    assert not Monitor.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_check_now_judges_conditions_and_shows_the_resolved_value_of_the_one_that_failed(
    celery_worker_process, alice_client, target
):
    # /ok answers 200 {"status": "ok", "version": 3, ...}: the first holds, the second not.
    created = create_monitor(
        alice_client, target.url("/ok"), ["[STATUS] == 200", "[BODY].status == UP"]
    )
    assert created.status_code == 201, created.data

    requested = alice_client.post(f"{URL}{created.data['id']}/check-now/")
    assert requested.status_code == 202, requested.data

    def stored_result():
        response = alice_client.get(requested["Location"])
        return response if response.status_code != 202 else None

    result = wait_for(stored_result, timeout=20, interval=0.2, message="check-now stayed pending")
    assert result.status_code == 200, result.data
    assert (result.data["status"], result.data["phase"]) == ("down", "assertion")
    assert result.data["reason"] == "Assertion 2 failed: [BODY].status (ok) == UP"
    assert result.data["failed_assertion"] == {"type": "condition", "value": "[BODY].status == UP"}
