"""Create the demo login for a fresh install (password printed once) and a first monitor."""

from __future__ import annotations

import secrets

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
            url="http://127.0.0.1:8000/live",
            interval=30,
            timeout=5,
            tags=["demo"],
        )
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n  healthmon demo login (shown once)\n"
                f"  email:    {email}\n  password: {password}\n"
                f"  dashboard http://127.0.0.1:8000/   admin http://127.0.0.1:8000/admin/\n{bar}\n"
            )
        )
