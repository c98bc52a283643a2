import django_filters
from django.db.models import Q, QuerySet

from monitors.models import Monitor, MonitorStatus


class MonitorFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[*MonitorStatus.choices, ("paused", "Paused")], method="filter_status"
    )
    tag = django_filters.CharFilter(method="filter_tag", help_text="Tag name (exact)")
    is_active = django_filters.BooleanFilter()
    team = django_filters.NumberFilter(field_name="team_id")

    class Meta:
        model = Monitor
        fields = ["status", "tag", "is_active", "team"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "paused":
            return queryset.filter(is_active=False)
        return queryset.filter(Q(status=value) & Q(is_active=True))

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(tags__name=value)
