"""Writing monitors of each kind: the API's 400s name the kind's fields; the CLI and the
schema know the kinds; the kind never changes."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command

from lib import icmp
from monitors.models import Monitor
from monitors.tests.kind_servers import EchoServer

pytestmark = pytest.mark.django_db

TCP = {"name": "Postgres", "kind": "tcp", "host": "db.internal", "port": 5432}
DNS = {"name": "MX", "kind": "dns", "host": "example.com", "dns_record_type": "MX"}
TLS = {
    "name": "SMTP cert",
    "kind": "tls",
    "host": "mx.example.com",
    "port": 587,
    "starttls": "smtp",
}
ENSURE = "Ensure this value is"
ICMP = {"name": "Gateway", "kind": "icmp", "host": "127.0.0.1", "ping_count": 5}


def create(client, data: dict):
    return client.post("/api/v1/monitors/", data, format="json")


@pytest.mark.parametrize("data", [TCP, DNS, TLS, ICMP], ids=["tcp", "dns", "tls", "icmp"])
def test_a_monitor_of_each_kind_is_created_with_its_target(alice_client, data):
    response = create(alice_client, data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert {key: body[key] for key in data} == data
    assert body["url"] == ""


def test_existing_and_default_monitors_are_http(alice_client):
    response = create(alice_client, {"name": "Web", "url": "https://example.com/"})
    assert response.status_code == 201
    assert response.json()["kind"] == "http"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"name": "x", "kind": "tcp"},
            {
                "host": ["This field is required for tcp monitors."],
                "port": ["This field is required for tcp monitors."],
            },
        ),
        ({"name": "x"}, {"url": ["This field is required for http monitors."]}),
        (
            {**TCP, "url": "https://example.com/", "dns_record_type": "A"},
            {
                "url": ["tcp monitors do not use url."],
                "dns_record_type": ["tcp monitors do not use dns_record_type."],
            },
        ),
        ({**TCP, "port": 70000}, {"port": ["Ensure this value is less than or equal to 65535."]}),
        (
            {**TCP, "host": "db internal"},
            {"host": ["'db internal' is not a host name or an IP address."]},
        ),
        ({**DNS, "dns_record_type": "PTR"}, {"dns_record_type": ['"PTR" is not a valid choice.']}),
        (
            {**DNS, "dns_resolver": "1.1.1.1:99999"},
            {
                "dns_resolver": [
                    "'1.1.1.1:99999' is not a resolver: use host, host:port or [IPv6]:port."
                ]
            },
        ),
        ({**TLS, "starttls": "imap"}, {"starttls": ['"imap" is not a valid choice.']}),
        (
            {
                **DNS,
                "assertions": [
                    {"type": "rcode", "value": "NOERROR"},
                    {"type": "body_contains", "value": "ok"},
                ],
            },
            {
                "assertions": [
                    "Assertion 2: body_contains does not apply to dns monitors; use one of: "
                    "answer_contains, answer_equals, answer_matches, condition, rcode, "
                    "response_time_below."
                ]
            },
        ),
        (
            {**TCP, "assertions": [{"type": "cert_valid_days", "value": 7}]},
            {
                "assertions": [
                    "Assertion 1: cert_valid_days does not apply to tcp monitors; use one of: "
                    "condition, reply_contains, response_time_below."
                ]
            },
        ),
    ],
    ids=[
        "tcp-needs-host-and-port",
        "http-needs-url",
        "fields-of-other-kinds",
        "port-range",
        "host-syntax",
        "record-type",
        "resolver",
        "starttls-protocol",
        "assertion-of-another-kind",
        "cert-assertion-on-tcp",
    ],
)
def test_bad_config_is_a_400_naming_the_kinds_fields(alice_client, data, errors):
    response = create(alice_client, data)

    assert response.status_code == 400
    assert response.json() == errors


def test_the_kind_cannot_change(alice_client):
    monitor_id = create(alice_client, TCP).json()["id"]

    response = alice_client.patch(
        f"/api/v1/monitors/{monitor_id}/",
        {"kind": "dns", "dns_record_type": "A", "port": None},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"kind": ["The kind of a monitor cannot change."]}
    assert Monitor.objects.get(pk=monitor_id).kind == "tcp"


def test_the_cli_creates_a_monitor_of_a_kind(alice):
    out = io.StringIO()
    call_command(
        "monitors", "create", "--team", str(alice.personal_team.id), "--name", "Redis",
        "--kind", "tcp", "--host", "127.0.0.1", "--port", "6379", "--send", "PING",
        "--assertions", '[{"type": "reply_contains", "value": "+PONG"}]',
        stdout=out,
    )  # fmt: skip

    monitor = Monitor.objects.get(pk=int(out.getvalue()))
    assert (monitor.kind, monitor.host, monitor.port, monitor.send) == (
        "tcp",
        "127.0.0.1",
        6379,
        "PING",
    )


def test_the_cli_refuses_a_kind_without_its_target(alice):
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "monitors", "create", "--team", str(alice.personal_team.id), "--name", "x",
            "--kind", "dns", "--host", "example.com", stderr=err,
        )  # fmt: skip
    assert err.getvalue() == "dns_record_type: This field is required for dns monitors.\n"


def test_the_openapi_schema_shows_the_kind_and_its_fields(anon_client):
    schema = yaml.safe_load(anon_client.get("/api/schema/").content)
    properties = schema["components"]["schemas"]["Monitor"]["properties"]

    kind_enum = properties["kind"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][kind_enum]["enum"] == [
        "http",
        "tcp",
        "dns",
        "tls",
        "api",
        "icmp",
        "heartbeat",
    ]
    for name in (
        "host",
        "port",
        "use_tls",
        "send",
        "dns_record_type",
        "dns_resolver",
        "tls_server_name",
        "starttls",
        "ping_count",
        "cron",
        "tz",
        "grace",
        "ping_url",
    ):
        assert name in properties, name
    assert "dns: the name to query" in properties["host"]["description"]
    assert properties["ping_url"]["readOnly"] is True


def test_check_monitor_checks_a_monitor_of_another_kind(alice):
    server = EchoServer().start()
    try:
        monitor = Monitor.objects.create(
            team=alice.personal_team,
            name="Echo",
            kind="tcp",
            host="127.0.0.1",
            port=server.port,
            is_active=False,
        )
        out = io.StringIO()
        call_command("check_monitor", str(monitor.id), stdout=out)
    finally:
        server.stop()

    lines = out.getvalue().splitlines()
    assert lines[0] == f"tcp 127.0.0.1:{server.port}  [Echo]"
    assert lines[1].split() == ["Status:", "UP"]
    assert not any("HTTP status" in line for line in lines)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "x", "kind": "icmp"}, {"host": ["This field is required for icmp monitors."]}),
        ({**ICMP, "ping_count": 11}, {"ping_count": [f"{ENSURE} less than or equal to 10."]}),
        ({**ICMP, "ping_count": 0}, {"ping_count": [f"{ENSURE} greater than or equal to 1."]}),
        ({**ICMP, "port": 7}, {"port": ["icmp monitors do not use port."]}),
        ({**TCP, "ping_count": 3}, {"ping_count": ["tcp monitors do not use ping_count."]}),
        (
            {**ICMP, "assertions": [{"type": "packet_loss_below", "value": 101}]},
            {"assertions": ["Assertion 1: packet_loss_below: value is a percentage, at most 100."]},
        ),
        (
            {**ICMP, "assertions": [{"type": "body_contains", "value": "ok"}]},
            {"assertions": [
                "Assertion 1: body_contains does not apply to icmp monitors; use one of: "
                "condition, packet_loss_below, response_time_below, rtt_below."
            ]},
        ),
        (
            {**TCP, "assertions": [{"type": "rtt_below", "value": 5}]},
            {"assertions": [
                "Assertion 1: rtt_below does not apply to tcp monitors; use one of: "
                "condition, reply_contains, response_time_below."
            ]},
        ),
    ],
    ids=["no-host", "too-many-pings", "no-pings", "port", "ping-count-on-tcp",
         "loss-over-100", "http-assertion", "rtt-on-tcp"],
)  # fmt: skip
def test_bad_icmp_config_is_a_400_naming_the_fields(alice_client, data, errors):
    response = create(alice_client, data)

    assert response.status_code == 400
    assert response.json() == errors


def test_icmp_where_the_kernel_refuses_icmp_sockets_is_a_400_saying_which_sysctl(
    alice_client, monkeypatch
):
    # This process runs as root, which may always open a raw socket: the refusal itself is
    # tested as nobody (test_icmp); here, what the API makes of it.
    monkeypatch.setattr(icmp, "_socket_type", lambda: None)

    response = create(alice_client, ICMP)

    assert response.status_code == 400
    [message] = response.json()["kind"]
    assert message.startswith(
        "icmp monitors need unprivileged ICMP sockets: set net.ipv4.ping_group_range"
    )


def test_the_cli_creates_an_icmp_monitor(alice):
    out = io.StringIO()
    call_command(
        "monitors", "create", "--team", str(alice.personal_team.id), "--name", "Gateway",
        "--kind", "icmp", "--host", "127.0.0.1", "--ping-count", "4",
        "--assertions", '[{"type": "packet_loss_below", "value": 50}]',
        stdout=out,
    )  # fmt: skip

    monitor = Monitor.objects.get(pk=int(out.getvalue()))
    assert (monitor.kind, monitor.host, monitor.ping_count) == ("icmp", "127.0.0.1", 4)
