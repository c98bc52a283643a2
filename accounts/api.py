"""Registration, JWT login, the current user, teams and their members."""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import services
from accounts.access import has_team_role, team_roles
from accounts.models import Membership, Role, Team
from accounts.serializers import (
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    RegisterSerializer,
    TeamSerializer,
    UserSerializer,
)


class AuthThrottleMixin:
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class RegisterView(AuthThrottleMixin, APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(AuthThrottleMixin, TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""


class RefreshView(AuthThrottleMixin, TokenRefreshView):
    """Exchange a refresh token for a new access token."""


class MeView(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class TeamViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Teams you belong to. Owners and admins manage members; owners delete teams."""

    serializer_class = TeamSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (
            Team.objects.filter(id__in=list(team_roles(self.request)))
            .annotate(member_count=Count("memberships"))
            .order_by("name", "id")
        )

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        context["roles"] = team_roles(self.request)
        return context

    def _require(self, team: Team, minimum: str) -> str:
        if not has_team_role(self.request, team.id, minimum):
            raise PermissionDenied("Your role in this team does not allow this change.")
        return team_roles(self.request)[team.id]

    def perform_create(self, serializer: TeamSerializer) -> None:
        team = services.team_create(owner=self.request.user, name=serializer.validated_data["name"])
        serializer.instance = Team.objects.annotate(member_count=Count("memberships")).get(
            pk=team.pk
        )
        self.request._healthmon_team_roles = None  # the new membership changes my roles
        serializer.context["roles"] = team_roles(self.request)

    def perform_update(self, serializer: TeamSerializer) -> None:
        self._require(serializer.instance, Role.ADMIN)
        serializer.save()

    def perform_destroy(self, instance: Team) -> None:
        self._require(instance, Role.OWNER)
        if instance.is_personal:
            raise ValidationError({"team": "A personal team cannot be deleted."})
        instance.delete()

    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True))
    @extend_schema(methods=["POST"], request=MemberAddSerializer, responses={201: MemberSerializer})
    # Paginated like every other list; members are not searched or ordered by query.
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        """List members (paginated), or (owners and admins) add an existing user by email."""
        team = self.get_object()
        if request.method == "POST":
            acting_role = self._require(team, Role.ADMIN)
            payload = MemberAddSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            membership = services.membership_add(
                team=team, acting_role=acting_role, **payload.validated_data
            )
            return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)
        memberships = team.memberships.select_related("user").order_by("user__email", "id")
        page = self.paginate_queryset(memberships)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<user_id>\d+)")
    def member(self, request: Request, pk: str | None = None, user_id: str | None = None):
        """Change a member's role, or remove them (owners and admins)."""
        team = self.get_object()
        acting_role = self._require(team, Role.ADMIN)
        membership = get_object_or_404(Membership, team=team, user_id=user_id)
        if request.method == "DELETE":
            services.membership_remove(membership=membership, acting_role=acting_role)
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = MemberRoleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.membership_change_role(
            membership=membership, acting_role=acting_role, role=payload.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)
