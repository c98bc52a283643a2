"""Signals other parts may listen to (metrics, logs) without monitors knowing them.

- ``checks_stored(sender=CheckResult, results)``: a batch of results was saved, inside its
  transaction (ids set). Receivers must be cheap: a slow one delays every check batch.
"""

from django.dispatch import Signal

checks_stored = Signal()
