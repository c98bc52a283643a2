from django.apps import AppConfig


class HealthmonConfig(AppConfig):
    """The project package as an app: operations (probes, metrics, ``healthmon_status``)."""

    name = "healthmon"
    verbose_name = "Operations"

    def ready(self) -> None:
        from healthmon import checks, events

        checks.register()
        events.connect()  # metrics and log lines from the apps' hook signals
