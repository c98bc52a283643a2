"""Error reporting to Sentry, only when ``SENTRY_DSN`` is set.

Called at the end of settings, so web, workers and beat all report. No personal data by
default: no user emails or IP addresses (``send_default_pii=False``), no request bodies and no
local variables of stack frames (they carry passwords, monitor headers and webhook secrets),
and the SDK's scrubber removes cookies, authorization headers and secret-looking keys. Each
event is tagged with the request id, so an error in a task can be found next to the API call
that caused it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint


def _tag_request_id(event: Event, hint: Hint) -> Event:
    from lib.request_id import current_request_id

    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> bool:
    """Initialise the SDK if a DSN is configured; returns whether it did."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[
            DjangoIntegration(),
            # Beat's per-second dispatcher would flood Sentry Crons with check-ins.
            CeleryIntegration(monitor_beat_tasks=False),
            LoggingIntegration(),
        ],
        send_default_pii=False,
        max_request_body_size="never",
        # Frame locals hold request data, monitor headers and channel secrets.
        include_local_variables=False,
        traces_sample_rate=traces_sample_rate,
        before_send=_tag_request_id,
    )
    return True
