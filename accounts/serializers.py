from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.access import TeamField
from accounts.models import (
    API_KEY_ROLES,
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Role,
    Team,
    User,
)


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    def validate_email(self, value: str) -> str:
        # Whether the address is taken is not said here: see services.user_register_request.
        return value.strip().lower()

    def validate(self, attrs: dict) -> dict:
        candidate = User(email=attrs["email"], full_name=attrs.get("full_name", ""))
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class RegisterAcceptedSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    detail = serializers.CharField(read_only=True)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(write_only=True, style={"input_type": "password"})
    new_password = serializers.CharField(write_only=True, style={"input_type": "password"})

    def validate_new_password(self, value: str) -> str:
        try:
            password_validation.validate_password(value, user=self.context["request"].user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None
        return value


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class RefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, refusing (401, not 500) a token whose user is gone or inactive, or
    whose password changed after the token was issued."""

    def validate(self, attrs: dict) -> dict:
        refresh = RefreshToken(attrs["refresh"])  # TokenError (401) if invalid or blacklisted
        user = User.objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
        if user is None or not user.is_active:
            raise AuthenticationFailed("No active account for this token.", "no_active_account")
        if refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed("The password changed after this token.", "password_changed")
        return super().validate(attrs)


class MembershipOfUserSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["team", "team_name", "role"]


class UserSerializer(serializers.ModelSerializer):
    personal_team = serializers.SerializerMethodField()
    teams = MembershipOfUserSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "date_joined", "personal_team", "teams"]
        read_only_fields = fields

    def get_personal_team(self, user: User) -> int | None:
        team = getattr(user, "personal_team", None)
        return team.id if team else None


class MemberSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "email", "full_name", "role", "created_at"]
        read_only_fields = ["user", "email", "full_name", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team")
    is_personal = serializers.BooleanField(read_only=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "is_personal", "role", "member_count", "created_at"]
        read_only_fields = ["id", "is_personal", "role", "member_count", "created_at"]

    def get_role(self, team: Team) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(team.id)


class InvitationSerializer(serializers.ModelSerializer):
    team_name = serializers.CharField(source="team.name", read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "team", "team_name", "email", "role", "invited_by", "status"]
        fields += ["created_at", "expires_at"]
        read_only_fields = fields


class InvitationSentSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    role = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    detail = serializers.CharField(read_only=True)


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "team", "actor", "actor_label", "action", "object_type", "object_id"]
        fields += ["object_label", "changes", "request_id", "created_at"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as listed: its prefix, never the key."""

    team = TeamField(required=False, help_text="The key's team; defaults to your personal team")
    role = serializers.ChoiceField(
        choices=API_KEY_ROLES,
        default=Role.VIEWER,
        help_text="At most your own role in the team",
    )
    created_by = serializers.EmailField(source="created_by.email", read_only=True)
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "team", "name", "role", "prefix", "created_by", "created_at"]
        fields += ["expires_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = ["id", "prefix", "created_by", "created_at", "last_used_at"]
        read_only_fields += ["revoked_at"]

    def get_is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_usable(self.context["now"])


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The key itself: shown in this answer only, store it now"
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
