"""``manage.py rollup_checks``: merge new check results into the rollups now."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from monitors.rollups import rollup_new_results


class Command(BaseCommand):
    help = (
        "Merge check results stored since the last run into the hourly and daily rollups "
        "(what the periodic task monitors.tasks.rollup_check_results does every 5 seconds), "
        "until caught up."
    )

    def handle(self, *args, **options) -> None:
        total = 0
        while True:
            run = rollup_new_results()
            total += run.results
            if run.busy:
                self.stdout.write("Another rollup run is in progress; try again shortly.")
                break
            if not run.results:
                break
        self.stdout.write(f"Rolled up {total} check results (up to result #{run.watermark}).")
