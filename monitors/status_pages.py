"""Writes for status pages: create, change, delete (each one audited), for API, dashboard
and monitors as code. A page's ``key`` is checked here (``ValidationError`` keyed ``key``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import audit_changes, audit_record, audit_snapshot
from accounts.models import Team, User
from monitors.keys import assign_key
from monitors.models import Monitor, StatusPage

# Paths under /status/ that a page's slug must not shadow.
RESERVED_SLUGS = {"admin", "api", "static", "new"}


def validate_status_page_slug(slug: str) -> None:
    if slug.lower() in RESERVED_SLUGS:
        raise ValidationError("This slug is reserved; choose another.")


def validate_status_page_monitors(*, team_id: int | None, monitors: list[Monitor]) -> None:
    foreign = [monitor.pk for monitor in monitors if monitor.team_id != team_id]
    if foreign:
        raise ValidationError(
            {"monitors": f"Monitors {foreign} belong to another team than the page."}
        )


def _validate(page: StatusPage, monitors: list[Monitor] | None) -> None:
    """The page's fields (the model's validators, slug uniqueness), then the service's rules;
    raises ``ValidationError`` keyed by field."""
    page.full_clean()
    try:
        validate_status_page_slug(page.slug)
    except ValidationError as exc:
        raise ValidationError({"slug": exc.messages}) from None
    if monitors is not None:
        validate_status_page_monitors(team_id=page.team_id, monitors=monitors)


@transaction.atomic
def status_page_create(
    *, team: Team, actor: User | None = None, monitors: list[Monitor] | None = None, **fields: Any
) -> StatusPage:
    page = StatusPage(team=team, **fields)
    assign_key(page, name=page.title, fallback="status-page")
    _validate(page, monitors or [])
    page.save()
    page.monitors.set(monitors or [])
    audit_record(team=team, actor=actor, action="create", obj=page)
    return page


@transaction.atomic
def status_page_update(
    *,
    page: StatusPage,
    actor: User | None = None,
    monitors: list[Monitor] | None = None,
    **fields: Any,
) -> StatusPage:
    before = audit_snapshot(page)
    for name, value in fields.items():
        setattr(page, name, value)
    assign_key(page, name=page.title, fallback="status-page")
    _validate(page, monitors)
    page.save()
    if monitors is not None:
        page.monitors.set(monitors)
    changes = audit_changes(before, audit_snapshot(page))
    audit_record(team=page.team, actor=actor, action="update", obj=page, changes=changes)
    return page


@transaction.atomic
def status_page_delete(*, page: StatusPage, actor: User | None = None) -> None:
    audit_record(team=page.team, actor=actor, action="delete", obj=page)
    page.delete()
