"""Strict readers for settings that come from the environment.

A value that cannot be parsed is a configuration error, never a silent default:
``DEBUG=ture`` must stop the process instead of quietly running in production mode.
Secrets may also be read from ``<NAME>_FILE`` (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Every variable the settings read (with NAME_FILE for secrets): the server's configuration,
# credentials among it (SECRET_KEY, DATABASE_URL, EMAIL_HOST_PASSWORD). A document of monitors
# resolves its ${NAME}s from the environment on the command line, and must never read these
# (config/document.py): an imported file could send them to its URLs.
SETTINGS_READ: set[str] = {"DJANGO_SETTINGS_MODULE"}


def _read(name: str) -> str | None:
    SETTINGS_READ.add(name)
    return os.environ.get(name)


def _read_or(name: str, default: str) -> str:
    SETTINGS_READ.add(name)
    return os.environ.get(name, default)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    return _read_or(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = _read(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = _read(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def envfloat(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = _read(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value:g} must be at least {minimum:g}")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _read_or(name, default).split(",") if item.strip()]


def envnetworks(name: str, default: str = "") -> list[str]:
    """A comma-separated list of addresses or networks (``10.0.0.0/8,192.0.2.7``), checked."""
    networks = envlist(name, default)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {network!r} is not an address or network"
            ) from None
    return networks


def envrate(name: str, default: str) -> str:
    """A rate in DRF's notation, ``<count>/<second|minute|hour|day>`` (``20/min``), checked."""
    raw = _read_or(name, default).strip()
    count, _, period = raw.partition("/")
    if not count.isdigit() or period[:1].lower() not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate like 20/min")
    return raw


def envsecret(name: str, default: str = "") -> str:
    """Read a secret from NAME, or from the file named by NAME_FILE."""
    path = _read(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return _read_or(name, default)


def envfernetkeys(name: str) -> list[str]:
    """Comma-separated Fernet keys from NAME (or NAME_FILE), each checked; [] when unset.

    The first key encrypts, every key decrypts: an operator rotates by putting a new key
    first, re-encrypting, then dropping the old one. A bad key is named by its position,
    never echoed (it is a secret).
    """
    from cryptography.fernet import Fernet  # only the settings need it, once

    keys = [key.strip() for key in envsecret(name).split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded "
                "bytes, e.g. from Fernet.generate_key())"
            ) from None
    return keys
