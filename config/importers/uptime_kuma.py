"""Uptime Kuma 1.x backup (Settings > Backup > Export: JSON) -> a document.

The shape followed is what Kuma writes and reads back (``server/server.js``'s
``uploadBackup`` and ``Monitor.toJSON``): ``version``, ``notificationList`` (each with its
provider settings in ``config``, a JSON string) and ``monitorList`` (``type``, ``url``,
``hostname``, ``port``, ``interval``, ``maxretries``, ``accepted_statuscodes``, ``tags``,
``notificationIDList`` ...). Kuma stores secrets in the clear; none is written into the
document: each becomes a ``${NAME}`` reference the user sets before applying.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from config.document import DocumentError, Problem
from config.importers import (
    Keys,
    ReportItem,
    Translation,
    bounded_interval,
    integer_setting,
    tag_name,
)
from config.importers import apprise_urls as urls
from lib.parsers import loads_bounded
from monitors.models import DnsRecordType, HttpMethod

# Kuma monitor types with no healthmon kind, and why.
UNSUPPORTED_TYPES = {
    "group": "a Kuma group is a folder; its name becomes a tag of the monitors in it",
    "docker": "healthmon does not watch Docker containers",
    "real-browser": "healthmon does not drive a browser",
    "mqtt": "healthmon has no MQTT monitor kind",
    "steam": "healthmon has no Steam game-server kind",
    "gamedig": "healthmon has no game-server kind",
    "kafka-producer": "healthmon has no Kafka monitor kind",
    "grpc-keyword": "healthmon has no gRPC monitor kind",
    "radius": "healthmon has no RADIUS monitor kind",
    "sqlserver": "healthmon does not query databases",
    "postgres": "healthmon does not query databases",
    "mysql": "healthmon does not query databases",
    "mongodb": "healthmon does not query databases",
    "redis": "healthmon does not query databases",
    "tailscale-ping": "healthmon has no Tailscale probe",
    "snmp": "healthmon has no SNMP monitor kind",
    "rabbitmq": "healthmon has no RabbitMQ monitor kind",
    "smtp": "healthmon's tls kind checks SMTP STARTTLS certificates, not delivery; not translated",
}
# JSONata as Kuma evaluates it, limited to what is also a plain path: a.b[0].c
_SIMPLE_PATH = re.compile(
    r"\$?\.?([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)(\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*"
)
_ORDER_OPERATORS = {"==", "!=", "<", "<=", ">", ">="}
PUSH_GRACE_MIN_S = 60


class _Kuma:
    def __init__(self, backup: dict, *, min_interval: int) -> None:
        self.backup = backup
        self.min_interval = min_interval
        self.result = Translation()
        self.monitor_keys = Keys("monitor")
        self.channel_keys = Keys("channel")
        self.channels: dict[str, str] = {}  # Kuma notification id -> channel key
        self.groups: dict[str, str] = {}  # Kuma group monitor id -> its name

    def untranslated(self, kind: str, where: str, name: str, why: str) -> None:
        self.result.untranslated.append(ReportItem(kind, where, name, why))

    def run(self) -> Translation:
        for notification in self.backup.get("notificationList") or []:
            try:
                self.notification(notification)
            except (TypeError, ValueError) as exc:  # a number that is none, a list for a text
                where = f"Kuma notification {notification.get('id')}"
                name = str(notification.get("name") or "")
                self.untranslated("notification", where, name, f"malformed: {exc}")
        monitors = [m for m in self.backup.get("monitorList") or [] if isinstance(m, dict)]
        self.groups = {
            str(m.get("id")): str(m.get("name") or "") for m in monitors if m.get("type") == "group"
        }
        for monitor in monitors:
            try:
                self.monitor(monitor)
            except (TypeError, ValueError) as exc:
                where = f"Kuma monitor {monitor.get('id')}"
                self.untranslated(
                    "monitor", where, str(monitor.get("name") or ""), f"malformed: {exc}"
                )
        return self.result

    # --- notifications ------------------------------------------------------------------------

    def notification(self, notification: Any) -> None:
        if not isinstance(notification, dict):
            return
        name = str(notification.get("name") or "")
        where = f"Kuma notification {notification.get('id')}"
        try:
            config = loads_bounded(notification.get("config") or "{}")
        except (TypeError, json.JSONDecodeError):
            self.untranslated("notification", where, name, "its config is not JSON")
            return
        if not isinstance(config, dict):
            self.untranslated("notification", where, name, "its config is not an object")
            return
        key = self.channel_keys.make(name or str(config.get("type") or "channel"))
        channel = self.channel(key, str(config.get("type") or ""), config, where, name)
        if channel is None:
            self.channel_keys.taken.discard(key)
            return
        channel = {"key": key, "name": (name or key)[:100], **channel}
        if notification.get("active") in (False, 0):
            channel["enabled"] = False
        if notification.get("is_default") in (True, 1) or config.get("isDefault") is True:
            channel["is_default"] = True
        self.channels[str(notification.get("id"))] = key
        self.result.add("channels", channel)

    def channel(self, key: str, provider: str, config: dict, where: str, name: str) -> dict | None:
        label = f"notification {name!r} ({where})"

        def secret(field: str) -> str:
            return self.result.secret(
                config.get(field, ""), "channel", key, field, what=f"{field} of {label}"
            )

        def required(*fields: str) -> bool:
            missing = [f for f in fields if not config.get(f)]
            if missing:
                self.untranslated("notification", where, name, f"{', '.join(missing)} missing")
            return not missing

        native = {
            "slack": "slackwebhookURL",
            "discord": "discordWebhookUrl",
            "mattermost": "mattermostWebhookUrl",
            "GoogleChat": "googleChatWebhookURL",
        }
        if provider in native:
            if not required(native[provider]):
                return None
            url = secret(native[provider])  # Apprise takes the service's webhook URL as is
        elif provider == "telegram":
            if not required("telegramBotToken", "telegramChatID"):
                return None
            url = urls.telegram(
                secret("telegramBotToken"),
                str(config["telegramChatID"]),
                topic=str(config.get("telegramMessageThreadID") or ""),
            )
        elif provider == "PagerDuty":
            if not required("pagerdutyIntegrationKey"):
                return None
            api_key = self.result.secret(
                "", "channel", key, "api_key", what=f"{urls.PAGERDUTY_API_KEY} ({label})"
            )
            url = urls.pagerduty(secret("pagerdutyIntegrationKey"), api_key)
        elif provider == "Opsgenie":
            if not required("opsgenieApiKey"):
                return None
            url = urls.opsgenie(secret("opsgenieApiKey"), eu=config.get("opsgenieRegion") == "eu")
        elif provider == "pushover":
            if not required("pushoveruserkey", "pushoverapptoken"):
                return None
            url = urls.pushover(
                secret("pushoveruserkey"),
                secret("pushoverapptoken"),
                device=str(config.get("pushoverdevice") or ""),
                priority=integer_setting(config.get("pushoverpriority")),
            )
        elif provider == "ntfy":
            if not required("ntfytopic"):
                return None
            token = secret("ntfyaccesstoken") if config.get("ntfyaccesstoken") else ""
            user = "" if token else str(config.get("ntfyusername") or "")
            url = urls.ntfy(
                str(config.get("ntfyserverurl") or "https://ntfy.sh"),
                str(config["ntfytopic"]),
                priority=integer_setting(config.get("ntfyPriority")),
                token=token,
                user=user,
                password=secret("ntfypassword") if user else "",
            )
        elif provider == "gotify":
            if not required("gotifyserverurl", "gotifyapplicationToken"):
                return None
            url = urls.gotify(
                str(config["gotifyserverurl"]),
                secret("gotifyapplicationToken"),
                priority=integer_setting(config.get("gotifyPriority")),
            )
        elif provider == "matrix":
            if not required("homeserverUrl", "accessToken", "internalRoomId"):
                return None
            url = urls.matrix(
                str(config["homeserverUrl"]), secret("accessToken"), str(config["internalRoomId"])
            )
        elif provider == "smtp":
            return self.email(config, where, name)
        elif provider == "webhook":
            return self.webhook(key, config, where, name, label)
        elif provider == "teams":
            self.untranslated("notification", where, name, urls.TEAMS_RETIRED)
            return None
        else:
            self.untranslated(
                "notification", where, name, f"no Apprise mapping for Kuma's {provider!r} provider"
            )
            return None
        return {"kind": "apprise", "secrets": {"url": url}}

    def email(self, config: dict, where: str, name: str) -> dict | None:
        to = [p.strip() for p in str(config.get("smtpTo") or "").split(",") if p.strip()]
        if not to:
            self.untranslated("notification", where, name, "smtpTo missing")
            return None
        dropped = sorted(
            field
            for field in (
                "smtpHost",
                "smtpUsername",
                "smtpPassword",
                "smtpFrom",
                "smtpCC",
                "smtpBCC",
            )
            if config.get(field)
        )
        if dropped:
            self.untranslated(
                "notification",
                where,
                name,
                f"{', '.join(dropped)} not kept: healthmon sends mail to team members through "
                "its own SMTP server (EMAIL_* settings)",
            )
        return {"kind": "email", "config": {"to": to}}

    def webhook(self, key: str, config: dict, where: str, name: str, label: str) -> dict | None:
        url = str(config.get("webhookURL") or "")
        if not url:
            self.untranslated("notification", where, name, "webhookURL missing")
            return None
        channel: dict[str, Any] = {"kind": "webhook", "config": {"url": url}}
        if config.get("webhookContentType") not in (None, "", "json"):
            self.untranslated(
                "notification",
                where,
                name,
                f"content type {config['webhookContentType']!r} not kept: healthmon's webhook "
                "POSTs its own signed JSON",
            )
        headers = _json_object(config.get("webhookAdditionalHeaders"))
        if headers is None:
            self.untranslated("notification", where, name, "additional headers are not JSON")
        elif headers:
            channel["secrets"] = {
                "headers": {
                    str(header): self.result.secret(
                        value,
                        "channel",
                        key,
                        "headers",
                        str(header),
                        what=f"the {header} header of {label}",
                    )
                    for header, value in headers.items()
                }
            }
        return channel

    # --- monitors -----------------------------------------------------------------------------

    def monitor(self, kuma: dict) -> None:
        kind = str(kuma.get("type") or "")
        name = str(kuma.get("name") or "")
        where = f"Kuma monitor {kuma.get('id')}"
        if kind in UNSUPPORTED_TYPES or kind not in {
            "http",
            "keyword",
            "json-query",
            "port",
            "ping",
            "dns",
            "push",
        }:
            why = UNSUPPORTED_TYPES.get(kind, f"Kuma's {kind!r} type has no healthmon kind")
            self.untranslated(f"{kind} monitor", where, name, why)
            return
        if kuma.get("upsideDown"):
            self.untranslated(
                f"{kind} monitor",
                where,
                name,
                "upside-down mode (down is up) has no healthmon equivalent",
            )
            return
        monitor: dict[str, Any] = {
            "key": self.monitor_keys.make(name),
            "name": (name or "monitor")[:200],
        }
        translated = {
            "http": self.http,
            "keyword": self.http,
            "json-query": self.http,
            "port": self.port,
            "ping": self.ping,
            "dns": self.dns,
            "push": self.push,
        }[kind](kuma, monitor, where, name)
        if not translated:
            self.monitor_keys.taken.discard(monitor["key"])
            return
        if kind != "push":
            monitor["interval"], bounded = bounded_interval(
                _number(kuma.get("interval"), 60), minimum=self.min_interval
            )
            if bounded:
                self.untranslated(f"{kind} monitor", where, name, bounded)
            timeout = _number(kuma.get("timeout"), 0)
            if kind != "ping" and 0 < timeout < monitor["interval"]:
                monitor["timeout"] = round(timeout, 3)
            retries = int(_number(kuma.get("maxretries"), 0))
            monitor["failure_threshold"] = min(100, max(0, retries) + 1)
        tags = self.tags(kuma)
        if tags:
            monitor["tags"] = tags
        if kuma.get("active") in (False, 0):
            monitor["is_active"] = False
        monitor["channels"] = self.monitor_channels(kuma, where, name)
        self.result.add("monitors", monitor)

    def tags(self, kuma: dict) -> list[str]:
        names = []
        group = self.groups.get(str(kuma.get("parent")), "")
        if group:
            names.append(tag_name(group))
        for tag in kuma.get("tags") or []:
            if isinstance(tag, dict) and tag.get("name"):
                value = str(tag.get("value") or "")
                names.append(tag_name(f"{tag['name']}:{value}" if value else str(tag["name"])))
        return sorted(set(names))

    def monitor_channels(self, kuma: dict, where: str, name: str) -> list[str]:
        ids = kuma.get("notificationIDList") or {}
        if isinstance(ids, list):
            ids = dict.fromkeys(ids, True)
        keys = []
        for notification_id, on in ids.items() if isinstance(ids, dict) else []:
            if not on:
                continue
            if str(notification_id) in self.channels:
                keys.append(self.channels[str(notification_id)])
            else:
                self.untranslated(
                    "monitor notification",
                    where,
                    name,
                    f"notification {notification_id} was not translated (see its own line)",
                )
        return sorted(set(keys))

    def http(self, kuma: dict, monitor: dict, where: str, name: str) -> bool:
        kind = str(kuma.get("type"))
        url = str(kuma.get("url") or "")
        if not url.startswith(("http://", "https://")):
            self.untranslated(f"{kind} monitor", where, name, f"url {url!r} is not http(s)")
            return False
        auth = kuma.get("authMethod") or None
        if auth not in (None, "", "basic"):
            self.untranslated(
                f"{kind} monitor", where, name, f"{auth!r} authentication is not supported"
            )
            return False
        monitor.update(kind="http", url=url)
        method = str(kuma.get("method") or "GET").upper()
        if method not in HttpMethod.values:
            self.untranslated(f"{kind} monitor", where, name, f"{method} is not supported")
            return False
        monitor["method"] = method
        headers = _json_object(kuma.get("headers"))
        if headers is None:
            self.untranslated(f"{kind} monitor", where, name, "headers are not a JSON object")
            return False
        label = f"monitor {name!r} ({where})"
        headers = self.result.secret_headers(
            {str(k): str(v) for k, v in headers.items()},
            "monitor",
            monitor["key"],
            "headers",
            where=label,
        )
        if auth == "basic":
            credentials = self.result.secret(
                "",
                "monitor",
                monitor["key"],
                "basic_auth",
                what=f"base64 of user:password for {label} (Kuma's basic_auth_user and "
                "basic_auth_pass)",
            )
            headers["Authorization"] = f"Basic {credentials}"
        if headers:
            monitor["headers"] = headers
        if kuma.get("body"):
            monitor["body"] = str(kuma["body"])
        codes = kuma.get("accepted_statuscodes") or ["200-299"]
        monitor["expected_status"] = ",".join(str(code) for code in codes)
        if kuma.get("ignoreTls"):
            monitor["verify_tls"] = False
        if kuma.get("maxredirects") == 0:
            monitor["follow_redirects"] = False
        if kind == "keyword":
            keyword = str(kuma.get("keyword") or "")
            if not keyword:
                self.untranslated("keyword monitor", where, name, "keyword missing")
                return False
            invert = kuma.get("invertKeyword") in (True, 1)
            monitor["assertions"] = [
                {"type": "body_not_contains" if invert else "body_contains", "value": keyword}
            ]
        if kind == "json-query":
            condition = json_query_condition(kuma)
            if condition is None:
                self.untranslated(
                    "json-query monitor",
                    where,
                    name,
                    f"the JSONata expression {kuma.get('jsonPath')!r} is more than a plain path "
                    "(a.b[0].c); healthmon cannot evaluate JSONata",
                )
                return False
            monitor["assertions"] = [{"type": "condition", "value": condition}]
        return True

    def port(self, kuma: dict, monitor: dict, where: str, name: str) -> bool:
        if not kuma.get("hostname") or not kuma.get("port"):
            self.untranslated("port monitor", where, name, "hostname or port missing")
            return False
        monitor.update(kind="tcp", host=str(kuma["hostname"]), port=int(kuma["port"]))
        return True

    def ping(self, kuma: dict, monitor: dict, where: str, name: str) -> bool:
        if not kuma.get("hostname"):
            self.untranslated("ping monitor", where, name, "hostname missing")
            return False
        monitor.update(kind="icmp", host=str(kuma["hostname"]))
        return True

    def dns(self, kuma: dict, monitor: dict, where: str, name: str) -> bool:
        record = str(kuma.get("dns_resolve_type") or "A").upper()
        if record not in DnsRecordType.values:
            self.untranslated("dns monitor", where, name, f"record type {record} is not supported")
            return False
        if not kuma.get("hostname"):
            self.untranslated("dns monitor", where, name, "hostname missing")
            return False
        monitor.update(kind="dns", host=str(kuma["hostname"]), dns_record_type=record)
        server = str(kuma.get("dns_resolve_server") or "")
        port = int(_number(kuma.get("port"), 53))
        if server:
            monitor["dns_resolver"] = (
                server
                if port == 53
                else (f"[{server}]:{port}" if ":" in server else f"{server}:{port}")
            )
        return True

    def push(self, kuma: dict, monitor: dict, where: str, name: str) -> bool:
        period = max(60, math.ceil(_number(kuma.get("interval"), 60)))
        retries = int(_number(kuma.get("maxretries"), 0))
        retry_interval = _number(kuma.get("retryInterval"), period)
        monitor.update(
            kind="heartbeat",
            interval=period,
            grace=max(PUSH_GRACE_MIN_S, math.ceil(retries * retry_interval)),
        )
        self.result.todo.append(
            ReportItem(
                "push monitor",
                where,
                name,
                f"heartbeat {monitor['key']!r} gets a new ping URL (shown once applied); "
                "replace Kuma's /api/push/<token> in the jobs that push to it",
            )
        )
        return True


def json_query_condition(kuma: dict) -> str | None:
    """Kuma's json-query (a JSONata expression whose result is compared as text, as Kuma
    does with ``toString()``) as a Gatus condition, when the expression is a plain path."""
    expression = str(kuma.get("jsonPath") or "").strip()
    if not _SIMPLE_PATH.fullmatch(expression):
        return None
    operator = str(kuma.get("jsonPathOperator") or "==")
    if operator not in _ORDER_OPERATORS:
        return None
    path = expression.lstrip("$").lstrip(".")
    expected = str(kuma.get("expectedValue") if kuma.get("expectedValue") is not None else "")
    return f"[BODY].{path} {operator} {expected}"


def _json_object(value: Any) -> dict | None:
    """Kuma keeps headers as JSON text; None if it is not an object."""
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = loads_bounded(str(value))
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def translate(text: str, *, source: str, min_interval: int) -> Translation:
    """Translate a Kuma backup (its JSON text); raises ``DocumentError`` for text that is
    no JSON or no Kuma backup."""
    try:
        backup = loads_bounded(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            [Problem(source, exc.lineno, "document", f"Not valid JSON: {exc.msg.rstrip('.')}.")]
        ) from None
    if not isinstance(backup, dict) or not isinstance(backup.get("monitorList"), list):
        raise DocumentError(
            [Problem(source, 1, "monitorList", "Not an Uptime Kuma backup: no monitorList list.")]
        )
    if not isinstance(backup.get("notificationList", []), list):
        raise DocumentError([Problem(source, 1, "notificationList", "Expected a list.")])
    return _Kuma(backup, min_interval=min_interval).run()
