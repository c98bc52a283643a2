"""The delivery status transitions: a pure table, then the guards on a real row."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import (
    Delivery,
    DeliveryStatus,
    DeliveryTransition,
    IllegalDeliveryTransition,
)
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

T, S = DeliveryTransition, DeliveryStatus

# Every allowed (transition, from) -> to; any pair not listed must be refused.
ALLOWED = {
    (T.RELEASE, S.HELD): S.PENDING,  # a grouping window ended
    (T.CLAIM, S.PENDING): S.SENDING,
    (T.CLAIM, S.FAILED): S.SENDING,
    (T.TAKE_OVER, S.SENDING): S.SENDING,
    (T.DELIVER, S.SENDING): S.DELIVERED,
    (T.FAIL, S.SENDING): S.FAILED,
    (T.SKIP, S.SENDING): S.SKIPPED,
    (T.DEAD_LETTER, S.PENDING): S.DEAD,
    (T.DEAD_LETTER, S.SENDING): S.DEAD,
    (T.DEAD_LETTER, S.FAILED): S.DEAD,
    (T.REPLAY, S.DEAD): S.PENDING,
    (T.REPLAY, S.FAILED): S.PENDING,
    (T.UNDO_REPLAY, S.PENDING): S.DEAD,
    (T.RETRY, S.PENDING): S.PENDING,
    (T.RETRY, S.SENDING): S.PENDING,
    (T.RETRY, S.FAILED): S.PENDING,
    (T.RETRY, S.DEAD): S.PENDING,
}
REFUSED = sorted(
    set(itertools.product(DeliveryTransition, DeliveryStatus)) - set(ALLOWED),
    key=lambda pair: (pair[0].name, pair[1]),
)


def _id(pair: tuple[DeliveryTransition, DeliveryStatus]) -> str:
    return f"{pair[0].name}-from-{pair[1]}"


@pytest.mark.parametrize("pair", list(ALLOWED), ids=_id)
def test_an_allowed_transition_leads_to_its_status(pair):
    transition, status = pair

    assert transition.check(status) == ALLOWED[pair]


@pytest.mark.parametrize("pair", REFUSED, ids=_id)
def test_any_other_transition_is_refused(pair):
    transition, status = pair

    with pytest.raises(IllegalDeliveryTransition):
        transition.check(status)


def test_delivered_and_skipped_deliveries_never_change_again():
    finished = {S.DELIVERED, S.SKIPPED}

    assert not [t for t in DeliveryTransition if t.sources & finished]


def test_a_refusal_says_what_was_asked_and_what_would_be_allowed():
    with pytest.raises(IllegalDeliveryTransition) as refused:
        T.REPLAY.check(S.DELIVERED)

    assert str(refused.value) == (
        "Cannot replay a delivery that is delivered: "
        "only a dead or failed delivery can become pending."
    )


def test_recording_an_outcome_of_an_unclaimed_delivery_is_refused_before_any_query():
    # No django_db mark: touching the database here would fail the test.
    delivery = Delivery(id=1, status=S.DELIVERED)

    with pytest.raises(IllegalDeliveryTransition, match="Cannot record as failed"):
        delivery.mark_failed(response_code=500, error="HTTP 500")
    assert delivery.status == S.DELIVERED


@pytest.mark.django_db
def test_an_outcome_is_not_recorded_over_a_row_changed_since_the_claim(alice, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    delivery = services.delivery_claim(delivery_id=delivery_id)
    assert Delivery.objects.dead_letter(delivery_id)  # its task failed for good meanwhile

    with pytest.raises(IllegalDeliveryTransition, match="it changed to dead since"):
        delivery.mark_delivered(response_code=200, now=timezone.now())
    assert Delivery.objects.get(id=delivery_id).status == S.DEAD


@pytest.mark.django_db
def test_dead_lettering_leaves_a_delivered_delivery_delivered(alice, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    services.delivery_claim(delivery_id=delivery_id).mark_delivered(
        response_code=200, now=timezone.now()
    )

    assert not Delivery.objects.dead_letter(delivery_id)
    assert Delivery.objects.get(id=delivery_id).status == S.DELIVERED


@pytest.mark.django_db
def test_a_worker_whose_lease_lapsed_cannot_record_over_the_new_holders_claim(
    alice, receiver, settings
):
    from datetime import timedelta

    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    stalled = services.delivery_claim(delivery_id=delivery_id)
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_SENDING_LEASE + 1)
    holder = services.delivery_claim(delivery_id=delivery_id, now=later)  # takes it over

    with pytest.raises(IllegalDeliveryTransition, match=r"since it was claimed \(attempt 1\)"):
        stalled.mark_failed(response_code=503, error="HTTP 503")
    holder.mark_delivered(response_code=200, now=later)
    assert Delivery.objects.get(id=delivery_id).status == S.DELIVERED
