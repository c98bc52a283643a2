import logging

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from celery.signals import task_failure
        from django.db.models.signals import post_save

        from monitors.models import Monitor
        from notifications import signals

        task_failure.connect(signals.record_dead_letter, weak=False)
        post_save.connect(
            signals.attach_default_channels,
            sender=Monitor,
            dispatch_uid="notifications.attach_default_channels",
        )
        # Apprise's DEBUG lines carry service URLs and payloads, and its URLs hold the
        # credentials: never let LOG_LEVEL=DEBUG print them. Its warnings (no secrets) stay.
        apprise_logger = logging.getLogger("apprise")
        apprise_logger.setLevel(max(apprise_logger.getEffectiveLevel(), logging.INFO))
