"""Dependencies: cycle detection (pure), the API's validation, and the evaluation's
suppression and release (the notify messages recorded; notifications holds what is held)."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.dependencies import MAX_PARENTS, find_cycle, monitor_set_dependencies
from incidents.models import Incident, IncidentEvent, MonitorDependency
from incidents.tests.conftest import make_monitor, store_results
from notifications.messages import render
from notifications.models import Delivery
from notifications.services import channel_create, deliveries_owed

# --- find_cycle -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "child", "parents", "cycle"),
    [
        ({}, 1, [2], []),
        ({2: [1]}, 1, [2], [1, 2, 1]),  # 2 depends on 1: 1 cannot depend on 2
        ({2: [3], 3: [1]}, 1, [2], [1, 2, 3, 1]),
        ({2: [3], 3: [4]}, 1, [2], []),
        ({2: [3], 4: [1]}, 1, [2, 3], []),  # a diamond-free chain elsewhere
        ({2: [3, 4], 3: [5], 4: [5]}, 1, [2], []),  # a diamond: shared parents are fine
        ({2: [3, 4], 4: [1]}, 1, [5, 2], [1, 2, 4, 1]),
        ({2: [2]}, 1, [2], []),  # a (corrupt) self-loop elsewhere does not loop forever
    ],
)
def test_find_cycle(edges, child, parents, cycle):
    assert find_cycle(edges, child, parents) == cycle


# --- API --------------------------------------------------------------------------------------

URL = "/api/v1/monitors/"


def create(client, name: str, **fields):
    data = {"name": name, "url": f"https://{name}.example.com/health", **fields}
    return client.post(URL, data, format="json")


@pytest.mark.django_db
def test_depends_on_is_written_and_read_by_id(alice_client):
    gateway = create(alice_client, "gateway").json()
    api = create(alice_client, "api", depends_on=[gateway["id"]])
    assert api.status_code == 201, api.json()
    assert api.json()["depends_on"] == [gateway["id"]]
    assert alice_client.get(f"{URL}{gateway['id']}/").json()["dependents"] == [api.json()["id"]]
    listed = {m["id"]: m for m in alice_client.get(URL).json()["results"]}
    assert listed[gateway["id"]]["dependents"] == [api.json()["id"]]
    cleared = alice_client.patch(f"{URL}{api.json()['id']}/", {"depends_on": []}, format="json")
    assert cleared.json()["depends_on"] == []
    assert not MonitorDependency.objects.exists()


@pytest.mark.django_db
def test_a_cycle_is_refused_with_its_path(alice_client):
    a = create(alice_client, "a").json()
    b = create(alice_client, "b", depends_on=[a["id"]]).json()
    c = create(alice_client, "c", depends_on=[b["id"]]).json()
    response = alice_client.patch(f"{URL}{a['id']}/", {"depends_on": [c["id"]]}, format="json")
    assert response.status_code == 400
    assert response.json()["depends_on"] == [
        "These dependencies would make a cycle: a → c → b → a."
    ]
    assert MonitorDependency.objects.count() == 2


@pytest.mark.django_db
def test_a_monitor_cannot_depend_on_itself(alice_client):
    a = create(alice_client, "a").json()
    response = alice_client.patch(f"{URL}{a['id']}/", {"depends_on": [a["id"]]}, format="json")
    assert response.status_code == 400
    assert response.json()["depends_on"] == ["A monitor cannot depend on itself."]


@pytest.mark.django_db
def test_another_teams_monitor_is_not_found(alice_client, bob_client):
    bobs = create(bob_client, "bobs").json()
    response = create(alice_client, "api", depends_on=[bobs["id"]])
    assert response.status_code == 400
    assert "does not exist" in response.json()["depends_on"][0]


@pytest.mark.django_db
def test_a_monitor_of_another_of_my_teams_is_refused(alice, alice_client):
    from accounts.services import team_create

    other = team_create(name="platform", owner=alice)
    theirs = create(alice_client, "edge", team=other.id).json()
    response = create(alice_client, "api", depends_on=[theirs["id"]])
    assert response.status_code == 400
    assert response.json()["depends_on"] == [
        "A monitor can only depend on monitors of its own team."
    ]


@pytest.mark.django_db
def test_too_many_parents_are_refused(alice_client):
    parents = [create(alice_client, f"p{i}").json()["id"] for i in range(MAX_PARENTS + 1)]
    response = create(alice_client, "api", depends_on=parents)
    assert response.status_code == 400
    assert f"at most {MAX_PARENTS}" in response.json()["depends_on"][0]


# --- Evaluation -------------------------------------------------------------------------------


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    def run(ids: list[int]) -> services.Evaluation:
        with django_capture_on_commit_callbacks(execute=True):
            return services.evaluate_check_results(ids)

    return run


@pytest.fixture
def family(alice):
    gateway = make_monitor(alice, "gateway", failure_threshold=1)
    children = [make_monitor(alice, f"api {i}", failure_threshold=2) for i in range(3)]
    for child in children:
        monitor_set_dependencies(monitor=child, parents=[gateway])
    channel_create(
        team=alice.personal_team,
        name="hook",
        kind="webhook",
        config={"url": "https://hooks.example.com/x"},
        monitors=[gateway, *children],
    )
    return gateway, children


def owed(incident_id: int, event: str) -> int:
    return len(deliveries_owed(incident_id=incident_id, event=event))


@pytest.mark.django_db
def test_children_failing_under_a_down_parent_open_suppressed_and_owe_nothing(
    family, sent, evaluate
):
    gateway, children = family
    evaluate(store_results(gateway, "F"))
    evaluate([i for child in children for i in store_results(child, "FF", first=1)])
    parent = Incident.objects.get(monitor=gateway)
    held = list(Incident.objects.filter(monitor__in=children))
    assert len(held) == 3
    assert all(
        i.is_suppressed and i.suppressed_reason == "suppressed: gateway is down" for i in held
    )
    assert all(i.suppressed_by_id == gateway.id for i in held)
    assert owed(parent.id, "opened") == 1
    assert sum(owed(i.id, "opened") for i in held) == 0
    payload = Delivery.objects.get(incident=parent).payload
    assert payload["covers_dependents"] == 3
    assert "covers 3 dependent monitors" in payload["reason"]
    assert "Covers 3 dependent monitors" in render(payload).text


@pytest.mark.django_db
def test_a_failing_parent_not_yet_down_already_holds_its_children(alice, family, evaluate, sent):
    gateway, children = family
    gateway.failure_threshold = 3
    gateway.save(update_fields=["failure_threshold"])
    evaluate(store_results(gateway, "F"))  # failing, not confirmed yet
    evaluate(store_results(children[0], "FF", first=1))
    held = Incident.objects.get(monitor=children[0])
    assert held.is_suppressed and held.suppressed_reason == "suppressed: gateway is failing"
    # The gateway's failure run ends without an incident: the child alerts now.
    sent.clear()
    evaluate(store_results(gateway, "S", first=3))
    held.refresh_from_db()
    assert not held.is_suppressed
    assert sent.events() == [(held.id, IncidentEvent.OPENED)]


@pytest.mark.django_db
def test_when_the_parent_recovers_children_still_down_alert_and_recovered_ones_stay_silent(
    family, sent, evaluate
):
    gateway, (down, recovered, _) = family
    evaluate(store_results(gateway, "F"))
    evaluate(store_results(down, "FF", first=1) + store_results(recovered, "FF", first=1))
    evaluate(store_results(recovered, "S", first=3))  # recovers while the gateway is down
    sent.clear()
    evaluate(store_results(gateway, "S", first=4))
    still_down = Incident.objects.get(monitor=down)
    quiet = Incident.objects.get(monitor=recovered)
    parent = Incident.objects.get(monitor=gateway)
    assert sent.events() == [(parent.id, "resolved"), (still_down.id, "opened")]
    assert not still_down.is_suppressed and still_down.released_at is not None
    assert still_down.suppressed_reason == "suppressed: gateway is down"  # kept, for the record
    assert owed(still_down.id, "opened") == 1
    payload = Delivery.objects.get(incident=still_down).payload
    assert payload["incident"]["suppressed"] is False
    assert payload["incident"]["released_at"] is not None
    assert quiet.resolved_at is not None and quiet.is_suppressed
    assert owed(quiet.id, "resolved") == 0


@pytest.mark.django_db
def test_a_release_missed_by_the_parent_happens_at_the_childs_next_failing_check(
    family, sent, evaluate
):
    gateway, (child, *_) = family
    evaluate(store_results(gateway, "F"))
    evaluate(store_results(child, "FF", first=1))
    held = Incident.objects.get(monitor=child)
    # The parent recovered without releasing it (as if its evaluation raced the child's).
    evaluate(store_results(gateway, "S", first=3))
    Incident.objects.filter(id=held.id).update(released_at=None, released_by_check_id=None)
    sent.clear()
    evaluate(store_results(child, "F", first=4))
    assert sent.events() == [(held.id, "opened")]
    held.refresh_from_db()
    assert not held.is_suppressed


@pytest.mark.django_db
def test_a_child_down_before_its_parent_alerts_normally(family, sent, evaluate):
    gateway, (child, *_) = family
    evaluate(store_results(child, "FF"))
    evaluate(store_results(gateway, "F", first=2))
    incident = Incident.objects.get(monitor=child)
    assert not incident.is_suppressed
    assert owed(incident.id, "opened") == 1


@pytest.mark.django_db
def test_the_incidents_api_shows_the_suppression(alice_client, family, evaluate, sent):
    gateway, (child, *_) = family
    evaluate(store_results(gateway, "F"))
    evaluate(store_results(child, "FF", first=1))
    held = Incident.objects.get(monitor=child)
    body = alice_client.get(f"/api/v1/incidents/{held.id}/").json()
    assert body["suppressed"] is True
    assert body["suppression"] == "dependency"
    assert body["suppressed_reason"] == "suppressed: gateway is down"
    assert body["suppressed_by"] == gateway.id
