"""``manage.py prune_checks``: delete raw check results past the retention period now."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitors.rollups import prune_history


def _positive(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise CommandError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


class Command(BaseCommand):
    help = (
        "Delete check results older than CHECK_RETENTION_DAYS (or --days) and hourly "
        "rollups older than HOURLY_ROLLUP_RETENTION_DAYS, in batches, until none are left. "
        "Results not rolled up yet are kept. The periodic task "
        "monitors.tasks.prune_check_results does the same in bounded runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", help="Keep this many days instead of the setting")
        parser.add_argument("--batch-size", help="Rows deleted per transaction")

    def handle(self, *args, **options) -> None:
        days = _positive("--days", options["days"])
        batch_size = _positive("--batch-size", options["batch_size"])
        run = prune_history(retention_days=days, batch_size=batch_size)
        self.stdout.write(
            f"Deleted {run.check_results} check results older than "
            f"{days or settings.CHECK_RETENTION_DAYS} days and {run.hourly_rollups} hourly "
            f"rollups older than {settings.HOURLY_ROLLUP_RETENTION_DAYS} days."
        )
