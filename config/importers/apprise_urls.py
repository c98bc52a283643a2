"""Apprise URLs of the services both importers meet, built once (https://appriseit.com/services/).

Secret parts arrive as ``${NAME}`` references and stay references: apply resolves them, and
the channel validation asks Apprise whether the resolved URL is one it can send to.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

# Slack, Discord, Mattermost, Google Chat, Webex and Teams workflows: Apprise takes the
# service's own webhook URL as it is.
TEAMS_RETIRED = (
    "Office 365 connectors are retired and Apprise has no schema for them; create a Teams "
    "workflow and add an Apprise channel with its URL"
)
PAGERDUTY_API_KEY = (
    "a PagerDuty REST API key (Apprise's pagerduty:// needs one beside the integration key)"
)


def _server(url: str, plain: str, secure: str) -> str:
    """``scheme://host[:port][/path]`` with Apprise's scheme for http or https."""
    parts = urlsplit(url)
    scheme = plain if parts.scheme == "http" else secure
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _query(**parameters: object) -> str:
    given = [f"{name}={value}" for name, value in parameters.items() if value not in (None, "")]
    return "?" + "&".join(given) if given else ""


def telegram(token: str, chat: str, *, topic: str = "") -> str:
    return f"tgram://{token}/{chat}" + (f":{topic}" if topic else "")


def pagerduty(integration_key: str, api_key: str) -> str:
    return f"pagerduty://{integration_key}@{api_key}"


def opsgenie(api_key: str, *, eu: bool = False) -> str:
    return f"opsgenie://{api_key}" + _query(region="eu" if eu else None)


def pushover(user_key: str, token: str, *, device: str = "", priority: int | None = None) -> str:
    return (
        f"pover://{user_key}@{token}" + (f"/{device}" if device else "") + _query(priority=priority)
    )


def matrix(server_url: str, access_token: str, room: str) -> str:
    server = urlsplit(server_url)
    scheme = "matrix" if server.scheme == "http" else "matrixs"
    return f"{scheme}://{access_token}@{server.netloc}/{quote(room, safe='!:#@')}"


def ntfy(
    server_url: str,
    topic: str,
    *,
    priority: int | None = None,
    token: str = "",
    user: str = "",
    password: str = "",
) -> str:
    server = _server(server_url, "ntfy", "ntfys")
    if user and not token:
        scheme, rest = server.split("://", 1)
        server = f"{scheme}://{quote(user)}:{password}@{rest}"
    return f"{server}/{topic}" + _query(priority=priority, token=token)


def gotify(server_url: str, token: str, *, priority: int | None = None) -> str:
    return f"{_server(server_url, 'gotify', 'gotifys')}/{token}" + _query(priority=priority)
