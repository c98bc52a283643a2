from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts import api

router = DefaultRouter(trailing_slash=True)
router.register("teams", api.TeamViewSet, basename="team")
router.register("invitations", api.InvitationViewSet, basename="invitation")
router.register("audit", api.AuditEntryViewSet, basename="audit-entry")
router.register("api-keys", api.ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="auth-register"),
    path("auth/login/", api.LoginView.as_view(), name="auth-login"),
    path("auth/refresh/", api.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout/", api.LogoutView.as_view(), name="auth-logout"),
    path("auth/password/", api.PasswordChangeView.as_view(), name="auth-password"),
    path("auth/me/", api.MeView.as_view(), name="auth-me"),
    *router.urls,
]
