"""Logging for every process: one JSON object per line in production, readable lines locally.

``LOG_FORMAT=json`` (the default unless DEBUG) writes records like::

    {"time": "2026-01-05T10:00:00.123+00:00", "level": "INFO", "logger": "monitors.tasks",
     "message": "check batch done", "request_id": "3f2c...", "task_id": "...",
     "task_name": "monitors.tasks.run_check_batch", "monitor_id": 12}

Fields passed with ``extra={...}`` (``monitor_id``, ``incident_id``, ``delivery_id``...) appear
as top-level keys, so a log pipeline can filter on them. The context filter adds the request id
(``lib.request_id``) and, inside a Celery task, the task id and name to every record.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from lib.redaction import redact_known
from lib.request_id import current_request_id

LOG_FORMATS = ("json", "console")


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and task_name to every record (None when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs 4xx/5xx after the middleware stack (and its context) is gone,
        # but hands over the request, which keeps its id.
        record.request_id = current_request_id() or getattr(
            getattr(record, "request", None), "request_id", None
        )
        task_id = task_name = None
        # Imported here: the filter is built while settings load, before Celery is needed.
        from celery import current_task

        task = current_task._get_current_object() if current_task else None
        if task is not None and task.request.id is not None:
            task_id, task_name = task.request.id, task.name
        record.task_id = task_id
        record.task_name = task_name
        return True


# The attributes every LogRecord has; any other one came with ``extra=`` (Celery's task
# failure line passes the exception and traceback as ``extra={"data": {...}}``).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_known(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class RedactFilter(logging.Filter):
    """Replaces every secret this process knows (``lib.redaction``) in a record, wherever it is:
    the message with its arguments, the traceback, the stack and the ``extra`` fields.

    On every handler, so that it holds whoever logs (Celery, Apprise, gunicorn). The record is
    changed in place, once: the handlers after the first one see the redacted record too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it, not us
            return True
        record.msg, record.args = redact_known(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_known(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_known(record.stack_info)
        for name in set(vars(record)) - _RECORD_ATTRIBUTES:
            setattr(record, name, _redacted(getattr(record, name)))
        record.redacted = True
        return True


_TRACEBACKS = logging.Formatter()


class RoutineTaskFilter(logging.Filter):
    """Demotes Celery's INFO lines about the tasks on beat's schedule to DEBUG.

    Beat sends the dispatcher every second and the rollup every 5 s; at INFO, "Sending due
    task", "received" and "succeeded" for them were ~240 of the ~330 lines a minute an idle
    install wrote, drowning the lines about checks and alerts. Their failures stay at ERROR;
    LOG_LEVEL=DEBUG shows them all again. Attached to Celery's beat, strategy and trace loggers.
    """

    _scheduled: frozenset[str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._about_a_scheduled_task(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def _about_a_scheduled_task(self, record: logging.LogRecord) -> bool:
        if self._scheduled is None:
            from celery import current_app  # imported late, as in ContextFilter

            self._scheduled = frozenset(
                entry["task"] for entry in current_app.conf.beat_schedule.values()
            )
        message = record.getMessage()
        return any(name in message for name in self._scheduled)


class JsonFormatter(_JsonFormatter):
    """python-json-logger with healthmon's field names; empty context fields are left out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # The time first, with milliseconds and zone, whatever the host's locale.
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        for key in ("request_id", "task_id", "task_name"):
            if log_data.get(key) is None:
                log_data.pop(key, None)
        # django.request attaches the request object; its repr carries the query string,
        # which may hold tokens. The request id and healthmon.request's line say enough.
        log_data.pop("request", None)
        log_data.pop("redacted", None)
        if record.exc_text:  # the traceback as RedactFilter left it, not formatted anew
            log_data["exc_info"] = record.exc_text


class ConsoleFormatter(logging.Formatter):
    """``10:00:00 INFO monitors.tasks [3f2c...] check batch done`` for humans."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(context)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.context = getattr(record, "request_id", None) or "-"
        return super().format(record)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict for Django (and, through ``configure``, for Celery and gunicorn)."""
    formatter = "json" if log_format == "json" else "console"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "lib.logs.ContextFilter"},
            "redact": {"()": "lib.logs.RedactFilter"},
            "routine_tasks": {"()": "lib.logs.RoutineTaskFilter"},
        },
        "formatters": {
            "json": {"()": "lib.logs.JsonFormatter"},
            "console": {"()": "lib.logs.ConsoleFormatter"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["context", "redact"],
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # Declared to drop the handlers Django's default config gives them (every line
            # would be printed twice); they propagate to the root handler instead.
            "django": {"level": level},
            "django.server": {"level": level},
            # SQL at DEBUG would drown everything else; ask for it by name if needed.
            "django.db.backends": {"level": "INFO"},
            # gunicorn's own loggers, when gunicorn.conf.py hands them this config. Its access
            # lines are dropped: healthmon.request logs each request with its request id.
            "gunicorn.error": {"level": level, "handlers": ["default"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["default"], "propagate": False},
            # Celery's per-task lines: at DEBUG for the housekeeping on beat's schedule.
            **{
                name: {"filters": ["routine_tasks"]}
                for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
            },
        },
    }


def configure_celery_logging(**kwargs: Any) -> None:
    """``setup_logging``: a receiver stops Celery from installing its own root handler."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
