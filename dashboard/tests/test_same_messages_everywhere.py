"""The same bad monitor gets the same words from every way in: the REST API, the dashboard
form, the Django admin and ``manage.py monitors create`` (all run the model's validators)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from config.tests.test_monitors_command import run
from conftest import client_for
from dashboard.tests.conftest import web_for
from dashboard.tests.test_monitor_pages import form_data
from monitors.assertions import validate_assertions
from monitors.models import Monitor
from monitors.tests.test_admin_writes import ADD, admin_errors, admin_form

pytestmark = pytest.mark.django_db

BAD_ASSERTIONS = [{"type": "nonsense"}]


def assertion_message() -> str:
    """Whatever the assertion validator says (its wording is its own business)."""
    with pytest.raises(ValidationError) as refused:
        validate_assertions(BAD_ASSERTIONS)
    return refused.value.messages[0]


# (field in error, what is wrong, the expected message)
BAD_MONITORS = [
    ("url", {"url": "ftp://a.example/"}, "Only http:// and https:// URLs can be monitored."),
    ("interval", {"interval": 10, "timeout": 5}, "The interval must be at least 30 seconds."),
    ("timeout", {"interval": 60, "timeout": 60}, "The timeout must be below the interval."),
    ("assertions", {"assertions": BAD_ASSERTIONS}, None),  # None: assertion_message()
]


def as_text(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def through_api(user, bad: dict) -> dict[str, list[str]]:
    payload = {"name": "Files", "url": "https://files.example.com/", "timeout": 5, **bad}
    response = client_for(user).post("/api/v1/monitors/", payload, format="json")
    assert response.status_code == 400
    return {field: [str(m) for m in messages] for field, messages in response.data.items()}


def through_dashboard(user, bad: dict) -> dict[str, list[str]]:
    data = form_data(team=user.personal_team.id, **{k: as_text(v) for k, v in bad.items()})
    response = web_for(user).post("/monitors/new/", data)
    assert response.status_code == 200
    return dict(response.context["form"].errors)


def through_admin(user, bad: dict) -> dict[str, list[str]]:
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    data = admin_form(user.personal_team, **{k: as_text(v) for k, v in bad.items()})
    response = web_for(user).post(ADD, data)
    assert response.status_code == 200
    return admin_errors(response)


def through_cli(user, bad: dict) -> dict[str, list[str]]:
    options = {"url": "https://files.example.com/", "timeout": 5, **bad}
    args = ["create", "--team", str(user.personal_team.id), "--name", "Files"]
    for name, value in options.items():
        args += [f"--{name}", as_text(value)]
    code, _, err = run(*args)
    assert code != 0
    errors: dict[str, list[str]] = {}
    for line in err.splitlines():
        field, _, message = line.partition(": ")
        errors.setdefault(field, []).append(message)
    return errors


@pytest.mark.parametrize("way_in", [through_api, through_dashboard, through_admin, through_cli])
@pytest.mark.parametrize(("field", "bad", "message"), BAD_MONITORS)
def test_every_way_in_refuses_a_bad_monitor_with_the_same_message(
    alice, way_in, field, bad, message
):
    errors = way_in(alice, bad)

    assert errors.get(field) == [message or assertion_message()], errors
    assert not Monitor.objects.exists()
