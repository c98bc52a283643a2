"""``manage.py monitors <action>``: monitors from the command line, through the services.

``create`` is the first action; plan/apply/export (monitors as code) join it as siblings.
Invalid input exits with status 1 and one ``field: reason`` line per problem on stderr,
the same reasons the API, the dashboard and the admin give.
"""

from __future__ import annotations

import json
import sys

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand

from accounts.models import Team
from monitors.kinds.base import TARGET_FIELDS
from monitors.models import DnsRecordType, HttpMethod, MonitorKind, StartTls
from monitors.services import monitor_create


def reasons(error: ValidationError) -> list[str]:
    """One ``field: message`` line per problem."""
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    return [
        message if field == NON_FIELD_ERRORS else f"{field}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    ]


def find_team(reference: str) -> Team:
    teams = list(Team.objects.filter(pk=int(reference)) if reference.isdigit() else []) or list(
        Team.objects.filter(name=reference)[:2]
    )
    if not teams:
        raise ValidationError({"team": f"No team has the id or name {reference!r}."})
    if len(teams) > 1:
        raise ValidationError({"team": f"Several teams are named {reference!r}; give its id."})
    return teams[0]


def parse_json(field: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError({field: f"Not valid JSON: {exc.msg} (line {exc.lineno})."}) from None


class Command(BaseCommand):
    help = "Manage monitors through the same services and validation as the API."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")
        create = actions.add_parser("create", help="Create a monitor; prints its id")
        create.add_argument("--team", required=True, help="Team id or name")
        create.add_argument("--name", required=True)
        create.add_argument("--kind", choices=MonitorKind.values, help="Default: http")
        create.add_argument("--url", help="http: the URL to request")
        create.add_argument("--host", help="tcp, tls: the host; dns: the name to query")
        create.add_argument("--port", type=int, help="tcp, tls")
        create.add_argument("--use-tls", action="store_true", default=None, help="tcp")
        create.add_argument("--send", help="tcp: a line to send after connecting")
        create.add_argument("--dns-record-type", choices=DnsRecordType.values, help="dns")
        create.add_argument("--dns-resolver", help="dns: host or host:port")
        create.add_argument("--tls-server-name", help="tcp, tls: SNI and verified name")
        create.add_argument("--starttls", choices=[v for v in StartTls.values if v], help="tls")
        create.add_argument("--interval", type=int, help="Seconds between checks")
        create.add_argument("--timeout", type=float, help="Seconds; below the interval")
        create.add_argument("--method", choices=HttpMethod.values)
        create.add_argument("--expected-status", help="Codes and ranges, e.g. 200-299,301")
        create.add_argument("--assertions", help='A JSON list, e.g. [{"type": ...}]')
        create.add_argument(
            "--steps", help='api: a JSON list of steps, e.g. [{"name": ..., "url": ...}]'
        )
        create.add_argument("--tag", action="append", dest="tags", default=[], help="Repeatable")

    def handle(self, *args, action: str, **options) -> None:
        try:
            monitor_id = self.create(options)
        except ValidationError as exc:
            for line in reasons(exc):
                self.stderr.write(line)
            sys.exit(1)
        self.stdout.write(str(monitor_id))

    def create(self, options: dict) -> int:
        fields = {
            name: options[name]
            for name in (
                "name",
                "kind",
                *TARGET_FIELDS,
                "interval",
                "timeout",
                "method",
                "expected_status",
            )
            if options[name] is not None
        }
        for name in ("assertions", "steps"):
            if options[name] is not None:
                fields[name] = parse_json(name, options[name])
        team = find_team(options["team"])
        return monitor_create(team=team, tags=options["tags"], **fields).pk
