"""``manage.py deadletters list`` and ``manage.py deadletters replay ID... | --all``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError as BrokerError

from notifications import deadletters
from notifications.models import DeadLetter
from notifications.selectors import dead_letters_to_replay


class Command(BaseCommand):
    help = "List dead-lettered tasks, or replay them (each at most once)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,replay}")
        listing = actions.add_parser("list", help="Dead letters not replayed yet (newest first)")
        listing.add_argument("--all", action="store_true", help="Include replayed ones")
        listing.add_argument("--task", help="Only this task name")
        listing.add_argument("--limit", type=int, default=50, help="At most this many (50)")
        replay = actions.add_parser("replay", help="Enqueue dead-lettered tasks again")
        replay.add_argument("ids", nargs="*", type=int, metavar="ID")
        replay.add_argument("--all", action="store_true", help="Every dead letter not replayed")
        replay.add_argument("--task", help="With --all: only this task name")

    def handle(self, *args, **options) -> None:
        if options["action"] == "list":
            self._list(options)
        else:
            self._replay(options)

    def _list(self, options: dict) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        queryset = DeadLetter.objects.select_related("team").order_by("-last_failed_at", "-id")
        if not options["all"]:
            queryset = queryset.filter(replayed_at__isnull=True)
        if options["task"]:
            queryset = queryset.filter(task_name=options["task"])
        rows = list(queryset[: options["limit"]])
        if not rows:
            self.stdout.write("No dead letters.")
            return
        self.stdout.write(
            f"{'ID':>6}  {'LAST FAILURE (UTC)':19}  {'TRIES':>5}  {'REPLAYED':8}  TASK / ERROR"
        )
        for row in rows:
            replayed = "yes" if row.replayed_at else "no"
            self.stdout.write(
                f"{row.id:>6}  {row.last_failed_at:%Y-%m-%d %H:%M:%S}  {row.attempts:>5}  "
                f"{replayed:8}  {row.task_name} {row.args}: {row.error[:120]}"
            )

    def _replay(self, options: dict) -> None:
        if options["all"] == bool(options["ids"]):
            raise CommandError("Give dead letter IDs or --all (not both).")
        if options["task"] and not options["all"]:
            raise CommandError("--task goes with --all.")
        if options["all"]:
            ids = list(
                dead_letters_to_replay(task_name=options["task"]).values_list("id", flat=True)
            )
        else:
            ids = options["ids"]
        failures = []
        replayed = 0
        for dead_letter_id in ids:
            try:
                dead_letter = deadletters.dead_letter_replay(dead_letter_id=dead_letter_id)
            except DeadLetter.DoesNotExist:
                failures.append(f"{dead_letter_id}: no such dead letter")
            except deadletters.AlreadyReplayed as exc:
                failures.append(f"{dead_letter_id}: {exc}")
            except BrokerError as exc:
                raise CommandError(f"The task broker is unavailable: {exc}") from None
            else:
                replayed += 1
                self.stdout.write(
                    f"replayed {dead_letter.id} ({dead_letter.task_name}) "
                    f"as task {dead_letter.replay_task_id}"
                )
        self.stdout.write(f"Replayed {replayed} dead letter(s).")
        if failures:
            raise CommandError("; ".join(failures))
