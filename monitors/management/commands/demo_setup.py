"""Create the demo login for a fresh install and a first monitor.

The password is printed once and kept in ``var/demo-login``, readable by its owner only: the
output of ``make run`` scrolls away, the file does not (``make run``'s closing block names it).
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.services import user_register
from monitors.services import monitor_create

DEMO_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "Create a demo superuser (printed once) and a self-check monitor, unless it exists."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", default=DEMO_EMAIL)

    def handle(self, *args, email: str, **options) -> None:
        if User.objects.filter(email=email).exists():
            self.stdout.write(
                f"Demo login {email} already exists (reset it with "
                f"`manage.py changepassword {email}`)."
            )
            return
        password = secrets.token_urlsafe(12)
        user = user_register(email=email, password=password, full_name="Demo Admin")
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
        # Something to look at on the dashboard a minute after `make run`: healthmon's own
        # liveness probe, served by the web process that `make run` starts.
        monitor_create(
            team=user.personal_team,
            name="healthmon web (self-check)",
            url=f"http://127.0.0.1:{settings.WEB_PORT}/live",
            interval=30,
            timeout=5,
            tags=["demo"],
        )
        login_file = store_login(email=email, password=password)
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n  healthmon demo login (also in {login_file}, mode 0600)\n"
                f"  email:    {email}\n  password: {password}\n"
                f"  dashboard {settings.SITE_URL}/   admin {settings.SITE_URL}/admin/\n{bar}\n"
            )
        )


def store_login(*, email: str, password: str):
    """Write the login to var/demo-login, created with mode 0600 (never readable by others)."""
    path = settings.DEMO_LOGIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"email: {email}\npassword: {password}\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path
