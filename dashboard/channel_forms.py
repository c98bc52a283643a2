"""The channel form: one field per setting of each kind instead of the API's ``config`` and
``secrets`` objects. Validation is the API's (``ChannelSerializer``, which runs
notifications.channel_config); its messages about a setting are shown on that setting's field.

Secrets (the webhook's signing secret, the Apprise URL) are write-only: their inputs are never
filled in, and on an edit a blank one keeps what is stored."""

from __future__ import annotations

from typing import cast

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorList
from django.http import HttpRequest

from accounts.models import Team
from dashboard.forms import SerializerForm
from incidents.models import IncidentEvent
from monitors.models import Monitor
from notifications.models import Channel, ChannelKind
from notifications.serializers import ChannelSerializer
from notifications.services import POLICY_FIELDS

# Where a serializer message about ``config`` or ``secrets`` belongs, by its "name: " prefix.
SETTING_FIELDS = {
    ChannelKind.EMAIL: {"to": "recipients"},
    ChannelKind.WEBHOOK: {"url": "url", "signing_secret": "signing_secret"},
    ChannelKind.APPRISE: {"url": "apprise_url"},
}


class ChannelForm(SerializerForm):
    serializer_class = ChannelSerializer

    FIELDSETS = (
        ("Channel", "", ("team", "name", "kind")),
        ("Email", "email", ("recipients",)),
        ("Webhook", "webhook", ("url", "signing_secret", "regenerate_secret")),
        ("Apprise", "apprise", ("apprise_url",)),
        ("What it sends", "", ("events", "enabled", "is_default")),
        (
            "Grouping, reminders and updates",
            "",
            (
                "group_window_seconds",
                "reminder_interval_minutes",
                "reminder_max",
                "send_incident_updates",
            ),
        ),
        ("Attached monitors", "", ("monitors",)),
    )

    team = forms.TypedChoiceField(coerce=int, help_text="The team whose alerts it carries")
    name = forms.CharField(max_length=100, help_text="e.g. “On-call Slack”")
    kind = forms.ChoiceField(
        choices=ChannelKind.choices,
        initial=ChannelKind.WEBHOOK,
        help_text="Where messages go; it cannot change later",
    )
    recipients = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Comma-separated addresses of members of the team",
    )
    url = forms.CharField(
        label="URL",
        required=False,
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/healthmon"}),
        help_text="Receives a signed JSON POST per alert",
    )
    signing_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 16 characters; leave blank to have one generated and shown once",
    )
    regenerate_secret = forms.BooleanField(
        required=False,
        label="Generate a new signing secret",
        help_text="Shown once after saving; the old one stops working",
    )
    apprise_url = forms.CharField(
        label="Apprise URL",
        required=False,
        strip=True,
        max_length=2048,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="e.g. slack://TokenA/TokenB/TokenC or ntfy://ntfy.sh/topic; it holds the "
        "service's credentials, so it is never shown again",
    )
    events = forms.MultipleChoiceField(
        choices=IncidentEvent.choices,
        initial=list(IncidentEvent.values),
        widget=forms.CheckboxSelectMultiple,
        help_text="The incident events it is told about",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    # No help text: beside a checkbox it reads as the label. The page after saving offers to
    # attach a new default channel to the existing monitors too.
    is_default = forms.BooleanField(
        required=False, label="Default channel: attached to every new monitor of the team"
    )
    # Policies (notifications/policies.py): bounds are the model's, judged by the serializer.
    group_window_seconds = forms.IntegerField(
        required=False,
        label="Group window (seconds)",
        initial=Channel._meta.get_field("group_window_seconds").default,
        help_text=Channel._meta.get_field("group_window_seconds").help_text,
    )
    reminder_interval_minutes = forms.IntegerField(
        required=False,
        label="Remind every (minutes)",
        initial=Channel._meta.get_field("reminder_interval_minutes").default,
        help_text=Channel._meta.get_field("reminder_interval_minutes").help_text,
    )
    reminder_max = forms.IntegerField(
        required=False,
        label="Reminders at most",
        initial=Channel._meta.get_field("reminder_max").default,
        help_text=Channel._meta.get_field("reminder_max").help_text,
    )
    send_incident_updates = forms.BooleanField(
        required=False, label="Also send the updates the team posts to an incident"
    )
    monitors = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Their alerts go to this channel",
    )

    def __init__(
        self,
        *args,
        request: HttpRequest,
        teams: list[Team],
        monitors: list[Monitor],
        instance: Channel | None = None,
        **kwargs,
    ) -> None:
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "team": instance.team_id,
                "name": instance.name,
                "kind": instance.kind,
                "recipients": ", ".join(instance.config.get("to", [])),
                "url": instance.config.get("url", ""),
                "events": instance.events,
                "enabled": instance.enabled,
                "is_default": instance.is_default,
                "group_window_seconds": instance.group_window_seconds,
                "reminder_interval_minutes": instance.reminder_interval_minutes,
                "reminder_max": instance.reminder_max,
                "send_incident_updates": instance.send_incident_updates,
                "monitors": [m.id for m in instance.monitors.all()],
            }
        super().__init__(*args, request=request, instance=instance, **kwargs)
        team_field = cast(forms.TypedChoiceField, self.fields["team"])
        team_field.choices = [(team.id, team.name) for team in teams]
        several_teams = len({m.team_id for m in monitors}) > 1
        monitor_field = cast(forms.TypedMultipleChoiceField, self.fields["monitors"])
        monitor_field.choices = [
            (m.id, f"{m.name} ({m.team.name})" if several_teams else m.name) for m in monitors
        ]
        if instance is None:
            del self.fields["regenerate_secret"]
        else:
            self.fields["team"].disabled = True
            team_field.choices = [(instance.team_id, instance.team.name)]
            self.fields["kind"].disabled = True
            self.fields[
                "signing_secret"
            ].help_text = "Leave blank to keep the current one (never shown again)"
            self.fields["apprise_url"].help_text = "Leave blank to keep the current one"

    def fieldsets(self) -> list[tuple[str, str, list]]:
        return [
            (legend, kinds, [self[name] for name in names if name in self.fields])
            for legend, kinds, names in self.FIELDSETS
        ]

    @property
    def chosen_kind(self) -> str:
        if self.instance is not None:
            return self.instance.kind
        return self.cleaned_data.get("kind") or ChannelKind.WEBHOOK

    def payload(self, cleaned: dict) -> dict:
        kind = self.chosen_kind
        config: dict = {}
        secrets: dict = {}
        if kind == ChannelKind.EMAIL:
            config["to"] = cleaned.get("recipients", "")
        elif kind == ChannelKind.WEBHOOK:
            config["url"] = cleaned.get("url", "")
            if self.instance is not None and "timeout" in self.instance.config:
                config["timeout"] = self.instance.config["timeout"]  # set through the API
            if cleaned.get("signing_secret"):
                secrets["signing_secret"] = cleaned["signing_secret"]
            elif cleaned.get("regenerate_secret"):
                secrets["signing_secret"] = None  # removed: the service generates a new one
        elif kind == ChannelKind.APPRISE and (cleaned.get("apprise_url") or self.instance is None):
            secrets["url"] = cleaned.get("apprise_url", "")
        payload = {
            "name": cleaned.get("name"),
            "kind": kind,
            "config": config,
            "secrets": secrets,
            "events": cleaned.get("events", []),
            "enabled": cleaned.get("enabled", False),
            "is_default": cleaned.get("is_default", False),
            "send_incident_updates": cleaned.get("send_incident_updates", False),
            "monitors": cleaned.get("monitors", []),
        }
        for name in POLICY_FIELDS:
            if cleaned.get(name) is not None:
                payload[name] = cleaned[name]
        if self.instance is None:
            payload["team"] = cleaned.get("team")
        return payload

    def clean(self) -> dict:
        cleaned = super().clean()
        # The serializer's messages about settings ("url: ...") arrive as form-wide errors;
        # put each on the field of that setting.
        fields = SETTING_FIELDS.get(ChannelKind(self.chosen_kind), {})
        general = self.errors.get(NON_FIELD_ERRORS)
        if not general:
            return cleaned
        kept = ErrorList()
        for message in list(general):
            setting, _, text = str(message).partition(": ")
            field = fields.get(setting)
            if field and text:
                self.errors.setdefault(field, self.error_class()).append(text)
                self.cleaned_data.pop(field, None)
            else:
                kept.append(message)
        if kept:
            self.errors[NON_FIELD_ERRORS] = kept
        else:
            del self.errors[NON_FIELD_ERRORS]
        return cleaned

    def service_fields(self) -> dict:
        """What the services take, from the serializer's output."""
        fields = {k: v for k, v in self.validated.items() if k not in ("team", "kind")}
        if not fields.get("secrets"):
            fields.pop("secrets", None)
        return fields
