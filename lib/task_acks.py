"""When a task's message is acknowledged: the two policies, defined once.

Every task picks one in its own decorator (``@shared_task(..., **REDELIVER_IF_LOST)``), so the
choice is read beside the task and nowhere else: no base class, no annotation, no global
setting overrides it.
"""

from __future__ import annotations

# Idempotent work (evaluation, fan-out, delivery, requeueing): the message leaves the queue
# only once the task has finished, and comes back if the worker process dies mid-task.
# Running it twice is safe, losing it is not.
REDELIVER_IF_LOST = {"acks_late": True, "reject_on_worker_lost": True}

# Work that the next scheduled run replaces (check batches, the dispatcher, housekeeping):
# acknowledged on receipt, so a crash loses one run instead of replaying a stale one.
ACK_ON_RECEIPT = {"acks_late": False, "reject_on_worker_lost": False}
