from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Server-rendered pages: the team dashboard, public status pages and badges."""

    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"
