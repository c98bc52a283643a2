"""What each channel kind needs in ``config`` (may be shown) and ``secrets`` (never shown).

One validator per kind, used by the API, the admin and the services alike, so a channel
that exists can always be sent to. Errors are ``{"config": [...], "secrets": [...]}``.

Email goes only to members of the channel's team (at most ``MAX_RECIPIENTS``), unless the
operator sets ``EMAIL_RECIPIENTS_ANY=true``: otherwise any user could make healthmon mail
arbitrary addresses (its channel test was a spam relay). A member is someone who registered
and was added to the team, which is as verified as an address gets here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from accounts.models import Membership
from lib import redaction
from notifications.models import ChannelKind
from notifications.transports import RESERVED_HEADERS, apprise_url_secrets

MAX_RECIPIENTS = 10
MAX_HEADERS = 20
MAX_WEBHOOK_TIMEOUT = 60.0
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MIN_SIGNING_SECRET = 16


class _Errors:
    def __init__(self) -> None:
        self.config: list[str] = []
        self.secrets: list[str] = []

    def raise_if_any(self) -> None:
        errors = {}
        if self.config:
            errors["config"] = self.config
        if self.secrets:
            errors["secrets"] = self.secrets
        if errors:
            raise ValidationError(errors)


def _unknown_keys(given: dict, allowed: set[str], into: list[str]) -> None:
    for key in sorted(set(given) - allowed):
        allowed_text = ", ".join(sorted(allowed)) or "nothing"
        into.append(f"{key}: unknown setting (this kind takes {allowed_text}).")


def _email(config: dict, secrets: dict, errors: _Errors) -> tuple[dict, dict]:
    _unknown_keys(config, {"to"}, errors.config)
    _unknown_keys(secrets, set(), errors.secrets)
    to = config.get("to")
    if isinstance(to, str):
        to = [part.strip() for part in to.split(",") if part.strip()]
    if not isinstance(to, list) or not to:
        errors.config.append('to: at least one address is required, e.g. ["ops@example.com"].')
        return config, secrets
    if len(to) > MAX_RECIPIENTS:
        errors.config.append(f"to: at most {MAX_RECIPIENTS} addresses.")
    cleaned: list[str] = []
    for address in to:
        try:
            if not isinstance(address, str):
                raise ValidationError("not a string")
            EmailValidator()(address.strip())
        except ValidationError:
            errors.config.append(f"to: {address!r} is not a valid email address.")
            continue
        if address.strip().lower() not in cleaned:
            cleaned.append(address.strip().lower())
    return {"to": cleaned}, {}


def _email_recipients_of_team(config: dict, team_id: int, errors: _Errors) -> None:
    if settings.EMAIL_RECIPIENTS_ANY:
        return
    members = {
        email.lower()
        for email in Membership.objects.filter(team_id=team_id).values_list(
            "user__email", flat=True
        )
    }
    for address in config["to"]:
        if address not in members:
            errors.config.append(
                f"to: {address} is not a member of this team; email alerts go to team members "
                "only (add them to the team first)."
            )


def _webhook(config: dict, secrets: dict, errors: _Errors) -> tuple[dict, dict]:
    _unknown_keys(config, {"url", "timeout"}, errors.config)
    _unknown_keys(secrets, {"signing_secret", "headers"}, errors.secrets)
    url = config.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors.config.append("url: an http:// or https:// URL with a host is required.")
    elif len(url) > 2048:
        errors.config.append("url: at most 2048 characters.")
    timeout = config.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 1 <= timeout <= MAX_WEBHOOK_TIMEOUT
    ):
        errors.config.append(f"timeout: seconds between 1 and {MAX_WEBHOOK_TIMEOUT:g}.")
    signing_secret = secrets.get("signing_secret")
    if signing_secret is not None and (
        not isinstance(signing_secret, str) or len(signing_secret) < MIN_SIGNING_SECRET
    ):
        errors.secrets.append(
            f"signing_secret: at least {MIN_SIGNING_SECRET} characters (leave it out to have "
            "one generated)."
        )
    headers = secrets.get("headers", {})
    if not isinstance(headers, dict):
        errors.secrets.append('headers: an object, e.g. {"Authorization": "Bearer ..."}.')
    else:
        if len(headers) > MAX_HEADERS:
            errors.secrets.append(f"headers: at most {MAX_HEADERS}.")
        for name, value in headers.items():
            if not HEADER_NAME.match(name):
                errors.secrets.append(f"headers: {name!r} is not a valid header name.")
            elif name.lower() in RESERVED_HEADERS:
                errors.secrets.append(f"headers: {name} is set by healthmon and cannot be changed.")
            elif not isinstance(value, str) or "\r" in value or "\n" in value:
                errors.secrets.append(f"headers: the value of {name} must be a one-line string.")
    return config, secrets


def _apprise(config: dict, secrets: dict, errors: _Errors) -> tuple[dict, dict]:
    _unknown_keys(config, set(), errors.config)
    _unknown_keys(secrets, {"url"}, errors.secrets)
    url = secrets.get("url")
    if not isinstance(url, str) or not url.strip():
        errors.secrets.append(
            "url: an Apprise URL is required, e.g. slack://TokenA/TokenB/TokenC or "
            "ntfy://ntfy.sh/topic (see https://appriseit.com/services/)."
        )
        return config, secrets
    # Apprise logs what it cannot parse, tokens in full ("An invalid Slack Token (...) was
    # specified"): make them unloggable in this process before it sees the URL.
    redaction.remember(apprise_url_secrets(url))
    if apprise.Apprise.instantiate(url.strip()) is None:
        # Never echo the URL: it holds the service's credentials.
        errors.secrets.append("url: Apprise does not recognise this URL (scheme or format).")
    else:
        secrets = {**secrets, "url": url.strip()}
    return config, secrets


VALIDATORS = {
    ChannelKind.EMAIL: _email,
    ChannelKind.WEBHOOK: _webhook,
    ChannelKind.APPRISE: _apprise,
}


def validate_channel_settings(
    kind: str, config: object, secrets: object, *, team_id: int
) -> tuple[dict, dict]:
    """Check and normalise the settings of a kind for a channel of team ``team_id``; raises
    ``ValidationError`` with field errors."""
    errors = _Errors()
    if kind not in VALIDATORS:
        raise ValidationError({"kind": [f"{kind!r} is not a channel kind."]})
    if not isinstance(config, dict):
        errors.config.append("config must be an object.")
    if not isinstance(secrets, dict):
        errors.secrets.append("secrets must be an object.")
    errors.raise_if_any()
    config, secrets = VALIDATORS[kind](config, secrets, errors)
    errors.raise_if_any()
    if kind == ChannelKind.EMAIL:
        _email_recipients_of_team(config, team_id, errors)
        errors.raise_if_any()
    return config, secrets


def validate_channel_monitors(*, team_id: int, monitors: list) -> None:
    """A channel alerts for monitors of its own team only."""
    foreign = [monitor.pk for monitor in monitors if monitor.team_id != team_id]
    if foreign:
        raise ValidationError(
            {"monitors": [f"Monitor {pk} belongs to another team." for pk in foreign]}
        )
