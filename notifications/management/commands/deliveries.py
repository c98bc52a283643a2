"""``manage.py deliveries retry ID... | --all-undelivered [--team T]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError as BrokerError

from notifications import redelivery
from notifications.models import Delivery


class Command(BaseCommand):
    help = "Retry undelivered deliveries (pending, failed, dead, or stuck sending)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{retry}")
        retry = actions.add_parser("retry", help="Enqueue undelivered deliveries again")
        retry.add_argument("ids", nargs="*", type=int, metavar="ID")
        retry.add_argument(
            "--all-undelivered", action="store_true", help="Every delivery not delivered yet"
        )
        retry.add_argument("--team", type=int, help="With --all-undelivered: only this team id")

    def handle(self, *args, **options) -> None:
        if options["all_undelivered"] == bool(options["ids"]):
            raise CommandError("Give delivery IDs or --all-undelivered (not both).")
        if options["team"] is not None and not options["all_undelivered"]:
            raise CommandError("--team goes with --all-undelivered.")
        if options["all_undelivered"]:
            found = redelivery.deliveries_undelivered(team_id=options["team"])
            ids = list(found.values_list("id", flat=True))
        else:
            ids = options["ids"]
        failures, retried = [], 0
        for delivery_id in ids:
            try:
                delivery = redelivery.delivery_retry(delivery_id=delivery_id)
            except Delivery.DoesNotExist:
                failures.append(f"{delivery_id}: no such delivery")
            except redelivery.DeliveryNotRetryable as exc:
                failures.append(str(exc))
            except BrokerError as exc:
                raise CommandError(f"The task broker is unavailable: {exc}") from None
            else:
                retried += 1
                self.stdout.write(
                    f"retried {delivery.id} ({delivery.event} to {delivery.channel_name})"
                )
        self.stdout.write(f"Retried {retried} deliver{'y' if retried == 1 else 'ies'}.")
        if failures:
            raise CommandError("; ".join(failures))
