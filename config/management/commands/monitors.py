"""``manage.py monitors <action>``: monitors from the command line, through the services.

``create`` makes one monitor; ``plan``, ``apply`` and ``export`` are monitors as code (a
document of a team's monitors, channels and status pages; see config/plan.py); ``import``
translates a Gatus configuration or an Uptime Kuma backup into that document, reports what
it could not translate, and plans it (applies it with ``--apply``). It lives in
config/ because plan and apply sit above the API serializers they reuse.
Invalid input exits with status 1 and one ``field: reason`` line per problem on stderr
(``file:line: field: reason`` for a document), the same reasons the API, the dashboard and
the admin give.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand

from accounts.models import Team
from config.document import DocumentError, environment_variables, read_path
from config.export import dump, export_document
from config.importers import Translation
from config.importing import SOURCES, imported_document, translate_files
from config.plan import CHANGE, CREATE, DELETE, Plan, apply_document, make_plan
from monitors.kinds.base import TARGET_FIELDS
from monitors.models import DnsRecordType, HttpMethod, Monitor, MonitorKind, StartTls
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
        create.add_argument("--host", help="tcp, tls, icmp: the host; dns: the name to query")
        create.add_argument("--port", type=int, help="tcp, tls")
        create.add_argument("--ping-count", type=int, help="icmp: pings per check (default 3)")
        create.add_argument("--use-tls", action="store_true", default=None, help="tcp")
        create.add_argument("--send", help="tcp: a line to send after connecting")
        create.add_argument("--dns-record-type", choices=DnsRecordType.values, help="dns")
        create.add_argument("--dns-resolver", help="dns: host or host:port")
        create.add_argument("--tls-server-name", help="tcp, tls: SNI and verified name")
        create.add_argument("--starttls", choices=[v for v in StartTls.values if v], help="tls")
        create.add_argument("--cron", help="heartbeat: a cron expression; default: --interval")
        create.add_argument("--tz", help="heartbeat: the cron expression's IANA zone (UTC)")
        create.add_argument("--grace", type=int, help="heartbeat: seconds a ping may be late")
        create.add_argument(
            "--interval", type=int, help="Seconds between checks (heartbeat: between runs)"
        )
        create.add_argument("--timeout", type=float, help="Seconds; below the interval")
        create.add_argument("--method", choices=HttpMethod.values)
        create.add_argument("--expected-status", help="Codes and ranges, e.g. 200-299,301")
        create.add_argument("--assertions", help='A JSON list, e.g. [{"type": ...}]')
        create.add_argument(
            "--steps", help='api: a JSON list of steps, e.g. [{"name": ..., "url": ...}]'
        )
        create.add_argument("--tag", action="append", dest="tags", default=[], help="Repeatable")

        for name, what in (
            ("plan", "Show what applying the document would create, change and delete"),
            ("apply", "Apply the document in one transaction (all or nothing)"),
        ):
            sub = actions.add_parser(name, help=what)
            sub.add_argument("-f", "--file", required=True, help="A YAML/JSON file or directory")
            sub.add_argument("--team", required=True, help="Team id or name")
            sub.add_argument(
                "--prune", action="store_true", help="Delete objects the document does not name"
            )
        imports = actions.add_parser(
            "import", help="Translate a Gatus config or an Uptime Kuma backup, then plan it"
        )
        imports.add_argument("source", choices=SOURCES)
        imports.add_argument(
            "files", nargs="+", help="gatus: config files (merged in order); uptime-kuma: backup"
        )
        imports.add_argument("--team", required=True, help="Team id or name")
        imports.add_argument(
            "--apply",
            action="store_true",
            help="Apply the plan in one transaction (all or nothing)",
        )
        imports.add_argument("-o", "--output", help="Write the translated document (YAML) here")
        export = actions.add_parser("export", help="Write the team's objects as a document")
        export.add_argument("--team", required=True, help="Team id or name")
        export.add_argument(
            "-o", "--output", help="File to write (.json for JSON); stdout if absent"
        )

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, "import_" if action == "import" else action)(options)
        except ValidationError as exc:
            self.fail(reasons(exc))
        except DocumentError as exc:
            self.fail([str(problem) for problem in exc.problems])

    def fail(self, lines: list[str]) -> None:
        for line in lines:
            self.stderr.write(line)
        sys.exit(1)

    def create(self, options: dict) -> None:
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
        self.stdout.write(str(monitor_create(team=team, tags=options["tags"], **fields).pk))

    def plan(self, options: dict) -> None:
        team = find_team(options["team"])
        document = read_path(Path(options["file"]))
        plan = make_plan(
            document=document,
            team=team,
            variables=environment_variables(os.environ),
            prune=options["prune"],
        )
        self.stdout.write(render_plan(plan))

    def apply(self, options: dict) -> None:
        team = find_team(options["team"])
        document = read_path(Path(options["file"]))
        plan = apply_document(
            document=document,
            team=team,
            variables=environment_variables(os.environ),
            prune=options["prune"],
            actor=None,
        )
        self.stdout.write(render_plan(plan, done=True))
        self.write_ping_urls(team, plan)

    def import_(self, options: dict) -> None:
        team = find_team(options["team"])
        files = []
        for name in options["files"]:
            try:
                files.append((name, Path(name).read_text()))
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ValidationError(f"{name}: {reason}") from None
        translation = translate_files(options["source"], files)
        if options["output"]:
            Path(options["output"]).write_text(dump(translation.document))
        self.stdout.write(render_report(translation))
        document = imported_document(options["source"], translation)
        if options["apply"]:
            plan = apply_document(
                document=document,
                team=team,
                variables=environment_variables(os.environ),
                prune=False,
                actor=None,
            )
        else:
            plan = make_plan(
                document=document,
                team=team,
                variables=environment_variables(os.environ),
                prune=False,
            )
        self.stdout.write(render_plan(plan, done=options["apply"]))
        if options["apply"]:
            self.write_ping_urls(team, plan)

    def write_ping_urls(self, team: Team, plan: Plan) -> None:
        """The ping URLs of the heartbeat monitors just created: shown once, after applying
        (what an import's "To do once applied" promises)."""
        keys = [a.key for a in plan.of(CREATE) if a.kind.section == "monitors"]
        created = Monitor.objects.filter(team=team, key__in=keys, kind=MonitorKind.HEARTBEAT)
        lines = [f"  {m.key}: {m.ping_url}" for m in created.order_by("key")]
        if lines:
            self.stdout.write("\n".join([f"Ping URLs of new heartbeats ({len(lines)}):", *lines]))

    def export(self, options: dict) -> None:
        output = options["output"]
        text = dump(
            export_document(find_team(options["team"])),
            as_json=bool(output and output.endswith(".json")),
        )
        if output:
            Path(output).write_text(text)
        else:
            self.stdout.write(text, ending="")


SIGNS = {CREATE: "+", CHANGE: "~", DELETE: "-"}


def render_plan(plan: Plan, *, done: bool = False) -> str:
    """The plan for a terminal: one block per object, a summary line last."""
    if plan.is_empty:
        return "No changes."
    lines = []
    for action in plan.actions:
        lines.append(f"{SIGNS[action.operation]} {action.kind.label} {action.key}")
        for name, value in action.fields.items():
            if action.operation == CHANGE:
                shown = (
                    "(secret changed)"
                    if not isinstance(value, list)
                    else (f"{json.dumps(value[0])} -> {json.dumps(value[1])}")
                )
            else:
                shown = json.dumps(value)
            lines.append(f"    {name}: {shown}")
    counts = ", ".join(f"{len(plan.of(op))} to {op}" for op in (CREATE, CHANGE, DELETE))
    lines.append(f"{'Applied' if done else 'Plan'}: {counts}.")
    return "\n".join(lines)


def render_report(translation: Translation) -> str:
    """What an import could not translate, the variables its document needs, and what to do
    once applied; one line each, before the plan."""
    lines = [f"Not translated ({len(translation.untranslated)}):"]
    lines += [f"  {item}" for item in translation.untranslated] or ["  nothing"]
    if translation.variables:
        lines.append(f"Set these variables before applying ({len(translation.variables)}):")
        lines += [f"  {name}: {what}" for name, what in sorted(translation.variables.items())]
    if translation.todo:
        lines.append(f"To do once applied ({len(translation.todo)}):")
        lines += [f"  {item}" for item in translation.todo]
    return "\n".join(lines)
