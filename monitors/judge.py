"""The check's judgement: a response snapshot and a monitor's rules in, a verdict out.

Pure: no database, no network, no clock (``now`` is passed in), so a table of cases tests
every rule in milliseconds. The probes live in ``monitors.kinds``; each assertion kind
judges itself (``monitors.assertions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

from monitors.assertions import parse_assertion
from monitors.models import CheckPhase, CheckStatus
from monitors.status_codes import parse_status_spec, status_matches

MAX_REASON = 500


@dataclass(frozen=True)
class ResponseSnapshot:
    """What the checker saw of one answer; enough to judge it, nothing more."""

    status_code: int
    elapsed_ms: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_truncated: bool = False  # only the first MAX_BODY bytes were read
    encoding: str | None = None
    cert_expires_at: datetime | None = None  # None for plain HTTP
    is_https: bool = False
    peer_address: str | None = None  # the IP the answer came from ([IP] in a condition)

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class Verdict:
    status: str  # CheckStatus
    phase: str = CheckPhase.NONE
    reason: str = ""
    failed_assertion: dict | None = None

    @property
    def is_up(self) -> bool:
        return self.status == CheckStatus.UP


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _failed(spec: dict, snapshot: Any, now: datetime) -> tuple[str, str] | None:
    """(phase, why) when the assertion ``spec`` does not hold, or None when it does."""
    try:
        assertion = parse_assertion(spec)
    except ValidationError as exc:
        # Validated on save; a malformed one here means stale data, not a passing check.
        return CheckPhase.ASSERTION, f"invalid assertion ({exc.messages[0]})"
    why = assertion.failure(snapshot, now)
    if why is None:
        return None
    return (CheckPhase.STATUS if assertion.judges_status_code else CheckPhase.ASSERTION), why


def judge(
    snapshot: ResponseSnapshot,
    *,
    expected_status: str,
    assertions: list[dict],
    now: datetime,
) -> Verdict:
    """UP when the status code is expected and every assertion holds; else DOWN and why.

    The first failure is reported; ``failed_assertion`` carries it for people and the API.
    """
    if not status_matches(parse_status_spec(expected_status), snapshot.status_code):
        return Verdict(
            CheckStatus.DOWN,
            CheckPhase.STATUS,
            f"HTTP {snapshot.status_code}, expected {expected_status}",
        )
    return judge_assertions(snapshot, assertions, now=now) or Verdict(
        CheckStatus.UP, CheckPhase.NONE, f"HTTP {snapshot.status_code}"
    )


def judge_assertions(snapshot: Any, assertions: list[dict], *, now: datetime) -> Verdict | None:
    """The DOWN verdict of the first assertion that fails, or None when all hold.

    ``snapshot`` is what the monitor's kind observed (``ResponseSnapshot`` for http, the
    kinds' own for the others); each assertion reads only what its kinds observe."""
    for index, spec in enumerate(assertions, start=1):
        failed = _failed(spec, snapshot, now)
        if failed is not None:
            phase, why = failed
            return Verdict(
                CheckStatus.DOWN,
                phase,
                _clip(f"Assertion {index} failed: {why}"),
                failed_assertion=spec,
            )
    return None
