"""Transports against real servers, and their pure helpers by table."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.conf import settings
from django.utils import timezone

from conftest import BLOCKED_ADDRESS
from lib.outbound import OutboundError, Phase
from monitors.tests.http_target import HttpTarget
from notifications import services
from notifications.messages import channel_test_payload, incident_payload, render
from notifications.tests.conftest import make_incident, make_monitor
from notifications.transports import (
    TransportError,
    apprise_url_secrets,
    http_failure,
    parse_retry_after,
    redact,
    sign,
    smtp_failure,
    transport_for,
    webhook_failure,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "retry_after", "permanent", "wait"),
    [
        (200, None, None, None),
        (204, None, None, None),
        (301, None, True, None),
        (307, None, True, None),
        (400, None, True, None),
        (401, None, True, None),
        (404, None, True, None),
        (410, None, True, None),
        (408, None, False, None),
        (429, "7", False, 7.0),
        (429, None, False, None),
        (500, None, False, None),
        (502, None, False, None),
        (503, "120", False, 120.0),
    ],
)
def test_http_status_decides_success_retry_or_give_up(status, retry_after, permanent, wait):
    failure = http_failure(status, retry_after)
    if permanent is None:
        assert failure is None
    else:
        assert failure.permanent is permanent
        assert failure.retry_after == wait
        assert failure.response_code == status


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("Fri, 02 Jan 2026 03:05:05 GMT", 60.0),
        ("Fri, 02 Jan 2026 03:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_or_http_dates(header, seconds):
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("error", "permanent", "code"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.io": (550, b"no such user")}), True, 550),
        (smtplib.SMTPRecipientsRefused({"a@x.io": (451, b"try later")}), False, 451),
        (
            smtplib.SMTPRecipientsRefused({"a@x.io": (550, b"no"), "b@x.io": (452, b"full")}),
            False,
            550,
        ),
        (smtplib.SMTPSenderRefused(553, b"sender rejected", "hm@x.io"), True, 553),
        (smtplib.SMTPDataError(421, b"closing"), False, 421),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), True, 535),
        (smtplib.SMTPServerDisconnected("gone"), False, None),
        (ConnectionRefusedError(111, "Connection refused"), False, None),
        (TimeoutError(), False, None),
    ],
)
def test_smtp_4xx_and_no_answer_are_transient_5xx_permanent(error, permanent, code):
    failure = smtp_failure(error, server="mail.test:25")
    assert failure.permanent is permanent
    assert failure.response_code == code


@pytest.mark.parametrize(
    ("error", "permanent", "message"),
    [
        (OutboundError(Phase.BLOCKED, "in a blocked network", permanent=True), True,
         "in a blocked network"),
        (OutboundError(Phase.REQUEST, "Invalid URL 'x'", permanent=True), True,
         "The request could not be made: Invalid URL 'x'"),
        (OutboundError(Phase.TIMEOUT, "No response within 5s"), False,
         "The receiver did not answer within 5s"),
        (OutboundError(Phase.DNS, "DNS lookup failed"), False, "Could not connect to h.test:8080"),
        (OutboundError(Phase.CONNECT, "refused"), False, "Could not connect to h.test:8080"),
        (OutboundError(Phase.TLS, "bad certificate"), False, "Could not connect to h.test:8080"),
        (OutboundError(Phase.REQUEST, "closed"), False, "Could not connect to h.test:8080"),
    ],
)  # fmt: skip
def test_webhook_failure_is_permanent_only_when_the_same_request_would_fail_again(
    error, permanent, message
):
    failure = webhook_failure(error, url="http://h.test:8080/hook", timeout=5)

    assert (failure.permanent, failure.message) == (permanent, message)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    # echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret'
    assert sign("secret", "1700000000", b'{"a":1}') == (
        "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
    )


def test_apprise_url_parts_are_redacted_wherever_they_appear():
    url = "slack://TokenAAA/TokenBBB/TokenCCC/#ops"
    text = f"could not reach {url}; token TokenBBB refused"

    cleaned = redact(text, apprise_url_secrets(url))

    assert "TokenAAA" not in cleaned and "TokenBBB" not in cleaned and "TokenCCC" not in cleaned


# --- messages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_message_renders_subject_text_and_html_for_each_event(alice):
    incident = make_incident(make_monitor(alice.personal_team, name="Checkout <API>"))
    incident.resolved_at = timezone.now()
    for event, headline in [("opened", "DOWN"), ("resolved", "RESOLVED")]:
        message = render(incident_payload(incident, event, occurred_at=NOW))
        assert message.subject == f"[healthmon] {headline}: Checkout <API>"
        assert "Checkout <API>" in message.text  # plain text is not HTML-escaped
        assert "Checkout &lt;API&gt;" in message.html
        assert "HTTP 503" in message.text
        assert f"/monitors/{incident.monitor_id}/" in message.text  # a page for people
        page = f"{settings.SITE_URL}/monitors/{incident.monitor_id}/"
        assert f'href="{page}"' in message.html


# --- email through a real SMTP server ----------------------------------------------------------


@pytest.mark.django_db
def test_email_arrives_with_plain_text_and_html(alice, smtp, settings):
    settings.EMAIL_RECIPIENTS_ANY = True  # addresses outside the team
    monitor = make_monitor(alice.personal_team)
    channel = services.channel_create(
        team=alice.personal_team,
        name="On-call mail",
        kind="email",
        config={"to": ["oncall@example.com", "lead@example.com"]},
    )
    payload = incident_payload(make_incident(monitor), "opened", occurred_at=NOW)

    sent = transport_for(channel).notify(payload, idempotency_key="k-1")

    assert sent.response_code == 250
    [envelope] = smtp.envelopes
    assert sorted(envelope.rcpt_tos) == ["lead@example.com", "oncall@example.com"]
    content = envelope.content.decode()
    assert "Subject: [healthmon] DOWN: Payments API" in content
    assert "text/plain" in content and "text/html" in content
    assert "X-Healthmon-Delivery: k-1" in content


@pytest.mark.django_db
def test_email_refused_recipient_is_a_permanent_failure(alice, smtp, settings):
    settings.EMAIL_RECIPIENTS_ANY = True  # addresses outside the team
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such user"
    channel = services.channel_create(
        team=alice.personal_team, name="Mail", kind="email", config={"to": ["gone@example.com"]}
    )
    payload = channel_test_payload(channel_name="Mail", team_id=1, team_name="T", occurred_at=NOW)

    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")

    assert caught.value.permanent
    assert caught.value.response_code == 550


@pytest.mark.django_db
def test_email_to_a_server_that_is_down_is_transient(alice, settings):
    settings.EMAIL_RECIPIENTS_ANY = True  # addresses outside the team
    from notifications.tests.receivers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    channel = services.channel_create(
        team=alice.personal_team, name="Mail", kind="email", config={"to": ["a@example.com"]}
    )
    payload = channel_test_payload(channel_name="Mail", team_id=1, team_name="T", occurred_at=NOW)

    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")

    assert not caught.value.permanent


# --- webhook -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_sends_secret_headers_and_refuses_blocked_networks(alice, receiver, settings):
    channel = services.channel_create(
        team=alice.personal_team,
        name="Hook",
        kind="webhook",
        config={"url": receiver.url},
        secrets={"headers": {"Authorization": "Bearer tok-123456"}},
    )
    payload = channel_test_payload(channel_name="Hook", team_id=1, team_name="T", occurred_at=NOW)

    transport_for(channel).notify(payload, idempotency_key="k")
    assert receiver.requests[0].headers["Authorization"] == "Bearer tok-123456"
    assert receiver.requests[0].signature_valid(channel.secrets["signing_secret"])

    settings.BLOCKED_NETWORKS = ["127.0.0.0/8"]
    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")
    assert caught.value.permanent
    assert "blocked network" in caught.value.message
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_webhook_does_not_follow_redirects(alice, receiver):
    receiver.default = (302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    channel = services.channel_create(
        team=alice.personal_team, name="Hook", kind="webhook", config={"url": receiver.url}
    )
    payload = channel_test_payload(channel_name="Hook", team_id=1, team_name="T", occurred_at=NOW)

    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")

    assert caught.value.permanent
    assert caught.value.response_code == 302


@pytest.mark.django_db
def test_webhook_connection_refused_is_transient(alice):
    from notifications.tests.receivers import free_port

    channel = services.channel_create(
        team=alice.personal_team,
        name="Hook",
        kind="webhook",
        config={"url": f"http://127.0.0.1:{free_port()}/hook"},
    )
    payload = channel_test_payload(channel_name="Hook", team_id=1, team_name="T", occurred_at=NOW)

    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")

    assert not caught.value.permanent


# --- Apprise, through its own JSON webhook scheme ---------------------------------------------


def apprise_channel(team, url: str):
    return services.channel_create(team=team, name="Chat", kind="apprise", secrets={"url": url})


@pytest.mark.django_db
def test_apprise_json_scheme_delivers_title_and_body(alice, receiver):
    port = receiver.url.split(":")[2].split("/")[0]
    channel = apprise_channel(alice.personal_team, f"json://127.0.0.1:{port}/hook")
    incident = make_incident(make_monitor(alice.personal_team))
    payload = incident_payload(incident, "opened", occurred_at=NOW)

    transport_for(channel).notify(payload, idempotency_key="k")

    [request] = receiver.requests
    body = request.json()
    assert body["title"] == "[healthmon] DOWN: Payments API"
    assert "HTTP 503" in body["message"]
    assert body["type"] == "failure"


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "permanent"), [(500, False), (404, True)])
def test_apprise_failure_is_classified_and_redacted(alice, receiver, status, permanent):
    receiver.default = (status, {})
    port = receiver.url.split(":")[2].split("/")[0]
    channel = apprise_channel(
        alice.personal_team, f"json://hookuser:topsecretpass@127.0.0.1:{port}/hook"
    )
    payload = channel_test_payload(channel_name="Chat", team_id=1, team_name="T", occurred_at=NOW)

    with pytest.raises(TransportError) as caught:
        transport_for(channel).notify(payload, idempotency_key="k")

    assert caught.value.permanent is permanent
    assert caught.value.response_code == status
    assert "topsecretpass" not in caught.value.message


@pytest.mark.django_db
def test_apprise_to_a_blocked_address_in_decimal_form_is_refused(alice):
    # 2130706434 is 127.0.0.2, which conftest blocks: Apprise's own request must not go out.
    with HttpTarget(BLOCKED_ADDRESS) as blocked:
        channel = apprise_channel(alice.personal_team, f"json://2130706434:{blocked.port}/hook")
        payload = channel_test_payload(
            channel_name="Chat", team_id=1, team_name="T", occurred_at=NOW
        )

        with pytest.raises(TransportError) as caught:
            transport_for(channel).notify(payload, idempotency_key="k")

        assert caught.value.permanent
        assert f"{BLOCKED_ADDRESS} is in a blocked network" in caught.value.message
        assert blocked.hits == []


@pytest.mark.django_db
def test_apprise_redirected_to_a_blocked_address_is_refused(alice):
    with HttpTarget() as allowed, HttpTarget(BLOCKED_ADDRESS) as blocked:
        hop = quote(blocked.url("/ok"), safe="")
        # "-to=": Apprise's way to put a query parameter on the URL it posts to.
        channel = apprise_channel(
            alice.personal_team, f"json://127.0.0.1:{allowed.port}/redirect?-to={hop}"
        )
        payload = channel_test_payload(
            channel_name="Chat", team_id=1, team_name="T", occurred_at=NOW
        )

        with pytest.raises(TransportError) as caught:
            transport_for(channel).notify(payload, idempotency_key="k")

        assert caught.value.permanent
        assert "blocked network" in caught.value.message
        assert [path for _, path in allowed.hits] == [f"/redirect?to={hop}"]  # then no hop
        assert blocked.hits == []


@pytest.mark.django_db
def test_webhook_to_a_blocked_address_in_decimal_form_is_refused(alice):
    with HttpTarget(BLOCKED_ADDRESS) as blocked:
        channel = services.channel_create(
            team=alice.personal_team,
            name="Hook",
            kind="webhook",
            config={"url": f"http://2130706434:{blocked.port}/hook"},
        )
        payload = channel_test_payload(
            channel_name="Hook", team_id=1, team_name="T", occurred_at=NOW
        )

        with pytest.raises(TransportError) as caught:
            transport_for(channel).notify(payload, idempotency_key="k")

        assert caught.value.permanent
        assert f"{BLOCKED_ADDRESS} is in a blocked network" in caught.value.message
        assert blocked.hits == []


@pytest.mark.django_db
def test_subject_never_holds_a_line_break(alice):
    incident = make_incident(make_monitor(alice.personal_team, name="Evil\r\nBcc: x@y.io"))

    message = render(incident_payload(incident, "opened", occurred_at=NOW))

    assert message.subject == "[healthmon] DOWN: Evil Bcc: x@y.io"
