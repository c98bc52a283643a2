"""Team variables: the secrets api monitors use as ``{{name}}`` in their steps.

Write-only: the value is accepted on POST and PATCH and never returned, by any action; the
list shows names, so editors know what their steps may use. Admins change them.
"""

from __future__ import annotations

from rest_framework import serializers, viewsets

from accounts.access import TeamField, TeamScopedViewSetMixin
from accounts.models import Role
from lib.serializers import service_errors_as_400
from monitors import services
from monitors.models import TeamVariable


class TeamVariableSerializer(serializers.ModelSerializer):
    team = TeamField(required=False, help_text="Owning team; defaults to your personal team")
    value = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="The secret; never returned",
    )

    class Meta:
        model = TeamVariable
        fields = ["id", "team", "name", "value", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness per team is the model's (full_clean in the services), keyed by field.
        validators: list = []

    def validate_team(self, team):
        if self.instance is not None and team.id != self.instance.team_id:
            raise serializers.ValidationError("A variable cannot be moved to another team.")
        return team


class TeamVariableViewSet(TeamScopedViewSetMixin, viewsets.ModelViewSet):
    """Variables of your teams (names only). Admins create, change and delete them."""

    queryset = TeamVariable.objects.all()
    serializer_class = TeamVariableSerializer
    write_role = Role.ADMIN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: TeamVariableSerializer) -> None:
        team = self.team_for_create(serializer)
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        with service_errors_as_400():
            serializer.instance = services.variable_create(
                team=team, actor=self.request.user, **fields
            )

    def perform_update(self, serializer: TeamVariableSerializer) -> None:
        fields = {k: v for k, v in serializer.validated_data.items() if k != "team"}
        with service_errors_as_400():
            serializer.instance = services.variable_update(
                variable=serializer.instance, actor=self.request.user, **fields
            )

    def perform_destroy(self, instance: TeamVariable) -> None:
        services.variable_delete(variable=instance, actor=self.request.user)
