from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from accounts.access import TeamField, team_roles
from lib.serializers import DirectReadMixin
from monitors.assertions import validate_assertions
from monitors.models import CheckStatus, Monitor
from monitors.status_codes import parse_status_spec
from notifications.models import Channel

# RFC 9110 field-name token.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
TAG = re.compile(r"^[\w .:/-]{1,50}$")
MAX_HEADERS = 50
MAX_BODY = 64 * 1024


def _django_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.messages)


# Lists prefetch tags and channels into plain lists (``Prefetch(..., to_attr=...)``): reading
# them through the related managers instead builds a manager and a queryset per monitor and
# relation, which was half of the list endpoint's CPU. Objects that were not prefetched (a
# monitor just created or updated) fall back to the relation.
PREFETCHED_TAGS = "prefetched_tags"
PREFETCHED_CHANNELS = "prefetched_channels"


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


class MonitorSerializer(DirectReadMixin, serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    status = serializers.SerializerMethodField(
        help_text="unknown, up, down (the incident state machine) or paused"
    )
    tags = TagListField(child=serializers.CharField(max_length=50), required=False, max_length=20)
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

    class Meta:
        model = Monitor
        fields = [
            "id",
            "team",
            "name",
            "url",
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
        read_only_fields = [
            "id",
            "status",
            "last_checked_at",
            "last_check_status",
            "last_status_code",
            "last_response_time_ms",
            "last_reason",
            "cert_expires_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "timeout": {"min_value": 0.1},
            "interval": {"min_value": 1, "max_value": 86400},
            "failure_threshold": {"min_value": 1, "max_value": 100},
            "success_threshold": {"min_value": 1, "max_value": 100},
            "next_check_at": {"required": False},
        }

    def get_status(self, monitor: Monitor) -> str:
        return monitor.status if monitor.is_active else "paused"

    def get_open_incident(self, monitor: Monitor) -> int | None:
        if hasattr(monitor, "open_incident_id"):
            return monitor.open_incident_id
        # Not annotated (a monitor just created or changed): Incident.objects.open_of, reached
        # through the reverse relation's manager.
        return monitor.incidents.open_of(monitor).values_list("id", flat=True).first()

    # --- field validation ------------------------------------------------------------------
    def validate_url(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise serializers.ValidationError("Only http:// and https:// URLs can be monitored.")
        if not parts.hostname:
            raise serializers.ValidationError("The URL needs a host name.")
        return value

    def validate_headers(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict):
            raise serializers.ValidationError('Headers must be an object, e.g. {"Accept": "*/*"}.')
        if len(value) > MAX_HEADERS:
            raise serializers.ValidationError(f"At most {MAX_HEADERS} headers.")
        for name, header_value in value.items():
            if not HEADER_NAME.match(name):
                raise serializers.ValidationError(f"{name!r} is not a valid header name.")
            if not isinstance(header_value, str):
                raise serializers.ValidationError(f"The value of {name!r} must be a string.")
            if "\r" in header_value or "\n" in header_value:
                raise serializers.ValidationError(f"The value of {name!r} contains a line break.")
        return value

    def validate_body(self, value: str) -> str:
        if len(value.encode()) > MAX_BODY:
            raise serializers.ValidationError(f"The request body is limited to {MAX_BODY} bytes.")
        return value

    def validate_expected_status(self, value: str) -> str:
        try:
            parse_status_spec(value)
        except DjangoValidationError as exc:
            raise _django_error(exc) from None
        return value.replace(" ", "")

    def validate_assertions(self, value: object) -> list:
        try:
            validate_assertions(value)
        except DjangoValidationError as exc:
            raise _django_error(exc) from None
        return value

    def validate_interval(self, value: int) -> int:
        minimum = settings.MONITOR_MIN_INTERVAL
        if value < minimum:
            raise serializers.ValidationError(f"The interval must be at least {minimum} seconds.")
        return value

    def validate_timeout(self, value: float) -> float:
        if value > settings.MONITOR_MAX_TIMEOUT:
            raise serializers.ValidationError(
                f"The timeout must be at most {settings.MONITOR_MAX_TIMEOUT:g} seconds."
            )
        return value

    def validate_tags(self, value: list[str]) -> list[str]:
        cleaned = []
        for tag in value:
            tag = tag.strip()
            if not TAG.match(tag):
                raise serializers.ValidationError(
                    f"{tag!r}: tags are 1-50 letters, digits, spaces or . : / - _"
                )
            if tag not in cleaned:
                cleaned.append(tag)
        return cleaned

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A monitor cannot be moved to another team.")
        return team

    def validate(self, attrs: dict) -> dict:
        def current(name: str):
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return Monitor._meta.get_field(name).get_default()

        if current("timeout") >= current("interval"):
            raise serializers.ValidationError(
                {"timeout": "The timeout must be below the interval."}
            )
        self._check_channels_team(attrs)
        return attrs

    def _check_channels_team(self, attrs: dict) -> None:
        if not attrs.get("channels"):
            return
        if self.instance is not None:
            team_id = self.instance.team_id
        elif attrs.get("team") is not None:
            team_id = attrs["team"].id
        else:
            personal = getattr(self.context["request"].user, "personal_team", None)
            team_id = personal.id if personal else None
        foreign = [channel.id for channel in attrs["channels"] if channel.team_id != team_id]
        if foreign:
            raise serializers.ValidationError(
                {"channels": [f"Channel {pk} belongs to another team." for pk in foreign]}
            )


class MonitorActionSerializer(serializers.Serializer):
    """Empty body for pause/resume."""
