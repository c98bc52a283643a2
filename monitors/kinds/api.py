"""api: an ordered list of HTTP steps (log in, take the token, call the endpoint that matters).

Each step is one request through the same guarded stack as the http kind, judged by the
same judge and assertion classes; its ``extract`` rules put values of the response into
variables that later steps use as ``{{name}}``, beside the team's variables (secrets). The
monitor's timeout covers the whole sequence; the first failing step ends the check and the
reason names it ("step 2 'get orders': HTTP 500, expected 200-299"). The whole sequence is
one check for thresholds and incidents, its response time the total.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from lib import outbound, redaction
from lib.redaction import redact
from monitors.judge import MAX_REASON, ResponseSnapshot, judge
from monitors.kinds.base import CheckOutcome, DeadlineExceeded, MonitorKind
from monitors.kinds.http import request_snapshot
from monitors.models import CheckPhase, CheckStatus, TeamVariable
from monitors.steps import ExtractionFailed, extract, step_defaults, substitute, validate_steps

if TYPE_CHECKING:
    from monitors.models import Monitor


class StepFailed(Exception):
    """A step ended the check: the outcome's status, phase and reason (without the step)."""

    def __init__(self, status: str, phase: str, reason: str, *, status_code: int | None = None):
        super().__init__(reason)
        self.status, self.phase, self.reason, self.status_code = status, phase, reason, status_code


def team_variables(team_id: int | None) -> dict[str, str]:
    if team_id is None:  # a monitor not saved yet has no team's variables
        return {}
    return dict(TeamVariable.objects.filter(team_id=team_id).values_list("name", "value"))


class ApiKind(MonitorKind):
    name = "api"
    fields = frozenset({"steps"})
    required = ()

    def validate(self, monitor: Monitor) -> None:
        errors: dict[str, list[str]] = {}
        try:
            super().validate(monitor)
        except ValidationError as exc:
            errors = exc.message_dict
        if monitor.assertions:
            errors["assertions"] = ["api monitors take assertions per step (steps[i].assertions)."]
        if not monitor.steps:
            errors["steps"] = ["This field is required for api monitors: a list of 1 to 10 steps."]
        else:
            known = TeamVariable.objects.filter(team_id=monitor.team_id).values_list("name")
            try:
                validate_steps(monitor.steps, known_variables=[name for (name,) in known])
            except ValidationError as exc:
                errors["steps"] = exc.messages
        if errors:
            raise ValidationError(errors)

    def describe(self, monitor: Monitor) -> str:
        steps = [step_defaults(step) for step in monitor.steps or []]
        return " → ".join(f"{step['method']} {step['url']}" for step in steps)[:300]

    def run(self, monitor: Monitor, *, checked_at: datetime, deadline: float) -> CheckOutcome:
        variables = team_variables(monitor.team_id)
        # A batch runs each check in a greenlet of its own, so that query opened a connection of
        # this greenlet's own, which nothing else hands back to the pool: ten api checks leaked
        # a worker's whole pool (every task then waited for a connection, for good).
        if not connection.in_atomic_block:  # (tests run inside a transaction)
            connection.close()
        # Team variables are secrets: unloggable in this process, never quoted in a reason.
        # Extracted values (tokens) change every check: redacted from the reason only.
        redaction.remember(variables.values())
        secrets = list(variables.values())
        started = time.perf_counter()
        status_code = None
        steps = [step_defaults(step) for step in monitor.steps or []]
        for number, step in enumerate(steps, start=1):
            try:
                snapshot = self._request(monitor, step, variables, deadline)
                status_code = snapshot.status_code
                self._judge(step, snapshot)
                for rule in step["extract"]:
                    variables[rule["var"]] = self._extract(rule, snapshot)
                    secrets.append(variables[rule["var"]])
            except StepFailed as failure:
                reason = redact(f"step {number} {step['name']!r}: {failure.reason}", secrets)
                return CheckOutcome(
                    checked_at=checked_at,
                    status=failure.status,
                    phase=failure.phase,
                    reason=reason[:MAX_REASON],
                    status_code=failure.status_code,
                    response_time_ms=_elapsed_ms(started),
                )
        return CheckOutcome(
            checked_at=checked_at,
            status=CheckStatus.UP,
            phase=CheckPhase.NONE,
            reason=f"{len(steps)} steps passed, HTTP {status_code}",
            status_code=status_code,
            response_time_ms=_elapsed_ms(started),
        )

    def _request(
        self, monitor: Monitor, step: dict[str, Any], variables: dict[str, str], deadline: float
    ) -> ResponseSnapshot:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise DeadlineExceeded
            url, body = substitute(step["url"], variables), substitute(step["body"], variables)
            headers = {name: substitute(v, variables) for name, v in step["headers"].items()}
            return request_snapshot(
                step["method"],
                url,
                headers=headers,
                body=body,
                timeout=remaining,
                follow_redirects=monitor.follow_redirects,
                verify=monitor.verify_tls,
                deadline=deadline,
            )
        except KeyError as exc:  # a team variable deleted since the monitor was saved
            raise StepFailed(
                CheckStatus.ERROR, CheckPhase.REQUEST, f"unknown variable {{{{{exc.args[0]}}}}}"
            ) from None
        except outbound.OutboundError as exc:
            timed_out = exc.phase == outbound.Phase.TIMEOUT
            status = CheckStatus.TIMEOUT if timed_out else CheckStatus.ERROR
            raise StepFailed(status, CheckPhase(exc.phase), exc.reason) from None
        except DeadlineExceeded:
            raise StepFailed(
                CheckStatus.TIMEOUT,
                CheckPhase.TIMEOUT,
                f"no complete response within the monitor's {monitor.timeout:g}s",
            ) from None

    def _judge(self, step: dict[str, Any], snapshot: ResponseSnapshot) -> None:
        verdict = judge(
            snapshot,
            expected_status=step["expected_status"].replace(" ", ""),
            assertions=step["assertions"],
            now=timezone.now(),
        )
        if not verdict.is_up:
            raise StepFailed(
                verdict.status, verdict.phase, verdict.reason, status_code=snapshot.status_code
            )

    def _extract(self, rule: dict[str, str], snapshot: ResponseSnapshot) -> str:
        try:
            return extract(rule, snapshot)
        except ExtractionFailed as exc:
            raise StepFailed(
                CheckStatus.DOWN,
                CheckPhase.ASSERTION,
                f"extract {rule['var']}: {exc}",
                status_code=snapshot.status_code,
            ) from None


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
