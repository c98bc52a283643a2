"""The fixed-bucket latency histogram: bucketing, merging and percentile precision."""

import itertools
import random

import pytest

from monitors import latency
from monitors.tests import latency_oracle as oracle


@pytest.mark.parametrize(
    ("response_time_ms", "bucket"),
    [
        (0, 0),
        (4, 0),
        (5, 1),
        (9, 1),
        (10, 2),
        (99, 10),
        (100, 11),
        (349, 16),
        (59999, 35),
        (60000, 36),
        (250000, 36),
    ],
)
def test_bucket_index_puts_edges_in_the_upper_bucket(response_time_ms, bucket):
    assert oracle.bucket_index(response_time_ms) == bucket
    lower, upper = latency.bucket_bounds(bucket)
    assert lower <= response_time_ms and (upper is None or response_time_ms < upper)


def test_edges_are_increasing_and_steps_are_at_most_a_third_between_20ms_and_10s():
    edges = latency.LATENCY_EDGES_MS
    assert list(edges) == sorted(set(edges))
    for lower, upper in itertools.pairwise(edges):
        if 20 <= lower < 10000:
            assert upper / lower <= 4 / 3 + 1e-9, (lower, upper)


def test_empty_histogram_has_no_percentile():
    assert latency.percentile([0] * latency.LATENCY_BUCKET_COUNT, 0.95) is None
    assert oracle.exact_percentile([], 0.95) is None


def test_percentile_rejects_a_quantile_outside_zero_to_one():
    with pytest.raises(ValueError):
        latency.percentile(oracle.histogram_of([1]), 0)


def test_single_sample_percentile_is_inside_its_bucket():
    histogram = oracle.histogram_of([120])
    assert 100 <= latency.percentile(histogram, 0.5) <= 125


def test_overflow_bucket_reports_its_lower_edge():
    assert latency.percentile(oracle.histogram_of([70000, 90000]), 0.95) == 60000


def test_merging_histograms_equals_the_histogram_of_all_samples():
    rng = random.Random(7)
    first = [rng.randint(0, 5000) for _ in range(500)]
    second = [rng.randint(0, 5000) for _ in range(300)]
    merged = latency.merge(oracle.histogram_of(first), oracle.histogram_of(second))
    assert merged == oracle.histogram_of(first + second)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_percentile_is_within_one_bucket_of_the_exact_value(seed, q):
    rng = random.Random(seed)
    shape = seed % 3
    if shape == 0:  # a typical API: log-normal around 80 ms
        samples = [int(rng.lognormvariate(4.4, 0.6)) for _ in range(2000)]
    elif shape == 1:  # bimodal: cache hits and misses
        samples = [rng.choice([rng.randint(5, 30), rng.randint(400, 1200)]) for _ in range(999)]
    else:  # a few samples only
        samples = [rng.randint(0, 20000) for _ in range(rng.randint(1, 15))]
    exact = oracle.exact_percentile(samples, q)
    estimate = latency.percentile(oracle.histogram_of(samples), q)
    assert abs(estimate - exact) <= oracle.precision_bound(exact)
