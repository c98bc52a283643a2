from __future__ import annotations

from copy import copy

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS, PKOnlyObject

from accounts.access import TeamField, default_team, team_roles
from incidents.dependencies import validate_dependencies
from lib.serializers import DirectReadMixin
from monitors.models import CheckStatus, Monitor
from monitors.validation import MAX_TAGS, clean_tag_names, validate_channels_team
from notifications.models import Channel, EscalationPolicy

# Lists prefetch tags and channels into plain lists (``Prefetch(..., to_attr=...)``): reading
# them through the related managers instead builds a manager and a queryset per monitor and
# relation, which was half of the list endpoint's CPU. Objects that were not prefetched (a
# monitor just created or updated) fall back to the relation.
PREFETCHED_TAGS = "prefetched_tags"
PREFETCHED_CHANNELS = "prefetched_channels"
PREFETCHED_PARENTS = "prefetched_parent_links"
PREFETCHED_CHILDREN = "prefetched_child_links"


def _prefetched(instance: Monitor, to_attr: str, relation: str):
    prefetched = getattr(instance, to_attr, None)
    return prefetched if prefetched is not None else getattr(instance, relation).all()


class TagListField(serializers.ListField):
    """Tags are written as a list of names and read as one."""

    def get_attribute(self, instance: Monitor):
        return _prefetched(instance, PREFETCHED_TAGS, "tags")

    def to_representation(self, tags) -> list[str]:
        return [tag.name for tag in tags]


class ChannelIdList(serializers.ManyRelatedField):
    """Channel ids, read from the prefetched list."""

    def get_attribute(self, instance: Monitor):
        return _prefetched(instance, PREFETCHED_CHANNELS, "channels")

    def to_representation(self, channels) -> list[int]:
        return [channel.pk for channel in channels]


class ChannelIdsField(serializers.PrimaryKeyRelatedField):
    """Notification channels by id, among the user's teams."""

    @classmethod
    def many_init(cls, *args, **kwargs) -> ChannelIdList:
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update((k, v) for k, v in kwargs.items() if k in MANY_RELATION_KWARGS)
        return ChannelIdList(**list_kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Channel.objects.none()
        return Channel.objects.filter(team_id__in=list(team_roles(request)))


@extend_schema_field({"type": "array", "items": {"type": "integer"}})
class MonitorIdList(serializers.ManyRelatedField):
    """The monitors this one depends on, by id, read from the prefetched links."""

    def get_attribute(self, instance: Monitor):
        return _prefetched(instance, PREFETCHED_PARENTS, "parent_links")

    def to_representation(self, links) -> list[int]:
        return sorted(link.parent_id for link in links)


@extend_schema_field(OpenApiTypes.INT)
class MonitorIdsField(serializers.PrimaryKeyRelatedField):
    """Monitors by id, among the user's teams (the same team is checked in validate)."""

    @classmethod
    def many_init(cls, *args, **kwargs) -> MonitorIdList:
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update((k, v) for k, v in kwargs.items() if k in MANY_RELATION_KWARGS)
        return MonitorIdList(**list_kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Monitor.objects.none()
        return Monitor.objects.filter(team_id__in=list(team_roles(request)))


@extend_schema_field({"type": "integer", "nullable": True})
class EscalationPolicyIdField(serializers.PrimaryKeyRelatedField):
    """The monitor's own escalation policy (null: the team's default applies), by id."""

    def get_attribute(self, instance: Monitor):
        link = getattr(instance, "escalation", None)  # MonitorEscalation, select_related
        return PKOnlyObject(pk=link.policy_id) if link is not None else None

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return EscalationPolicy.objects.none()
        return EscalationPolicy.objects.filter(team_id__in=list(team_roles(request)))


class MonitorSerializer(DirectReadMixin, serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    status = serializers.SerializerMethodField(
        help_text="unknown, up, down (the incident state machine) or paused"
    )
    tags = TagListField(
        child=serializers.CharField(max_length=50), required=False, max_length=MAX_TAGS
    )
    open_incident = serializers.SerializerMethodField()
    last_check_status = serializers.ChoiceField(
        choices=CheckStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text='"" before the first check',
    )
    channels = ChannelIdsField(
        many=True,
        required=False,
        help_text="Notification channel ids of the same team; a new monitor without them "
        "gets the team's default channels",
    )
    depends_on = MonitorIdsField(
        many=True,
        required=False,
        help_text="Ids of monitors of the same team this one depends on: while one of them is "
        "down, this monitor's incidents open suppressed and send nothing",
    )
    dependents = serializers.SerializerMethodField(
        help_text="Ids of the monitors that depend on this one"
    )

    ping_url = serializers.URLField(
        read_only=True,
        allow_null=True,
        help_text="heartbeat: where the job pings (GET or POST; /start, /fail and /<exit code> "
        "appended report a run's start, failure or exit status); null for other kinds",
    )
    escalation_policy = EscalationPolicyIdField(
        required=False,
        allow_null=True,
        help_text="Escalation policy id of the same team; null: the team's default policy",
    )

    class Meta:
        model = Monitor
        fields = [
            "id",
            "team",
            "key",
            "name",
            "kind",
            "url",
            "host",
            "port",
            "ping_count",
            "use_tls",
            "send",
            "dns_record_type",
            "dns_resolver",
            "tls_server_name",
            "starttls",
            "steps",
            "cron",
            "tz",
            "grace",
            "ping_url",
            "last_ping_at",
            "method",
            "headers",
            "body",
            "expected_status",
            "timeout",
            "interval",
            "failure_threshold",
            "success_threshold",
            "follow_redirects",
            "verify_tls",
            "assertions",
            "tags",
            "channels",
            "depends_on",
            "dependents",
            "flap_threshold",
            "flap_window_minutes",
            "escalation_policy",
            "is_active",
            "status",
            "last_checked_at",
            "last_check_status",
            "last_status_code",
            "last_response_time_ms",
            "last_reason",
            "cert_expires_at",
            "next_check_at",
            "open_incident",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", *Monitor.ENGINE_FIELDS]
        extra_kwargs = {"next_check_at": {"required": False}}
        # The (team, key) uniqueness is the services' (monitors.keys.assign_key): DRF's own
        # validator would make ``team`` required, which defaults to the personal team.
        validators: list = []

    def get_status(self, monitor: Monitor) -> str:
        return monitor.status if monitor.is_active else "paused"

    def get_dependents(self, monitor: Monitor) -> list[int]:
        links = _prefetched(monitor, PREFETCHED_CHILDREN, "child_links")
        return sorted(link.child_id for link in links)

    def get_open_incident(self, monitor: Monitor) -> int | None:
        if hasattr(monitor, "open_incident_id"):
            return monitor.open_incident_id
        # Not annotated (a monitor just created or changed): Incident.objects.open_of, reached
        # through the reverse relation's manager.
        return monitor.incidents.open_of(monitor).values_list("id", flat=True).first()

    # --- validation -------------------------------------------------------------------------
    # Each field's rules are the model field's validators (ModelSerializer copies them), the
    # rules spanning fields are Monitor.clean(): monitors.validation defines both, so the API,
    # the dashboard, the admin and the CLI answer the same bad monitor with the same words.

    def validate_tags(self, value: list[str]) -> list[str]:
        return clean_tag_names(value)

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A monitor cannot be moved to another team.")
        return team

    def validate(self, attrs: dict) -> dict:
        # Django's ValidationError raised here becomes a 400 keyed by field (DRF converts it).
        self._candidate(attrs).clean()
        if attrs.get("channels"):
            validate_channels_team(team_id=self._team_id(attrs), channels=attrs["channels"])
        if attrs.get("depends_on"):
            validate_dependencies(
                team_id=self._team_id(attrs), monitor=self.instance, parents=attrs["depends_on"]
            )
        policy = attrs.get("escalation_policy")
        if policy is not None and policy.team_id != self._team_id(attrs):
            raise serializers.ValidationError(
                {"escalation_policy": ["The policy must belong to the monitor's team."]}
            )
        return attrs

    def _candidate(self, attrs: dict) -> Monitor:
        """The monitor as it would be saved: the stored one (if any) with ``attrs`` applied."""
        candidate = copy(self.instance) if self.instance is not None else Monitor()
        candidate.team_id = self._team_id(attrs)  # quotas are per team (Monitor.clean)
        for name, value in attrs.items():
            if name not in ("tags", "channels", "team", "depends_on", "escalation_policy"):
                setattr(candidate, name, value)
        return candidate

    def _team_id(self, attrs: dict) -> int | None:
        if self.instance is not None:
            return self.instance.team_id
        if attrs.get("team") is not None:
            return attrs["team"].id
        team = default_team(self.context["request"])
        return team.id if team else None
