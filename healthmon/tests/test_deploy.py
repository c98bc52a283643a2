"""Deploy files cannot rot: Procfile, Dockerfile, docker-compose.yml, Kubernetes manifests,
Prometheus config and alerts (promtool), the Grafana dashboard, and production settings
(``manage.py check --deploy``). There is no Docker engine or cluster here: the files are
parsed and checked against what the code expects, and the same processes run for real
through the Procfile (healthmon/tests/test_processes.py)."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMTOOL = shutil.which("promtool")
KUBECTL = shutil.which("kubectl")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian: prometheus)")

QUEUES = {"checks", "incidents", "notifications"}
# Paths inside the containers, not on this machine.
CONTAINER_TMP = "/tmp"  # noqa: S108
HEARTBEAT_FILE = "/tmp/heartbeat"  # noqa: S108


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name] = shlex.split(command)
    return entries


def option(argv: list[str], flag: str) -> str | None:
    """The value of ``-Q x`` / ``--flag=x`` in a command line."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


# --- Procfile -----------------------------------------------------------------------------


def test_procfile_starts_web_worker_beat_and_flower():
    entries = procfile()

    assert set(entries) == {"web", "worker", "beat", "flower"}
    assert entries["web"][:4] == ["gunicorn", "healthmon.wsgi", "-c", "deploy/gunicorn.conf.py"]
    worker = entries["worker"]
    assert worker[:4] == ["celery", "-A", "healthmon", "worker"]
    assert option(worker, "-P") == "gevent"
    assert set(option(worker, "-Q").split(",")) == QUEUES
    assert entries["beat"] == ["celery", "-A", "healthmon", "beat"]


def test_flower_needs_basic_auth_and_keeps_out_of_the_metrics_directory():
    flower = procfile()["flower"]

    # No default password: the shell refuses to start Flower without FLOWER_BASIC_AUTH.
    assert flower[:3] == ["test", "-n", "${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}"]
    assert flower[3:8] == ["&&", "exec", "env", "-u", "PROMETHEUS_MULTIPROC_DIR"]
    assert "flower" in flower


def test_no_secret_is_passed_on_a_command_line(compose, manifests):
    """`ps` shows every argument to anyone on the machine: secrets go through the environment
    (after Procfile's shell guard, which checks that FLOWER_BASIC_AUTH is set, execs Flower)."""
    pods = [d["spec"]["template"]["spec"] for d in deployments(manifests).values()]
    command_lines = [
        *procfile().values(),
        *(service.get("command", []) for service in compose["services"].values()),
        *(c.get("command", []) + c.get("args", []) for pod in pods for c in pod["containers"]),
    ]

    for argv in command_lines:
        started = argv[argv.index("exec") + 1 :] if "exec" in argv else argv
        assert not [arg for arg in started if re.search("AUTH|PASSWORD|SECRET|TOKEN", arg)], argv


def test_make_run_checks_the_ports_before_starting_and_announces_the_urls_after():
    run = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]

    assert run.index("healthmon.startup ports") < run.index("honcho start")
    assert "healthmon.startup banner &" in run
    assert "WEB_PORT ?= 8000" in (ROOT / "Makefile").read_text()


def test_make_run_generates_the_flower_login_and_empties_the_metrics_directory():
    makefile = (ROOT / "Makefile").read_text()

    assert "secrets.token_urlsafe" in makefile
    assert "FLOWER_BASIC_AUTH=$${FLOWER_BASIC_AUTH:-$$(cat $(FLOWER_AUTH_FILE))}" in makefile
    assert "rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)" in makefile
    assert "PROMETHEUS_MULTIPROC_DIR=$(abspath $(METRICS_DIR))" in makefile


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in joined.splitlines()
        if line.strip()
    ]


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    runtime = instructions[[op for op, _ in instructions].index("FROM", 2) :]

    assert [stage.split()[-1] for stage in stages] == ["build", "runtime"]
    assert any(op == "COPY" and arg.startswith("--from=build /opt/venv") for op, arg in runtime)
    users = [arg for op, arg in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in runtime
    cmd = json.loads(next(arg for op, arg in reversed(runtime) if op == "CMD"))
    assert cmd == procfile()["web"]


def test_the_images_collectstatic_step_works_in_production_mode(tmp_path):
    """The RUN that builds the static files, with the same environment, into a temp dir."""
    run = next(arg for op, arg in dockerfile_instructions() if "collectstatic" in arg)
    env_part = run.split("python manage.py")[0]
    env = dict(item.split("=", 1) for item in shlex.split(env_part))
    assert env["DEBUG"] == "false"
    env.update(
        {
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "HEALTHMON_VAR_DIR": str(tmp_path / "var"),
            "STATIC_ROOT": str(tmp_path / "static"),
        }
    )

    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()  # hashed names for whitenoise


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", "var", ".env", "test-artifacts"} <= ignored


# --- docker compose -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # merges << anchors


def test_compose_runs_every_process_with_a_health_check(compose):
    services = compose["services"]

    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "flower"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat", "flower"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "/ready" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])
    for name in ("worker", "beat"):
        assert HEARTBEAT_FILE in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["environment"]["HEARTBEAT_FILE"] == HEARTBEAT_FILE


def test_compose_commands_are_the_procfile_commands(compose):
    services, entries = compose["services"], procfile()

    assert services["web"]["command"] == entries["web"]
    worker = services["worker"]["command"]
    assert worker[:4] == entries["worker"][:4]
    assert option(worker, "-P") == "gevent"
    assert set(option(worker, "-Q").split(",")) == QUEUES
    assert services["beat"]["command"] == entries["beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["flower"]["command"][:4] == ["celery", "-A", "healthmon", "flower"]


def test_compose_starts_after_migrations_and_shares_one_metrics_directory(compose):
    services = compose["services"]

    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "find /metrics -mindepth 1 -delete" in " ".join(services["migrate"]["command"])
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == ("service_completed_successfully")
        assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/metrics"
        assert "metrics:/metrics" in service["volumes"]
        assert service["image"] == services["migrate"]["image"] == "healthmon:latest"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "PROMETHEUS_MULTIPROC_DIR" not in services["flower"]["environment"]


def test_compose_has_no_default_secrets(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    web = compose["services"]["web"]["environment"]

    assert web["DEBUG"] == "false"
    required = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "POSTGRES_PASSWORD", "METRICS_TOKEN")
    for name in (*required, "FLOWER_BASIC_AUTH"):
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} must be required, not defaulted"


# --- Kubernetes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    k8s = DEPLOY / "kubernetes"
    if KUBECTL:
        rendered = subprocess.run(
            [KUBECTL, "kustomize", str(k8s)], capture_output=True, text=True, timeout=60
        )
        assert rendered.returncode == 0, rendered.stderr
        return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    listed = yaml.safe_load((k8s / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((k8s / name).read_text()) if doc]


def deployments(manifests: list[dict]) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: dict) -> dict[str, str]:
    return {item["name"]: item.get("value") for item in c.get("env", [])}


def test_kubernetes_has_web_workers_beat_flower_and_migrations(manifests):
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}

    assert set(deployments(manifests)) == {
        "healthmon-web",
        "healthmon-worker-checks",
        "healthmon-worker-events",
        "healthmon-beat",
        "healthmon-flower",
    }
    assert ("Job", "healthmon-migrate") in kinds
    assert ("Service", "healthmon-web") in kinds
    assert ("Service", "healthmon-flower") in kinds
    consumed = set()
    for name in ("healthmon-worker-checks", "healthmon-worker-events"):
        command = container(deployments(manifests)[name])["command"]
        assert option(command, "-P") == "gevent"
        consumed |= set(option(command, "-Q").split(","))
    assert consumed == QUEUES


def test_kubernetes_web_probes_live_and_ready(manifests):
    web = container(deployments(manifests)["healthmon-web"])

    assert web["command"] == procfile()["web"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert web["startupProbe"]["httpGet"]["path"] == "/live"
    assert env_of(web)["PROMETHEUS_MULTIPROC_DIR"] == "/metrics"


def test_kubernetes_runs_exactly_one_beat(manifests):
    beat = deployments(manifests)["healthmon-beat"]

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"  # never two during a rollout
    assert container(beat)["command"] == procfile()["beat"]


def test_kubernetes_workers_and_beat_have_heartbeat_liveness(manifests):
    for name in ("healthmon-worker-checks", "healthmon-worker-events", "healthmon-beat"):
        c = container(deployments(manifests)[name])
        probe = " ".join(c["livenessProbe"]["exec"]["command"])
        assert env_of(c)["HEARTBEAT_FILE"] in probe
        assert "-mmin -2" in probe
    for name in ("healthmon-worker-checks", "healthmon-worker-events"):
        d = deployments(manifests)[name]
        c = container(d)
        assert env_of(c)["WORKER_METRICS_PORT"] == "9808"
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "9808"


def test_kubernetes_flower_is_probed_and_not_in_the_ingress(manifests):
    flower = container(deployments(manifests)["healthmon-flower"])
    [ingress] = [m for m in manifests if m["kind"] == "Ingress"]

    assert flower["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(flower)
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"healthmon-web"}


def test_kubernetes_pods_run_as_non_root_on_a_read_only_filesystem(manifests):
    pods = [m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "Job")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert CONTAINER_TMP in {mount["mountPath"] for mount in c["volumeMounts"]}
            if KUBECTL:
                assert c["image"] == "registry.example.com/healthmon:1.0.0"


# --- Prometheus and Grafana ---------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60
    )


@needs_promtool
def test_prometheus_config_and_alert_rules_pass_promtool():
    for args in (
        ("check", "config", "--syntax-only", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts.test.yml"),  # each alert fires (and stays quiet) as meant
    ):
        checked = promtool(*args)
        assert checked.returncode == 0, (
            f"promtool {' '.join(args)}:\n{checked.stdout}{checked.stderr}"
        )


def alert_rules() -> dict[str, str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_the_alerts_asked_for_exist():
    assert {
        "HealthmonWebDown",
        "HealthmonWorkerDown",
        "HealthmonBeatDown",
        "HealthmonQueueBacklog",
        "HealthmonScheduleLagHigh",
        "HealthmonDeadLetters",
        "HealthmonHigh5xxRate",
    } <= set(alert_rules())


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "healthmon.json").read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool has no query linter; recording rules get their expressions parsed.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.django_db
def test_alerts_and_dashboard_only_use_metrics_that_exist(alice, alice_client, anon_client):
    from monitors.models import Monitor

    Monitor.objects.create(
        team=alice.personal_team,
        name="a",
        url="https://a.example/",
        status="down",
        last_check_status="down",
        last_response_time_ms=10,
        last_status_code=500,
        last_checked_at="2026-01-05T10:00:00Z",
        cert_expires_at="2026-02-05T10:00:00Z",
        next_check_at="2100-01-01T00:00:00Z",
    )
    alice_client.get("/api/v1/monitors/")
    exported = set(re.findall(r"^# TYPE (\S+)", anon_client.get("/metrics").content.decode(), re.M))
    # Histograms and counters appear with their suffixes in queries.
    names = set()
    for name in exported:
        names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    # Counted only when they happen (labels unknown before): defined in lib.metrics.
    from lib import metrics

    for counter in (metrics.NOTIFICATIONS, metrics.DEAD_LETTERED, metrics.NOTIFICATION_DURATION):
        names |= {f"{counter._name}{suffix}" for suffix in ("", "_total", "_bucket", "_count")}
    names |= {"up", "django_db_errors_total"}

    used = set()
    for expr in [*alert_rules().values(), *dashboard_queries()]:
        used |= set(re.findall(r"\b((?:healthmon|django)_[a-z_]+)\b", expr))

    assert used - names == set()


# --- Production settings ------------------------------------------------------------------


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "healthmon.example.com",
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        "HEALTHMON_VAR_DIR": str(tmp_path),
    }

    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_warns_when_metrics_are_unprotected(tmp_path):
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "healthmon.example.com",
        "HEALTHMON_VAR_DIR": str(tmp_path),
    }

    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode != 0
    assert "healthmon.W001" in done.stdout + done.stderr
