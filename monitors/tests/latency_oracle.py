"""What the rollups compute in SQL, stated in Python over raw samples: the tests' oracle.

Production never needs these: rollups fill the histogram buckets in SQL (``monitors.rollups``)
and reports read percentiles back with ``monitors.latency.percentile``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from monitors.latency import LATENCY_BUCKET_COUNT, LATENCY_EDGES_MS, bucket_bounds


def bucket_index(response_time_ms: int) -> int:
    return bisect_right(LATENCY_EDGES_MS, response_time_ms)


def histogram_of(response_times_ms: Iterable[int]) -> list[int]:
    counts = [0] * LATENCY_BUCKET_COUNT
    for value in response_times_ms:
        counts[bucket_index(value)] += 1
    return counts


def exact_percentile(samples: Sequence[int], q: float) -> int | None:
    """Nearest-rank percentile of raw samples: what the histogram's estimate is held to."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def precision_bound(value: float) -> float:
    """The width of the bucket holding ``value``: the largest error of ``percentile``."""
    lower, upper = bucket_bounds(bucket_index(int(value)))
    return float(upper - lower) if upper is not None else 0.0
