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
