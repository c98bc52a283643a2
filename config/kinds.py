"""The kinds of object a document holds, each described once: its model, its document
serializer (the REST API's serializer, with references by key instead of by id), its
references to other kinds and the services that write it.

The document's fields are the API serializer's writable fields, read at run time, so a field
added to the API (a new monitor kind's settings) is a document field too, validated the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import serializers

from accounts.models import Team, User
from api.history import StatusPageSerializer
from api.serializers import MonitorSerializer
from incidents import maintenance
from incidents.dependencies import monitor_set_dependencies
from incidents.maintenance_api import MaintenanceWindowSerializer
from incidents.models import MaintenanceWindow
from monitors import services as monitor_services
from monitors import status_pages
from monitors.models import Monitor, StatusPage
from notifications import escalation
from notifications import services as channel_services
from notifications.models import Channel, EscalationPolicy
from notifications.serializers import ChannelSerializer, EscalationPolicySerializer

# API fields that are not configuration: the owner (the team applied to) and the scheduler's
# next deadline (a state, rewritten after every check).
NOT_CONFIGURATION = frozenset({"team", "next_check_at"})


def key_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.SlugField(max_length=60), required=False, help_text=help_text
    )


# The document serializers name related objects by key where the API names them by id.
class MonitorDocumentSerializer(MonitorSerializer):
    channels = key_list(  # type: ignore[assignment]
        "Keys of the team's channels (in this document or already there). Omitted: a new "
        "monitor gets the team's default channels, an existing one keeps its channels."
    )
    depends_on = key_list(  # type: ignore[assignment]
        "Keys of the team's monitors (in this document or already there) this one depends on; "
        "omitted: none"
    )

    def _team_id(self, attrs: dict) -> int:
        return self.context["team"].id

    def _candidate(self, attrs: dict) -> Monitor:
        # Kept: the model's clean() normalises values (expected_status's spaces), and the
        # plan compares the values the model would store.
        self.candidate = super()._candidate(attrs)
        return self.candidate

    def validate(self, attrs: dict) -> dict:
        # Keys, resolved by the plan; dependencies are validated when they are written.
        references = {name: attrs.pop(name) for name in ("channels", "depends_on") if name in attrs}
        attrs = super().validate(attrs)
        attrs.update(references)
        return attrs


class ChannelDocumentSerializer(ChannelSerializer):
    def _team_id(self, attrs: dict) -> int:
        return self.context["team"].id


class DocumentStageSerializer(serializers.Serializer):
    after_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    channels = key_list("Keys of the team's channels this stage sends to")


class StageListField(serializers.ListField):
    """Stages as ``{after_minutes, channels: [keys]}``, read from the stored stages too."""

    child = DocumentStageSerializer()

    def to_representation(self, stages: Any) -> list[dict[str, Any]]:
        if hasattr(stages, "all"):  # the policy's stored stages (a related manager)
            stages = [
                {"after_minutes": s.after_minutes, "channels": [c.key for c in s.channels.all()]}
                for s in stages.all()
            ]
        return [
            {"after_minutes": int(s["after_minutes"]), "channels": sorted(s["channels"])}
            for s in stages
        ]


class EscalationPolicyDocumentSerializer(EscalationPolicySerializer):
    stages = StageListField(  # type: ignore[assignment]
        min_length=1, help_text="In order; each later than the one before"
    )
    monitors = key_list("Keys of the team's monitors using this policy")  # type: ignore[assignment]


class StatusPageDocumentSerializer(StatusPageSerializer):
    monitors = key_list("Keys of the team's monitors shown on the page")  # type: ignore[assignment]

    def validate(self, attrs: dict) -> dict:
        monitors = attrs.pop("monitors", None)
        attrs = super().validate(attrs)
        if monitors is not None:
            attrs["monitors"] = monitors
        return attrs


class MaintenanceWindowDocumentSerializer(MaintenanceWindowSerializer):
    monitors = key_list("Keys of the team's monitors it covers")  # type: ignore[assignment]


def _window_values(team: Team, fields: dict) -> dict:
    """Document values as the maintenance services take them (tags by name, zone renamed)."""
    values = dict(fields)
    if "timezone" in values:
        values["timezone_name"] = values.pop("timezone")
    if "tags" in values:
        values["tags"] = maintenance.tags_named(team=team, names=values["tags"])
    return values


def _window_create(team: Team, actor: User | None, fields: dict) -> MaintenanceWindow:
    return maintenance.maintenance_window_create(
        team=team, actor=actor, **_window_values(team, fields)
    )


def _window_update(obj: MaintenanceWindow, actor: User | None, fields: dict) -> MaintenanceWindow:
    return maintenance.maintenance_window_update(
        window=obj, actor=actor, **_window_values(obj.team, fields)
    )


def _window_delete(obj: MaintenanceWindow, actor: User | None) -> None:
    maintenance.maintenance_window_delete(window=obj, actor=actor)


def _monitor_create(team: Team, actor: User | None, fields: dict) -> Monitor:
    return monitor_services.monitor_create(team=team, actor=actor, **fields)


def _monitor_update(obj: Monitor, actor: User | None, fields: dict) -> Monitor:
    return monitor_services.monitor_update(monitor=obj, actor=actor, **fields)


def _monitor_delete(obj: Monitor, actor: User | None) -> None:
    monitor_services.monitor_delete(monitor=obj, actor=actor)


def _monitor_parent_keys(obj: Monitor) -> list[str]:
    return [link.parent.key for link in obj.parent_links.all()]


def _monitor_set_parents(obj: Monitor, actor: User | None, fields: dict) -> None:
    monitor_set_dependencies(monitor=obj, parents=fields["depends_on"], actor=actor)


def _channel_create(team: Team, actor: User | None, fields: dict) -> Channel:
    return channel_services.channel_create(team=team, actor=actor, **fields)


def _channel_update(obj: Channel, actor: User | None, fields: dict) -> Channel:
    return channel_services.channel_update(channel=obj, actor=actor, **fields)


def _channel_delete(obj: Channel, actor: User | None) -> None:
    channel_services.channel_delete(channel=obj, actor=actor)


def _stage_specs(team_id: int, stages: list[dict]) -> list[escalation.StageSpec]:
    """Stages with channel keys -> with channels (created earlier in the same apply)."""
    keys = {key for stage in stages for key in stage["channels"]}
    found = {c.key: c for c in Channel.objects.filter(team_id=team_id, key__in=keys)}
    missing = sorted(keys - set(found))
    if missing:
        raise ValidationError({"stages": [f"No channel has the key {k!r}." for k in missing]})
    return [
        escalation.StageSpec(stage["after_minutes"], [found[key] for key in stage["channels"]])
        for stage in stages
    ]


def _policy_create(team: Team, actor: User | None, fields: dict) -> EscalationPolicy:
    fields = {**fields, "stages": _stage_specs(team.id, fields["stages"])}
    return escalation.escalation_policy_create(team=team, actor=actor, **fields)


def _policy_update(obj: EscalationPolicy, actor: User | None, fields: dict) -> EscalationPolicy:
    if fields.get("stages") is not None:
        fields = {**fields, "stages": _stage_specs(obj.team_id, fields["stages"])}
    return escalation.escalation_policy_update(policy=obj, actor=actor, **fields)


def _policy_delete(obj: EscalationPolicy, actor: User | None) -> None:
    escalation.escalation_policy_delete(policy=obj, actor=actor)


def _page_create(team: Team, actor: User | None, fields: dict) -> StatusPage:
    return status_pages.status_page_create(team=team, actor=actor, **fields)


def _page_update(obj: StatusPage, actor: User | None, fields: dict) -> StatusPage:
    return status_pages.status_page_update(page=obj, actor=actor, **fields)


def _page_delete(obj: StatusPage, actor: User | None) -> None:
    status_pages.status_page_delete(page=obj, actor=actor)


@dataclass(frozen=True)
class Kind:
    section: str
    label: str
    model: type[models.Model]
    serializer: type[serializers.ModelSerializer]
    # Field -> the section whose keys it lists.
    references: dict[str, str]
    # Lists of names stored as related rows (compared as sorted lists).
    name_lists: frozenset[str]
    # Fields an omitted entry leaves as they are instead of resetting to the default.
    kept_when_omitted: frozenset[str]
    # API fields a document does not carry (the other side of a relation it holds).
    not_in_document: frozenset[str]
    # Write-only fields holding secrets: compared and written per key, never read back.
    secret_fields: frozenset[str]
    create: Callable[[Team, User | None, dict], Any]
    update: Callable[[Any, User | None, dict], Any]
    delete: Callable[[Any, User | None], None]
    # References that are not a relation of that name: field -> (the relation to prefetch,
    # a reader of the keys it holds).
    reference_readers: dict[str, tuple[str, Callable[[Any], list[str]]]] = field(
        default_factory=dict
    )
    # References among objects of the same section (a monitor's parents), written once every
    # object of the document exists: field -> writer(obj, actor, {field: objects}).
    deferred_references: dict[str, Callable[[Any, User | None, dict], None]] = field(
        default_factory=dict
    )

    def document_fields(self) -> dict[str, serializers.Field]:
        """The document's fields: the API's writable ones, ``key`` first."""
        fields = self.serializer(context={"team": None}).fields
        writable = {
            name: field
            for name, field in fields.items()
            if not field.read_only
            and name not in NOT_CONFIGURATION
            and name not in self.not_in_document
        }
        return {"key": writable.pop("key"), **writable}

    def plain_fields(self) -> dict[str, serializers.Field]:
        """Fields compared and written as values (not references, names or secrets)."""
        special = {"key", *self.references, *self.name_lists, *self.secret_fields}
        return {n: f for n, f in self.document_fields().items() if n not in special}


KINDS = (
    Kind(
        section="channels",
        label="channel",
        model=Channel,
        serializer=ChannelDocumentSerializer,
        references={},
        name_lists=frozenset(),
        kept_when_omitted=frozenset(),
        not_in_document=frozenset({"monitors"}),  # a monitor lists its channels
        secret_fields=frozenset({"secrets"}),
        create=_channel_create,
        update=_channel_update,
        delete=_channel_delete,
    ),
    Kind(
        section="monitors",
        label="monitor",
        model=Monitor,
        serializer=MonitorDocumentSerializer,
        references={"channels": "channels", "depends_on": "monitors"},
        name_lists=frozenset({"tags"}),
        kept_when_omitted=frozenset({"channels"}),
        # The monitor's escalation policy is set in the API and the dashboard; a document
        # does not carry it yet (a monitor applied from a document keeps the one it has).
        not_in_document=frozenset({"escalation_policy"}),
        secret_fields=frozenset(),
        create=_monitor_create,
        update=_monitor_update,
        delete=_monitor_delete,
        reference_readers={"depends_on": ("parent_links__parent", _monitor_parent_keys)},
        deferred_references={"depends_on": _monitor_set_parents},
    ),
    # After channels and monitors: its stages name channels, and it lists monitors.
    Kind(
        section="escalation_policies",
        label="escalation policy",
        model=EscalationPolicy,
        serializer=EscalationPolicyDocumentSerializer,
        references={"monitors": "monitors"},
        name_lists=frozenset(),
        kept_when_omitted=frozenset(),
        not_in_document=frozenset(),
        secret_fields=frozenset(),
        create=_policy_create,
        update=_policy_update,
        delete=_policy_delete,
    ),
    Kind(
        section="status_pages",
        label="status page",
        model=StatusPage,
        serializer=StatusPageDocumentSerializer,
        references={"monitors": "monitors"},
        name_lists=frozenset(),
        kept_when_omitted=frozenset(),
        not_in_document=frozenset(),
        secret_fields=frozenset(),
        create=_page_create,
        update=_page_update,
        delete=_page_delete,
    ),
    Kind(
        section="maintenance_windows",
        label="maintenance window",
        model=MaintenanceWindow,
        serializer=MaintenanceWindowDocumentSerializer,
        references={"monitors": "monitors"},
        name_lists=frozenset({"tags"}),
        kept_when_omitted=frozenset(),
        not_in_document=frozenset(),
        secret_fields=frozenset(),
        create=_window_create,
        update=_window_update,
        delete=_window_delete,
    ),
)
KIND_OF_SECTION = {kind.section: kind for kind in KINDS}
