"""The name of every Celery task, and the queue it runs on: the one place they are spelled.

A task name is a contract across layers and processes: a lower app hands work up by name
(``monitors`` -> ``incidents`` -> ``notifications``) without importing the app above, beat
and the dead-letter store keep names in the database, and the broker routes by name. So the
decorators (``@shared_task(name=...)``), ``send_task`` calls, routes, the beat schedule and
the dead-letter store all take them from here. Renaming one strands its queued messages,
stored beat rows and dead letters: add the new name beside the old one instead.
"""

from __future__ import annotations

# Queue ``checks`` (gevent probe workers): checks and the work around them.
RUN_CHECK_BATCH = "monitors.tasks.run_check_batch"
RUN_CHECK_NOW = "monitors.tasks.run_check_now"
RUN_DRAFT_CHECK = "monitors.tasks.run_draft_check"
DISPATCH_DUE_CHECKS = "monitors.tasks.dispatch_due_checks"
ROLLUP_CHECK_RESULTS = "monitors.tasks.rollup_check_results"
PRUNE_CHECK_RESULTS = "monitors.tasks.prune_check_results"
FLUSH_EXPIRED_TOKENS = "accounts.tasks.flush_expired_tokens"

# Queue ``incidents``.
EVALUATE_CHECK_RESULTS = "incidents.tasks.evaluate_check_results"

# Queue ``notifications``.
NOTIFY_INCIDENT = "notifications.tasks.notify_incident"
DELIVER_NOTIFICATION = "notifications.tasks.deliver_notification"
REQUEUE_STALLED_DELIVERIES = "notifications.tasks.requeue_stalled_deliveries"
DISPATCH_DUE_POLICIES = "notifications.tasks.dispatch_due_policies"

QUEUE_OF_TASK: dict[str, str] = {
    RUN_CHECK_BATCH: "checks",
    RUN_CHECK_NOW: "checks",
    RUN_DRAFT_CHECK: "checks",
    DISPATCH_DUE_CHECKS: "checks",
    ROLLUP_CHECK_RESULTS: "checks",
    PRUNE_CHECK_RESULTS: "checks",
    FLUSH_EXPIRED_TOKENS: "checks",
    EVALUATE_CHECK_RESULTS: "incidents",
    NOTIFY_INCIDENT: "notifications",
    DELIVER_NOTIFICATION: "notifications",
    REQUEUE_STALLED_DELIVERIES: "notifications",
    DISPATCH_DUE_POLICIES: "notifications",
}
