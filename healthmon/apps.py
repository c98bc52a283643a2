from django.apps import AppConfig


class HealthmonConfig(AppConfig):
    """The project package as an app: operations (probes, metrics, ``healthmon_status``)."""

    name = "healthmon"
    verbose_name = "Operations"

    def ready(self) -> None:
        from healthmon import checks  # noqa: F401 - registers the system checks
