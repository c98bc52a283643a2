"""What to check (``Monitor``) and what each check found (``CheckResult``)."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from lib.encryption import EncryptedJSONField
from lib.fields import LowercaseSlugField
from monitors import quotas, validation
from monitors.latency import BUCKET_FIELDS


class CheckStatus(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"  # answered, but not as expected (status code or assertion)
    TIMEOUT = "timeout", "Timeout"
    ERROR = "error", "Error"  # no usable answer: DNS, refused, TLS, blocked network, ...


class CheckPhase(models.TextChoices):
    """Where a failed check failed, so "why?" can be answered and counted."""

    NONE = "", "-"
    DNS = "dns", "DNS"
    CONNECT = "connect", "Connect"
    TLS = "tls", "TLS"
    TIMEOUT = "timeout", "Timeout"
    REQUEST = "request", "Request"
    STATUS = "status", "Status code"
    ASSERTION = "assertion", "Assertion"
    BLOCKED = "blocked", "Blocked network"


class MonitorStatus(models.TextChoices):
    """The incident state machine's verdict, kept on the monitor for fast lists."""

    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DOWN = "down", "Down"


class HttpMethod(models.TextChoices):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


class MonitorKind(models.TextChoices):
    """What a monitor checks; each kind is one class in ``monitors.kinds``."""

    HTTP = "http", "HTTP"
    TCP = "tcp", "TCP"
    DNS = "dns", "DNS"
    TLS = "tls", "TLS certificate"
    API = "api", "API (multi-step)"
    ICMP = "icmp", "ICMP ping"
    HEARTBEAT = "heartbeat", "Heartbeat (cron/push)"


PING_COUNT = 3  # an icmp monitor's echo requests per check unless it says otherwise
MAX_PING_COUNT = 10

HEARTBEAT_GRACE = 60  # a heartbeat monitor's grace time unless it says otherwise (seconds)
MAX_HEARTBEAT_GRACE = 7 * 86400


class DnsRecordType(models.TextChoices):
    A = "A", "A"
    AAAA = "AAAA", "AAAA"
    CNAME = "CNAME", "CNAME"
    MX = "MX", "MX"
    TXT = "TXT", "TXT"
    NS = "NS", "NS"
    SOA = "SOA", "SOA"
    SRV = "SRV", "SRV"
    CAA = "CAA", "CAA"


class StartTls(models.TextChoices):
    NONE = "", "None (TLS from the first byte)"
    SMTP = "smtp", "SMTP STARTTLS"


class Tag(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="tag_unique_team_name")
        ]

    def __str__(self) -> str:
        return self.name


KEY_HELP = "Stable identifier in the team (monitors as code); generated from the name if blank"


def unique_key_in_team(name: str) -> models.UniqueConstraint:
    """One ``key`` per team and object type. Partial (``key <> ''``) so that rows of a release
    before keys existed may wait for the backfill, and the index is built concurrently."""
    return models.UniqueConstraint(
        fields=["team", "key"],
        condition=~Q(key=""),
        name=name,
        violation_error_message="Another object of this team has this key; choose another.",
    )


class Monitor(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="monitors")
    key = models.SlugField(max_length=60, blank=True, db_index=False, help_text=KEY_HELP)
    name = models.CharField(max_length=200)
    # Chosen at creation, never changed (Monitor.clean). Every new column below has a
    # database default, so adding it to a large table is a catalogue change, not a rewrite.
    kind = models.CharField(
        max_length=10, choices=MonitorKind.choices, default=MonitorKind.HTTP, db_default="http"
    )
    url = models.URLField(
        max_length=2048,
        blank=True,
        help_text="http: the URL to request",
        validators=[validation.validate_monitor_url],
    )
    # The target of the kinds that are not HTTP (monitors.kinds says which uses what).
    host = models.CharField(
        max_length=253,
        blank=True,
        default="",
        db_default="",
        help_text="tcp, tls, icmp: the host to connect to or ping; dns: the name to query",
        validators=[validation.validate_host],
    )
    # A plain integer: a CHECK constraint on a new column makes PostgreSQL scan the table.
    port = models.IntegerField(
        null=True,
        blank=True,
        help_text="tcp, tls: the port to connect to",
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    # Nullable for the same reason; empty means PING_COUNT.
    ping_count = models.IntegerField(
        null=True,
        blank=True,
        help_text=f"icmp: echo requests per check, 1-{MAX_PING_COUNT}; empty for {PING_COUNT}",
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PING_COUNT)],
    )
    use_tls = models.BooleanField(
        default=False, db_default=False, help_text="tcp: handshake TLS after connecting"
    )
    send = models.CharField(
        max_length=1024,
        blank=True,
        default="",
        db_default="",
        help_text="tcp: a line to send after connecting (CRLF added unless it ends in a newline)",
    )
    dns_record_type = models.CharField(
        max_length=5,
        choices=DnsRecordType.choices,
        blank=True,
        default="",
        db_default="",
        help_text="dns: the record type to query",
    )
    dns_resolver = models.CharField(
        max_length=260,
        blank=True,
        default="",
        db_default="",
        help_text="dns: the resolver to ask, host or host:port; empty for the system's",
        validators=[validation.validate_resolver],
    )
    tls_server_name = models.CharField(
        max_length=253,
        blank=True,
        default="",
        db_default="",
        help_text="tcp, tls: the name sent (SNI) and verified; empty for the host",
        validators=[validation.validate_host],
    )
    starttls = models.CharField(
        max_length=4,
        choices=StartTls.choices,
        blank=True,
        default="",
        db_default="",
        help_text="tls: the plain-text protocol to upgrade with STARTTLS",
    )
    # heartbeat: the schedule the pinging job keeps. Defaults in the database too, so adding
    # the columns to a large table rewrites nothing.
    cron = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text="heartbeat: a cron expression the job runs on (e.g. '0 3 * * *'); "
        "empty for one run every interval seconds",
        validators=[validation.validate_cron],
    )
    tz = models.CharField(
        max_length=64,
        default="UTC",
        db_default="UTC",
        help_text="heartbeat: the IANA time zone of the cron expression (e.g. Europe/Paris)",
        validators=[validation.validate_time_zone],
    )
    grace = models.IntegerField(
        default=HEARTBEAT_GRACE,
        db_default=HEARTBEAT_GRACE,
        help_text="heartbeat: seconds a ping may be late before the run counts as missed",
        validators=[MinValueValidator(1), MaxValueValidator(MAX_HEARTBEAT_GRACE)],
    )
    # heartbeat: the unguessable part of the ping URL (/ping/<token>); NULL for other kinds.
    ping_token = models.UUIDField(null=True, blank=True, editable=False)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    # A /start ping not yet followed by its success or failure: the run time is measured
    # from here.
    ping_started_at = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=7, choices=HttpMethod.choices, default=HttpMethod.GET)
    # Encrypted at rest: request headers often carry Authorization tokens.
    headers = EncryptedJSONField(default=dict, blank=True, validators=[validation.validate_headers])
    body = models.TextField(blank=True, validators=[validation.validate_body])
    expected_status = models.CharField(
        max_length=200,
        default="200-299",
        help_text="Codes and ranges, e.g. 200-299,301",
        validators=[validation.validate_status_spec],
    )
    timeout = models.FloatField(
        default=10.0,
        help_text="Seconds; must be below the interval",
        validators=[MinValueValidator(0.1), validation.validate_timeout],
    )
    interval = models.PositiveIntegerField(
        default=60,
        help_text="Seconds between checks",
        validators=[MaxValueValidator(86400), validation.validate_interval],
    )
    failure_threshold = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    success_threshold = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    # Flapping (incidents.flapping): more than flap_threshold state changes within
    # flap_window_minutes silence the monitor's alerts until it has been stable that long.
    flap_threshold = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(100)],
        help_text="State changes within the window that make the monitor flapping; 0 disables",
    )
    flap_window_minutes = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="Flapping window, and how long it must then stay stable, in minutes",
    )
    follow_redirects = models.BooleanField(default=True)
    verify_tls = models.BooleanField(default=True)
    assertions = models.JSONField(
        default=list, blank=True, validators=[validation.validate_monitor_assertions]
    )
    # Encrypted at rest like headers: steps carry credentials (a login's body, tokens).
    # Nullable, so adding the column rewrites nothing; None reads as no steps.
    steps = EncryptedJSONField(
        null=True,
        blank=True,
        default=list,
        help_text=(
            "api: up to 10 HTTP steps run in order, each "
            '{"name", "method", "url", "headers", "body", "expected_status", "assertions", '
            '"extract": [{"var": "token", "from": "json", "path": "$.access_token"} | '
            '{"var", "from": "header", "name"} | {"var", "from": "regex", "pattern"}]}; '
            "later steps use {{token}} (or a team variable {{name}}) in url, headers and body"
        ),
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="monitors")
    is_active = models.BooleanField(default=True)

    # Kept current by the check engine and the incident evaluator, read by lists.
    status = models.CharField(
        max_length=7, choices=MonitorStatus.choices, default=MonitorStatus.UNKNOWN
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_status = models.CharField(max_length=7, choices=CheckStatus.choices, blank=True)
    last_response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_reason = models.CharField(max_length=500, blank=True)
    cert_expires_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the dispatcher will next claim this monitor (set by the services)",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Written by the engine and the evaluator, never by a person: read-only in every entry
    # point (API, admin).
    ENGINE_FIELDS = (
        "status",
        "last_checked_at",
        "last_check_status",
        "last_status_code",
        "last_response_time_ms",
        "last_reason",
        "cert_expires_at",
        "ping_token",
        "last_ping_at",
        "ping_started_at",
        "created_at",
        "updated_at",
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The dispatcher's claim query: active monitors by deadline.
            models.Index(
                fields=["next_check_at"], condition=Q(is_active=True), name="monitor_due_idx"
            ),
            # Team-scoped lists in their default order (name, id): a page is read from the
            # index instead of sorting every monitor of the team for each request.
            models.Index(fields=["team", "name", "id"], name="monitor_team_name_idx"),
            # The same, filtered by status (and counts by status).
            models.Index(fields=["team", "status", "name", "id"], name="monitor_team_status_idx"),
        ]
        constraints = [
            unique_key_in_team("monitor_unique_team_key"),
            # The dispatcher only ever claims `next_check_at <= now`: an active monitor
            # without a deadline would silently never be checked.
            # The ping endpoint finds its monitor by token; partial, so only heartbeat monitors
            # are in it (and it is built concurrently: migration 0015).
            models.UniqueConstraint(
                fields=["ping_token"],
                condition=Q(ping_token__isnull=False),
                name="monitor_unique_ping_token",
            ),
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(next_check_at__isnull=False),
                name="monitor_active_has_deadline",
                violation_error_message="An active monitor needs a next check time.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        """What is checked, in one line for people (``GET https://...``, ``tcp db:5432``)."""
        from monitors.kinds import KINDS  # the kinds import this module's enums

        return KINDS[self.kind].describe(self)

    @property
    def ping_url(self) -> str | None:
        """heartbeat: the absolute URL the job pings (SITE_URL + /ping/<token>)."""
        if self.ping_token is None:
            return None
        return f"{settings.SITE_URL}/ping/{self.ping_token}"

    def clean(self) -> None:
        """The rules that span fields (each field's own rules are its validators)."""
        from monitors.kinds import KINDS  # the kinds import this module's enums

        self.expected_status = self.expected_status.replace(" ", "")
        self._validate_kind_unchanged()
        kind = KINDS.get(self.kind)
        if kind is not None:  # an unknown kind is the field's own error (choices)
            kind.validate(self)
        if (
            self.timeout is not None
            and self.interval is not None
            and self.kind != MonitorKind.HEARTBEAT  # passive: nothing times out
        ):
            validation.validate_timeout_below_interval(timeout=self.timeout, interval=self.interval)
        quotas.validate_monitor_quotas(self)

    def _validate_kind_unchanged(self) -> None:
        # Results, assertions and history of one kind mean nothing to another.
        if self.pk is None:
            return
        stored = Monitor.objects.filter(pk=self.pk).values_list("kind", flat=True).first()
        if stored is not None and stored != self.kind:
            raise ValidationError({"kind": "The kind of a monitor cannot change."})


class TeamVariable(models.Model):
    """A team's named secret (a password, an API key) that api monitor steps use as
    ``{{name}}``. Write-only: its value is never shown, logged, audited or quoted in a result."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(
        max_length=64,
        validators=[validation.validate_variable_name],
        help_text="Used as {{name}} in the steps of api monitors",
    )
    value = EncryptedJSONField(default=str, validators=[validation.validate_variable_value])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="variable_unique_team_name")
        ]

    def __str__(self) -> str:
        return self.name


class CheckResult(models.Model):
    monitor = models.ForeignKey(
        Monitor, on_delete=models.CASCADE, related_name="checks", db_index=False
    )
    checked_at = models.DateTimeField(help_text="When the request started")
    scheduled_for = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=7, choices=CheckStatus.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    phase = models.CharField(max_length=10, choices=CheckPhase.choices, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    cert_expires_at = models.DateTimeField(null=True, blank=True)
    # heartbeat: the first MAX_PING_BODY bytes of the ping's body (NULL when it had none).
    ping_body = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # "Latest results of a monitor": API, dashboard, incident detail.
            models.Index(fields=["monitor", "-checked_at"], name="check_monitor_latest_idx"),
            # Retention pruning deletes by age in batches.
            models.Index(fields=["checked_at"], name="check_checked_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_success(self) -> bool:
        return self.status == CheckStatus.UP


class CheckNowRequest(models.Model):
    """One on-demand check (API, dashboard, admin), run by a check worker, not the web.

    Its id is the handle the client polls for the result; the unfinished ones still within
    their lease are what the per-team concurrency limit counts (monitors/check_now.py).
    Pending, done or expired is computed from ``finished_at`` and the lease, never stored.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    monitor = models.ForeignKey(
        Monitor, on_delete=models.CASCADE, related_name="check_now_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # No database constraint: retention deletes old results in raw batches (monitors.rollups).
    result = models.ForeignKey(
        CheckResult,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # The check's first failed assertion; it is not a column of CheckResult.
    failed_assertion = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            # The concurrency limit counts a team's unfinished requests on every check-now.
            models.Index(
                fields=["requested_at"],
                condition=Q(finished_at__isnull=True),
                name="check_now_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"check-now {self.id} of monitor {self.monitor_id}"


class DraftCheck(models.Model):
    """One run of a monitor configuration that is not saved yet: the form's "Test now".

    Like a check-now it runs on a check worker, never in the web; the page polls this row.
    ``config`` holds the draft's fields (headers may be credentials: encrypted, and emptied
    once the check ran); ``outcome`` is what the page shows (monitors/check_draft.py).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    config = EncryptedJSONField(default=dict, blank=True)
    outcome = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            # The per-team concurrency limit counts the unfinished ones on every request.
            models.Index(
                fields=["team", "requested_at"],
                condition=Q(finished_at__isnull=True),
                name="draft_check_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"draft check {self.id}"


# --- History: rollups, status pages and badges (see monitors/rollups.py, reports/stats.py) ---


class RollupPeriod(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class CheckRollup(models.Model):
    """The checks of one monitor in one UTC hour or day, merged in by ``monitors.rollups``.

    Counters only, so merging new results is an addition (``INSERT ... ON CONFLICT DO
    UPDATE``) and windows of any length sum rows. Response-time figures cover UP checks:
    a failed check counts against uptime, not latency. ``latency_00`` .. ``latency_36``
    (added below) are the fixed-bucket histogram of ``monitors.latency``.
    """

    monitor = models.ForeignKey(
        Monitor, on_delete=models.CASCADE, related_name="rollups", db_index=False
    )
    period = models.CharField(max_length=4, choices=RollupPeriod.choices)
    period_start = models.DateTimeField(help_text="Start of the UTC hour or day")
    checks = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    response_count = models.PositiveIntegerField(default=0, help_text="UP checks with a time")
    response_sum_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["monitor_id", "period", "period_start"]
        constraints = [
            # The upsert's conflict target, and the index of every stats query:
            # monitor = ? AND period = ? AND period_start >= ?.
            models.UniqueConstraint(
                fields=["monitor", "period", "period_start"], name="rollup_unique_monitor_period"
            )
        ]
        indexes = [
            # Pruning old hourly rows by age.
            models.Index(fields=["period", "period_start"], name="rollup_period_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.period} {self.period_start:%Y-%m-%d %H:%M}"

    @property
    def down(self) -> int:
        return self.checks - self.up

    @property
    def latency_histogram(self) -> list[int]:
        return [getattr(self, name) for name in BUCKET_FIELDS]


# One counter column per latency bucket: plain integer columns add up in SQL on both
# PostgreSQL and SQLite, which an array or JSON column would not.
for _name in BUCKET_FIELDS:
    CheckRollup.add_to_class(_name, models.PositiveIntegerField(default=0))


class RollupWatermark(models.Model):
    """How far the incremental rollup got through ``CheckResult`` ids (a single row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_id = models.BigIntegerField(default=0, help_text="Every result id <= this is rolled up")
    gap_id = models.BigIntegerField(
        null=True, blank=True, help_text="A missing id the rollup is waiting for"
    )
    gap_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rolled up to #{self.last_id}"


class StatusPage(models.Model):
    """A public page showing the state and history of a team's chosen monitors."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="status_pages")
    key = models.SlugField(max_length=60, blank=True, db_index=False, help_text=KEY_HELP)
    slug = LowercaseSlugField(max_length=60, unique=True, help_text="The page is /status/<slug>/")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    monitors = models.ManyToManyField(Monitor, blank=True, related_name="status_pages")
    is_public = models.BooleanField(
        default=True, help_text="Unpublished pages answer 404 to the public"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["team", "title"], name="statuspage_team_title_idx")]
        constraints = [
            unique_key_in_team("statuspage_unique_team_key"),
            # Slugs are lower-cased on every ORM write; this holds for raw SQL and old rows too.
            models.UniqueConstraint(
                Lower("slug"),
                name="statuspage_slug_lower_unique",
                violation_error_message="A status page with this slug already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.title


def new_badge_token() -> str:
    return secrets.token_urlsafe(24)


class MonitorBadge(models.Model):
    """Opt-in SVG badges of one monitor, published under an unguessable token."""

    monitor = models.OneToOneField(
        Monitor, on_delete=models.CASCADE, primary_key=True, related_name="badge"
    )
    token = models.CharField(max_length=64, unique=True, default=new_badge_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"badge of {self.monitor_id}"
