from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Monitors as code: the document format, plan, apply and export (no models)."""

    name = "config"
    label = "healthmon_config"
    verbose_name = "Monitors as code"
