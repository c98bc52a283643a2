"""What every monitor kind is: validate its fields, probe, judge, describe.

A kind is one small class (like a notification transport): ``probe`` talks to the target
through ``lib.outbound`` and returns a snapshot of what it saw (raising ``OutboundError``
where it got no usable answer), ``verdict`` judges that snapshot with the shared assertion
classes, ``describe`` says what is checked in one line. ``monitors.checker.run_check``
turns errors and deadlines into outcomes, the same for every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from cryptography import x509
from django.core.exceptions import ValidationError
from django.utils import timezone

from lib import outbound
from monitors.assertions import validate_assertions_apply
from monitors.judge import Verdict
from monitors.models import CheckPhase, CheckStatus

if TYPE_CHECKING:
    from monitors.models import Monitor

# The target fields that belong to one kind or another, with their empty value: a monitor
# may only fill those of its own kind, so a tcp monitor given a URL says so.
TARGET_FIELDS: dict[str, Any] = {
    "url": "",
    "host": "",
    "port": None,
    "ping_count": None,
    "use_tls": False,
    "send": "",
    "dns_record_type": "",
    "dns_resolver": "",
    "tls_server_name": "",
    "starttls": "",
    "steps": [],
    # heartbeat's schedule; the "empty" values of tz and grace are their defaults.
    "cron": "",
    "tz": "UTC",
    "grace": 60,
}


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found; becomes a ``CheckResult`` row."""

    checked_at: datetime
    status: str
    phase: str = CheckPhase.NONE
    reason: str = ""
    status_code: int | None = None
    response_time_ms: int | None = None
    cert_expires_at: datetime | None = None
    failed_assertion: dict | None = None
    # What the probe saw, kept only when asked (a draft check shows each assertion's verdict
    # and a body excerpt); scheduled checks drop it at once: bodies may be 1 MiB each.
    snapshot: Any = field(default=None, compare=False, repr=False)

    @property
    def is_up(self) -> bool:
        return self.status == CheckStatus.UP


class DeadlineExceeded(Exception):
    """The whole check ran past the monitor's timeout."""


def cert_expiry(der: bytes | None) -> datetime | None:
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return None


def target_port(monitor: Monitor) -> int:
    """The port of a kind that requires one (validated on every write)."""
    if monitor.port is None:  # only a row written around the services gets here
        raise outbound.OutboundError(
            outbound.Phase.REQUEST, "The monitor has no port", permanent=True
        )
    return monitor.port


class MonitorKind:
    name: ClassVar[str]
    fields: ClassVar[frozenset[str]]  # the TARGET_FIELDS this kind reads
    required: ClassVar[tuple[str, ...]]  # ... and those it cannot do without
    # Whether ``run`` reads the team's variables: they are loaded before the check starts
    # (``monitors.checker.team_variables_for``), never by the check itself.
    uses_team_variables: ClassVar[bool] = False

    def validate(self, monitor: Monitor) -> None:
        """Raise ValidationError keyed by field: what this kind needs and refuses."""
        errors: dict[str, list[str]] = {}
        for name, empty in TARGET_FIELDS.items():
            value = getattr(monitor, name)
            if name in self.required and value in ("", None):
                errors[name] = [f"This field is required for {self.name} monitors."]
            elif name not in self.fields and value not in (empty, None):
                errors[name] = [f"{self.name} monitors do not use {name}."]
        try:
            validate_assertions_apply(monitor.assertions or [], monitor_kind=self.name)
        except ValidationError as exc:
            errors["assertions"] = exc.messages
        if errors:
            raise ValidationError(errors)

    def probe(self, monitor: Monitor, *, deadline: float) -> Any:
        """A snapshot of the answer (with ``elapsed_ms``, ``status_code`` and
        ``cert_expires_at``); raises ``OutboundError`` or ``DeadlineExceeded``."""
        raise NotImplementedError

    def verdict(self, monitor: Monitor, snapshot: Any, *, now: datetime) -> Verdict:
        raise NotImplementedError

    def describe(self, monitor: Monitor) -> str:
        raise NotImplementedError

    def run(
        self,
        monitor: Monitor,
        *,
        checked_at: datetime,
        deadline: float,
        team_variables: Mapping[str, str],
        keep_snapshot: bool = False,
    ) -> CheckOutcome:
        """One check; touches no database (it runs in a greenlet, under its timeout)."""
        snapshot = self.probe(monitor, deadline=deadline)
        verdict = self.verdict(monitor, snapshot, now=timezone.now())
        return CheckOutcome(
            checked_at=checked_at,
            status=verdict.status,
            phase=verdict.phase,
            reason=verdict.reason,
            status_code=snapshot.status_code,
            response_time_ms=snapshot.elapsed_ms,
            cert_expires_at=snapshot.cert_expires_at,
            failed_assertion=verdict.failed_assertion,
            snapshot=snapshot if keep_snapshot else None,
        )
