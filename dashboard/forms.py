"""Forms of the dashboard. Validation is the API's: each form hands its data to the API
serializer and shows that serializer's messages, so a page can never accept what the API
refuses (or the other way round). For monitors the serializer in turn runs the model's
validators (monitors/validation.py), which the admin and the CLI run too; the views save
through monitors.services."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import cast

from django import forms
from django.conf import settings
from django.http import HttpRequest
from django.utils.html import format_html
from rest_framework import serializers

from accounts.models import Team
from api.history import StatusPageSerializer
from api.serializers import MonitorSerializer
from dashboard import assertion_rows
from lib.parsers import loads_bounded
from monitors.models import (
    HEARTBEAT_GRACE,
    MAX_HEARTBEAT_GRACE,
    MAX_PING_COUNT,
    PING_COUNT,
    DnsRecordType,
    HttpMethod,
    Monitor,
    MonitorKind,
    StartTls,
    StatusPage,
)
from notifications.models import Channel


def _messages(detail) -> list[str]:
    """Flatten DRF error details (lists, nested dicts for list items) into sentences."""
    if isinstance(detail, dict):
        return [
            f"{key}: {message}" if not str(key).isdigit() else f"#{int(key) + 1}: {message}"
            for key, value in detail.items()
            for message in _messages(value)
        ]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


class SerializerForm(forms.Form):
    """A form whose ``clean`` runs a DRF serializer; ``validated`` holds its output."""

    serializer_class: type[serializers.Serializer]

    def __init__(self, *args, request: HttpRequest, instance=None, **kwargs) -> None:
        self.request = request
        self.instance = instance
        self.validated: dict = {}
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def payload(self, cleaned: dict) -> dict:
        return dict(cleaned)

    def clean(self) -> dict:
        cleaned = super().clean()
        # Fields that failed their own cleaning (bad JSON, not a number) are left out, but the
        # serializer still judges the others: every error shows at once, on its field. With
        # such a gap, only the other fields' own messages are shown: a cross-field message
        # would judge a value the user did not give.
        failed = set(self.errors)
        serializer = self.serializer_class(
            instance=self.instance, data=self.payload(cleaned), context={"request": self.request}
        )
        if serializer.is_valid():
            self.validated = dict(serializer.validated_data)
            return cleaned
        for name, detail in serializer.errors.items():
            field = name if name in self.fields else None
            if failed and (field is None or field in failed):
                continue
            for message in _messages(detail):
                self.add_error(field, message)
        return cleaned


def _team_choices(teams: list[Team]) -> list[tuple[int, str]]:
    return [(team.id, team.name) for team in teams]


def _dependency_choices(instance, teams: list[Team]) -> list[tuple[int, str]]:
    """The monitors a monitor may depend on: its team's (for a new one, the teams')."""
    if instance is not None:
        monitors = Monitor.objects.filter(team_id=instance.team_id).exclude(pk=instance.pk)
        return list(monitors.order_by("name").values_list("id", "name"))
    rows = Monitor.objects.filter(team__in=teams).order_by("team__name", "name")
    several = len(teams) > 1
    return [
        (pk, f"{name} ({team})" if several else name)
        for pk, name, team in rows.values_list("id", "name", "team__name")
    ]


class JSONTextField(forms.CharField):
    """A textarea holding JSON; an empty box means ``empty``."""

    def __init__(self, *, empty, **kwargs) -> None:
        self.empty = empty
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2) if value else ""
        return value

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return type(self.empty)()
        try:
            return loads_bounded(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None


class ChannelCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes plus a hidden marker: with none ticked a browser posts nothing at all, which
    the marker tells apart from a page that does not have the field."""

    MARKER = "{}__shown"

    def render(self, name, value, attrs=None, renderer=None):
        boxes = super().render(name, value, attrs, renderer)
        marker = format_html('<input type="hidden" name="{}" value="1">', self.MARKER.format(name))
        return boxes + marker

    @classmethod
    def shown(cls, data, name: str) -> bool:
        return cls.MARKER.format(name) in data


def monitor_initial(monitor: Monitor) -> dict:
    """The form's values for an existing monitor (to edit it, or to clone it)."""
    return {
        **{
            name: getattr(monitor, name)
            for name in MonitorForm.base_fields
            if name not in ("tags", "channels", "depends_on")
        },
        "team": monitor.team_id,
        "tags": ", ".join(tag.name for tag in monitor.tags.all()),
        "channels": [channel.id for channel in monitor.channels.all()],
        "depends_on": list(monitor.parent_links.values_list("parent_id", flat=True)),
    }


@dataclass(frozen=True)
class KindFields:
    """One monitor kind on the form: its choice label, a line saying what it checks, and
    the fields it uses (the others are hidden with JavaScript, and ignored when posted)."""

    label: str
    summary: str
    fields: tuple[str, ...]


# Fields every actively probed kind has: how often, how long to wait, what must hold.
PROBED = ("interval", "timeout", "assertions")

# The kinds, in the order the form offers them. Adding a kind is one entry here (plus the
# form fields it needs that do not exist yet, placed in FIELDSETS).
KIND_FIELDS: dict[str, KindFields] = {
    MonitorKind.HTTP: KindFields(
        "HTTP(S)",
        "A web page or API endpoint answers with the expected status (and content)",
        (
            "url",
            "method",
            "expected_status",
            "headers",
            "body",
            "follow_redirects",
            "verify_tls",
            *PROBED,
        ),
    ),
    MonitorKind.TCP: KindFields(
        "TCP port",
        "A port accepts connections (optionally over TLS, optionally answering a line)",
        ("host", "port", "use_tls", "send", "tls_server_name", "verify_tls", *PROBED),
    ),
    MonitorKind.DNS: KindFields(
        "DNS record",
        "A name resolves (to the expected answer)",
        ("host", "dns_record_type", "dns_resolver", *PROBED),
    ),
    MonitorKind.TLS: KindFields(
        "TLS certificate",
        "A certificate is valid and not about to expire",
        ("host", "port", "tls_server_name", "starttls", "verify_tls", *PROBED),
    ),
    MonitorKind.ICMP: KindFields(
        "Ping (ICMP)", "A host answers pings", ("host", "ping_count", *PROBED)
    ),
    MonitorKind.API: KindFields(
        "API (multi-step)",
        "Several requests in a row, passing values from one to the next",
        ("steps", "interval", "timeout"),
    ),
    MonitorKind.HEARTBEAT: KindFields(
        "Heartbeat (cron job, backup)",
        "A job checks in on its schedule; a missed check-in alerts",
        ("interval", "cron", "tz", "grace"),
    ),
}
COMMON_FIELDS = ("team", "name", "kind", "failure_threshold", "success_threshold", "tags")

_ASSERTION_NUMBER = re.compile(r"^Assertion (\d+): (.*)$", re.DOTALL)


class MonitorForm(SerializerForm):
    serializer_class = MonitorSerializer

    # Grouped on the page; each field shows for the kinds that use it (KIND_FIELDS), all of
    # them without JavaScript. Names a form lacks are skipped (the alerts' "channels").
    FIELDSETS = (
        ("What to check", ("team", "kind", "name")),
        (
            "Target",
            (
                "url",
                "method",
                "expected_status",
                "host",
                "port",
                "ping_count",
                "dns_record_type",
                "dns_resolver",
                "use_tls",
                "send",
                "tls_server_name",
                "starttls",
                "verify_tls",
                "follow_redirects",
            ),
        ),
        ("Request headers and body", ("headers", "body")),
        ("Steps", ("steps",)),
        ("Assertions", ("assertions",)),
        ("Schedule", ("interval", "timeout", "failure_threshold", "success_threshold")),
        ("Heartbeat schedule", ("cron", "tz", "grace")),
        ("Alerts", ("channels",)),
        ("Dependencies and flapping", ("depends_on", "flap_threshold", "flap_window_minutes")),
        ("Tags", ("tags",)),
    )
    BLANK_HEADER_ROWS = 1
    BLANK_ASSERTION_ROWS = 2

    team = forms.TypedChoiceField(coerce=int, help_text="The team that owns the monitor")
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=MonitorKind.choices,  # narrowed to KIND_FIELDS per form
        initial=MonitorKind.HTTP,
        required=False,  # a post without it (an older page) is an http monitor, as in the API
        widget=forms.RadioSelect,
        help_text=(
            "Choose first: the form then shows only what this kind needs. It cannot change later."
        ),
    )
    url = forms.CharField(
        label="URL",
        max_length=2048,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/health"}),
    )
    host = forms.CharField(
        max_length=253,
        required=False,
        help_text="tcp, tls, icmp: the host to connect to or ping; dns: the name to query",
    )
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    ping_count = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PING_COUNT,
        help_text=f"Echo requests per check; empty for {PING_COUNT}",
    )
    use_tls = forms.BooleanField(required=False, label="Connect with TLS")
    send = forms.CharField(
        max_length=1024,
        required=False,
        strip=False,
        help_text="A line sent after connecting; check the reply with a reply_contains assertion",
    )
    dns_record_type = forms.ChoiceField(
        choices=[("", "-"), *DnsRecordType.choices], required=False, label="Record type"
    )
    dns_resolver = forms.CharField(
        max_length=260, required=False, help_text="host or host:port; empty for the system's"
    )
    tls_server_name = forms.CharField(
        label="TLS host (SNI)",  # tls_server_name; "name" would collide with the monitor's
        max_length=253,
        required=False,
        help_text="Sent (SNI) and verified; empty for the host",
    )
    starttls = forms.ChoiceField(choices=StartTls.choices, required=False, label="STARTTLS")
    method = forms.ChoiceField(choices=[(m, m) for m in HttpMethod.values], initial=HttpMethod.GET)
    expected_status = forms.CharField(
        max_length=200, initial="200-299", help_text="Codes and ranges, e.g. 200-299,301"
    )
    interval = forms.IntegerField(
        initial=60, help_text="Seconds between checks (heartbeat: between runs, without cron)"
    )
    timeout = forms.FloatField(initial=10.0, help_text="Seconds; below the interval")
    failure_threshold = forms.IntegerField(
        initial=2, help_text="Failed checks in a row that open an incident"
    )
    success_threshold = forms.IntegerField(
        initial=1, help_text="Successful checks in a row that resolve it"
    )
    follow_redirects = forms.BooleanField(required=False, initial=True)
    verify_tls = forms.BooleanField(required=False, initial=True, label="Verify TLS certificate")
    headers = JSONTextField(
        empty={}, help_text="Sent with every request, e.g. Accept: application/json"
    )
    body = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    assertions = JSONTextField(
        empty=[],
        help_text="All must hold for a check to pass, e.g. Body contains ok",
    )
    steps = JSONTextField(
        empty=[],
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text=(
            "A JSON list of up to 10 steps, each with name, method, url, headers, body, "
            'expected_status, assertions and extract (e.g. [{"var": "token", "from": "json", '
            '"path": "$.token"}]); later steps use {{token}}, and team variables {{name}}'
        ),
    )
    cron = forms.CharField(
        max_length=100,
        required=False,
        label="Cron expression",
        help_text="When the job runs, e.g. 0 3 * * * (03:00 daily); empty: every interval seconds",
    )
    tz = forms.CharField(
        max_length=64,
        required=False,
        initial="UTC",
        label="Time zone",
        help_text="The cron expression's zone (IANA name, e.g. Europe/Paris)",
    )
    grace = forms.IntegerField(
        required=False,
        initial=HEARTBEAT_GRACE,
        min_value=1,
        max_value=MAX_HEARTBEAT_GRACE,
        help_text="Seconds a ping may be late before the run counts as missed",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. prod, payments")
    channels = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Alert channels",
        widget=ChannelCheckboxes,
        help_text="Where its alerts go; none ticked: the team's default channels",
    )
    depends_on = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Depends on",
        help_text="Monitors of the same team; while one is down, this monitor's alerts are held",
    )
    # Not required: a post without them (an older page) keeps the monitor's values.
    flap_threshold = forms.IntegerField(
        required=False,
        initial=5,
        min_value=0,
        help_text="State changes within the window that mean flapping; 0 off",
    )
    flap_window_minutes = forms.IntegerField(
        required=False,
        initial=30,
        min_value=1,
        help_text="Flapping window, and the calm needed after it",
    )

    def __init__(self, *args, request: HttpRequest, teams: list[Team], instance=None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = monitor_initial(instance)
        super().__init__(*args, request=request, instance=instance, **kwargs)
        self.fields["team"].choices = _team_choices(teams)
        team_ids = [instance.team_id] if instance is not None else [team.id for team in teams]
        channels = list(
            Channel.objects.filter(team_id__in=team_ids).select_related("team").order_by("name")
        )
        several_teams = len({channel.team_id for channel in channels}) > 1
        channel_field = cast(forms.TypedMultipleChoiceField, self.fields["channels"])
        channel_field.choices = [
            (
                channel.id,
                f"{channel.name} ({channel.kind}, {channel.team.name})"
                if several_teams
                else f"{channel.name} ({channel.kind})",
            )
            for channel in channels
        ]
        if instance is not None:
            channel_field.help_text = "Where its alerts go; none ticked: it alerts nobody"
        self.fields["kind"].choices = [(kind, k.label) for kind, k in KIND_FIELDS.items()]
        self.fields["interval"].widget.attrs["min"] = settings.MONITOR_MIN_INTERVAL
        self.fields["depends_on"].choices = _dependency_choices(instance, teams)
        if instance is not None:
            self.fields["team"].disabled = True
            self.fields["team"].choices = [(instance.team_id, instance.team.name)]
            self.fields["kind"].disabled = True
        if self.is_bound:
            # Another kind's fields are hidden and dropped from the payload: not required
            # (a heartbeat has no method, expected status or timeout).
            own = KIND_FIELDS[self.chosen_kind()].fields
            for name in {n for k in KIND_FIELDS.values() for n in k.fields} - set(own):
                if name in self.fields and name not in COMMON_FIELDS:
                    self.fields[name].required = False
        # Headers and assertions are edited as rows; a post without rows (a script, an older
        # page) may still give them as JSON in the fields of the same names.
        self.header_rows_posted = self.is_bound and "header_name" in self.data
        self.assertion_rows_posted = (
            assertion_rows.rows_posted(self.data) if self.is_bound else None
        )

    # --- Kinds --------------------------------------------------------------------------

    def kinds_of(self, name: str) -> str:
        """The kinds that use field ``name``, space-separated; "" when all do."""
        if name in COMMON_FIELDS or name not in self.fields:
            return ""
        return " ".join(kind for kind, k in KIND_FIELDS.items() if name in k.fields)

    @property
    def testable_kinds(self) -> str:
        """The kinds "Test now" is offered for: not the passive heartbeat (its job's pings
        are its checks; check_draft refuses it too)."""
        return " ".join(kind for kind in KIND_FIELDS if kind != MonitorKind.HEARTBEAT)

    def chosen_kind(self) -> str:
        if self.instance is not None:
            return self.instance.kind
        value = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        return value if value in KIND_FIELDS else MonitorKind.HTTP

    def fieldsets(self) -> list[tuple[str, str, list[tuple[str, object]]]]:
        """(legend, kinds it is for or "" for all, [(kinds, bound field)]) in page order."""
        sets = []
        for legend, names in self.FIELDSETS:
            fields = [(self.kinds_of(name), self[name]) for name in names if name in self.fields]
            if not fields:
                continue
            kinds = {kind for kinds, _ in fields for kind in kinds.split()}
            any_common = any(not kinds for kinds, _ in fields)
            sets.append((legend, "" if any_common else " ".join(sorted(kinds)), fields))
        return sets

    def kind_choices(self) -> list[dict]:
        return [
            {"value": kind, "label": k.label, "summary": k.summary}
            for kind, k in KIND_FIELDS.items()
        ]

    # --- Header rows --------------------------------------------------------------------

    def header_rows(self) -> list[tuple[str, str]]:
        if self.header_rows_posted:
            rows = list(
                zip(
                    self.data.getlist("header_name"),
                    self.data.getlist("header_value"),
                    strict=False,
                )
            )
        else:
            value = self["headers"].value()
            if isinstance(value, str):
                try:
                    value = json.loads(value) if value.strip() else {}
                except ValueError:
                    value = {}
            rows = list(value.items()) if isinstance(value, dict) else []
        rows = [(str(n), str(v)) for n, v in rows if str(n).strip() or str(v).strip()]
        return rows + [("", "")] * self.BLANK_HEADER_ROWS

    def clean_headers(self):
        if not self.header_rows_posted:
            return self.cleaned_data.get("headers", {})
        headers: dict[str, str] = {}
        names = self.data.getlist("header_name")
        values = self.data.getlist("header_value")
        for number, (name, value) in enumerate(zip(names, values, strict=False), start=1):
            if not name.strip() and not value.strip():
                continue
            if not name.strip():
                raise forms.ValidationError(f"Header {number}: give the header a name.")
            headers[name.strip()] = value
        return headers

    # --- Assertion rows -----------------------------------------------------------------

    def clean_assertions(self):
        if self.assertion_rows_posted is None:
            return self.cleaned_data.get("assertions", [])
        assertions, problems = assertion_rows.rows_to_assertions(self.assertion_rows_posted)
        if problems:
            raise forms.ValidationError(problems)
        return assertions

    def assertion_rows(self) -> list[dict]:
        """The builder's rows, each with its own messages ("Assertion 2: ..." from here or
        from the API), then blank rows to fill."""
        if self.assertion_rows_posted is not None:
            rows = [r for r in self.assertion_rows_posted if not r.is_blank]
        else:
            value = self["assertions"].value()
            if isinstance(value, str):
                try:
                    value = json.loads(value) if value.strip() else []
                except ValueError:
                    value = []
            specs = value if isinstance(value, list) else []
            rows = [assertion_rows.assertion_to_row(s) for s in specs if isinstance(s, dict)]
        errors: dict[int, list[str]] = {}
        for message in self.errors.get("assertions", []):
            match = _ASSERTION_NUMBER.match(message)
            if match:
                errors.setdefault(int(match.group(1)), []).append(match.group(2))
        shown = [
            {"row": row, "number": i, "errors": errors.get(i, [])}
            for i, row in enumerate(rows, start=1)
        ]
        blank = assertion_rows.Row()
        shown += [
            {"row": blank, "number": len(rows) + i, "errors": []}
            for i in range(1, self.BLANK_ASSERTION_ROWS + 1)
        ]
        return shown

    def assertion_general_errors(self) -> list[str]:
        return [m for m in self.errors.get("assertions", []) if not _ASSERTION_NUMBER.match(m)]

    def assertion_subjects(self) -> list[dict]:
        return assertion_rows.subject_choices()

    def assertion_subjects_json(self) -> str:
        """The builder's table for monitor_form.js (an attribute: the CSP allows no inline
        script, not even a data block)."""
        return json.dumps(assertion_rows.subject_choices())

    def assertion_operators(self) -> dict[str, str]:
        return assertion_rows.OPERATORS

    def payload(self, cleaned: dict) -> dict:
        payload = dict(cleaned)
        payload["kind"] = cleaned.get("kind") or MonitorKind.HTTP
        payload["tags"] = [t.strip() for t in cleaned.get("tags", "").split(",") if t.strip()]
        # What another kind's (hidden) fields hold is not this monitor's: the API keeps
        # their defaults instead of refusing a value the person cannot see.
        own = KIND_FIELDS.get(payload["kind"])
        if own is not None:
            for kind in KIND_FIELDS.values():
                for name in kind.fields:
                    if name not in own.fields and name not in COMMON_FIELDS:
                        payload.pop(name, None)
        for name in ("tz", "grace"):  # left empty: the default
            if payload.get(name) in ("", None):
                payload.pop(name, None)
        if self.instance is not None:
            payload.pop("team", None)
        # A new monitor with no channel chosen gets the team's default channels (as in the
        # API); a page without the field (an older one) leaves a monitor's channels alone.
        shown = ChannelCheckboxes.shown(self.data, self.add_prefix("channels"))
        if not shown or (self.instance is None and not payload.get("channels")):
            payload.pop("channels", None)
        for name in ("flap_threshold", "flap_window_minutes"):
            if payload.get(name) is None:
                payload.pop(name, None)
        return payload


class StatusPageForm(SerializerForm):
    serializer_class = StatusPageSerializer

    team = forms.TypedChoiceField(coerce=int)
    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=60, help_text="The public address: /status/<slug>/ (letters, digits, -)"
    )
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    monitors = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    is_public = forms.BooleanField(required=False, initial=True, label="Published")

    def __init__(
        self,
        *args,
        request: HttpRequest,
        teams: list[Team],
        monitors: list[Monitor],
        instance: StatusPage | None = None,
        **kwargs,
    ):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "team": instance.team_id,
                "title": instance.title,
                "slug": instance.slug,
                "description": instance.description,
                "monitors": [m.id for m in instance.monitors.all()],
                "is_public": instance.is_public,
            }
        super().__init__(*args, request=request, instance=instance, **kwargs)
        self.fields["team"].choices = _team_choices(teams)
        if instance is not None:
            self.fields["team"].disabled = True
            self.fields["team"].choices = [(instance.team_id, instance.team.name)]
        several_teams = len({m.team_id for m in monitors}) > 1
        self.fields["monitors"].choices = [
            (m.id, f"{m.name} ({m.team.name})" if several_teams else m.name) for m in monitors
        ]

    def payload(self, cleaned: dict) -> dict:
        payload = dict(cleaned)
        if self.instance is not None:
            payload.pop("team", None)
        return payload
