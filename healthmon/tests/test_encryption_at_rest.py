"""Channel secrets and monitor headers are encrypted in the database, with rotatable keys."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Team
from lib.encryption import DecryptionError, encrypt_plain_rows, encrypted_fields
from monitors.models import Monitor
from notifications import services
from notifications.models import Channel

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "S3cr3t-token-at-rest"


def raw(table: str, column: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}::text FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return cursor.fetchone()[0]


def webhook(team: Team) -> Channel:
    return services.channel_create(
        team=team,
        name="Ops webhook",
        kind="webhook",
        config={"url": "http://127.0.0.1:9/hook"},
        secrets={"signing_secret": "s" * 16 + TOKEN, "headers": {"Authorization": TOKEN}},
    )


def monitor(team: Team) -> Monitor:
    return Monitor.objects.create(
        team=team,
        name="Payments",
        url="https://payments.example.com/health",
        headers={"Authorization": f"Bearer {TOKEN}"},
        next_check_at=timezone.now() + timedelta(hours=1),
    )


def test_channel_secrets_are_not_readable_in_the_database_column(alice):
    channel = webhook(alice.personal_team)

    stored = raw("notifications_channel", "secrets", channel.id)
    assert TOKEN not in stored
    assert "Authorization" not in stored
    assert Channel.objects.get(id=channel.id).secrets["headers"] == {"Authorization": TOKEN}


def test_apprise_url_is_not_readable_in_the_database_column(alice):
    url = f"json://127.0.0.1:9/{TOKEN}"
    channel = services.channel_create(
        team=alice.personal_team, name="Chat", kind="apprise", config={}, secrets={"url": url}
    )

    assert TOKEN not in raw("notifications_channel", "secrets", channel.id)
    assert Channel.objects.get(id=channel.id).secrets == {"url": url}


def test_monitor_headers_are_not_readable_in_the_database_column(alice):
    created = monitor(alice.personal_team)

    assert TOKEN not in raw("monitors_monitor", "headers", created.id)
    assert Monitor.objects.get(id=created.id).headers == {"Authorization": f"Bearer {TOKEN}"}


def test_channel_api_still_never_returns_secrets(alice_client):
    created = alice_client.post(
        "/api/v1/channels/",
        {
            "name": "Ops",
            "kind": "webhook",
            "config": {"url": "http://127.0.0.1:9/hook"},
            "secrets": {"headers": {"Authorization": TOKEN}},
        },
        format="json",
    )
    shown = alice_client.get(f"/api/v1/channels/{created.data['id']}/")

    assert created.status_code == 201, created.data
    assert TOKEN not in str(created.data) + str(shown.data)
    assert shown.data["secrets_set"] == ["headers", "signing_secret"]


def test_rotation_reencrypts_so_the_old_key_can_be_removed(alice, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    channel, checked = webhook(alice.personal_team), monitor(alice.personal_team)
    before = raw("notifications_channel", "secrets", channel.id)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_key", "--batch-size", "1", stdout=StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new]

    assert raw("notifications_channel", "secrets", channel.id) != before
    assert Channel.objects.get(id=channel.id).secrets["headers"]["Authorization"] == TOKEN
    assert Monitor.objects.get(id=checked.id).headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_wrong_key_fails_clearly_instead_of_returning_ciphertext(alice, settings):
    channel = webhook(alice.personal_team)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError, match=r"Channel\.secrets cannot be decrypted"):
        Channel.objects.get(id=channel.id)


def test_rotation_with_a_missing_old_key_stops_with_a_one_line_error(alice, settings):
    webhook(alice.personal_team)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError, match="key that encrypted it is missing or wrong"):
        call_command("rotate_encryption_key", stdout=StringIO())


def test_the_migration_step_encrypts_plain_rows_and_skips_encrypted_ones(alice):
    created = monitor(alice.personal_team)
    with connection.cursor() as cursor:  # a row as written before encryption existed
        cursor.execute(
            "UPDATE monitors_monitor SET headers = %s::jsonb WHERE id = %s",
            ['{"Authorization": "Bearer plain-old-token"}', created.id],
        )
    other = monitor(alice.personal_team)
    untouched = raw("monitors_monitor", "headers", other.id)
    plain_model = _historical_monitor()

    assert encrypt_plain_rows(plain_model, "headers", batch_size=1) == 1
    assert "plain-old-token" not in raw("monitors_monitor", "headers", created.id)
    assert raw("monitors_monitor", "headers", other.id) == untouched
    assert Monitor.objects.get(id=created.id).headers == {"Authorization": "Bearer plain-old-token"}


def _historical_monitor():
    """Monitor as the data migration sees it: headers still a plain JSONField."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    state = loader.project_state(("monitors", "0006_check_now_requests"))
    return state.apps.get_model("monitors", "Monitor")


def test_every_secret_bearing_field_is_encrypted():
    assert {(model._meta.label, field) for model, field in encrypted_fields()} == {
        ("notifications.Channel", "secrets"),
        ("monitors.Monitor", "headers"),
        ("monitors.Monitor", "steps"),
        ("monitors.TeamVariable", "value"),
        ("monitors.DraftCheck", "config"),
    }


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEYS_FILE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x" * 64, "ALLOWED_HOSTS": "healthmon.example.com"}


def test_production_mode_refuses_to_start_without_an_encryption_key():
    result = manage("check", **PRODUCTION)

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is not set" in result.stderr


def test_a_malformed_key_is_refused_without_echoing_it():
    result = manage("check", **PRODUCTION, FIELD_ENCRYPTION_KEYS="not-a-key-but-secret")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS: key 1 is not a Fernet key" in result.stderr
    assert "not-a-key-but-secret" not in result.stderr
