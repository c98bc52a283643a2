"""Beat's scheduler, with a heartbeat: the time of each tick goes where the web can read it.

Set as ``CELERY_BEAT_SCHEDULER``. It is django-celery-beat's ``DatabaseScheduler`` (periodic
tasks and the per-second dispatcher come from the database and ``CELERY_BEAT_SCHEDULE``);
recording the tick in beat itself, rather than in a heartbeat task run by a worker, keeps
"beat is down" apart from "workers are down" in /health and in the alerts.
"""

from __future__ import annotations

from django_celery_beat.schedulers import DatabaseScheduler

from healthmon.heartbeats import BeatTickRecorder


class HeartbeatScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs) -> None:
        self.record_tick = BeatTickRecorder()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        delay = super().tick(*args, **kwargs)
        self.record_tick()
        return delay
