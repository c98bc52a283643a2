"""``manage.py check_monitor <id or URL>``: run one check and print what it found."""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitors import results
from monitors.checker import CheckOutcome, run_check
from monitors.models import CheckStatus, HttpMethod, Monitor, MonitorKind
from monitors.status_codes import parse_status_spec


class Command(BaseCommand):
    help = (
        "Check a monitor of any kind (by id) or any URL once and print the outcome. Exits 0 "
        "when the check is UP, 1 otherwise. Nothing is stored unless --save is given "
        "(monitors only)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="A monitor id, or an http(s):// URL")
        parser.add_argument("--save", action="store_true", help="Store the result (by id)")
        url_mode = parser.add_argument_group("when checking a URL")
        url_mode.add_argument("--method", default="GET", choices=HttpMethod.values)
        url_mode.add_argument("--timeout", type=float, default=10.0)
        url_mode.add_argument("--expect", default="200-299", help="Expected status codes")
        url_mode.add_argument("--insecure", action="store_true", help="Skip TLS verification")
        url_mode.add_argument("--no-redirects", action="store_true")

    def handle(self, *args, target: str, save: bool, **options) -> None:
        monitor = self._monitor(target, options)
        if monitor.kind == MonitorKind.HEARTBEAT:
            self._passive(monitor)
            return
        if save:
            if monitor.pk is None:
                raise CommandError("--save needs a monitor id, not a URL")
            _, outcome = results.check_now(monitor)
        else:
            outcome = run_check(monitor)
        self.stdout.write(self._report(monitor, outcome))
        if not outcome.is_up:
            sys.exit(1)

    def _passive(self, monitor: Monitor) -> None:
        """A heartbeat is not checked: say so, and show what its pings told (exit 1 when the
        job is late or reported a failure, as for a failed check)."""
        now = timezone.now()
        late = (
            monitor.is_active and monitor.next_check_at is not None and monitor.next_check_at < now
        )
        failing = monitor.last_check_status not in ("", CheckStatus.UP)
        last = f"{monitor.last_ping_at:%Y-%m-%d %H:%M:%S %Z}" if monitor.last_ping_at else "never"
        lines = [
            f"{monitor.target}  [{monitor.name}]",
            "  Passive: a heartbeat monitor is not checked; its job pings "
            f"{monitor.ping_url} and a missed deadline is its failure.",
            f"  Status:         {monitor.status if monitor.is_active else 'paused'}",
            f"  Last ping:      {last}"
            + (f" ({monitor.last_reason})" if monitor.last_reason else ""),
            "  Next deadline:  "
            + (
                f"{monitor.next_check_at:%Y-%m-%d %H:%M:%S %Z}" + (" (passed)" if late else "")
                if monitor.is_active and monitor.next_check_at
                else "-"
            ),
        ]
        if monitor.ping_started_at:
            lines.append(f"  Running since:  {monitor.ping_started_at:%Y-%m-%d %H:%M:%S %Z}")
        self.stdout.write("\n".join(lines))
        if late or failing:
            sys.exit(1)

    def _monitor(self, target: str, options: dict) -> Monitor:
        if target.isdigit():
            try:
                return Monitor.objects.get(pk=int(target))
            except Monitor.DoesNotExist:
                raise CommandError(f"No monitor with id {target}") from None
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"{target!r} is neither a monitor id nor an http(s):// URL")
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be positive")
        try:
            parse_status_spec(options["expect"])
        except ValidationError as exc:
            raise CommandError(f"--expect: {exc.messages[0]}") from None
        return Monitor(
            name=target,
            url=target,
            method=options["method"],
            timeout=options["timeout"],
            expected_status=options["expect"],
            verify_tls=not options["insecure"],
            follow_redirects=not options["no_redirects"],
        )

    def _report(self, monitor: Monitor, outcome: CheckOutcome) -> str:
        label = CheckStatus(outcome.status).label.upper()
        style = self.style.SUCCESS if outcome.is_up else self.style.ERROR
        status = style(label) + (f" (failed at: {outcome.phase})" if outcome.phase else "")
        lines = [
            monitor.target + (f"  [{monitor.name}]" if monitor.pk else ""),
            f"  Status:         {status}",
        ]
        if monitor.kind == MonitorKind.HTTP:
            lines.append(f"  HTTP status:    {outcome.status_code if outcome.status_code else '-'}")
        lines += [
            "  Response time:  "
            + (f"{outcome.response_time_ms} ms" if outcome.response_time_ms is not None else "-"),
            f"  Reason:         {outcome.reason}",
        ]
        if outcome.failed_assertion:
            lines.append(f"  Failed assertion: {json.dumps(outcome.failed_assertion)}")
        if outcome.cert_expires_at:
            days = (outcome.cert_expires_at - timezone.now()).days
            lines.append(
                f"  TLS certificate expires: {outcome.cert_expires_at:%Y-%m-%d} ({days} days)"
            )
        return "\n".join(lines)
