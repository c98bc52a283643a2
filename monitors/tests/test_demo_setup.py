import io
import stat

import pytest
from django.core.management import call_command

from accounts.models import User
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def login_file(settings, tmp_path):
    settings.DEMO_LOGIN_FILE = tmp_path / "var" / "demo-login"
    return settings.DEMO_LOGIN_FILE


def test_demo_setup_prints_the_password_once_and_creates_a_self_check():
    first = io.StringIO()
    call_command("demo_setup", stdout=first)
    password = first.getvalue().split("password:")[1].split()[0]

    user = User.objects.get(email="admin@example.com")
    assert user.is_superuser and user.check_password(password)
    monitor = Monitor.objects.get(team=user.personal_team)
    assert monitor.url == "http://127.0.0.1:8000/live"
    assert monitor.next_check_at is not None

    again = io.StringIO()
    call_command("demo_setup", stdout=again)
    assert "already exists" in again.getvalue()
    assert password not in again.getvalue()
    assert Monitor.objects.count() == 1


def test_demo_password_is_kept_in_a_file_only_its_owner_can_read(login_file):
    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    password = out.getvalue().split("password:")[1].split()[0]

    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    assert login_file.read_text() == f"email: admin@example.com\npassword: {password}\n"
    assert str(login_file) in out.getvalue()


def test_demo_monitor_and_links_follow_the_web_port(settings):
    settings.WEB_PORT = 8123
    settings.SITE_URL = "http://127.0.0.1:8123"
    out = io.StringIO()
    call_command("demo_setup", stdout=out)

    assert Monitor.objects.get().url == "http://127.0.0.1:8123/live"
    assert "dashboard http://127.0.0.1:8123/" in out.getvalue()
