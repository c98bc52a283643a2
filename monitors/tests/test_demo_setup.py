import io

import pytest
from django.core.management import call_command

from accounts.models import User
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


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
