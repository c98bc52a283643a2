import django_filters

from accounts.models import ApiKey, AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="team_id")
    actor = django_filters.NumberFilter(field_name="actor_id", help_text="User id of the actor")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["team", "actor", "action", "object_type", "since", "until"]


class ApiKeyFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="team_id")

    class Meta:
        model = ApiKey
        fields = ["team"]
