"""Signals other parts may listen to (metrics, audit) without notifications knowing them.

- ``delivery_attempted(sender=Delivery, delivery, outcome, duration_ms)``: after every
  attempt is recorded; ``outcome`` is an ``AttemptOutcome`` value.
- ``dead_lettered(sender=DeadLetter, dead_letter, created)``: a task failed for good.
- ``dead_letter_replayed(sender=DeadLetter, dead_letter)``: a dead letter was re-enqueued.

Gauges (backlog sizes) are read with ``notifications.selectors``.
"""

from django.dispatch import Signal

delivery_attempted = Signal()
dead_lettered = Signal()
dead_letter_replayed = Signal()
