"""Settings come from the environment and refuse to run insecurely or ambiguously."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from lib.env import envbool, envint, envsecret
from lib.outbound import DEFAULT_BLOCKED_NETWORKS, METADATA_NETWORKS

ROOT = Path(__file__).resolve().parents[2]
PRINT_BLOCKED_NETWORKS = "from django.conf import settings; print(*settings.BLOCKED_NETWORKS)"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_mode_refuses_to_start_without_secret_key():
    result = manage("check", DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_mode_refuses_a_short_secret_key():
    result = manage("check", DEBUG="false", SECRET_KEY="short")

    assert result.returncode != 0
    assert "at least 50" in result.stderr


@pytest.mark.parametrize("command", ["healthmon_status", "check_monitor", "deadletters"])
def test_a_configuration_error_is_one_line_on_stderr_for_every_command(command):
    result = manage(command)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "healthmon: configuration error: SECRET_KEY is not set. Production mode (DEBUG=false) "
        "needs a long random SECRET_KEY (or SECRET_KEY_FILE); set DEBUG=true for local "
        "development."
    ]


def test_make_manage_runs_a_command_in_the_environment_of_make_run(tmp_path):
    venv = Path(sys.executable).parent.parent
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        # -o: the shared virtualenv counts as installed, whatever the requirements' mtime.
        ["make", "-s", "-o", f"{venv}/.runtime", "manage", f"VENV={venv}", "ARGS=check"],
        cwd=ROOT,
        env={**clean, "HEALTHMON_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_mode_starts_without_secret_key():
    result = manage("check", DEBUG="true")

    assert result.returncode == 0, result.stderr


def test_ambiguous_boolean_is_a_configuration_error():
    result = manage("check", DEBUG="ture")

    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


@pytest.mark.parametrize(
    "variable",
    [
        "AUTH_THROTTLE_RATE",
        "LOGIN_ACCOUNT_THROTTLE_RATE",
        "CHECK_NOW_THROTTLE_RATE",
        "CHANNEL_TEST_THROTTLE_RATE",
    ],
)
def test_every_throttle_rate_that_cannot_be_parsed_stops_the_process(variable):
    # README: values that cannot be parsed stop the process with a one-line reason, rather
    # than DRF failing on the first throttled request.
    result = manage("check", DEBUG="true", **{variable: "thirty a minute"})

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"healthmon: configuration error: {variable}='thirty a minute' is not a rate like 20/min"
    ]


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("Yes", True)])
def test_envbool_parses_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("HM_FLAG", raw)
    assert envbool("HM_FLAG", not expected) is expected


def test_envint_rejects_garbage_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("HM_N", "abc")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        envint("HM_N", 1)
    monkeypatch.setenv("HM_N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        envint("HM_N", 1, minimum=1)


def test_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("HM_SECRET_FILE", str(secret))
    assert envsecret("HM_SECRET") == "s3cret"


def test_blocked_networks_default_to_metadata_loopback_and_private_ranges():
    # The suite sets BLOCKED_NETWORKS (conftest); a process without it gets the default.
    env = {k: v for k, v in os.environ.items() if k != "BLOCKED_NETWORKS"}
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_BLOCKED_NETWORKS],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert shown.stdout.split() == list(DEFAULT_BLOCKED_NETWORKS)
    assert {"127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16"} <= set(DEFAULT_BLOCKED_NETWORKS)


def test_make_run_blocks_exactly_the_metadata_networks():
    makefile = (ROOT / "Makefile").read_text()
    [line] = [x for x in makefile.splitlines() if x.startswith("BLOCKED_NETWORKS ?=")]

    assert line.split("?=", 1)[1].strip().split(",") == list(METADATA_NETWORKS)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("WEB_THREADS", "four", "WEB_THREADS='four' is not an integer"),
        ("WEB_TIMEOUT", "0", "WEB_TIMEOUT=0 must be at least 1"),
        ("WEB_PORT", "http", "WEB_PORT='http' is not an integer"),
        ("DEBUG", "ture", "DEBUG='ture' is not a boolean; use true or false"),
    ],
)
def test_the_web_process_reports_a_configuration_error_in_one_line(variable, value, reason):
    # gunicorn prints "Failed to read config file" and a traceback for any exception in its
    # config file; the web process must say what is wrong as manage.py does.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEB_")}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    result = subprocess.run(
        [gunicorn, "healthmon.wsgi", "-c", "deploy/gunicorn.conf.py", "--check-config"],
        cwd=ROOT,
        env={**clean, "DEBUG": "true", variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"healthmon: configuration error: {reason}"]
