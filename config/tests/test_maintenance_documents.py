"""Maintenance windows in documents: plan, apply, a second apply, export and back."""

from __future__ import annotations

import pytest
import yaml

from config.document import parse_text
from config.export import export_document
from config.plan import apply_document, make_plan
from incidents.models import MaintenanceWindow

pytestmark = pytest.mark.django_db

DOCUMENT = """\
monitors:
  - key: db
    name: Database
    url: https://db.example.com/health
    tags: [storage]
  - key: api
    name: API
    url: https://api.example.com/health
maintenance_windows:
  - key: sunday-backup
    name: Sunday backup
    recurrence: "0 2 * * 0"
    duration_minutes: 45
    timezone: Europe/Paris
    tags: [storage]
  - key: api-migration
    name: API migration
    starts_at: "2030-01-01T10:00:00Z"
    ends_at: "2030-01-01T11:00:00Z"
    monitors: [api]
"""


def load(text: str):
    return parse_text(text, source="doc.yaml")


def apply(team, text: str):
    return apply_document(document=load(text), team=team, variables={}, prune=False, actor=None)


def test_windows_are_planned_applied_and_applied_again_as_no_change(alice):
    team = alice.personal_team
    plan = make_plan(document=load(DOCUMENT), team=team, variables={}, prune=False)
    labels = [(a.kind.label, a.key, a.operation) for a in plan.actions]
    assert ("maintenance window", "sunday-backup", "create") in labels
    assert not MaintenanceWindow.objects.exists()

    apply(team, DOCUMENT)

    backup = MaintenanceWindow.objects.get(key="sunday-backup")
    assert (backup.recurrence, backup.duration_minutes, backup.timezone) == (
        "0 2 * * 0",
        45,
        "Europe/Paris",
    )
    assert [t.name for t in backup.tags.all()] == ["storage"]
    migration = MaintenanceWindow.objects.get(key="api-migration")
    assert [m.key for m in migration.monitors.all()] == ["api"]
    assert apply(team, DOCUMENT).is_empty


def test_export_round_trips(alice, bob):
    apply(alice.personal_team, DOCUMENT)
    exported = export_document(alice.personal_team)
    windows = {w["key"]: w for w in exported["maintenance_windows"]}
    assert windows["api-migration"]["monitors"] == ["api"]
    assert windows["api-migration"]["starts_at"] == "2030-01-01T10:00:00Z"
    assert windows["sunday-backup"]["tags"] == ["storage"]

    apply(bob.personal_team, yaml.safe_dump(exported))
    assert export_document(bob.personal_team) == exported
    assert apply(alice.personal_team, yaml.safe_dump(exported)).is_empty


def test_an_invalid_window_is_reported_with_its_field(alice):
    from config.document import DocumentError

    bad = DOCUMENT.replace('recurrence: "0 2 * * 0"', 'recurrence: "whenever"')
    with pytest.raises(DocumentError) as caught:
        apply(alice.personal_team, bad)
    assert "maintenance_windows.sunday-backup.recurrence" in str(caught.value.problems)
    assert not MaintenanceWindow.objects.exists()
