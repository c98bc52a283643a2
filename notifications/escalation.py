"""Writes for escalation policies: create, change, delete, and the policy of a monitor.

Every entry point (API, config documents, admin) goes through these, so the rules hold
whoever writes: stages in rising ``after_minutes``, channels and monitors of the policy's
own team, at most one default policy per team."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit import audit_record
from accounts.models import Team, User
from monitors.keys import assign_key
from monitors.models import Monitor
from notifications.models import Channel, EscalationPolicy, EscalationStage, MonitorEscalation

MAX_STAGES = 10


@dataclass(frozen=True)
class StageSpec:
    after_minutes: int
    channels: list[Channel]


def validate_stages(*, team_id: int, stages: list[StageSpec]) -> None:
    """Raise ``ValidationError({"stages": [...]})`` unless the stages make sense."""
    errors = []
    if not stages:
        errors.append("An escalation policy needs at least one stage.")
    if len(stages) > MAX_STAGES:
        errors.append(f"At most {MAX_STAGES} stages.")
    minutes = [stage.after_minutes for stage in stages]
    if any(later <= earlier for earlier, later in pairwise(minutes)):
        errors.append("Each stage must come later than the one before (after_minutes rising).")
    for number, stage in enumerate(stages, start=1):
        if stage.after_minutes < 1:
            errors.append(f"Stage {number}: after_minutes must be at least 1.")
        if not stage.channels:
            errors.append(f"Stage {number}: name at least one channel.")
        if any(channel.team_id != team_id for channel in stage.channels):
            errors.append(f"Stage {number}: every channel must belong to the policy's team.")
    if errors:
        raise ValidationError({"stages": errors})


def _validate_monitors(*, team_id: int, monitors: list[Monitor]) -> None:
    if any(monitor.team_id != team_id for monitor in monitors):
        raise ValidationError({"monitors": ["Every monitor must belong to the policy's team."]})


def _write_stages(policy: EscalationPolicy, stages: list[StageSpec]) -> None:
    policy.stages.all().delete()
    for position, spec in enumerate(stages, start=1):
        stage = EscalationStage.objects.create(
            policy=policy, position=position, after_minutes=spec.after_minutes
        )
        stage.channels.set(spec.channels)


def _write_monitors(policy: EscalationPolicy, monitors: list[Monitor]) -> None:
    """The policy's monitors become exactly ``monitors`` (taken from any other policy)."""
    MonitorEscalation.objects.filter(policy=policy).exclude(monitor__in=monitors).delete()
    for monitor in monitors:
        MonitorEscalation.objects.update_or_create(monitor=monitor, defaults={"policy": policy})


def _clear_other_defaults(policy: EscalationPolicy) -> None:
    if policy.is_default:
        EscalationPolicy.objects.filter(team_id=policy.team_id, is_default=True).exclude(
            id=policy.id
        ).update(is_default=False)


@transaction.atomic
def escalation_policy_create(
    *,
    team: Team,
    name: str,
    stages: list[StageSpec],
    is_default: bool = False,
    monitors: list[Monitor] | None = None,
    key: str = "",
    actor: User | None = None,
) -> EscalationPolicy:
    validate_stages(team_id=team.pk, stages=stages)
    _validate_monitors(team_id=team.pk, monitors=monitors or [])
    policy = EscalationPolicy(team=team, name=name, key=key, is_default=is_default)
    assign_key(policy, name=name, fallback="escalation")
    _clear_other_defaults(policy)
    policy.save()
    _write_stages(policy, stages)
    _write_monitors(policy, monitors or [])
    audit_record(team=team, actor=actor, action="create", obj=policy)
    return policy


@transaction.atomic
def escalation_policy_update(
    *,
    policy: EscalationPolicy,
    stages: list[StageSpec] | None = None,
    monitors: list[Monitor] | None = None,
    actor: User | None = None,
    **fields: object,
) -> EscalationPolicy:
    for name, value in fields.items():
        setattr(policy, name, value)
    if stages is not None:
        validate_stages(team_id=policy.team_id, stages=stages)
    if monitors is not None:
        _validate_monitors(team_id=policy.team_id, monitors=monitors)
    assign_key(policy, name=policy.name, fallback="escalation")
    _clear_other_defaults(policy)
    policy.save()
    if stages is not None:
        _write_stages(policy, stages)
    if monitors is not None:
        _write_monitors(policy, monitors)
    audit_record(team=policy.team, actor=actor, action="update", obj=policy)
    return policy


@transaction.atomic
def escalation_policy_delete(*, policy: EscalationPolicy, actor: User | None = None) -> None:
    audit_record(team=policy.team, actor=actor, action="delete", obj=policy)
    policy.delete()


@transaction.atomic
def monitor_set_escalation_policy(*, monitor: Monitor, policy: EscalationPolicy | None) -> None:
    """Give a monitor its own policy, or (None) let it use the team's default."""
    if policy is None:
        MonitorEscalation.objects.filter(monitor=monitor).delete()
        return
    if policy.team_id != monitor.team_id:
        raise ValidationError(
            {"escalation_policy": ["The policy must belong to the monitor's team."]}
        )
    MonitorEscalation.objects.update_or_create(monitor=monitor, defaults={"policy": policy})


def monitor_escalation_policy(monitor: Monitor) -> EscalationPolicy | None:
    """The monitor's own policy (not the team default), if any."""
    link = MonitorEscalation.objects.select_related("policy").filter(monitor=monitor).first()
    return link.policy if link else None
