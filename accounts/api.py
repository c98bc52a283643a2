"""Registration, JWT login, logout and password change, the current user, teams, members,
invitations, API keys and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, update_session_auth_hash
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from accounts import api_keys, services
from accounts.access import (
    UserLoginRequired,
    api_key_grant_of,
    default_team,
    has_team_role,
    team_roles,
)
from accounts.filters import ApiKeyFilter, AuditEntryFilter
from accounts.models import ApiKey, AuditEntry, Invitation, Membership, Role, Team
from accounts.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    AuditEntrySerializer,
    InvitationSentSerializer,
    InvitationSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    PasswordChangeSerializer,
    RefreshSerializer,
    RegisterAcceptedSerializer,
    RegisterSerializer,
    TeamSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from accounts.throttling import AddressRateThrottle, login_throttle


class RegisterThrottle(AddressRateThrottle):
    scope = "register"


class RefreshThrottle(AddressRateThrottle):
    scope = "refresh"


class RegistrationOpen(permissions.BasePermission):
    message = (
        "Registration is closed on this server (REGISTRATION_OPEN=false); "
        "ask its administrator for an account."
    )

    def has_permission(self, request: Request, view) -> bool:
        return settings.REGISTRATION_OPEN


REGISTER_ACCEPTED = (
    "If this address had no account yet, it has one now: log in with it. "
    "An address already registered keeps its account and password."
)


class RegisterView(APIView):
    """Create an account. Answers the same for a new and a registered email (202), so it
    cannot be used to find out who has an account here."""

    permission_classes = [RegistrationOpen]
    authentication_classes: list = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=RegisterSerializer, responses={202: RegisterAcceptedSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_register_request(**serializer.validated_data)
        return Response(
            {"email": serializer.validated_data["email"], "detail": REGISTER_ACCEPTED},
            status=status.HTTP_202_ACCEPTED,
        )


class LoginView(TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""

    def post(self, request: Request, *args, **kwargs) -> Response:
        # Failures are counted by accounts.throttling.count_failed_login (user_login_failed).
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if login_throttle.blocked(request, email=email if isinstance(email, str) else ""):
            raise Throttled(detail="Too many failed logins; try again later.")
        return super().post(request, *args, **kwargs)


class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new access token."""

    serializer_class = RefreshSerializer
    throttle_classes = [RefreshThrottle]


class LogoutThrottle(AddressRateThrottle):
    scope = "logout"


class LogoutView(TokenBlacklistView):
    """Revoke a refresh token (the access tokens it gave expire within JWT_ACCESS_MINUTES).
    No access token needed: an expired one must not prevent logging out."""

    throttle_classes = [LogoutThrottle]

    @extend_schema(responses={204: None})
    def post(self, request: Request, *args, **kwargs) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    """Change your password: every token issued before stops working; new ones are returned."""

    permission_classes = [permissions.IsAuthenticated, UserLoginRequired]

    @extend_schema(request=PasswordChangeSerializer, responses=TokenPairSerializer)
    def post(self, request: Request) -> Response:
        user = request.user
        # The current password is checked like a login: failures count in the same throttle.
        if login_throttle.blocked(request, email=user.email):
            raise Throttled(detail="Too many failed logins; try again later.")
        payload = PasswordChangeSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        current = payload.validated_data["current_password"]
        if authenticate(request, email=user.email, password=current) is None:
            raise ValidationError({"current_password": "This is not your current password."})
        services.user_change_password(user=user, password=payload.validated_data["new_password"])
        update_session_auth_hash(request, user)  # keep the dashboard session that did it
        refresh = RefreshToken.for_user(user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class MeView(APIView):
    # It lists every team of the user: more than a key of one team may see.
    permission_classes = [permissions.IsAuthenticated, UserLoginRequired]

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


INVITATION_SENT = (
    "Invitation recorded: once this address has an account, its owner sees the invitation "
    "and becomes a member on accepting it (within 7 days)."
)


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
        if api_key_grant_of(self.request) is not None:
            raise PermissionDenied(UserLoginRequired.message)
        team = services.team_create(
            owner=self.request.user,
            name=serializer.validated_data["name"],
            actor=self.request.user,
        )
        serializer.instance = Team.objects.annotate(member_count=Count("memberships")).get(
            pk=team.pk
        )
        self.request._healthmon_team_roles = None  # the new membership changes my roles
        serializer.context["roles"] = team_roles(self.request)

    def perform_update(self, serializer: TeamSerializer) -> None:
        self._require(serializer.instance, Role.ADMIN)
        if "name" in serializer.validated_data:
            services.team_rename(
                team=serializer.instance,
                name=serializer.validated_data["name"],
                actor=self.request.user,
            )

    def perform_destroy(self, instance: Team) -> None:
        self._require(instance, Role.OWNER)
        services.team_delete(team=instance, actor=self.request.user)

    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=MemberAddSerializer, responses={202: InvitationSentSerializer}
    )
    # Paginated like every other list; members are not searched or ordered by query.
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        """List members (paginated), or (owners and admins) invite someone by email: they
        become a member when they accept. The answer (202) is the same whether or not the
        address has an account here."""
        team = self.get_object()
        if request.method == "POST":
            acting_role = self._require(team, Role.ADMIN)
            payload = MemberAddSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            invitation = services.invitation_create(
                team=team, acting_role=acting_role, actor=request.user, **payload.validated_data
            )
            return Response(
                {
                    "email": invitation.email,
                    "role": invitation.role,
                    "expires_at": invitation.expires_at,
                    "detail": INVITATION_SENT,
                },
                status=status.HTTP_202_ACCEPTED,
            )
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
            services.membership_remove(
                membership=membership, acting_role=acting_role, actor=request.user
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = MemberRoleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.membership_change_role(
            membership=membership,
            acting_role=acting_role,
            role=payload.validated_data["role"],
            actor=request.user,
        )
        return Response(MemberSerializer(membership).data)


class InvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your open invitations to teams (sent to your email address); accept or decline them."""

    serializer_class = InvitationSerializer
    permission_classes = [permissions.IsAuthenticated, UserLoginRequired]
    lookup_value_regex = r"[0-9]+"  # anything else is no invitation: 404 from the router

    def get_queryset(self):
        if not self.request.user.is_authenticated:  # the OpenAPI generator's fake request
            return Invitation.objects.none()
        return services.invitations_open_for(self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=None, responses=MemberSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Join the team with the invitation's role."""
        membership = services.invitation_accept(invitation_id=int(pk or 0), user=request.user)
        request._healthmon_team_roles = None  # the new membership changes my roles
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        services.invitation_decline(invitation_id=int(pk or 0), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit log of the teams you own or administer, newest first. Viewers and editors
    get 403; filter by ``team``, ``actor`` (user id), ``action``, ``object_type``, ``since``
    and ``until``."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    ordering_fields: list[str] = []  # newest first, always
    search_fields = ["object_label", "actor_label"]

    def _admin_team_ids(self) -> list[int]:
        roles = team_roles(self.request)
        return [team_id for team_id in roles if has_team_role(self.request, team_id, Role.ADMIN)]

    def get_queryset(self):
        return AuditEntry.objects.filter(team_id__in=self._admin_team_ids()).order_by(
            "-created_at", "-id"
        )

    def list(self, request: Request, *args, **kwargs) -> Response:
        admin_of = self._admin_team_ids()
        team = request.query_params.get("team")
        if not admin_of or (team is not None and team.isdigit() and int(team) not in admin_of):
            raise PermissionDenied("Only team owners and admins can read the audit log.")
        return super().list(request, *args, **kwargs)


class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API keys for scripts and CI, managed by the owners and admins of their team (with a user
    login, not with a key). The key is in the creation answer only; DELETE revokes it (the
    row stays, listed as revoked). Filter by ``team``."""

    serializer_class = ApiKeySerializer
    filterset_class = ApiKeyFilter
    permission_classes = [permissions.IsAuthenticated, UserLoginRequired]
    ordering_fields: list[str] = []
    search_fields = ["name", "prefix"]

    def get_queryset(self):
        roles = team_roles(self.request)
        admin_of = [
            team_id for team_id in roles if has_team_role(self.request, team_id, Role.ADMIN)
        ]
        return (
            ApiKey.objects.filter(team_id__in=admin_of)
            .select_related("created_by")
            .order_by("-created_at", "-id")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        team = payload.validated_data.get("team") or default_team(request)
        if team is None:
            raise ValidationError({"team": "You have no personal team; pass `team`."})
        context = self.get_serializer_context()
        issued = api_keys.api_key_create(
            team=team,
            creator=request.user,
            acting_role=team_roles(request).get(team.id, Role.VIEWER),
            name=payload.validated_data["name"],
            role=payload.validated_data["role"],
            expires_at=payload.validated_data.get("expires_at"),
            now=context["now"],
        )
        listed = ApiKeySerializer(issued.api_key, context=context).data
        return Response({**listed, "key": issued.key}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        api_keys.api_key_revoke(api_key=self.get_object(), actor=request.user, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)
