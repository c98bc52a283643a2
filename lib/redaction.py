"""Secrets kept out of stored errors and logs, by value.

An error message quotes a secret in whatever form the failing library chose: stripped of the
whitespace the user typed, escaped by ``repr`` (requests' "Invalid leading whitespace ... in
header value: ' \\tS3cr3t'"), URL-encoded, or base64-encoded inside a Basic credential. So each
secret is expanded into those forms (``secret_forms``) and every occurrence of any of them is
replaced by ``[redacted]``.

Two ways in, one function underneath:

- ``redact(text, secrets)`` for what is stored about an object in hand: a delivery's
  ``last_error``, its attempts, a dead letter's error and traceback (the channel's secrets).
- ``remember(secrets)`` + ``redact_known(text)`` for logs, applied to every record by
  ``lib.logs.RedactFilter``. A log line can come from anywhere (Celery's task-failure
  traceback, Apprise's own warnings), long after the object is out of reach, so the secrets
  of every channel and monitor this process loads for sending or checking are remembered, up
  to ``REGISTRY_CAPACITY`` secrets (least recently seen forgotten first). Matching intersects
  the text's 4-character slices with an index of the forms' prefixes, so its cost grows with
  the length of the text, not with the number of secrets. Patterns alone could not do this:
  an Apprise token or a header value has no shape. As a safety net for URLs nobody
  registered, the password of ``scheme://user:password@`` is always redacted.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Shorter strings ("1", "on", "json") are not credentials and would garble every message.
MIN_LENGTH = 4
REGISTRY_CAPACITY = 10_000  # secrets, each with a handful of forms
_PREFIX = 4  # == MIN_LENGTH: every form has a prefix of this length (and found_in slices by 4)
_URL_PASSWORD = re.compile(r"(?<=://)([^\s/@:]*):[^\s/@]+@")


def _basic_credentials(text: str) -> str | None:
    """``user:password`` when ``text`` is the base64 of a Basic credential, else None."""
    if len(text) < 8:
        return None
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if ":" in decoded and decoded.isprintable() else None


def secret_forms(value: str) -> set[str]:
    """Every form in which ``value`` may show up in an error message."""
    stripped = value.strip()
    candidates = {value, stripped}
    parts = stripped.split()
    if len(parts) > 1:  # "Bearer <token>", "Basic <base64>": the credential without its scheme
        candidates.update(parts[1:])
        candidates.add(" ".join(parts[1:]))
    for candidate in list(candidates):
        credentials = _basic_credentials(candidate)
        if credentials:
            candidates.update({credentials, credentials.partition(":")[2]})
    forms: set[str] = set()
    for candidate in candidates:
        forms.update(
            {
                candidate,
                candidate.encode("unicode_escape").decode(),  # what repr() shows
                quote(candidate, safe=""),
                quote_plus(candidate),
                base64.b64encode(candidate.encode()).decode(),  # a password sent as Basic auth
            }
        )
    return {form for form in forms if len(form.strip()) >= MIN_LENGTH}


def _replace(text: str, forms: Iterable[str]) -> str:
    # Longest first, so that a secret's stripped form does not leave its whitespace behind.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def redact(text: str, secrets: Iterable[object]) -> str:
    """``text`` with every form of every secret (strings; others ignored) replaced."""
    forms: set[str] = set()
    for secret in secrets:
        if isinstance(secret, str):
            forms |= secret_forms(secret)
    return _replace(text, forms)


class _Registry:
    """The secrets known to this process, least recently seen forgotten first, and an index of
    their forms by first characters."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._secrets: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._holders: dict[str, int] = {}  # form -> how many remembered secrets have it
        # Buckets are tuples, replaced whole under the lock: readers need no lock.
        self._by_prefix: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def remember(self, secrets: Iterable[object]) -> None:
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str):
                    continue
                if secret in self._secrets:  # seen before (every check): nothing to build
                    self._secrets.move_to_end(secret)
                    continue
                forms = frozenset(secret_forms(secret))
                self._secrets[secret] = forms
                for form in forms:
                    self._add(form)
            while len(self._secrets) > self._capacity:
                _, forms = self._secrets.popitem(last=False)
                for form in forms:
                    self._drop(form)

    def _add(self, form: str) -> None:
        held = self._holders.get(form, 0)
        self._holders[form] = held + 1
        if not held:
            prefix = form[:_PREFIX]
            self._by_prefix[prefix] = (*self._by_prefix.get(prefix, ()), form)

    def _drop(self, form: str) -> None:
        held = self._holders.pop(form) - 1
        if held:
            self._holders[form] = held
            return
        prefix = form[:_PREFIX]
        bucket = tuple(other for other in self._by_prefix.get(prefix, ()) if other != form)
        if bucket:
            self._by_prefix[prefix] = bucket
        else:
            self._by_prefix.pop(prefix, None)

    def found_in(self, text: str) -> set[str]:
        by_prefix = self._by_prefix
        if not by_prefix:
            return set()
        # The text's 4-character slices against the index: one set intersection, in C.
        slices = set(map("".join, zip(text, text[1:], text[2:], text[3:], strict=False)))
        found: set[str] = set()
        for prefix in by_prefix.keys() & slices:
            found.update(form for form in by_prefix.get(prefix, ()) if form in text)
        return found


_registry = _Registry(REGISTRY_CAPACITY)


def remember(secrets: Iterable[object]) -> None:
    """Make these secrets unloggable in this process (a channel or monitor was loaded)."""
    _registry.remember(secrets)


def redact_known(text: str) -> str:
    """``text`` with every remembered secret, and every URL password, replaced."""
    return _replace(text, _registry.found_in(text))
