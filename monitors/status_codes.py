"""Expected status code specs such as ``200-299,301``."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def parse_status_spec(spec: str) -> list[tuple[int, int]]:
    """Parse ``"200-299,301"`` into inclusive ranges; raise ValidationError if malformed."""
    ranges: list[tuple[int, int]] = []
    parts = [part.strip() for part in str(spec).split(",")]
    if not any(parts):
        raise ValidationError("Give at least one status code, e.g. 200-299,301.")
    for part in parts:
        low, sep, high = part.partition("-")
        try:
            start = int(low)
            end = int(high) if sep else start
        except ValueError:
            raise ValidationError(
                f"{part!r} is not a status code or range; use e.g. 200-299,301."
            ) from None
        if not (100 <= start <= 599 and 100 <= end <= 599):
            raise ValidationError(f"{part!r}: status codes are between 100 and 599.")
        if start > end:
            raise ValidationError(f"{part!r}: a range must go from low to high.")
        ranges.append((start, end))
    return ranges


def status_matches(ranges: list[tuple[int, int]], code: int) -> bool:
    return any(start <= code <= end for start, end in ranges)
