"""The Uptime Kuma importer as a pure function: a 1.x backup in, document and report out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.document import DocumentError
from config.importers.uptime_kuma import translate

FIXTURES = Path(__file__).parent / "fixtures/kuma"


def fixture(name: str):
    return translate((FIXTURES / name).read_text(), source=name, min_interval=30)


def kuma_monitor(**fields) -> dict:
    """A monitor as Kuma's backup writes one (the fields the importer reads, Kuma's defaults)."""
    return {
        "id": 1, "name": "M", "type": "http", "url": "https://example.org/", "method": "GET",
        "hostname": None, "port": None, "maxretries": 0, "active": True, "timeout": 48,
        "interval": 60, "retryInterval": 60, "keyword": None, "invertKeyword": False,
        "ignoreTls": False, "upsideDown": False, "maxredirects": 10,
        "accepted_statuscodes": ["200-299"], "dns_resolve_type": "A",
        "dns_resolve_server": "1.1.1.1", "notificationIDList": {}, "tags": [], "headers": None,
        "body": None, "authMethod": None, "jsonPath": None, "expectedValue": None,
        "parent": None, **fields,
    }  # fmt: skip


def one(**fields):
    backup = {"version": "1.23.16", "notificationList": [], "monitorList": [kuma_monitor(**fields)]}
    return translate(json.dumps(backup), source="backup.json", min_interval=30)


def monitor_of(**fields) -> dict:
    [monitor] = one(**fields).document["monitors"]
    return monitor


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "port", "hostname": "db.example.org", "port": 5432},
         {"kind": "tcp", "host": "db.example.org", "port": 5432}),
        ({"type": "ping", "hostname": "gw.example.org"},
         {"kind": "icmp", "host": "gw.example.org"}),
        ({"type": "dns", "hostname": "example.org", "dns_resolve_type": "TXT",
          "dns_resolve_server": "9.9.9.9", "port": 53},
         {"kind": "dns", "host": "example.org", "dns_record_type": "TXT",
          "dns_resolver": "9.9.9.9"}),
        ({"type": "dns", "hostname": "example.org", "dns_resolve_server": "9.9.9.9", "port": 5353},
         {"kind": "dns", "dns_resolver": "9.9.9.9:5353"}),
        ({"type": "keyword", "keyword": "Welcome"},
         {"kind": "http", "assertions": [{"type": "body_contains", "value": "Welcome"}]}),
        ({"type": "keyword", "keyword": "ERROR", "invertKeyword": True},
         {"assertions": [{"type": "body_not_contains", "value": "ERROR"}]}),
        ({"type": "json-query", "jsonPath": "data.items[0].state", "expectedValue": "ready"},
         {"assertions": [{"type": "condition", "value": "[BODY].data.items[0].state == ready"}]}),
        ({"type": "json-query", "jsonPath": "$.count", "expectedValue": "3",
          "jsonPathOperator": ">="},
         {"assertions": [{"type": "condition", "value": "[BODY].count >= 3"}]}),
        ({"accepted_statuscodes": ["200-299", "301", "418"]},
         {"expected_status": "200-299,301,418"}),
        ({"maxretries": 0}, {"failure_threshold": 1}),
        ({"maxretries": 4}, {"failure_threshold": 5}),
        ({"interval": 300, "timeout": 24}, {"interval": 300, "timeout": 24.0}),
        ({"ignoreTls": True, "maxredirects": 0}, {"verify_tls": False, "follow_redirects": False}),
        ({"active": False}, {"is_active": False}),
        ({"method": "put", "body": "{}", "headers": '{"Accept": "application/json"}'},
         {"method": "PUT", "body": "{}", "headers": {"Accept": "application/json"}}),
        ({"tags": [{"name": "prod", "value": ""}, {"name": "team", "value": "web"}]},
         {"tags": ["prod", "team:web"]}),
    ],
)  # fmt: skip
def test_translation_table(fields, expected):
    monitor = monitor_of(**fields)

    assert {name: monitor.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"type": "mysql"}, "mysql monitor 'M': healthmon does not query databases"),
        ({"type": "docker"}, "docker monitor 'M': healthmon does not watch Docker containers"),
        ({"type": "real-browser"}, "real-browser monitor 'M': healthmon does not drive a browser"),
        ({"type": "steam"}, "steam monitor 'M': healthmon has no Steam game-server kind"),
        ({"type": "grpc-keyword"}, "grpc-keyword monitor 'M': healthmon has no gRPC monitor kind"),
        ({"type": "something-new"},
         "something-new monitor 'M': Kuma's 'something-new' type has no healthmon kind"),
        ({"upsideDown": True},
         "http monitor 'M': upside-down mode (down is up) has no healthmon equivalent"),
        ({"authMethod": "oauth2-cc"},
         "http monitor 'M': 'oauth2-cc' authentication is not supported"),
        ({"type": "dns", "hostname": "x.org", "dns_resolve_type": "PTR"},
         "dns monitor 'M': record type PTR is not supported"),
        ({"type": "json-query", "jsonPath": "$sum(items.price)", "expectedValue": "3"},
         "json-query monitor 'M': the JSONata expression '$sum(items.price)' is more than a plain "
         "path (a.b[0].c); healthmon cannot evaluate JSONata"),
        ({"headers": "{not json"}, "http monitor 'M': headers are not a JSON object"),
    ],
)  # fmt: skip
def test_what_cannot_be_translated_is_reported_with_the_kuma_id(fields, why):
    result = one(**fields)

    assert "monitors" not in result.document
    assert [str(item) for item in result.untranslated] == [f"Kuma monitor 1: {why}"]


def test_push_monitors_become_heartbeats_and_each_gets_a_todo():
    result = fixture("backup-push.json")
    monitors = {m["key"]: m for m in result.document["monitors"]}

    assert monitors["nightly-backup"] == {
        "key": "nightly-backup", "name": "Nightly backup", "kind": "heartbeat",
        "interval": 86400, "grace": 3600, "tags": ["jobs"], "channels": [],
    }  # fmt: skip
    assert monitors["queue-worker"]["interval"] == 60 and monitors["queue-worker"]["grace"] == 60
    assert [str(item) for item in result.todo] == [
        f"Kuma monitor {n}: push monitor {name!r}: heartbeat {key!r} gets a new ping URL (shown "
        "once applied); replace Kuma's /api/push/<token> in the jobs that push to it"
        for n, name, key in (
            (1, "Nightly backup", "nightly-backup"),
            (2, "Queue worker", "queue-worker"),
        )
    ]
    assert "Ab12Cd34Ef" not in str(result.document)  # Kuma's push token is not carried over


def test_basic_auth_becomes_an_authorization_header_from_a_variable():
    monitors = {m["key"]: m for m in fixture("backup-push.json").document["monitors"]}

    assert monitors["admin-area"]["headers"] == {
        "Authorization": "Basic ${MONITOR_ADMIN_AREA_BASIC_AUTH}"
    }
    assert "pa55word" not in str(monitors)


def test_notifications_become_channels_and_monitors_name_them():
    result = fixture("backup-1.23.json")
    channels = {c["key"]: c for c in result.document["channels"]}
    monitors = {m["key"]: m for m in result.document["monitors"]}

    assert channels["slack-ops"] == {
        "key": "slack-ops", "name": "Slack #ops", "kind": "apprise",
        "secrets": {"url": "${CHANNEL_SLACK_OPS_SLACKWEBHOOKURL}"},
    }  # fmt: skip
    assert channels["telegram-on-call"]["secrets"] == {
        "url": "tgram://${CHANNEL_TELEGRAM_ON_CALL_TELEGRAMBOTTOKEN}/-100123456789"
    }
    assert channels["telegram-on-call"]["is_default"] is True
    assert channels["mail-ops"] == {
        "key": "mail-ops", "name": "Mail ops", "kind": "email",
        "config": {"to": ["alice@example.com"]},
    }  # fmt: skip
    assert channels["deploy-hook"]["config"] == {"url": "https://hooks.example.org/kuma"}
    assert channels["deploy-hook"]["secrets"] == {
        "headers": {"Authorization": "${CHANNEL_DEPLOY_HOOK_HEADERS_AUTHORIZATION}"}
    }
    assert channels["ntfy"] == {
        "key": "ntfy", "name": "ntfy", "kind": "apprise",
        "secrets": {"url": "ntfys://ntfy.sh/kuma-alerts?priority=5"}, "enabled": False,
    }  # fmt: skip
    assert "line" not in channels
    assert monitors["website"]["channels"] == ["slack-ops", "telegram-on-call"]
    # Monitor 4 named LINE (6), which was not translated: said at the monitor too.
    assert monitors["api-status"]["channels"] == ["deploy-hook"]
    assert (
        "Kuma monitor 4: monitor notification 'API status': notification 6 was not "
        "translated (see its own line)" in [str(i) for i in result.untranslated]
    )


@pytest.mark.parametrize(
    ("config", "url"),
    [
        ({"type": "discord", "discordWebhookUrl": "https://discord.com/api/webhooks/1/a"},
         "${CHANNEL_N_DISCORDWEBHOOKURL}"),
        ({"type": "pushover", "pushoveruserkey": "u", "pushoverapptoken": "t",
          "pushoverpriority": "1"},
         "pover://${CHANNEL_N_PUSHOVERUSERKEY}@${CHANNEL_N_PUSHOVERAPPTOKEN}?priority=1"),
        ({"type": "gotify", "gotifyserverurl": "https://g.example.org/",
          "gotifyapplicationToken": "t", "gotifyPriority": 8},
         "gotifys://g.example.org/${CHANNEL_N_GOTIFYAPPLICATIONTOKEN}?priority=8"),
        ({"type": "ntfy", "ntfyserverurl": "http://ntfy.local", "ntfytopic": "t",
          "ntfyaccesstoken": "tk"},
         "ntfy://ntfy.local/t?token=${CHANNEL_N_NTFYACCESSTOKEN}"),
        ({"type": "ntfy", "ntfytopic": "t", "ntfyusername": "bob", "ntfypassword": "pw"},
         "ntfys://bob:${CHANNEL_N_NTFYPASSWORD}@ntfy.sh/t"),
        ({"type": "PagerDuty", "pagerdutyIntegrationKey": "k"},
         "pagerduty://${CHANNEL_N_PAGERDUTYINTEGRATIONKEY}@${CHANNEL_N_API_KEY}"),
        ({"type": "Opsgenie", "opsgenieApiKey": "k", "opsgenieRegion": "eu"},
         "opsgenie://${CHANNEL_N_OPSGENIEAPIKEY}?region=eu"),
        ({"type": "matrix", "homeserverUrl": "https://m.example.org", "accessToken": "t",
          "internalRoomId": "!room:m.example.org"},
         "matrixs://${CHANNEL_N_ACCESSTOKEN}@m.example.org/!room:m.example.org"),
        ({"type": "mattermost", "mattermostWebhookUrl": "https://mm.example.org/hooks/x"},
         "${CHANNEL_N_MATTERMOSTWEBHOOKURL}"),
        ({"type": "GoogleChat", "googleChatWebhookURL": "https://chat.googleapis.com/v1/x"},
         "${CHANNEL_N_GOOGLECHATWEBHOOKURL}"),
    ],
)  # fmt: skip
def test_notification_providers_map_to_apprise_urls(config, url):
    backup = {
        "version": "1.23.16",
        "notificationList": [{"id": 1, "name": "n", "config": json.dumps(config), "active": 1}],
        "monitorList": [],
    }

    result = translate(json.dumps(backup), source="b.json", min_interval=30)

    assert result.document["channels"][0]["secrets"] == {"url": url}
    assert result.untranslated == []


def test_a_group_is_reported_and_its_name_tags_its_monitors():
    result = fixture("backup-1.23.json")
    cache = next(m for m in result.document["monitors"] if m["key"] == "cache")

    assert cache["tags"] == ["Databases"]
    assert (
        "Kuma monitor 8: group monitor 'Databases': a Kuma group is a folder; its name "
        "becomes a tag of the monitors in it" in [str(i) for i in result.untranslated]
    )


def test_every_monitor_and_notification_is_translated_or_reported():
    backup = json.loads((FIXTURES / "backup-1.23.json").read_text())
    result = fixture("backup-1.23.json")
    translated = {m["name"] for m in result.document["monitors"]}
    reported = {i.name for i in result.untranslated if i.where.startswith("Kuma monitor")}

    assert {m["name"] for m in backup["monitorList"]} <= translated | reported
    assert len(result.document["monitors"]) == 9 and len(result.document["channels"]) == 5
    assert [m["key"] for m in result.document["monitors"]].count("website-2") == 1


def test_no_secret_of_the_backup_reaches_the_document():
    text = str(fixture("backup-1.23.json").document) + str(fixture("backup-push.json").document)

    for secret in (
        "XXXXXXXXXXXX",
        "AAHdqTcvCH1v",
        "hunter2",
        "abcdefghijkl",
        "k3y-abcdef",
        "pa55word",
    ):
        assert secret not in text, secret


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"version": "1.23.16", "monitorList": [', "backup.json:1: document: Not valid JSON: "),
        ('{"version": "1.23.16"}', "backup.json:1: monitorList: Not an Uptime Kuma backup"),
        ("[]", "backup.json:1: monitorList: Not an Uptime Kuma backup"),
        ('{"monitorList": [], "notificationList": {}}', "backup.json:1: notificationList: "),
    ],
)
def test_text_that_is_not_a_kuma_backup_is_a_problem(text, problem):
    with pytest.raises(DocumentError) as caught:
        translate(text, source="backup.json", min_interval=30)

    assert str(caught.value).startswith(problem)


def test_a_malformed_item_is_reported_and_the_others_translated():
    backup = {
        "version": "1.23.16",
        "notificationList": [
            {"id": 1, "name": "p", "config": json.dumps(
                {"type": "pushover", "pushoveruserkey": "u", "pushoverapptoken": "t",
                 "pushoverpriority": "high"})},
        ],
        "monitorList": [
            kuma_monitor(id=1, name="bad port", type="port", hostname="h.example.org", port="x"),
            kuma_monitor(id=2, name="good"),
        ],
    }  # fmt: skip

    result = translate(json.dumps(backup), source="b.json", min_interval=30)

    assert [m["key"] for m in result.document["monitors"]] == ["good"]
    assert "channels" not in result.document
    assert [(i.where, i.name) for i in result.untranslated] == [
        ("Kuma notification 1", "p"),
        ("Kuma monitor 1", "bad port"),
    ]
    assert all(i.why.startswith("malformed: invalid literal") for i in result.untranslated)
