"""Create the demo login for a fresh install and print its password once."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.services import user_register

DEMO_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "Create a demo superuser (printed once) unless it already exists."

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
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n  healthmon demo login (shown once)\n"
                f"  email:    {email}\n  password: {password}\n"
                f"  dashboard http://127.0.0.1:8000/   admin http://127.0.0.1:8000/admin/\n{bar}\n"
            )
        )
