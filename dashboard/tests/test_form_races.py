"""A write refused by the service after the form validated it (another request took the
team's last quota slot in between) comes back as a form error, not as a server error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from dashboard.forms import MonitorForm
from dashboard.tests.test_monitor_pages import form_data
from monitors.models import Monitor
from monitors.services import monitor_create


@pytest.mark.django_db(transaction=True)  # the other request commits on its own connection
def test_a_quota_slot_taken_after_validation_is_shown_as_a_form_error(
    settings, alice, alice_web, monkeypatch
):
    settings.TEAM_MAX_MONITORS = 1
    team = alice.personal_team

    def concurrent_create() -> None:
        try:
            monitor_create(team=team, name="Elsewhere", url="https://elsewhere.example.com/")
        finally:
            connection.close()

    validate = MonitorForm.clean

    def validate_then_lose_the_race(form: MonitorForm) -> dict:
        cleaned = validate(form)  # the team has no monitor yet: valid
        other = threading.Thread(target=concurrent_create)
        other.start()
        other.join(10)
        return cleaned

    monkeypatch.setattr(MonitorForm, "clean", validate_then_lose_the_race)

    response = alice_web.post("/monitors/new/", form_data(team=team.id))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This team has 1 monitors, its limit (TEAM_MAX_MONITORS) is 1: delete monitors before "
        "adding another."
    ]
    assert list(Monitor.objects.values_list("name", flat=True)) == ["Elsewhere"]
