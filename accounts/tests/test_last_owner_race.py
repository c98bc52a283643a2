"""Two owners demoting (or removing) each other at the same moment: one succeeds, the
other is refused, and the team keeps an owner. Each check "another owner remains" read the
other's row before the other's change committed, so both passed and the team had none."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from rest_framework.exceptions import ValidationError

from accounts.models import Membership, Role
from accounts.services import membership_change_role, membership_remove

pytestmark = pytest.mark.django_db(transaction=True)  # each side commits on its connection


def race(first: Callable[[], object], second: Callable[[], object]) -> list[Exception]:
    """``first`` in a transaction left open while ``second`` runs on another connection
    (given a second to finish, or to wait for a lock), then committed."""
    refused: list[Exception] = []
    second_done = threading.Event()

    def run_second() -> None:
        try:
            second()
        except ValidationError as exc:
            refused.append(exc)
        finally:
            second_done.set()
            connection.close()

    other = threading.Thread(target=run_second)
    with transaction.atomic():
        first()
        other.start()
        second_done.wait(1)  # without a lock it finishes now; with one it waits for us
    other.join(10)
    return refused


def owners(team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


def test_two_owners_demoting_each_other_leave_one_owner(shared_team, alice, bob):
    bobs = shared_team.add(bob, Role.OWNER)
    alices = Membership.objects.get(team=shared_team, user=alice)

    refused = race(
        lambda: membership_change_role(membership=bobs, role=Role.ADMIN, acting_role=Role.OWNER),
        lambda: membership_change_role(membership=alices, role=Role.ADMIN, acting_role=Role.OWNER),
    )

    assert owners(shared_team) == 1
    assert [str(exc.detail["role"]) for exc in refused] == ["A team needs at least one owner."]


def test_two_owners_removing_each_other_leave_one_owner(shared_team, alice, bob):
    bobs = shared_team.add(bob, Role.OWNER)
    alices = Membership.objects.get(team=shared_team, user=alice)

    refused = race(
        lambda: membership_remove(membership=bobs, acting_role=Role.OWNER),
        lambda: membership_remove(membership=alices, acting_role=Role.OWNER),
    )

    assert owners(shared_team) == 1
    assert len(refused) == 1
