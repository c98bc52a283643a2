"""Monitors as code over HTTP, for CI: plan and apply a document, and its JSON Schema.

The team is chosen as on other endpoints (``team``, default the personal team). Roles are
the API's: editors change monitors and status pages, a document naming channels (or a plan
touching them, as ``prune`` may) needs an admin; planning needs the same role as applying,
since a plan tells whether a secret differs from the stored one. ``${NAME}`` references are
resolved from the request's ``variables`` (the CI's secrets), never from the server's
environment.
"""

from __future__ import annotations

from typing import cast

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import TeamField, has_team_role
from accounts.models import Role, Team, User
from config.document import Document, DocumentError, from_content, parse_text
from config.importing import SOURCES, imported_document, translate_files
from config.plan import Plan, apply_plan, make_plan
from config.schema import document_schema

SOURCE = "document"


@extend_schema_field(OpenApiTypes.INT)
class TeamIdField(TeamField):
    """A team id (this serializer has no model for the schema generator to read its type from)."""


class ConfigRequestSerializer(serializers.Serializer):
    team = TeamIdField(required=False, help_text="Team to plan for; defaults to your personal team")
    document = serializers.JSONField(
        help_text="The document: an object, or its YAML or JSON text (then problems name "
        "their line). See /api/v1/config/schema.json."
    )
    prune = serializers.BooleanField(
        default=False, help_text="Delete the team's objects the document does not name"
    )
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="Values of the document's ${NAME} references (e.g. the CI's secrets)",
    )


class ConfigActionSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="monitor, channel or status page")
    key = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # a field, not the property
        required=False,
        help_text='A new object\'s fields; for a change, field -> [old, new] or "changed" for '
        "a secret",
    )


class ConfigPlanSerializer(serializers.Serializer):
    creates = ConfigActionSerializer(many=True)
    changes = ConfigActionSerializer(many=True)
    deletes = ConfigActionSerializer(many=True)
    applied = serializers.BooleanField()


class ConfigErrorsSerializer(serializers.Serializer):
    errors = serializers.ListField(  # type: ignore[assignment]  # a field, not the property
        child=serializers.CharField(), help_text="`document:line: field: reason` lines"
    )


def _errors(lines: list[str]) -> Response:
    return Response({"errors": lines}, status=status.HTTP_400_BAD_REQUEST)


def read_document(content: object) -> Document:
    if isinstance(content, str):
        return parse_text(content, source=SOURCE)
    return from_content(content, source=SOURCE)


class ConfigPlanView(APIView):
    """Show what applying the document would create, change (field by field, secrets
    masked) and delete; nothing changes."""

    permission_classes = [permissions.IsAuthenticated]
    applies = False

    @extend_schema(
        request=ConfigRequestSerializer,
        responses={200: ConfigPlanSerializer, 400: ConfigErrorsSerializer},
    )
    def post(self, request: Request) -> Response:
        # Every 400 of this endpoint has one shape, `errors` lines, as its schema says: a body
        # that is no JSON or misses a field too, not only a broken document.
        try:
            data = request.data
        except ParseError as exc:
            return _errors([f"request: {exc.detail}"])
        given = ConfigRequestSerializer(data=data, context={"request": request})
        if not given.is_valid():
            return _errors(
                [
                    f"{field}: {message}"
                    for field, messages in given.errors.items()
                    for message in (messages if isinstance(messages, list) else [messages])
                ]
            )
        team = self._team(request, given.validated_data.get("team"))
        try:
            document = read_document(given.validated_data["document"])
            self._require_role(request, team, document=document)
            with transaction.atomic():
                plan = make_plan(
                    document=document,
                    team=team,
                    variables=given.validated_data.get("variables", {}),
                    prune=given.validated_data["prune"],
                )
                self._require_role(request, team, plan=plan)
                if self.applies:
                    apply_plan(plan, team=team, actor=cast(User, request.user))
        except DocumentError as exc:
            return _errors([str(problem) for problem in exc.problems])
        return Response({**plan.as_dict(), "applied": self.applies})

    def _team(self, request: Request, team: Team | None) -> Team:
        team = team or getattr(request.user, "personal_team", None)
        if team is None:
            raise PermissionDenied("You have no personal team; pass `team`.")
        return team

    def _require_role(
        self,
        request: Request,
        team: Team,
        *,
        document: Document | None = None,
        plan: Plan | None = None,
    ) -> None:
        names_channels = bool(document and document.section("channels"))
        if names_channels or (plan is not None and plan.touches("channels")):
            minimum, what = Role.ADMIN, "Channels are changed by the team's admins and owners."
        else:
            minimum, what = Role.EDITOR, "Your role in this team does not allow this change."
        if not has_team_role(request, team.id, minimum):
            raise PermissionDenied(what)


class ConfigApplyView(ConfigPlanView):
    """Apply the document in one transaction: all of it, or nothing (400 with every
    problem). Answers with what was done; a second apply of the same document does nothing."""

    applies = True


class ConfigImportRequestSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=SOURCES)  # type: ignore[assignment]  # a field
    content = serializers.JSONField(
        help_text="The file's text; for gatus, a list of texts is several files merged in order"
    )
    team = TeamIdField(required=False, help_text="Team to plan for; defaults to your personal team")
    apply = serializers.BooleanField(
        default=False, help_text="Apply the plan in one transaction (all or nothing)"
    )
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="Values of the translated document's ${NAME} references",
    )

    def validate_content(self, value: object) -> list[str]:
        texts = value if isinstance(value, list) else [value]
        if not texts or not all(isinstance(text, str) for text in texts):
            raise serializers.ValidationError("A text, or a list of texts.")
        return cast(list[str], texts)


class ImportItemSerializer(serializers.Serializer):
    kind = serializers.CharField()
    where = serializers.CharField(help_text="file:line, or the Kuma id")
    name = serializers.CharField()
    why = serializers.CharField()


class ImportVariableSerializer(serializers.Serializer):
    name = serializers.CharField()
    what = serializers.CharField(
        help_text="What to set it to, and where the value is in the source"
    )


class ImportReportSerializer(serializers.Serializer):
    untranslated = ImportItemSerializer(many=True)
    variables = ImportVariableSerializer(many=True)
    todo = ImportItemSerializer(many=True)


class ConfigImportSerializer(serializers.Serializer):
    document = serializers.DictField(help_text="The translated document (as `--output` writes)")
    report = ImportReportSerializer()
    plan = ConfigPlanSerializer()


class ConfigImportErrorsSerializer(ConfigErrorsSerializer):
    document = serializers.DictField(required=False, help_text="When the file was translated")
    report = ImportReportSerializer(required=False)


class ConfigImportView(ConfigPlanView):
    """Translate a Gatus configuration or an Uptime Kuma backup into the document format and
    plan it (``apply``: apply it, all or nothing); answers the document, what could not be
    translated, the variables to set, and the plan. Roles as for plan and apply."""

    @extend_schema(
        request=ConfigImportRequestSerializer,
        responses={200: ConfigImportSerializer, 400: ConfigImportErrorsSerializer},
    )
    def post(self, request: Request) -> Response:
        try:
            data = request.data
        except ParseError as exc:
            return _errors([f"request: {exc.detail}"])
        given = ConfigImportRequestSerializer(data=data, context={"request": request})
        if not given.is_valid():
            return _errors(
                [
                    f"{field}: {message}"
                    for field, messages in given.errors.items()
                    for message in (messages if isinstance(messages, list) else [messages])
                ]
            )
        team = self._team(request, given.validated_data.get("team"))
        source = given.validated_data["source"]
        texts = given.validated_data["content"]
        files = [(f"content[{i}]" if len(texts) > 1 else "content", t) for i, t in enumerate(texts)]
        try:
            translation = translate_files(source, files)
        except DocumentError as exc:
            return _errors([str(problem) for problem in exc.problems])
        translated = {"document": translation.document, "report": translation.report()}
        applies = given.validated_data["apply"]
        try:
            document = imported_document(source, translation)
            self._require_role(request, team, document=document)
            with transaction.atomic():
                plan = make_plan(
                    document=document,
                    team=team,
                    variables=given.validated_data.get("variables", {}),
                    prune=False,
                )
                self._require_role(request, team, plan=plan)
                if applies:
                    apply_plan(plan, team=team, actor=cast(User, request.user))
        except DocumentError as exc:
            lines = [str(problem) for problem in exc.problems]
            return Response({"errors": lines, **translated}, status=status.HTTP_400_BAD_REQUEST)
        return Response({**translated, "plan": {**plan.as_dict(), "applied": applies}})


class ConfigSchemaView(APIView):
    """The document's JSON Schema, for editors (public: it describes no one's data)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(document_schema(schema_id=request.build_absolute_uri()))
