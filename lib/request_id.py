"""One id per API request, carried into the Celery tasks it causes and onto every log line.

The web process takes ``X-Request-ID`` from the client or the proxy (or makes one), keeps it in
a context variable for the request and returns it in the response. Celery's
``before_task_publish`` copies it into the task message headers; ``task_prerun`` restores it in
the worker, so tasks enqueued by that task carry it on. A task nobody's request caused (beat's
dispatcher) starts a chain of its own: its task id becomes the request id of everything it
enqueues. The logging filter in ``lib.logs`` reads the same variable.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Ids from outside are echoed into logs and headers: accept only short, printable tokens
# (uuids, trace ids, proxy-generated ids), never anything that could forge a log field.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:@+=/-]{1,128}$")

logger = logging.getLogger("healthmon.request")


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's id if it is a sane token, else a new one."""
    if value and _ACCEPTABLE.match(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    """Sets the request id for the request and writes one access log line when it ends."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_request_id(request.headers.get(HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]  # for views; not in stubs
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            user = getattr(request, "user", None)
            # The path without its query string: query strings may carry tokens.
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "http_method": request.method,
                    "path": request.path,
                    "status_code": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


# --- Celery: carry the id through task messages ---------------------------------------------


def put_request_id_in_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: runs in whichever process sends the task."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def restore_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    """``task_prerun``: in the worker, in the greenlet/thread that runs the task."""
    inherited = getattr(task.request, TASK_HEADER, None) if task is not None else None
    if not (isinstance(inherited, str) and _ACCEPTABLE.match(inherited)):
        inherited = None
    request_id_var.set(inherited or task_id)


def clear_request_id(**kwargs: Any) -> None:
    """``task_postrun``: a pool thread or process must not leak the id into the next task."""
    request_id_var.set(None)
