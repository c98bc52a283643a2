"""Session login for the dashboard, with the accounts of the API (email and password)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.utils.decorators import method_decorator

from accounts.throttling import refuse_throttled_logins


# The same failed-login policy as the API and the admin (accounts/throttling.py).
@method_decorator(refuse_throttled_logins, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default), so a link elsewhere cannot log people out."""
