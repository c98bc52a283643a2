import django_filters
from django.db.models import QuerySet

from incidents.models import Incident
from lib.filters import UtcIsoDateTimeFilter


class IncidentFilter(django_filters.FilterSet):
    monitor = django_filters.NumberFilter(field_name="monitor_id")
    team = django_filters.NumberFilter(field_name="team_id")
    status = django_filters.ChoiceFilter(
        choices=[("open", "Open"), ("resolved", "Resolved")], method="filter_status"
    )
    is_open = django_filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull")
    started_after = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UtcIsoDateTimeFilter(field_name="started_at", lookup_expr="lt")
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Incident
        fields = [
            "monitor",
            "team",
            "status",
            "is_open",
            "started_after",
            "started_before",
            "acknowledged",
            "resolution",
        ]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(resolved_at__isnull=value == "open")
