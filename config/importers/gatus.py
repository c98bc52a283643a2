"""Gatus configuration (one or several YAML files, as Gatus merges them) -> a document.

The shapes followed are Gatus' README and config structs (``config/endpoint``,
``alerting/provider/*``, ``config/maintenance``): ``endpoints`` with ``url`` whose scheme
decides the kind (``tcp://``, ``icmp://``, ``tls://``, ``starttls://``, a ``dns`` block),
``conditions``, ``alerts`` with ``failure-threshold``/``success-threshold``; ``alerting``
providers; a global ``maintenance``. Gatus expands ``$NAME``/``${NAME}`` from its
environment; both become ``${NAME}`` references here, resolved at apply time.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

from config.document import DocumentError, LocatedMap, Problem, load_located
from config.importers import (
    Keys,
    ReportItem,
    Translation,
    bounded_interval,
    integer_setting,
    tag_name,
)
from config.importers import apprise_urls as urls
from monitors.conditions import ConditionError, go_duration_ms, parse_condition
from monitors.models import DnsRecordType, HttpMethod

DEFAULT_INTERVAL_S = 60  # Gatus' default
DEFAULT_FAILURE_THRESHOLD, DEFAULT_SUCCESS_THRESHOLD = 3, 2  # alert.ValidateAndSetDefaults
ANY_STATUS = "100-599"  # Gatus judges by conditions only: no status is wrong by itself

# Gatus' os.ExpandEnv, written as healthmon references; "$$" is Gatus' literal dollar.
_DOLLAR = "\x00gatus-dollar\x00"
_BARE_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

UNSUPPORTED_SCHEMES = {
    "udp": "healthmon has no UDP monitor kind",
    "sctp": "healthmon has no SCTP monitor kind",
    "grpc": "healthmon has no gRPC health-check kind",
    "grpcs": "healthmon has no gRPC health-check kind",
    "ws": "healthmon has no WebSocket monitor kind",
    "wss": "healthmon has no WebSocket monitor kind",
    "ssh": "healthmon has no SSH monitor kind",
}

# Top-level keys that configure the Gatus server, not a team's monitors.
SERVER_SETTINGS = {
    "storage": "healthmon keeps results in its own database",
    "web": "a Gatus server setting",
    "ui": "Gatus' dashboard settings; healthmon has status pages",
    "security": "healthmon has its own users, teams and API keys",
    "metrics": "healthmon always exposes /metrics",
    "debug": "a Gatus server setting",
    "concurrency": "healthmon's probe workers decide concurrency",
    "disable-monitoring-lock": "a Gatus server setting",
    "skip-invalid-config-update": "a Gatus server setting",
    "remote": "healthmon does not read other Gatus instances",
    "connectivity": "healthmon's probes report their own network errors",
    "tunneling": "healthmon has no SSH tunnels",
    "announcements": "healthmon has no announcements",
    "suites": "not translated; healthmon's api (multi-step) monitor kind is the nearest",
}

ENDPOINT_IGNORED = {
    "extra-labels": "healthmon has tags, not labels",
    "store": "healthmon has no suites to share a context",
    "always-run": "healthmon has no suites",
    "ssh": "healthmon has no SSH monitor kind",
    "maintenance-windows": "per-endpoint maintenance windows are not translated",
    "ui": "display options of Gatus' dashboard",
}
CLIENT_IGNORED = {
    "proxy-url": "healthmon connects directly",
    "dns-resolver": "healthmon uses the system's resolver for HTTP",
    "oauth2": "healthmon's api (multi-step) kind can log in; not translated",
    "identity-aware-proxy": "not supported",
    "network": "healthmon picks the address family itself",
    "tls": "client certificates are not supported",
    "tunnel": "healthmon has no SSH tunnels",
    "store-cookies": "healthmon keeps no cookies between checks",
}


def expand_variables(text: str) -> str:
    """``$NAME`` and ``${NAME}`` as ``${NAME}``; ``$$`` as ``$`` (Gatus' own escape)."""
    text = text.replace("$$", _DOLLAR)
    text = _BARE_VARIABLE.sub(r"${\1}", text)
    return text.replace(_DOLLAR, "$")


def duration_seconds(value: Any) -> float | None:
    """A Go duration (``30s``, ``5m``, ``1h30m``) in seconds; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):  # Go would read a bare number as nanoseconds
        return None
    milliseconds = go_duration_ms(str(value).strip())
    return None if milliseconds is None else milliseconds / 1000


class _Gatus:
    def __init__(self, files: list[tuple[str, str]], *, min_interval: int) -> None:
        self.files = files
        self.min_interval = min_interval
        self.result = Translation()
        self.monitor_keys = Keys("endpoint")
        self.channel_keys = Keys("channel")
        self.channels: dict[str, str] = {}  # provider type -> channel key
        self.default_alerts: dict[str, LocatedMap] = {}
        self.lines: dict[str, list[str]] = {}  # each file's text, to place list items

    def line_of_item(self, source: str, start: int | None, text: str) -> str:
        """Where a list item is (YAML keeps no line for a string in a list): the first line
        from the list's own line on that holds the item's text."""
        if start is None:
            return source
        for number, line in enumerate(self.lines[source][start - 1 :], start):
            if text in line:
                return f"{source}:{number}"
        return f"{source}:{start}"

    def untranslated(self, kind: str, where: str, name: str, why: str) -> None:
        self.result.untranslated.append(ReportItem(kind, where, name, why))

    @staticmethod
    def at(source: str, mapping: Any, key: str | None = None) -> str:
        line = None
        if isinstance(mapping, LocatedMap):
            line = mapping.line_of(key) if key else mapping.line
        return f"{source}:{line}" if line else source

    def run(self) -> Translation:
        contents = []
        problems: list[Problem] = []
        for source, text in self.files:
            text = expand_variables(text)
            self.lines[source] = text.splitlines()
            try:
                content = load_located(text, source=source)
            except DocumentError as exc:
                problems += exc.problems
                continue
            if content is None:
                content = LocatedMap()
            if not isinstance(content, LocatedMap):
                problems.append(
                    Problem(source, 1, "document", "A Gatus configuration is a mapping.")
                )
                continue
            contents.append((source, content))
        if problems:
            raise DocumentError(problems)
        # Providers first: endpoints name them in their alerts.
        for source, content in contents:
            self.alerting(source, content.get("alerting"), content)
        for source, content in contents:
            for name, value in content.items():
                if name == "endpoints":
                    self.endpoints(source, content, value)
                elif name == "external-endpoints":
                    self.external_endpoints(source, content, value)
                elif name == "maintenance":
                    self.maintenance(source, value)
                elif name != "alerting":
                    why = SERVER_SETTINGS.get(name, "not a Gatus setting healthmon knows")
                    self.untranslated("setting", self.at(source, content, name), name, why)
        return self.result

    # --- alerting -----------------------------------------------------------------------------

    def alerting(self, source: str, alerting: Any, parent: LocatedMap) -> None:
        if alerting is None:
            return
        if not isinstance(alerting, LocatedMap):
            raise DocumentError(
                [Problem(source, parent.line_of("alerting"), "alerting", "Expected a mapping.")]
            )
        for provider, settings in alerting.items():
            where = self.at(source, alerting, provider)
            if provider in self.channels:
                self.untranslated(
                    "alerting provider",
                    where,
                    provider,
                    "configured in an earlier file too; the first one is kept",
                )
                continue
            if not isinstance(settings, LocatedMap):
                self.untranslated("alerting provider", where, provider, "expected a mapping")
                continue
            try:
                channel = self.channel(provider, settings, source, where)
            except (TypeError, ValueError) as exc:  # a number that is none, a list for a text
                self.untranslated("alerting provider", where, provider, f"malformed: {exc}")
                continue
            if channel is None:
                continue
            self.channels[provider] = channel["key"]
            if isinstance(settings.get("default-alert"), LocatedMap):
                self.default_alerts[provider] = settings["default-alert"]
            if settings.get("overrides"):
                self.untranslated(
                    "alerting provider",
                    self.at(source, settings, "overrides"),
                    provider,
                    "overrides by group are not translated; every group alerts through the one "
                    "channel",
                )
            self.result.add("channels", channel)

    def channel(self, provider: str, settings: LocatedMap, source: str, where: str) -> dict | None:
        key = self.channel_keys.make(provider)
        what = f"alerting.{provider}"

        def secret(field: str) -> str:
            return self.result.secret(
                settings.get(field, ""), "channel", key, field, what=f"{what}.{field} in {where}"
            )

        def required(*fields: str) -> bool:
            missing = [f for f in fields if not settings.get(f)]
            if missing:
                self.untranslated(
                    "alerting provider", where, provider, f"{', '.join(missing)} missing"
                )
            return not missing

        apprise = None
        native = {"slack", "discord", "teams-workflows", "mattermost", "googlechat", "webex"}
        if provider in native:
            if not required("webhook-url"):
                return None
            # Apprise accepts these services' own webhook URLs as they are.
            apprise = secret("webhook-url")
        elif provider == "telegram":
            if not required("token", "id"):
                return None
            topic = str(settings.get("topic-id") or "")
            apprise = urls.telegram(secret("token"), str(settings["id"]), topic=topic)
        elif provider == "pagerduty":
            if not required("integration-key"):
                return None
            api_key = self.result.secret("", "channel", key, "api_key", what=urls.PAGERDUTY_API_KEY)
            apprise = urls.pagerduty(secret("integration-key"), api_key)
        elif provider == "opsgenie":
            if not required("api-key"):
                return None
            apprise = urls.opsgenie(secret("api-key"))
        elif provider == "pushover":
            if not required("application-token", "user-key"):
                return None
            apprise = urls.pushover(
                secret("user-key"),
                secret("application-token"),
                device=str(settings.get("device") or ""),
                priority=integer_setting(settings.get("priority")),
            )
        elif provider == "matrix":
            if not required("access-token", "internal-room-id"):
                return None
            server = str(settings.get("server-url") or "https://matrix-client.matrix.org")
            apprise = urls.matrix(server, secret("access-token"), str(settings["internal-room-id"]))
        elif provider == "ntfy":
            if not required("topic"):
                return None
            apprise = urls.ntfy(
                str(settings.get("url") or "https://ntfy.sh"),
                str(settings["topic"]),
                priority=integer_setting(settings.get("priority")),
                token=secret("token") if settings.get("token") else "",
            )
        elif provider == "gotify":
            if not required("server-url", "token"):
                return None
            apprise = urls.gotify(
                str(settings["server-url"]),
                secret("token"),
                priority=integer_setting(settings.get("priority")),
            )
        elif provider == "custom":
            return self.custom(key, settings, source, where)
        elif provider == "email":
            return self.email(key, settings, where)
        elif provider == "teams":
            self.untranslated("alerting provider", where, provider, urls.TEAMS_RETIRED)
            return None
        else:
            self.untranslated(
                "alerting provider",
                where,
                provider,
                "no Apprise or webhook mapping for this provider",
            )
            return None
        return {"key": key, "name": provider, "kind": "apprise", "secrets": {"url": apprise}}

    def custom(self, key: str, settings: LocatedMap, source: str, where: str) -> dict | None:
        url = str(settings.get("url") or "")
        if not url:
            self.untranslated("alerting provider", where, "custom", "url missing")
            return None
        if "[" in url:
            self.untranslated(
                "alerting provider",
                where,
                "custom",
                "the URL holds Gatus placeholders ([ALERT_DESCRIPTION], ...); healthmon's webhook "
                "URL is fixed",
            )
            return None
        self.result.note_variables(url, f"used in alerting.custom.url ({where})")
        kept = {"url", "headers", "default-alert", "overrides"}
        dropped = sorted(name for name in settings if name not in kept)
        if dropped:
            self.untranslated(
                "alerting provider",
                where,
                "custom",
                f"{', '.join(dropped)} not kept: healthmon's webhook POSTs its own signed JSON "
                "(see the README's webhook payload)",
            )
        channel: dict[str, Any] = {
            "key": key,
            "name": "custom",
            "kind": "webhook",
            "config": {"url": url},
        }
        headers = settings.get("headers")
        if isinstance(headers, dict) and headers:
            channel["secrets"] = {
                "headers": {
                    name: self.result.secret(
                        value,
                        "channel",
                        key,
                        "headers",
                        name,
                        what=f"the {name} header of alerting.custom ({where})",
                    )
                    for name, value in headers.items()
                }
            }
        return channel

    def email(self, key: str, settings: LocatedMap, where: str) -> dict | None:
        to = [part.strip() for part in str(settings.get("to") or "").split(",") if part.strip()]
        if not to:
            self.untranslated("alerting provider", where, "email", "to missing")
            return None
        dropped = sorted(
            n for n in ("from", "username", "password", "host", "port") if n in settings
        )
        if dropped:
            self.untranslated(
                "alerting provider",
                where,
                "email",
                f"{', '.join(dropped)} not kept: healthmon sends mail through its own SMTP server "
                "(EMAIL_* settings)",
            )
        return {"key": key, "name": "email", "kind": "email", "config": {"to": to}}

    # --- endpoints ----------------------------------------------------------------------------

    def endpoints(self, source: str, content: LocatedMap, endpoints: Any) -> None:
        if not isinstance(endpoints, list):
            raise DocumentError(
                [Problem(source, content.line_of("endpoints"), "endpoints", "Expected a list.")]
            )
        for endpoint in endpoints:
            if not isinstance(endpoint, LocatedMap):
                raise DocumentError(
                    [
                        Problem(
                            source,
                            content.line_of("endpoints"),
                            "endpoints",
                            "Each endpoint must be a mapping.",
                        )
                    ]
                )
            try:
                monitor = self.endpoint(source, endpoint)
            except (TypeError, ValueError) as exc:
                name = str(endpoint.get("name") or "")
                self.untranslated("endpoint", self.at(source, endpoint), name, f"malformed: {exc}")
                continue
            if monitor is not None:
                self.result.add("monitors", monitor)

    def endpoint(self, source: str, endpoint: LocatedMap) -> dict | None:
        name = str(endpoint.get("name") or "")
        where = self.at(source, endpoint)
        if not name:
            self.untranslated("endpoint", where, "", "name missing")
            return None
        url = str(endpoint.get("url") or "")
        monitor: dict[str, Any] = {"name": name[:200]}
        target = self.target(endpoint, url, source, where, name)
        if target is None:
            return None
        monitor.update(target)
        monitor = {"key": self.monitor_keys.make(name), **monitor}
        if endpoint.get("group"):
            monitor["tags"] = [tag_name(str(endpoint["group"]))]
        if endpoint.get("enabled") is False:
            monitor["is_active"] = False
        self.interval(endpoint, monitor, source, name)
        if monitor["kind"] == "http":
            self.request(endpoint, monitor, source, name)
        self.client(endpoint, monitor, source, name)
        self.conditions(endpoint, monitor, source, name)
        self.alerts(endpoint, monitor, source, name)
        for field, why in ENDPOINT_IGNORED.items():
            if field in endpoint:
                self.untranslated(f"endpoint {field}", self.at(source, endpoint, field), name, why)
        return monitor

    def target(
        self, endpoint: LocatedMap, url: str, source: str, where: str, name: str
    ) -> dict | None:
        dns = endpoint.get("dns")
        if dns is not None:
            if not isinstance(dns, dict) or not dns.get("query-name"):
                self.untranslated("endpoint", where, name, "dns block without query-name")
                return None
            record = str(dns.get("query-type") or "A").upper()
            if record not in DnsRecordType.values:
                self.untranslated(
                    "endpoint", where, name, f"DNS record type {record} is not supported"
                )
                return None
            resolver = url.split("://", 1)[-1]
            return {
                "kind": "dns",
                "host": str(dns["query-name"]).rstrip(".") or ".",
                "dns_record_type": record,
                "dns_resolver": resolver,
            }
        if not url:
            self.untranslated("endpoint", where, name, "url missing")
            return None
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme in ("http", "https"):
            return {"kind": "http", "url": url}
        if scheme in UNSUPPORTED_SCHEMES:
            self.untranslated(
                "endpoint", where, name, f"{scheme}:// endpoint: {UNSUPPORTED_SCHEMES[scheme]}"
            )
            return None
        if scheme not in ("tcp", "icmp", "tls", "starttls"):
            self.untranslated(
                "endpoint", where, name, f"{url!r}: Gatus does not know this endpoint type either"
            )
            return None
        parts = urlsplit(url)
        try:
            host, port = parts.hostname or "", parts.port
        except ValueError:
            host, port = "", None
        if not host:
            self.untranslated("endpoint", where, name, f"{url!r} has no host")
            return None
        if scheme == "icmp":
            return {"kind": "icmp", "host": host}
        if port is None:
            self.untranslated("endpoint", where, name, f"{url!r} has no port")
            return None
        if scheme == "tcp":
            return {"kind": "tcp", "host": host, "port": port}
        if scheme == "tls":
            return {"kind": "tls", "host": host, "port": port}
        return {"kind": "tls", "host": host, "port": port, "starttls": "smtp"}

    def interval(self, endpoint: LocatedMap, monitor: dict, source: str, name: str) -> None:
        seconds: float = DEFAULT_INTERVAL_S
        if "interval" in endpoint:
            parsed = duration_seconds(endpoint["interval"])
            if parsed is None or parsed <= 0:
                self.untranslated(
                    "endpoint interval",
                    self.at(source, endpoint, "interval"),
                    name,
                    f"{endpoint['interval']!r} is not a duration such as 30s or 5m; the default "
                    "60s is used",
                )
            else:
                seconds = parsed
        monitor["interval"], why = bounded_interval(seconds, minimum=self.min_interval)
        if why:
            self.untranslated("endpoint interval", self.at(source, endpoint, "interval"), name, why)

    def request(self, endpoint: LocatedMap, monitor: dict, source: str, name: str) -> None:
        method = str(endpoint.get("method") or "GET").upper()
        if method not in HttpMethod.values:
            self.untranslated(
                "endpoint method",
                self.at(source, endpoint, "method"),
                name,
                f"{method} is not supported; GET is used",
            )
            method = "GET"
        monitor["method"] = method
        headers = endpoint.get("headers")
        if isinstance(headers, dict) and headers:
            where = f"endpoint {name!r} ({self.at(source, endpoint, 'headers')})"
            monitor["headers"] = self.result.secret_headers(
                {str(k): str(v) for k, v in headers.items()},
                "monitor",
                monitor["key"],
                "headers",
                where=where,
            )
        body = endpoint.get("body")
        if body:
            if endpoint.get("graphql"):
                body = json.dumps({"query": str(body)})
                monitor.setdefault("headers", {}).setdefault("Content-Type", "application/json")
            monitor["body"] = str(body)
        # Gatus judges the response by the conditions alone.
        monitor["expected_status"] = ANY_STATUS
        self.result.note_variables(
            monitor, f"used by endpoint {name!r} ({self.at(source, endpoint)})"
        )

    def client(self, endpoint: LocatedMap, monitor: dict, source: str, name: str) -> None:
        client = endpoint.get("client")
        if not isinstance(client, LocatedMap):
            return
        if client.get("insecure"):
            monitor["verify_tls"] = False
        if client.get("ignore-redirect") and monitor["kind"] == "http":
            monitor["follow_redirects"] = False
        if "timeout" in client:
            timeout = duration_seconds(client["timeout"])
            if timeout is None or timeout <= 0:
                self.untranslated(
                    "endpoint client",
                    self.at(source, client, "timeout"),
                    name,
                    "timeout is not a duration",
                )
            elif timeout >= monitor["interval"]:
                self.untranslated(
                    "endpoint client",
                    self.at(source, client, "timeout"),
                    name,
                    f"timeout {timeout:g}s is not below the interval; healthmon's default is used",
                )
            else:
                monitor["timeout"] = round(timeout, 3)
        for field, why in CLIENT_IGNORED.items():
            if field in client:
                self.untranslated(
                    f"endpoint client {field}", self.at(source, client, field), name, why
                )

    def conditions(self, endpoint: LocatedMap, monitor: dict, source: str, name: str) -> None:
        conditions = endpoint.get("conditions") or []
        if not isinstance(conditions, list):
            conditions = [conditions]
        assertions = []
        line = endpoint.line_of("conditions")
        for text in conditions:
            where = self.line_of_item(source, line, str(text))
            try:
                parse_condition(str(text))
            except ConditionError as exc:
                self.untranslated("condition", where, name, f"{text!r}: {exc}")
                continue
            assertions.append({"type": "condition", "value": str(text)})
        if assertions:
            monitor["assertions"] = assertions

    def alerts(self, endpoint: LocatedMap, monitor: dict, source: str, name: str) -> None:
        alerts = endpoint.get("alerts") or []
        channels: list[str] = []
        thresholds: list[tuple[int, int]] = []
        for alert in alerts if isinstance(alerts, list) else []:
            if not isinstance(alert, LocatedMap):
                continue
            kind = str(alert.get("type") or "")
            where = self.at(source, alert)
            default = self.default_alerts.get(kind, LocatedMap())

            def setting(
                field: str, fallback: Any, alert: LocatedMap = alert, default: LocatedMap = default
            ) -> Any:
                if field in alert:
                    return alert[field]
                return default.get(field, fallback)

            if setting("enabled", True) is False:
                continue
            if kind not in self.channels:
                self.untranslated(
                    "alert",
                    where,
                    name,
                    f"the {kind!r} provider is not configured or not translated",
                )
                continue
            if self.channels[kind] not in channels:
                channels.append(self.channels[kind])
            thresholds.append(
                (
                    _threshold(setting("failure-threshold", 0), DEFAULT_FAILURE_THRESHOLD),
                    _threshold(setting("success-threshold", 0), DEFAULT_SUCCESS_THRESHOLD),
                )
            )
            if "description" in alert:
                self.untranslated(
                    "alert description",
                    where,
                    name,
                    "healthmon's alerts carry the failure reason instead",
                )
        monitor["channels"] = channels
        if thresholds:
            monitor["failure_threshold"], monitor["success_threshold"] = thresholds[0]
            if len(set(thresholds)) > 1:
                self.untranslated(
                    "alert thresholds",
                    self.at(source, endpoint, "alerts"),
                    name,
                    "the alerts have different thresholds; healthmon has one per monitor, the "
                    "first "
                    f"alert's ({thresholds[0][0]} failures, {thresholds[0][1]} successes) is used",
                )

    def external_endpoints(self, source: str, content: LocatedMap, endpoints: Any) -> None:
        for endpoint in endpoints if isinstance(endpoints, list) else []:
            if not isinstance(endpoint, LocatedMap):
                continue
            name = str(endpoint.get("name") or "")
            where = self.at(source, endpoint)
            heartbeat = endpoint.get("heartbeat")
            period = (
                duration_seconds(heartbeat.get("interval")) if isinstance(heartbeat, dict) else None
            )
            if not name or not period:
                self.untranslated(
                    "external endpoint",
                    where,
                    name,
                    "pushed results without a heartbeat interval have no healthmon equivalent",
                )
                continue
            key = self.monitor_keys.make(name)
            monitor: dict[str, Any] = {
                "key": key,
                "name": name[:200],
                "kind": "heartbeat",
                "interval": max(60, math.ceil(period)),
                "grace": max(60, math.ceil(period)),
            }
            if endpoint.get("group"):
                monitor["tags"] = [tag_name(str(endpoint["group"]))]
            self.result.add("monitors", monitor)
            self.result.todo.append(
                ReportItem(
                    "external endpoint",
                    where,
                    name,
                    f"heartbeat {key!r}: point the job at its new ping URL (shown once applied) "
                    "instead of Gatus' /api/v1/endpoints/{key}/external",
                )
            )

    # --- maintenance --------------------------------------------------------------------------

    def maintenance(self, source: str, maintenance: Any) -> None:
        where = source if not isinstance(maintenance, LocatedMap) else self.at(source, maintenance)
        window = translate_maintenance(maintenance)
        if isinstance(window, str):
            self.untranslated("maintenance", where, "", window)
            return
        self.result.add("maintenance_windows", window)


def _threshold(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return min(100, number) if number > 0 else default


def translate_maintenance(maintenance: Any) -> dict | str:
    """Gatus' global maintenance as a maintenance window, or why it cannot be one."""
    if not isinstance(maintenance, dict):
        return "expected a mapping"
    if maintenance.get("enabled") is False:
        return "disabled in Gatus; not imported"
    start = str(maintenance.get("start") or "")
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", start)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return f"start {start!r} is not hh:mm"
    seconds = duration_seconds(maintenance.get("duration"))
    if not seconds or seconds <= 0 or seconds > 86400:
        return f"duration {maintenance.get('duration')!r} is not a duration up to 24h"
    every = maintenance.get("every") or []
    days = []
    for day in every if isinstance(every, list) else [every]:
        if day not in DAYS:
            return f"every: {day!r} is not a day such as Monday"
        days.append(DAYS.index(day))
    dow = ",".join(str(d) for d in sorted(set(days))) or "*"
    return {
        "key": "gatus-maintenance",
        "name": "Maintenance (from Gatus)",
        "recurrence": f"{int(match.group(2))} {int(match.group(1))} * * {dow}",
        "duration_minutes": math.ceil(seconds / 60),
        "timezone": str(maintenance.get("timezone") or "UTC"),
        "whole_team": True,
    }


def translate(files: list[tuple[str, str]], *, min_interval: int) -> Translation:
    """Translate Gatus configuration ``files`` (``(name, text)`` pairs, merged in order as
    Gatus merges a configuration directory); raises ``DocumentError`` for text that is no
    YAML or not shaped like a Gatus configuration."""
    return _Gatus(files, min_interval=min_interval).run()
