"""One check of any kind: probe the target exactly as the monitor says, time it, judge it.

``run_check(monitor)`` is the single code path used by the check batches, ``check-now`` in
the API and ``manage.py check_monitor``. It never raises for anything the target does: every
failure becomes an outcome with a status, the phase that failed and a readable reason. What
differs between kinds (http, tcp, dns, tls) is one class each in ``monitors.kinds``, found
with a dict lookup on ``monitor.kind``.

A check touches no database: what a kind needs from it (the api kind: its team's variables)
is loaded beforehand, once for a whole batch, by ``team_variables_for``. A check runs in a
greenlet of its own under its timeout; reading there made every api check hold a pooled
connection while its requests ran, and with a pool of 4, 8 of 20 concurrent api checks timed
out waiting for one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.utils import timezone

from lib import outbound, redaction
from lib.redaction import redact
from monitors.judge import MAX_REASON
from monitors.kinds import KINDS
from monitors.kinds.base import CheckOutcome, DeadlineExceeded
from monitors.kinds.http import MAX_BODY
from monitors.models import CheckPhase, CheckStatus, Monitor, TeamVariable

__all__ = ["MAX_BODY", "CheckOutcome", "run_check", "team_variables_for"]

TeamVariables = Mapping[int, Mapping[str, str]]  # team id -> {name: value}


def _gevent_patched() -> bool:
    # A gevent.Timeout only fires if the hub runs, i.e. in the monkey-patched worker.
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return False
    return monkey.is_module_patched("socket")


def team_variables_for(monitors: Iterable[Monitor]) -> dict[int, dict[str, str]]:
    """The variables of the teams whose monitors among ``monitors`` use them (api), by team
    id: one query for all of them, each value decrypted once, whatever the number of checks.

    They are secrets: remembered here, so that no log line of this process shows them."""
    team_ids = {
        monitor.team_id
        for monitor in monitors
        if KINDS[monitor.kind].uses_team_variables and monitor.team_id is not None
    }
    variables: dict[int, dict[str, str]] = {team_id: {} for team_id in team_ids}
    if team_ids:
        rows = TeamVariable.objects.filter(team_id__in=team_ids).values_list(
            "team_id", "name", "value"
        )
        for team_id, name, value in rows:
            variables[team_id][name] = value
    redaction.remember(value for team in variables.values() for value in team.values())
    return variables


def run_check(
    monitor: Monitor,
    *,
    now: datetime | None = None,
    team_variables: Mapping[str, str] | None = None,
    keep_snapshot: bool = False,
) -> CheckOutcome:
    """Check ``monitor`` once. Never raises for the target's behaviour.

    ``team_variables`` are the monitor's team's (``team_variables_for``), loaded by the
    caller before the check. A lone check in the caller's own thread (the CLI, a test) may
    leave them out: they are then read here, still before the check's time starts. Where
    checks run concurrently, load them for the whole batch and pass them. ``keep_snapshot``
    leaves what the probe saw on the outcome (for a draft check's report)."""
    kind = KINDS[monitor.kind]
    if team_variables is None:
        loaded = team_variables_for([monitor]) if kind.uses_team_variables else {}
        team_variables = loaded.get(monitor.team_id, {}) if monitor.team_id is not None else {}
    checked_at = now or timezone.now()
    deadline = time.monotonic() + monitor.timeout
    secrets = list(monitor.headers.values()) if monitor.headers else []
    # Header values often are credentials: unloggable in this process (Celery's failure
    # traceback, a library's warning), and never quoted in a reason viewers can read.
    redaction.remember(secrets)
    timer = None
    if _gevent_patched():
        import gevent

        # Read timeouts apply per socket read; a server trickling bytes could otherwise
        # stretch a check far past its timeout. Soft time limits don't exist on gevent.
        timer = gevent.Timeout(monitor.timeout + 0.5, DeadlineExceeded)
        timer.start()
    try:
        return kind.run(
            monitor,
            checked_at=checked_at,
            deadline=deadline,
            team_variables=team_variables,
            keep_snapshot=keep_snapshot,
        )
    except outbound.OutboundError as exc:
        # A timeout is its own status; every other failure to get an answer is an error.
        status = CheckStatus.TIMEOUT if exc.phase == outbound.Phase.TIMEOUT else CheckStatus.ERROR
        reason = redact(exc.reason, secrets)[:MAX_REASON]
        return CheckOutcome(checked_at, status, CheckPhase(exc.phase), reason)
    except DeadlineExceeded:
        reason = f"No complete response within {monitor.timeout:g}s"
        return CheckOutcome(checked_at, CheckStatus.TIMEOUT, CheckPhase.TIMEOUT, reason)
    finally:
        if timer is not None:
            timer.close()
