from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count
from django.utils import timezone

from accounts.api_keys import api_key_revoke
from accounts.models import ApiKey, AuditEntry, Membership, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


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


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "is_personal", "personal_owner", "member_count", "created_at"]
    search_fields = ["name", "memberships__user__email"]
    list_filter = [("personal_owner", admin.EmptyFieldListFilter)]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["personal_owner"]
    inlines = [MembershipInline]

    @admin.display(boolean=True)
    def is_personal(self, team: Team) -> bool:
        return team.is_personal

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_total=Count("memberships"))

    @admin.display(description="Members", ordering="members_total")
    def member_count(self, team: Team) -> int:
        return team.members_total


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "team__name"]
    autocomplete_fields = ["user", "team"]


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
