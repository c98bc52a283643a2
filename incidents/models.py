"""Monitor state (the threshold state machine's memory) and the incidents it opens."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from monitors.models import KEY_HELP, MonitorStatus, unique_key_in_team


class MonitorState(models.Model):
    """Memory of the state machine (``incidents.state_machine.Memory``); one row per monitor.

    Created on the first evaluation of a monitor and locked (``SELECT ... FOR UPDATE``) while
    evaluating it, which serializes evaluations of one monitor across workers.
    """

    monitor = models.OneToOneField(
        "monitors.Monitor", on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    state = models.CharField(
        max_length=7, choices=MonitorStatus.choices, default=MonitorStatus.UNKNOWN
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_result_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="checked_at of the newest result evaluated; older results are ignored",
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failure of the current failure run"
    )
    failing_cause = models.CharField(max_length=500, blank=True)
    recovering_since = models.DateTimeField(
        null=True, blank=True, help_text="First success of the current recovery (while down)"
    )

    # Flapping (incidents.flapping): the recent state changes (ISO timestamps, at most
    # flap_threshold + 1 of them, within the window) and since when the monitor flaps.
    recent_changes = models.JSONField(default=list, blank=True)
    flapping_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.monitor_id}: {self.state}"


class MonitorDependency(models.Model):
    """``child`` depends on ``parent``: while the parent is down, the child's incidents open
    suppressed (see incidents.dependencies). Both monitors belong to the same team."""

    child = models.ForeignKey(
        "monitors.Monitor", on_delete=models.CASCADE, related_name="parent_links"
    )
    parent = models.ForeignKey(
        "monitors.Monitor", on_delete=models.CASCADE, related_name="child_links"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="dependency_unique"),
            models.CheckConstraint(
                condition=~Q(child=models.F("parent")), name="dependency_not_itself"
            ),
        ]
        # The unique constraint's index serves "parents of a child"; this one "children of
        # a parent" (released when the parent recovers).
        indexes = [models.Index(fields=["parent", "child"], name="dependency_parent_idx")]

    def __str__(self) -> str:
        return f"{self.child_id} depends on {self.parent_id}"


class IncidentEvent(models.TextChoices):
    """What happened to an incident: announced by the evaluator, subscribed to by channels."""

    OPENED = "opened", "Incident opened"
    RESOLVED = "resolved", "Incident resolved"
    ACKNOWLEDGED = "acknowledged", "Incident acknowledged"
    FLAPPING = "flapping", "Monitor flapping"
    STABLE = "stable", "Monitor stable again"


class Suppression(models.TextChoices):
    """Why an incident's own events (opened, resolved, acknowledged) are not sent."""

    DEPENDENCY = "dependency", "A monitor it depends on is down"
    FLAPPING = "flapping", "The monitor is flapping"


class Resolution(models.TextChoices):
    RECOVERED = "recovered", "Recovered"
    MONITOR_DELETED = "monitor deleted", "Monitor deleted"
    # A "resolved" update posted while the monitor was already up (incidents.updates).
    UPDATE = "resolved by update", "Resolved by an update (monitor up)"


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open_of(self, monitor) -> IncidentQuerySet:
        """The open incident of ``monitor`` (an id, a Monitor or an ``OuterRef`` in a
        subquery). There is at most one (a partial unique index serves the lookup), so it is
        left unordered: no sort per row when used as a correlated subquery."""
        return self.filter(monitor=monitor, resolved_at__isnull=True).order_by()


class Incident(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="incidents")
    monitor = models.ForeignKey(
        "monitors.Monitor",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
    )
    monitor_name = models.CharField(max_length=200, help_text="Kept if the monitor is deleted")
    started_at = models.DateTimeField(help_text="Time of the first failing check of the run")
    opened_at = models.DateTimeField(help_text="When the failure threshold was reached")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=100, choices=Resolution.choices, blank=True)
    cause = models.CharField(max_length=500, help_text="The first failure's reason")
    last_reason = models.CharField(max_length=500, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # The check results that opened and resolved it, as plain ids rather than foreign keys:
    # pruning old results must never have to touch incidents. A redelivered evaluation
    # finds its incidents through them and re-announces them (see services).
    opening_check_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    resolving_check_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    # Suppressed incidents are recorded but send nothing until released (the parent
    # recovered while this monitor is still down, or the flapping stopped).
    suppression = models.CharField(max_length=10, choices=Suppression.choices, blank=True)
    suppressed_reason = models.CharField(max_length=300, blank=True)
    suppressed_by = models.ForeignKey(
        "monitors.Monitor",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The monitor it depends on that was down",
    )
    released_at = models.DateTimeField(
        null=True, blank=True, help_text="When it stopped being suppressed (and alerted)"
    )
    released_by_check_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    flapping_started_at = models.DateTimeField(null=True, blank=True)
    flapping_ended_at = models.DateTimeField(null=True, blank=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # The database, not the code, guarantees one open incident per monitor: a
            # duplicate or retried evaluation cannot open a second one.
            models.UniqueConstraint(
                fields=["monitor"],
                condition=Q(resolved_at__isnull=True),
                name="incident_one_open_per_monitor",
            )
        ]
        indexes = [
            models.Index(fields=["team", "-started_at"], name="incident_team_started_idx"),
            models.Index(fields=["monitor", "-started_at"], name="incident_monitor_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_name} since {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_suppressed(self) -> bool:
        return bool(self.suppression) and self.released_at is None

    @property
    def duration(self) -> timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None


# --- Maintenance windows (incidents.maintenance) ---------------------------------------------


class MaintenanceWindow(models.Model):
    """A time when a team's monitors (some, by tag, or all) are worked on: checks go on and are
    stored, but no incident opens and nothing is sent (``incidents.maintenance``).

    Either one-off (``starts_at`` .. ``ends_at``) or recurring (``recurrence``, a cron
    expression or an RRULE, read in ``timezone``, each occurrence lasting
    ``duration_minutes``). Validated by ``incidents.maintenance.maintenance_window_validate``.
    """

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    key = models.SlugField(max_length=60, blank=True, db_index=False, help_text=KEY_HELP)
    name = models.CharField(max_length=100)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="One-off: start")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="One-off: end (exclusive)")
    recurrence = models.CharField(
        max_length=500,
        blank=True,
        help_text='Recurring: a cron expression ("0 2 * * 0") or an RRULE '
        '("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2"), read in `timezone`',
    )
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recurring: length of each occurrence"
    )
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone of the recurrence"
    )
    whole_team = models.BooleanField(default=False, help_text="Covers every monitor of the team")
    monitors = models.ManyToManyField(
        "monitors.Monitor", blank=True, related_name="maintenance_windows"
    )
    tags = models.ManyToManyField("monitors.Tag", blank=True, related_name="maintenance_windows")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [unique_key_in_team("maintenance_unique_team_key")]
        indexes = [
            # Read once per evaluation batch: the windows of the batch's teams that may be
            # active (recurring ones, and one-offs not ended yet).
            models.Index(fields=["team", "ends_at"], name="maintenance_team_ends_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_recurring(self) -> bool:
        return bool(self.recurrence)


class IncidentUpdateStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


INCIDENT_UPDATE_MAX_LENGTH = 5000


class IncidentUpdate(models.Model):
    """What the team says about an incident, posted by a member; shown on status pages and
    sent to channels that ask for updates (``Channel.send_incident_updates``)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=13, choices=IncidentUpdateStatus.choices)
    message = models.TextField(max_length=INCIDENT_UPDATE_MAX_LENGTH)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "created_at"], name="incident_update_idx")]

    def __str__(self) -> str:
        return f"{self.status}: {self.message[:50]}"
