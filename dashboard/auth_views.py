"""Session login for the dashboard, with the accounts of the API (email and password)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Failed logins allowed per client address and window, like the API's auth throttle.
MAX_FAILURES = 20
WINDOW_SECONDS = 60


def _failures_key(request: HttpRequest) -> str:
    return f"dashboard-login-failures:{request.META.get('REMOTE_ADDR', '')}"


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if cache.get(_failures_key(request), 0) >= MAX_FAILURES:
            return render(request, "registration/login_throttled.html", status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        key = _failures_key(self.request)
        cache.add(key, 0, WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, WINDOW_SECONDS)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default), so a link elsewhere cannot log people out."""
