"""The Gatus importer as a pure function: configuration text in, document and report out."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.document import DocumentError
from config.importers.gatus import expand_variables, translate, translate_maintenance

FIXTURES = Path(__file__).parent / "fixtures/gatus"


def gatus(text: str, *, min_interval: int = 30):
    return translate([("config.yaml", text)], min_interval=min_interval)


def endpoint(text: str, **kwargs) -> dict:
    """The one monitor a configuration of one endpoint becomes."""
    [monitor] = gatus(text, **kwargs).document["monitors"]
    return monitor


def fixture(*names: str):
    return translate([(name, (FIXTURES / name).read_text()) for name in names], min_interval=30)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/health", {"kind": "http", "url": "https://example.org/health"}),
        ("tcp://db.example.org:5432", {"kind": "tcp", "host": "db.example.org", "port": 5432}),
        ("icmp://192.0.2.1", {"kind": "icmp", "host": "192.0.2.1"}),
        ("tls://example.org:443", {"kind": "tls", "host": "example.org", "port": 443}),
        (
            "starttls://smtp.example.org:587",
            {"kind": "tls", "host": "smtp.example.org", "port": 587, "starttls": "smtp"},
        ),
    ],
)
def test_the_url_scheme_chooses_the_kind(url, expected):
    monitor = endpoint(f"endpoints:\n  - name: x\n    url: '{url}'\n")

    assert {name: monitor[name] for name in expected} == expected


def test_a_dns_block_is_a_dns_monitor_asking_the_url_as_resolver():
    monitor = endpoint(
        "endpoints:\n  - name: dns\n    url: 8.8.8.8\n    dns:\n      query-name: example.com\n"
        "      query-type: MX\n    conditions: ['[DNS_RCODE] == NOERROR']\n"
    )

    assert monitor["kind"] == "dns" and monitor["host"] == "example.com"
    assert monitor["dns_record_type"] == "MX" and monitor["dns_resolver"] == "8.8.8.8"
    assert monitor["assertions"] == [{"type": "condition", "value": "[DNS_RCODE] == NOERROR"}]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("udp://10.0.0.1:53", "udp:// endpoint: healthmon has no UDP monitor kind"),
        ("grpc://svc:50051", "grpc:// endpoint: healthmon has no gRPC health-check kind"),
        ("ws://example.org/ws", "ws:// endpoint: healthmon has no WebSocket monitor kind"),
        ("ssh://example.org:22", "ssh:// endpoint: healthmon has no SSH monitor kind"),
        ("tcp://db.example.org", "'tcp://db.example.org' has no port"),
        ("ftp://example.org", "'ftp://example.org': Gatus does not know this endpoint type either"),
    ],
)
def test_endpoints_of_other_kinds_are_reported_with_their_line(url, why):
    result = gatus(f"endpoints:\n  - name: x\n    url: '{url}'\n")

    assert "monitors" not in result.document
    assert [str(item) for item in result.untranslated] == [f"config.yaml:2: endpoint 'x': {why}"]


@pytest.mark.parametrize(
    ("interval", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("90s", 90)]
)
def test_intervals_are_go_durations(interval, seconds):
    monitor = endpoint(
        f"endpoints:\n  - name: x\n    url: https://a.io/\n    interval: {interval}\n"
    )

    assert monitor["interval"] == seconds


def test_an_interval_below_the_servers_minimum_is_raised_and_reported():
    result = gatus("endpoints:\n  - name: x\n    url: https://a.io/\n    interval: 10s\n")

    assert result.document["monitors"][0]["interval"] == 30
    assert [str(i) for i in result.untranslated] == [
        "config.yaml:4: endpoint interval 'x': interval 10s is below this server's minimum; "
        "set to 30s"
    ]


def test_http_request_fields_group_and_client_settings():
    monitor = endpoint(
        """
endpoints:
  - name: users
    group: core
    url: https://example.org/api
    method: post
    headers: {Content-Type: application/json}
    body: '{"q": 1}'
    enabled: false
    client: {insecure: true, ignore-redirect: true, timeout: 5s}
"""
    )

    assert monitor == {
        "key": "users",
        "name": "users",
        "kind": "http",
        "url": "https://example.org/api",
        "tags": ["core"],
        "is_active": False,
        "interval": 60,
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": '{"q": 1}',
        "expected_status": "100-599",  # Gatus judges by the conditions alone
        "verify_tls": False,
        "follow_redirects": False,
        "timeout": 5.0,
        "channels": [],
    }


def test_a_literal_secret_header_becomes_a_variable_the_report_names():
    result = gatus(
        "endpoints:\n  - name: api\n    url: https://a.io/\n"
        "    headers:\n      Authorization: Bearer abc\n      Accept: '*/*'\n"
    )

    assert result.document["monitors"][0]["headers"] == {
        "Authorization": "${MONITOR_API_HEADERS_AUTHORIZATION}",
        "Accept": "*/*",
    }
    assert "Bearer abc" not in str(result.document)
    assert list(result.variables) == ["MONITOR_API_HEADERS_AUTHORIZATION"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("url: $BASE/health", "url: ${BASE}/health"),
        ("url: ${BASE}/health", "url: ${BASE}/health"),
        ("body: price is $$5", "body: price is $5"),
    ],
)
def test_gatus_environment_references_become_document_references(text, expected):
    assert expand_variables(text) == expected


def test_conditions_become_condition_assertions_and_bad_ones_are_reported_on_their_line():
    result = fixture("single.yaml")
    back_end = next(m for m in result.document["monitors"] if m["key"] == "back-end")

    assert back_end["assertions"] == [
        {"type": "condition", "value": "[STATUS] == any(200, 201)"},
        {"type": "condition", "value": "len([BODY].users) < 5"},
    ]
    reported = [str(item) for item in result.untranslated if item.kind == "condition"]
    assert reported == [
        "single.yaml:39: condition 'back-end': '[STATUS] === 200': unknown operator '==='",
        "single.yaml:40: condition 'back-end': '[DOMAIN_EXPIRATION] > 720h': "
        "[DOMAIN_EXPIRATION] is not supported: healthmon does not look up domain registrations",
    ]


def test_alert_thresholds_come_from_the_alert_or_the_providers_default_alert():
    monitors = {m["key"]: m for m in fixture("single.yaml").document["monitors"]}

    # front-end's alert says nothing: the slack provider's default-alert (4, 3) applies.
    assert (
        monitors["front-end"]["failure_threshold"],
        monitors["front-end"]["success_threshold"],
    ) == (4, 3)
    assert (
        monitors["back-end"]["failure_threshold"],
        monitors["back-end"]["success_threshold"],
    ) == (2, 1)
    assert monitors["front-end"]["channels"] == ["slack"]
    # No alert: nothing to notify, and healthmon's thresholds.
    assert monitors["mysql"]["channels"] == [] and "failure_threshold" not in monitors["mysql"]


def test_an_alert_without_a_threshold_anywhere_takes_gatus_defaults():
    monitor = endpoint(
        "alerting:\n  discord:\n    webhook-url: https://discord.com/api/webhooks/1/a\n"
        "endpoints:\n  - name: x\n    url: https://a.io/\n    alerts:\n      - type: discord\n"
    )

    assert (monitor["failure_threshold"], monitor["success_threshold"]) == (3, 2)


def test_keys_are_slugs_of_names_and_collisions_are_suffixed():
    keys = [m["key"] for m in fixture("single.yaml").document["monitors"]]

    assert keys == [
        "front-end", "back-end", "mysql", "ping-gateway", "dns-example", "certificate", "mail",
        "front-end-2",
    ]  # fmt: skip
    assert keys == [m["key"] for m in fixture("single.yaml").document["monitors"]]  # stable


PROVIDERS = [
    ("discord", "${DISCORD_WEBHOOK_URL}"),
    ("telegram", "tgram://${CHANNEL_TELEGRAM_TOKEN}/-100123456789"),
    (
        "pushover",
        "pover://${CHANNEL_PUSHOVER_USER_KEY}@${CHANNEL_PUSHOVER_APPLICATION_TOKEN}?priority=1",
    ),
    ("ntfy", "ntfys://ntfy.example.org/gatus-alerts?priority=4&token=${CHANNEL_NTFY_TOKEN}"),
    ("gotify", "gotifys://gotify.example.org/${CHANNEL_GOTIFY_TOKEN}?priority=8"),
    (
        "matrix",
        "matrixs://${CHANNEL_MATRIX_ACCESS_TOKEN}@matrix.example.org/!abcdefgh:matrix.example.org",
    ),
    ("opsgenie", "opsgenie://${CHANNEL_OPSGENIE_API_KEY}"),
]


@pytest.mark.parametrize(("provider", "url"), PROVIDERS)
def test_alerting_providers_become_apprise_channels_with_secrets_as_variables(provider, url):
    channels = {c["key"]: c for c in fixture("multi/alerting.yaml").document["channels"]}

    assert channels[provider] == {
        "key": provider, "name": provider, "kind": "apprise", "secrets": {"url": url},
    }  # fmt: skip


def test_custom_becomes_a_webhook_and_email_an_email_channel_with_what_is_lost_reported():
    result = fixture("multi/alerting.yaml", "multi/endpoints.yaml")
    channels = {c["key"]: c for c in result.document["channels"]}

    assert channels["custom"] == {
        "key": "custom",
        "name": "custom",
        "kind": "webhook",
        "config": {"url": "https://hooks.example.org/gatus"},
        "secrets": {"headers": {"Authorization": "${CHANNEL_CUSTOM_HEADERS_AUTHORIZATION}"}},
    }
    assert channels["email"]["config"] == {"to": ["alice@example.com"]}
    lines = [str(item) for item in result.untranslated]
    assert (
        "multi/alerting.yaml:33: alerting provider 'email': from, host, password, port, "
        "username not kept: healthmon sends mail through its own SMTP server (EMAIL_* settings)"
        in lines
    )
    assert (
        "multi/alerting.yaml:42: alerting provider 'twilio': no Apprise or webhook mapping "
        "for this provider" in lines
    )
    assert (
        "multi/endpoints.yaml:23: alert 'api': the 'twilio' provider is not configured or "
        "not translated" in lines
    )


def test_no_secret_of_the_configuration_reaches_the_document():
    result = fixture("multi/alerting.yaml", "multi/endpoints.yaml", "single.yaml")
    text = str(result.document)

    secrets = ["AAHdqTcvCH1vGWJx", "azGDORePK8", "uQiRzpo4", "tk_abc", "AbCdEf123456"]
    secrets += ["syt_YWxp", "00000000-0000", "Token abc", "hunter2", "XXXXXXXXXXXX", "s3cr3t"]
    for secret in secrets:
        assert secret not in text, secret
    assert set(result.variables) >= {"CHANNEL_SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "API_KEY"}


def test_a_provider_in_two_files_keeps_the_first_and_reports_the_second():
    slack = "alerting:\n  slack:\n    webhook-url: https://hooks.slack.com/services/A/B/C\n"

    result = translate([("a.yaml", slack), ("b.yaml", slack)], min_interval=30)

    assert len(result.document["channels"]) == 1
    assert [str(i) for i in result.untranslated] == [
        "b.yaml:2: alerting provider 'slack': configured in an earlier file too; the first one "
        "is kept"
    ]


def test_server_settings_and_endpoint_extras_are_reported_not_dropped():
    lines = [str(item) for item in fixture("single.yaml").untranslated]

    assert "single.yaml:2: setting 'metrics': healthmon always exposes /metrics" in lines
    assert "single.yaml:84: endpoint ui 'front-end': display options of Gatus' dashboard" in lines


@pytest.mark.parametrize(
    ("maintenance", "expected"),
    [
        (
            {"start": "23:00", "duration": "1h", "timezone": "Europe/Amsterdam",
             "every": ["Monday", "Thursday"]},
            {"recurrence": "0 23 * * 1,4", "duration_minutes": 60, "timezone": "Europe/Amsterdam"},
        ),
        (
            {"start": "02:30", "duration": "90m"},
            {"recurrence": "30 2 * * *", "duration_minutes": 90, "timezone": "UTC"},
        ),
        (
            {"start": "7:05", "duration": "30s", "every": ["Sunday", "Saturday"]},
            {"recurrence": "5 7 * * 0,6", "duration_minutes": 1, "timezone": "UTC"},
        ),
    ],
)  # fmt: skip
def test_maintenance_becomes_a_whole_team_window_with_a_cron_recurrence(maintenance, expected):
    window = translate_maintenance(maintenance)

    assert window == {
        "key": "gatus-maintenance", "name": "Maintenance (from Gatus)", "whole_team": True,
        **expected,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("maintenance", "why"),
    [
        ({"start": "25:00", "duration": "1h"}, "start '25:00' is not hh:mm"),
        ({"start": "23:00", "duration": "2d"}, "duration '2d' is not a duration up to 24h"),
        (
            {"start": "23:00", "duration": "1h", "every": ["Mon"]},
            "every: 'Mon' is not a day such as Monday",
        ),
        ({"enabled": False, "start": "23:00", "duration": "1h"}, "disabled in Gatus; not imported"),
    ],
)
def test_maintenance_that_cannot_be_a_window_says_why(maintenance, why):
    assert translate_maintenance(maintenance) == why


def test_the_maintenance_section_is_in_the_document():
    assert fixture("single.yaml").document["maintenance_windows"] == [
        {
            "key": "gatus-maintenance",
            "name": "Maintenance (from Gatus)",
            "recurrence": "0 23 * * 1,4",
            "duration_minutes": 60,
            "timezone": "Europe/Amsterdam",
            "whole_team": True,
        }
    ]


def test_external_endpoints_with_a_heartbeat_become_heartbeat_monitors_to_repoint():
    result = gatus(
        "external-endpoints:\n  - name: backup\n    group: jobs\n    token: abc\n"
        "    heartbeat:\n      interval: 30m\n  - name: pushed\n    token: def\n"
    )

    assert result.document["monitors"] == [
        {"key": "backup", "name": "backup", "kind": "heartbeat", "interval": 1800,
         "grace": 1800, "tags": ["jobs"]},
    ]  # fmt: skip
    assert [item.name for item in result.todo] == ["backup"]
    assert [str(i) for i in result.untranslated] == [
        "config.yaml:7: external endpoint 'pushed': pushed results without a heartbeat interval "
        "have no healthmon equivalent"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("endpoints:\n  - name: a\n    url: 'https://a.io\n", "config.yaml:4: document: "),
        ("- just\n- a list\n", "config.yaml:1: document: A Gatus configuration is a mapping."),
        ("endpoints: {name: a}\n", "config.yaml:1: endpoints: Expected a list."),
        ("endpoints:\n  - name: a\n    name: b\n", "config.yaml:3: name: Duplicate field."),
    ],
)
def test_text_that_is_not_a_gatus_configuration_is_a_problem_with_its_line(text, problem):
    with pytest.raises(DocumentError) as caught:
        gatus(text)

    assert str(caught.value).startswith(problem)


def test_a_bad_condition_in_a_flow_list_is_reported_on_its_own_line():
    result = gatus(
        "endpoints:\n  - name: x\n    url: https://a.io/\n"
        "    conditions: ['[STATUS] == 200',\n      '[STATUS] ~ 2']\n"
    )

    assert [str(i) for i in result.untranslated] == [
        "config.yaml:5: condition 'x': '[STATUS] ~ 2': no operator; use ==, !=, <, <=, > or >= "
        "with a space on each side"
    ]


def test_a_malformed_provider_is_reported_and_the_rest_translated():
    result = gatus(
        "alerting:\n  gotify:\n    server-url: https://g.example.org\n    token: t\n"
        "    priority: high\n"
        "endpoints:\n  - name: x\n    url: https://a.io/\n    alerts: [{type: gotify}]\n"
    )

    assert "channels" not in result.document
    assert result.document["monitors"][0]["channels"] == []
    provider, alert = result.untranslated
    assert str(provider).startswith("config.yaml:2: alerting provider 'gotify': malformed: ")
    assert str(alert) == (
        "config.yaml:9: alert 'x': the 'gotify' provider is not configured or not translated"
    )
