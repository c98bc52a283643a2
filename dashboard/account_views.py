"""Your account: name and sign-in address, and password change.

Both ask for the current password (changing the address changes how you sign in), checked
with ``authenticate`` like a login: failures count in the same throttle as failed logins, and
a throttled account is refused before the password is even tried. A new password passes
Django's password validators (AUTH_PASSWORD_VALIDATORS); this session stays signed in, while
the API tokens issued before it stop working (accounts.services.user_change_password).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from accounts import services as account_services
from accounts.models import User
from accounts.throttling import login_throttle
from dashboard.forms import _messages

THROTTLED = "Too many failed password attempts; try again later."


def _me(request: HttpRequest) -> User:
    assert isinstance(request.user, User), "behind login_required"
    return request.user


class CurrentPasswordForm(forms.Form):
    """A form that also asks for the current password and checks it like a login."""

    current_password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        self.request = request
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_current_password(self) -> str:
        password = self.cleaned_data["current_password"]
        user = _me(self.request)
        if login_throttle.blocked(self.request, email=user.email):
            raise forms.ValidationError(THROTTLED)
        if authenticate(self.request, email=user.email, password=password) is None:
            raise forms.ValidationError("This is not your current password.")
        return password


class ProfileForm(CurrentPasswordForm):
    full_name = forms.CharField(max_length=150, required=False, label="Name")
    email = forms.EmailField(help_text="You sign in with it; email alerts to you go there")

    field_order = ["full_name", "email", "current_password"]

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "profile-%s")  # both forms of the page ask the password
        super().__init__(*args, **kwargs)


class PasswordChangeForm(CurrentPasswordForm):
    new_password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=" ".join(password_validators_help_texts()),
    )
    new_password_again = forms.CharField(
        strip=False,
        label="New password, again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "password-%s")
        super().__init__(*args, **kwargs)

    def clean_new_password(self) -> str:
        password = self.cleaned_data["new_password"]
        try:
            validate_password(password, user=_me(self.request))
        except DjangoValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return password

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        new, again = cleaned.get("new_password"), cleaned.get("new_password_again")
        if new and again and new != again:
            self.add_error("new_password_again", "The two new passwords differ.")
        return cleaned


def _page(
    request: HttpRequest,
    *,
    profile: ProfileForm | None = None,
    password: PasswordChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _me(request)
    return render(
        request,
        "dashboard/account.html",
        {
            "profile_form": profile
            or ProfileForm(
                request=request, initial={"full_name": user.full_name, "email": user.email}
            ),
            "password_form": password or PasswordChangeForm(request=request),
        },
        status=status,
    )


@never_cache
@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = ProfileForm(request.POST, request=request)
    if form.is_valid():
        try:
            account_services.user_update_profile(
                user=_me(request),
                full_name=form.cleaned_data["full_name"],
                email=form.cleaned_data["email"],
            )
        except ValidationError as exc:
            for field, detail in exc.detail.items():  # type: ignore[union-attr]
                for message in _messages(detail):
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, "Account saved.")
            return redirect("dashboard:account")
    return _page(request, profile=form, status=400)


@never_cache
@login_required
@require_POST
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST, request=request)
    if not form.is_valid():
        return _page(request, password=form, status=400)
    user = _me(request)
    account_services.user_change_password(user=user, password=form.cleaned_data["new_password"])
    update_session_auth_hash(request, user)  # keep this session signed in
    messages.success(
        request, "Password changed. API tokens issued before now no longer work; sign in again."
    )
    return redirect("dashboard:account")
