"""Importing another tool's configuration: the one entry point the command and the API share.

The importers (config/importers/) translate text into a document; from there an import is a
document like any other: planned, and applied in one transaction only when asked.
"""

from __future__ import annotations

from django.conf import settings

from config.document import Document, DocumentError, Problem, from_content
from config.importers import Translation, gatus, uptime_kuma

GATUS, UPTIME_KUMA = "gatus", "uptime-kuma"
SOURCES = (GATUS, UPTIME_KUMA)


def translate_files(source: str, files: list[tuple[str, str]]) -> Translation:
    """Translate ``files`` (``(name, text)`` pairs) from ``source``; raises
    ``DocumentError`` for a file that cannot be read as that tool's configuration."""
    if not files:
        raise DocumentError([Problem(source, None, "files", "Give at least one file.")])
    minimum = settings.MONITOR_MIN_INTERVAL
    if source == GATUS:
        return gatus.translate(files, min_interval=minimum)
    if source == UPTIME_KUMA:
        if len(files) > 1:
            reason = "An Uptime Kuma import reads one backup file."
            raise DocumentError([Problem(files[1][0], None, "files", reason)])
        name, text = files[0]
        return uptime_kuma.translate(text, source=name, min_interval=minimum)
    raise DocumentError([Problem(source, None, "source", f"Expected one of {', '.join(SOURCES)}.")])


def imported_document(source: str, translation: Translation) -> Document:
    """The translation as a document to plan; problems name it ``<source> import``."""
    return from_content(translation.document, source=f"{source} import")
