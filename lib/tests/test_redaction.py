"""Secrets are redacted by value, in every form an error message may quote them."""

from __future__ import annotations

import base64
import json
import logging
import sys

import pytest

from lib import redaction
from lib.logs import ConsoleFormatter, JsonFormatter, RedactFilter
from lib.redaction import REDACTED, redact

SECRET = " \tS3cr3t-token"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("header value: ' \\tS3cr3t-token'", SECRET),  # repr() escapes the tab
        ("Authorization=S3cr3t-token", SECRET),  # stripped
        ("GET /hook?key=%20%09S3cr3t-token", SECRET),  # URL-encoded
        ("bearer S3cr3t-token refused", "Bearer S3cr3t-token"),  # the credential alone
        ("password pa55-word-9 rejected", "Basic " + base64.b64encode(b"ops:pa55-word-9").decode()),
        ("sent " + base64.b64encode(b"ops:pa55-word-9").decode(), "ops:pa55-word-9"),
    ],
)
def test_every_form_of_a_secret_is_redacted(text, secret):
    cleaned = redact(text, [secret])

    assert REDACTED in cleaned
    assert "S3cr3t-token" not in cleaned and "pa55-word-9" not in cleaned


def test_short_values_are_left_alone():
    assert redact("status on, retry 1", ["on", "1"]) == "status on, retry 1"


def test_a_url_password_is_redacted_even_when_nobody_registered_it():
    assert redaction.redact_known("json://hook:n0body-knew@example.com/x") == (
        f"json://hook:{REDACTED}@example.com/x"
    )


def record_with_traceback(secret: str) -> logging.LogRecord:
    try:
        raise ValueError(f"bad header value {secret!r}")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "celery.app.trace",
        logging.ERROR,
        __file__,
        1,
        "Task %s raised: %s",
        ("deliver", f"ValueError({secret!r})"),
        exc_info,
    )


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()])
def test_log_records_lose_remembered_secrets_in_message_traceback_and_extras(formatter):
    redaction.remember(["Bearer L0gged-token-1"])
    record = record_with_traceback("L0gged-token-1")
    record.data = {"exc": "ValueError('L0gged-token-1')", "args": ["L0gged-token-1"]}

    RedactFilter().filter(record)
    line = formatter.format(record)

    assert "L0gged-token-1" not in line
    assert REDACTED in line
    assert "ValueError" in line  # the traceback is still there, redacted


def test_json_lines_keep_the_traceback_and_no_marker():
    redaction.remember(["L0gged-token-2"])
    record = record_with_traceback("L0gged-token-2")

    RedactFilter().filter(record)
    logged = json.loads(JsonFormatter().format(record))

    assert "Traceback" in logged["exc_info"] and "L0gged-token-2" not in logged["exc_info"]
    assert "redacted" not in logged


def test_one_secret_among_thousands_remembered_is_found():
    redaction.remember(f"tok-{n:06d}-secret" for n in range(5000))
    line = "delivery 17 failed: tok-004999-secret refused " * 4

    assert "tok-004999-secret" not in redaction.redact_known(line)


def test_the_registry_forgets_the_least_recently_seen_secret_first():
    registry = redaction._Registry(capacity=2)
    registry.remember(["first-secret", "second-secret"])
    registry.remember(["first-secret"])  # seen again
    registry.remember(["third-secret"])

    assert registry.found_in("first-secret second-secret third-secret") == {
        "first-secret",
        "third-secret",
    }
