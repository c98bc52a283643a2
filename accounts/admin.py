from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from rest_framework.exceptions import ValidationError as ServiceRefusal

from accounts import services
from accounts.api_keys import api_key_revoke
from accounts.models import ApiKey, AuditEntry, Membership, Role, Team, User
from lib.admin import ServiceWritesAdmin
from lib.forms import add_service_errors


def _refused(exc: ServiceRefusal) -> ValidationError:
    """The accounts services refuse in DRF's terms (the API shows them as they are)."""
    return ValidationError(exc.detail)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class TeamAdminForm(forms.ModelForm):
    owner = forms.ModelChoiceField(
        queryset=User.objects.order_by("email"),
        required=False,
        help_text="A new team's first owner; others join by invitation.",
    )

    class Meta:
        model = Team
        fields = ["name"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk is None and cleaned.get("owner") is None:
            self.add_error("owner", "A new team needs an owner.")
        return cleaned


@admin.register(Team)
class TeamAdmin(ServiceWritesAdmin):
    form = TeamAdminForm
    list_display = ["name", "is_personal", "personal_owner", "member_count", "created_at"]
    search_fields = ["name", "memberships__user__email"]
    list_filter = [("personal_owner", admin.EmptyFieldListFilter)]
    # Personal teams are made by registration, with their owner, never by hand.
    readonly_fields = ["personal_owner", "members", "created_at"]

    def get_fields(self, request, obj=None) -> list[str]:
        return ["name", *self.readonly_fields] if obj is not None else ["name", "owner"]

    @admin.display(description="Members (each changes on its membership page, audited)")
    def members(self, team: Team) -> str:
        return format_html_join(
            ", ",
            '<a href="{}">{} ({})</a>',
            (
                (reverse("admin:accounts_membership_change", args=[m.pk]), m.user.email, m.role)
                for m in team.memberships.select_related("user").order_by("user__email")
            ),
        )

    @admin.display(boolean=True)
    def is_personal(self, team: Team) -> bool:
        return team.is_personal

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_total=Count("memberships"))

    @admin.display(description="Members", ordering="members_total")
    def member_count(self, team: Team) -> int:
        return team.members_total

    def has_delete_permission(self, request, obj: Team | None = None) -> bool:
        # team_delete refuses personal teams; the delete pages say so before anything happens.
        return super().has_delete_permission(request, obj) and not (obj and obj.is_personal)

    def save_model(self, request, obj: Team, form: TeamAdminForm, change: bool) -> None:
        name = form.cleaned_data["name"]
        if change:
            stored = Team.objects.get(pk=obj.pk)
            saved = services.team_rename(team=stored, name=name, actor=request.user)
        else:
            owner = form.cleaned_data["owner"]
            saved = services.team_create(owner=owner, name=name, actor=request.user)
        obj.pk = saved.pk  # the admin logs and redirects with the object it passed in
        obj.refresh_from_db()

    def delete_model(self, request, obj: Team) -> None:
        services.team_delete(team=obj, actor=request.user)


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("role") not in (None, Role.OWNER):
            try:
                services.ensure_an_owner_remains(self.instance.team, self.instance)
            except ServiceRefusal as exc:
                add_service_errors(self, _refused(exc))
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ServiceWritesAdmin):
    """Roles change and members leave through the services (audited, a team keeps an owner);
    members join by accepting an invitation, so there is no add page."""

    form = MembershipAdminForm
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "team__name"]
    fields = ["team", "user", "role", "created_at"]
    readonly_fields = ["team", "user", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def get_actions(self, request) -> dict:
        # One at a time: each removal is checked against what is left of its team.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        membership = self.get_object(request, object_id)
        try:
            if membership is not None:
                services.validate_membership_removal(membership)
        except ServiceRefusal as exc:
            self.message_user(request, " ".join(_refused(exc).messages), messages.ERROR)
            return redirect("admin:accounts_membership_change", membership.pk)
        return super().delete_view(request, object_id, extra_context)

    def save_model(self, request, obj: Membership, form: MembershipAdminForm, change: bool) -> None:
        stored = Membership.objects.select_related("team").get(pk=obj.pk)
        services.membership_change_role(
            membership=stored,
            role=form.cleaned_data["role"],
            acting_role=Role.OWNER,  # staff act with every right an owner has
            actor=request.user,
        )
        obj.refresh_from_db()

    def delete_model(self, request, obj: Membership) -> None:
        services.membership_remove(membership=obj, acting_role=Role.OWNER, actor=request.user)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read only: the log is written by the services, never edited."""

    list_display = ["created_at", "team", "actor_label", "action", "object_type", "object_label"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_label", "team__name", "request_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Read only but revocable: keys are created where they can be shown once (API, dashboard),
    and revoked through the service, which audits it."""

    list_display = ["prefix", "name", "team", "role", "created_by", "created_at", "expires_at"]
    list_display += ["last_used_at", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "team__name", "created_by__email"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user, now=timezone.now())
        messages.success(request, f"{len(queryset)} API key(s) revoked.")
