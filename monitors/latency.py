"""A fixed-bucket latency histogram: mergeable by adding, so rollups can keep percentiles.

Exact percentiles need every sample; rollups keep one counter per bucket instead, so an
hour, a day or ninety days merge by adding counters (in SQL or in Python) and p50/p95 are
read back from the merged counts.

Bucket ``i`` holds response times ``t`` (whole milliseconds) with
``LATENCY_EDGES_MS[i-1] <= t < LATENCY_EDGES_MS[i]`` (the first starts at 0); the last
bucket holds everything from 60 s up. The edges follow a 1-1.25-1.5-2-2.5-3-4-5-6-8 series.

Precision: a percentile read from the histogram lies in the same bucket as the exact
(nearest-rank) percentile, so the error is at most that bucket's width:

- below 20 ms: at most 5 ms;
- from 20 ms to 10 s: at most a third of the bucket's lower edge (the widest steps are x4/3,
  e.g. 300-400 ms), i.e. a reported p95 of 350 ms means the true p95 is in 300-400 ms;
- from 10 s to 60 s: at most half the lower edge;
- 60 s and more: reported as 60000 ms (a lower bound; checks time out before that).

Linear interpolation inside the bucket usually lands much closer than the bound.
Rollups fill the buckets in SQL (``monitors.rollups``); ``monitors/tests/latency_oracle.py``
states the same bucketing and the bound in Python, for the tests.
The edges are part of the stored data: changing them needs a data migration of the rollups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LATENCY_EDGES_MS: tuple[int, ...] = (
    5, 10, 15, 20, 25, 30, 40, 50, 60, 80,
    100, 125, 150, 200, 250, 300, 400, 500, 600, 800,
    1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000,
    10000, 15000, 20000, 30000, 45000, 60000,
)  # fmt: skip
LATENCY_BUCKET_COUNT = len(LATENCY_EDGES_MS) + 1


def bucket_field(index: int) -> str:
    """The rollup column holding bucket ``index``."""
    return f"latency_{index:02d}"


BUCKET_FIELDS: tuple[str, ...] = tuple(bucket_field(i) for i in range(LATENCY_BUCKET_COUNT))


def bucket_bounds(index: int) -> tuple[int, int | None]:
    """``(lower, upper)`` in ms of a bucket; ``upper`` is None for the open last bucket."""
    lower = LATENCY_EDGES_MS[index - 1] if index > 0 else 0
    upper = LATENCY_EDGES_MS[index] if index < len(LATENCY_EDGES_MS) else None
    return lower, upper


def merge(*histograms: Sequence[int]) -> list[int]:
    return [sum(column) for column in zip(*histograms, strict=True)]


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of a histogram, interpolated inside its bucket.

    Uses the nearest-rank definition (the ``ceil(q * n)``-th smallest sample) to pick the
    bucket, so the answer is within one bucket of the exact nearest-rank percentile.
    None when the histogram is empty.
    """
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    total = sum(counts)
    if total == 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            lower, upper = bucket_bounds(index)
            if upper is None:
                return float(lower)
            # Samples are taken as spread evenly over the bucket, each at the middle of its
            # share: one sample reads as the bucket's midpoint, not its edge.
            return lower + (upper - lower) * (rank - seen - 0.5) / count
        seen += count
    raise AssertionError("unreachable: rank <= total")
