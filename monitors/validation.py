"""What makes a monitor valid: field validators and the rules that span fields.

These raise Django's ``ValidationError`` and are the only definition of each rule: the model
runs them (``Monitor.full_clean``, so the admin and the services), DRF copies a model field's
validators into the serializer, and the CLI prints the same messages. Whoever writes a
monitor gets the same answer for the same mistake.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from monitors.assertions import validate_assertions
from monitors.status_codes import parse_status_spec

# RFC 9110 field-name token.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
TAG = re.compile(r"^[\w .:/-]{1,50}$")
MAX_HEADERS = 50
# Servers refuse larger requests with 431 (nginx's default buffer is 8 KiB a line; Node's whole
# header limit is 16 KiB): a monitor must not fail every check for a size the form accepted.
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8 * 1024  # bytes, UTF-8
MAX_HEADERS_TOTAL = 16 * 1024  # bytes of all "name: value" lines
MAX_BODY = 64 * 1024
MAX_TAGS = 20


def validate_monitor_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValidationError("Only http:// and https:// URLs can be monitored.")
    if not parts.hostname:
        raise ValidationError("The URL needs a host name.")


# A DNS name (letters, digits, hyphens, underscores for SRV-style labels, dots) or an IP literal.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_host(value: str) -> None:
    if not (_is_ip(value) or HOST_NAME.match(value)):
        raise ValidationError(f"{value!r} is not a host name or an IP address.")


def split_resolver(value: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port); ValueError if malformed."""
    if _is_ip(value):  # a bare IPv6 address has colons of its own
        return value, 53
    host, colon, port = value.rpartition(":") if ":" in value else (value, "", "")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port) if colon else 53
    if not (0 < number < 65536):
        raise ValueError(value)
    return host, number


def validate_resolver(value: str) -> None:
    try:
        host, _ = split_resolver(value)
        validate_host(host)
    except (ValueError, ValidationError):
        raise ValidationError(
            f"{value!r} is not a resolver: use host, host:port or [IPv6]:port."
        ) from None


def validate_headers(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Headers must be an object, e.g. {"Accept": "*/*"}.')
    if len(value) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} headers.")
    total = 0
    for name, header_value in value.items():
        if len(name) > MAX_HEADER_NAME:
            raise ValidationError(
                f"The header name {name[:40]!r}... is longer than {MAX_HEADER_NAME} characters."
            )
        if not HEADER_NAME.match(name):
            raise ValidationError(f"{name!r} is not a valid header name.")
        if not isinstance(header_value, str):
            raise ValidationError(f"The value of {name!r} must be a string.")
        if "\r" in header_value or "\n" in header_value:
            raise ValidationError(f"The value of {name!r} contains a line break.")
        size = len(header_value.encode())
        if size > MAX_HEADER_VALUE:
            raise ValidationError(
                f"The value of {name!r} is {size} bytes; at most {MAX_HEADER_VALUE} per header."
            )
        total += len(name) + 2 + size
    if total > MAX_HEADERS_TOTAL:
        raise ValidationError(
            f"The headers are {total} bytes in all; at most {MAX_HEADERS_TOTAL} "
            "(servers refuse larger requests with 431)."
        )


def validate_body(value: str) -> None:
    if len(value.encode()) > MAX_BODY:
        raise ValidationError(f"The request body is limited to {MAX_BODY} bytes.")


def validate_status_spec(value: str) -> None:
    parse_status_spec(value)


def validate_monitor_assertions(value: object) -> None:
    # A named module-level function (not the assertions module's own) so the migration
    # state does not change when the assertion classes are reorganised.
    validate_assertions(value)


VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VARIABLE_VALUE = 4096


def validate_variable_name(value: str) -> None:
    if not VARIABLE_NAME.match(value):
        raise ValidationError(
            "A variable name is letters, digits and _, not starting with a digit (64 at most)."
        )


def validate_variable_value(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError("The value must be a non-empty string.")
    if len(value) > MAX_VARIABLE_VALUE:
        raise ValidationError(f"The value is limited to {MAX_VARIABLE_VALUE} characters.")


def validate_interval(value: int) -> None:
    # Read at call time: the minimum is a deployment setting (and tests override it).
    minimum = settings.MONITOR_MIN_INTERVAL
    if value < minimum:
        raise ValidationError(f"The interval must be at least {minimum} seconds.")


def validate_timeout(value: float) -> None:
    if value > settings.MONITOR_MAX_TIMEOUT:
        raise ValidationError(
            f"The timeout must be at most {settings.MONITOR_MAX_TIMEOUT:g} seconds."
        )


def validate_timeout_below_interval(*, timeout: float, interval: int) -> None:
    if timeout >= interval:
        raise ValidationError({"timeout": "The timeout must be below the interval."})


def clean_tag_names(names: Iterable[str]) -> list[str]:
    """Stripped, de-duplicated tag names; raises for a name that is not a tag."""
    cleaned: list[str] = []
    for name in names:
        name = name.strip()
        if not TAG.match(name):
            raise ValidationError(f"{name!r}: tags are 1-50 letters, digits, spaces or . : / - _")
        if name not in cleaned:
            cleaned.append(name)
    if len(cleaned) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags.")
    return cleaned


def validate_channels_team(*, team_id: int | None, channels: Iterable) -> None:
    """Notification channels (any object with ``id`` and ``team_id``) of the monitor's team."""
    foreign = [channel.id for channel in channels if channel.team_id != team_id]
    if foreign:
        raise ValidationError(
            {"channels": [f"Channel {pk} belongs to another team." for pk in foreign]}
        )


@functools.cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA zone name (``Europe/Paris``, ``UTC``): what a cron schedule is read in."""
    if value not in _time_zone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. Europe/Paris, UTC).")


def validate_cron(value: str) -> None:
    """A five-field cron expression (cronsim's syntax, as healthchecks accepts); empty is a
    period schedule."""
    if not value:
        return
    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValidationError(f"Not a valid cron expression: {exc}") from None
