"""Writes for status pages: create, change, delete (each one audited), for API, dashboard
and monitors as code. A page's ``key`` is checked here (``ValidationError`` keyed ``key``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.audit import audit_changes, audit_record, audit_snapshot
from accounts.models import Team, User
from monitors.keys import assign_key
from monitors.models import Monitor, StatusPage


@transaction.atomic
def status_page_create(
    *, team: Team, actor: User | None = None, monitors: list[Monitor] | None = None, **fields: Any
) -> StatusPage:
    page = StatusPage(team=team, **fields)
    assign_key(page, name=page.title, fallback="status-page")
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
