"""How fast anyone may guess passwords or create accounts: one policy for every door.

The API login, the admin login and the dashboard login all ask ``login_throttle.blocked``
before a password is checked, and every failed password is counted through Django's
``user_login_failed`` signal (sent by ``authenticate()`` whoever calls it). Failures count per
client address and per account (the email tried): rotating addresses does not help an attacker
against one account, and a lock on one address or account never blocks another user's login.

Counters live in the default cache (``CACHE_URL``: Redis in production), which every web
process shares; a per-process cache would multiply every limit by the number of processes.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterator
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/min"`` -> (20, 60): DRF's notation (the period's first letter counts)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1].lower()]


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network, strict=False) for network in settings.TRUSTED_PROXIES
    )


def client_address(request: HttpRequest) -> str:
    """The address of whoever sent the request, as far as we can trust anyone to say.

    X-Forwarded-For is written by the client first and each proxy appends the address it got
    the request from, so only the entries appended by our own proxies are facts: walk it from
    the right while the hop is a trusted proxy; the first untrusted one is the client.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted_proxy(address):
        return address
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted_proxy(hop):
            return hop
        address = hop
    return address  # every hop is one of ours: the left-most is the best we know


def _hit(key: str, window: int) -> int:
    """Count one more event in a fixed window; atomic on Redis (INCR)."""
    cache.add(key, 0, window)
    try:
        return cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, window)
        return 1


def _account_key(email: str) -> str:
    # Hashed: the email is attacker-chosen text, and cache keys have length and charset limits.
    normalised = email.strip().lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


class LoginThrottle:
    """Failed logins per client address (AUTH_THROTTLE_RATE) and per account
    (LOGIN_ACCOUNT_THROTTLE_RATE). A correct password is refused too while either is over
    its limit, or the limit would only slow down the wrong guesses."""

    def _counters(self, request: HttpRequest | None, email: str) -> Iterator[tuple[str, str]]:
        if request is not None:
            yield f"throttle:login:address:{client_address(request)}", settings.AUTH_THROTTLE_RATE
        if email.strip():
            yield (
                f"throttle:login:account:{_account_key(email)}",
                settings.LOGIN_ACCOUNT_THROTTLE_RATE,
            )

    def blocked(self, request: HttpRequest, *, email: str) -> bool:
        return any(
            cache.get(key, 0) >= parse_rate(rate)[0] for key, rate in self._counters(request, email)
        )

    def record_failure(self, request: HttpRequest | None, *, email: str) -> None:
        for key, rate in self._counters(request, email):
            _hit(key, parse_rate(rate)[1])


login_throttle = LoginThrottle()


def count_failed_login(sender, credentials: dict, request: HttpRequest | None = None, **kwargs):
    """``user_login_failed`` receiver: the API passes ``email``, login forms ``username``."""
    email = credentials.get("email") or credentials.get("username") or ""
    login_throttle.record_failure(request, email=str(email))


def refuse_throttled_logins(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """For the login forms (admin and dashboard): a 429 page instead of checking the password."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        email = request.POST.get("username", "") if request.method == "POST" else ""
        if request.method == "POST" and login_throttle.blocked(request, email=email):
            return render(request, "registration/login_throttled.html", status=429)
        return view(request, *args, **kwargs)

    return wrapper


class AddressRateThrottle(BaseThrottle):
    """Every request of one client address counts (registration, token refresh):
    AUTH_THROTTLE_RATE per ``scope``. DRF's own throttles read the address from
    X-Forwarded-For as sent by the client; this one uses ``client_address``."""

    scope = "auth"

    def allow_request(self, request, view) -> bool:
        limit, self.window = parse_rate(settings.AUTH_THROTTLE_RATE)
        key = f"throttle:{self.scope}:address:{client_address(request)}"
        return _hit(key, self.window) <= limit

    def wait(self) -> float:
        return float(self.window)  # fixed windows: at most this long
