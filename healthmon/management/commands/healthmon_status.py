"""``manage.py healthmon_status``: monitors, incidents, queues, workers, beat, dead letters."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from healthmon.status import collect_status, render_status


class Command(BaseCommand):
    help = (
        "Summarise healthmon's state: monitors up/down/paused, open incidents, queue depths, "
        "workers, beat's last tick, failing channels, undelivered alerts and dead letters."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the snapshot as JSON.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit with status 1 when a part is down (the rules of /health).",
        )

    def handle(self, *args, json: bool = False, check: bool = False, **options) -> None:
        snapshot = collect_status()
        if json:
            self.stdout.write(_dumps(snapshot))
        else:
            self.stdout.write(render_status(snapshot), ending="")
        if check and not snapshot["healthy"]:
            down = [
                f"{name}: {part.get('reason', 'down')}"
                for name, part in snapshot["components"].items()
                if part["status"] == "down"
            ]
            raise CommandError("unhealthy: " + "; ".join(down))


def _dumps(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True)
