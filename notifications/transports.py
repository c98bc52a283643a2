"""One class per channel kind, with healthchecks' tiny interface:

``Transport(channel).notify(payload, idempotency_key=..., attempt=...)`` returns ``Sent`` on
success and raises ``TransportError`` otherwise. ``permanent=True`` means "retrying cannot
help" (a 404, a refused address, a blocked network); ``retry_after`` carries the receiver's
Retry-After in seconds. Error messages are written for people and never contain secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from lib import outbound, redaction
from lib.redaction import redact
from notifications.messages import event_of, render
from notifications.models import Channel, ChannelKind

SIGNATURE_HEADER = "Healthmon-Signature"
TIMESTAMP_HEADER = "Healthmon-Timestamp"
RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "user-agent",
    "healthmon-event",
    "healthmon-delivery-attempt",
    SIGNATURE_HEADER.lower(),
    TIMESTAMP_HEADER.lower(),
}


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        response_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.response_code = response_code


@dataclass(frozen=True)
class Sent:
    response_code: int | None = None


# --- Pure helpers (table-tested) ---------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"``: binding the timestamp lets receivers
    refuse replays of an old, captured request."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def http_failure(status: int, retry_after: str | None = None) -> TransportError | None:
    """The error a receiver's status code stands for; None for success.

    Transient: 408, 429 and 5xx (with Retry-After, if any). Permanent: every other 4xx,
    since the same request will be refused again, and 3xx: a webhook does not follow
    redirects (they could lead to a network healthmon must not reach), so it needs a new URL.
    """
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return TransportError(
            f"The receiver answered {status} (a redirect); webhooks do not follow redirects, "
            "use the final URL.",
            permanent=True,
            response_code=status,
        )
    if status in (408, 429) or status >= 500:
        return TransportError(
            f"The receiver answered {status} (a temporary failure).",
            retry_after=parse_retry_after(retry_after),
            response_code=status,
        )
    return TransportError(
        f"The receiver answered {status} (a client error, not retried).",
        permanent=True,
        response_code=status,
    )


def webhook_failure(exc: outbound.OutboundError, *, url: str, timeout: float) -> TransportError:
    """A blocked network or a bad URL will be refused again; the rest may pass next time."""
    if exc.phase == outbound.Phase.BLOCKED:
        return TransportError(exc.reason, permanent=True)
    if exc.permanent:
        return TransportError(f"The request could not be made: {exc.reason}", permanent=True)
    if exc.phase == outbound.Phase.TIMEOUT:
        return TransportError(f"The receiver did not answer within {timeout:g}s")
    return TransportError(f"Could not connect to {urlsplit(url).netloc}")


def _text(message: bytes | str) -> str:
    return message.decode(errors="replace") if isinstance(message, bytes) else message


def smtp_failure(exc: Exception, *, server: str) -> TransportError:
    """SMTP replies 4xx are temporary, 5xx permanent (RFC 5321); no answer is temporary.
    Every message names ``server`` (host:port): "could not be reached" alone does not say
    which EMAIL_HOST/EMAIL_PORT the process was given."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()] or [550]
        detail = "; ".join(
            f"{address}: {code} {_text(message)}"
            for address, (code, message) in exc.recipients.items()
        )
        return TransportError(
            f"The SMTP server {server} refused the recipients ({detail})",
            permanent=all(500 <= code < 600 for code in codes),
            response_code=codes[0],
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransportError(
            f"The SMTP server {server} answered {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=500 <= exc.smtp_code < 600,
            response_code=exc.smtp_code,
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError(
            f"The SMTP server {server} did not answer within {settings.EMAIL_TIMEOUT}s"
        )
    return TransportError(f"The SMTP server {server} could not be reached: {exc}")


def apprise_url_secrets(url: str) -> list[str]:
    """The parts of an Apprise URL that may be credentials: everything but the scheme.

    Apprise URLs put tokens anywhere (user, password, host, path, query), so each part is
    redacted wherever it shows up in an error message."""
    parts = urlsplit(url)
    found = [url, parts.username or "", parts.password or ""]
    found += [unquote(segment) for segment in parts.path.split("/")]
    found += [value for _, value in parse_qsl(parts.query)]
    host = parts.netloc.rpartition("@")[2]  # as written: .hostname would lower-case a token
    if host and "." not in host and not host.startswith("["):  # slack://TokenA/...: a token
        found.append(host)
    return [item for item in found if len(item) >= 6]


def apprise_display_url(url: str) -> str:
    """Apprise's own privacy form (tokens shortened to first...last character), no options."""
    plugin = apprise.Apprise.instantiate(url) if url else None
    if plugin is None:
        return ""
    return plugin.url(privacy=True).split("?", 1)[0]


# --- Transports -----------------------------------------------------------------------------


class Transport:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def notify(self, payload: dict, *, idempotency_key: str, attempt: int = 1) -> Sent:
        raise NotImplementedError

    def secret_values(self) -> list[str]:
        """Strings to scrub from anything stored or logged about this channel."""
        values: list[str] = []
        for value in self.channel.secrets.values():
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, dict):
                values += [v for v in value.values() if isinstance(v, str)]
        return [v for v in values if len(v) >= 4]


class EmailTransport(Transport):
    def notify(self, payload: dict, *, idempotency_key: str, attempt: int = 1) -> Sent:
        message = render(payload)
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(self.channel.config.get("to", [])),
            headers={"X-Healthmon-Delivery": idempotency_key},
        )
        email.attach_alternative(message.html, "text/html")
        try:
            with get_connection(fail_silently=False) as conn:
                conn.send_messages([email])
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_failure(exc, server=f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}") from exc
        return Sent(response_code=250)


class WebhookTransport(Transport):
    def notify(self, payload: dict, *, idempotency_key: str, attempt: int = 1) -> Sent:
        url = self.channel.config["url"]
        timeout = float(self.channel.config.get("timeout") or settings.NOTIFY_TIMEOUT)
        # Compact, sorted JSON: the signed bytes are exactly the bytes sent.
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = dict(self.channel.secrets.get("headers") or {})
        headers.update(
            {
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "Healthmon-Event": payload["event"],
                "Healthmon-Delivery-Attempt": str(attempt),
                TIMESTAMP_HEADER: timestamp,
            }
        )
        secret = self.channel.secrets.get("signing_secret")
        if secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, timestamp, body)
        try:
            response = outbound.fetch(
                "POST", url, timeout=timeout, headers=headers, data=body, follow_redirects=False
            )
            outbound.read_capped(response, 4096)  # drain a little, then close the connection
        except outbound.OutboundError as exc:
            raise webhook_failure(exc, url=url, timeout=timeout) from exc
        failure = http_failure(response.status_code, response.headers.get("Retry-After"))
        if failure is not None:
            raise failure
        return Sent(response_code=response.status_code)


NOTIFY_TYPE = {
    "opened": apprise.NotifyType.FAILURE,
    "resolved": apprise.NotifyType.SUCCESS,
    "acknowledged": apprise.NotifyType.INFO,
    "reminder": apprise.NotifyType.FAILURE,
    "escalated": apprise.NotifyType.FAILURE,
    "grouped": apprise.NotifyType.WARNING,
    "test": apprise.NotifyType.INFO,
}
APPRISE_STATUS = re.compile(r"error=(\d{3})")


class AppriseTransport(Transport):
    """Slack, Discord, Telegram, Teams, PagerDuty, ntfy, Pushover, Matrix, ... via Apprise."""

    def secret_values(self) -> list[str]:
        return super().secret_values() + apprise_url_secrets(self.channel.secrets.get("url", ""))

    def notify(self, payload: dict, *, idempotency_key: str, attempt: int = 1) -> Sent:
        plugin = apprise.Apprise.instantiate(self.channel.secrets.get("url", ""))
        if plugin is None:
            raise TransportError("The Apprise URL is not valid or not supported", permanent=True)
        message = render(payload)
        sender = apprise.Apprise()
        sender.add(plugin)
        # Apprise's plugins connect by themselves (requests, smtplib, ...) and follow their
        # own redirects: the guard judges each of those connections. Apprise runs a plugin
        # on its thread pool with a copy of this context, so the guard goes along.
        with outbound.guarded_connections() as guard:
            result = sender.notify(
                body=message.text,
                title=message.subject,
                notify_type=NOTIFY_TYPE.get(event_of(payload), apprise.NotifyType.INFO),
                body_format=apprise.NotifyFormat.TEXT,
                timeout=settings.NOTIFY_TIMEOUT * 2,
            )
        if guard.refusal is not None:  # the plugin saw an exception and only logged it
            raise TransportError(guard.refusal.reason, permanent=True)
        if result:
            return Sent()
        logs = " ".join(entry.message for entry in result.logs()).strip()
        detail = redact(logs, self.secret_values()) or "no detail given"
        # Apprise reports failures only as log lines; its HTTP plugins write "error=<status>",
        # which is enough to tell a permanent refusal (4xx) from a transient one.
        match = APPRISE_STATUS.search(logs)
        status = int(match.group(1)) if match else None
        failure = http_failure(status) if status else None
        raise TransportError(
            f"Apprise ({plugin.service_name}) could not deliver: {detail[:500]}",
            permanent=failure.permanent if failure else False,
            response_code=status,
        )


TRANSPORTS: dict[str, type[Transport]] = {
    ChannelKind.EMAIL: EmailTransport,
    ChannelKind.WEBHOOK: WebhookTransport,
    ChannelKind.APPRISE: AppriseTransport,
}


def transport_for(channel: Channel) -> Transport:
    transport = TRANSPORTS[channel.kind](channel)
    # Whatever this process logs from now on (Celery's failure traceback, Apprise's warnings)
    # is scrubbed of this channel's secrets.
    redaction.remember(transport.secret_values())
    return transport
