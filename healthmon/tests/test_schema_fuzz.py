"""Schemathesis against the live app: every operation of our OpenAPI schema, fuzzed.

The schema is loaded from the app (``/api/schema/``) and each generated request goes straight
into Django's WSGI handler as alice, who owns a monitor, an incident, a channel, a delivery, a
dead letter, a status page and a team with a member, so ``{id}`` paths reach real rows (a
generated integer id is swapped for the row's). Each example runs in a savepoint rolled back
afterwards, so a DELETE does not starve the examples after it. Examples are bounded and
derandomized: CI runs the same cases every time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.models import Role, User
from accounts.services import team_create
from conftest import make_user
from incidents.models import Incident
from monitors.models import CheckResult, CheckStatus, Monitor, StatusPage
from notifications import services as channel_services
from notifications.models import DeadLetter, Delivery

pytestmark = pytest.mark.django_db

# Operations that make the server send traffic (to a monitor's target, to a channel's
# receiver): a fuzzer must not aim the app at the network.
OUTBOUND = [
    ("POST", "/api/v1/monitors/{id}/check-now/"),
    ("POST", "/api/v1/channels/{id}/test/"),
]

# Random positive and negative examples only: the coverage phase's systematic variants were
# 3,700 requests (2.5 min on a busy machine), past the time this module may take in CI.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})

# Loaded when the module is collected (schemathesis' fixture-based loader does not work with
# pytest 9); the schema view needs no login and no database.
schema: BaseSchema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(), config=CONFIG)
for method, path in OUTBOUND:
    schema = schema.exclude(method=method, path=path)


@pytest.fixture
def alice_rows(alice: User) -> dict[str, int]:
    """One row of every kind alice can reach, by the path parameter that names it."""
    team = alice.personal_team
    bob = make_user("bob@example.com")
    shared = team_create(owner=alice, name="Platform")
    shared.memberships.create(user=bob, role=Role.VIEWER)
    monitor = Monitor.objects.create(
        team=team,
        name="orders",
        url="https://orders.example.com/health",
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    now = timezone.now()
    CheckResult.objects.create(monitor=monitor, checked_at=now, status=CheckStatus.UP)
    incident = Incident.objects.create(
        team=team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=now,
        opened_at=now,
        cause="HTTP 503",
        last_reason="HTTP 503",
        failure_count=2,
    )
    channel = channel_services.channel_create(
        team=team,
        name="ops",
        kind="webhook",
        config={"url": "http://127.0.0.1:9/hook"},
        secrets={},
        monitors=[monitor],
    )
    delivery = Delivery.objects.create(
        incident=incident,
        channel=channel,
        channel_name=channel.name,
        channel_kind=channel.kind,
        event="opened",
        payload={"event": "opened"},
    )
    dead = DeadLetter.objects.create(
        task_name="notifications.deliver",
        task_id="fuzz-1",
        args=[delivery.id],
        exception_type="TransportError",
        error="HTTP 503",
        first_failed_at=now,
        last_failed_at=now,
        delivery=delivery,
        team=team,
    )
    page = StatusPage.objects.create(team=team, slug="orders", title="Orders")
    return {
        "/api/v1/monitors/": monitor.id,
        "/api/v1/monitor-states/": monitor.id,
        "/api/v1/incidents/": incident.id,
        "/api/v1/channels/": channel.id,
        "/api/v1/deliveries/": delivery.id,
        "/api/v1/dead-letters/": dead.id,
        "/api/v1/status-pages/": page.id,
        "/api/v1/teams/": shared.id,
        "user_id": bob.id,
    }


@pytest.fixture
def on_test_connection():
    # Like Django's test client: the request runs on the test's connection, inside its
    # transaction, so the per-request connection housekeeping must not close it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def alice_headers(alice: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(alice).access_token}"}


def point_at_real_rows(case, rows: dict[str, int]) -> None:
    """Replace generated ids by alice's rows; other values stay (they test 404/400)."""
    prefix = case.path.split("{", 1)[0]
    for name, value in (case.path_parameters or {}).items():
        # ``user_id`` is documented as a string (a custom action's URL pattern).
        if not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            continue
        if name == "user_id":
            case.path_parameters[name] = rows["user_id"]
        elif name in ("incident_id",):
            case.path_parameters[name] = rows["/api/v1/incidents/"]
        elif prefix in rows:
            case.path_parameters[name] = rows[prefix]


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_without_error_and_as_documented(
    case, alice_headers, alice_rows, on_test_connection
):
    point_at_real_rows(case, alice_rows)
    cache.clear()  # throttles count per test; generated logins must not reach 429
    with transaction.atomic():
        case.call_and_validate(
            headers=alice_headers,
            # Not status_code_conformance: drf-spectacular documents the success answer of
            # each operation, not DRF's 400/401/403/404, which every operation may give.
            checks=[not_a_server_error, response_schema_conformance],
        )
        transaction.set_rollback(True)
