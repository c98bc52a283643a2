import django_filters
from django.db.models import QuerySet

from notifications.models import Channel, DeadLetter, Delivery


class ChannelFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="team_id")
    monitor = django_filters.NumberFilter(field_name="monitors", help_text="Linked monitor id")

    class Meta:
        model = Channel
        fields = ["team", "kind", "enabled", "is_default", "monitor"]


class DeliveryFilter(django_filters.FilterSet):
    incident = django_filters.NumberFilter(field_name="incident_id")
    channel = django_filters.NumberFilter(field_name="channel_id")
    # The deliveries of one grouped message: ?sent_in=<the carrier's id>.
    sent_in = django_filters.NumberFilter(field_name="sent_in_id")

    class Meta:
        model = Delivery
        fields = ["incident", "channel", "status", "event", "purpose", "sent_in"]


class DeadLetterFilter(django_filters.FilterSet):
    replayed = django_filters.BooleanFilter(method="filter_replayed")
    team = django_filters.NumberFilter(field_name="team_id")
    delivery = django_filters.NumberFilter(field_name="delivery_id")

    class Meta:
        model = DeadLetter
        fields = ["task_name", "replayed", "team", "delivery"]

    def filter_replayed(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(replayed_at__isnull=not value)
