import json

import pytest

from lib.parsers import MAX_JSON_DEPTH, depth_exceeds, loads_bounded


@pytest.mark.parametrize(
    ("value", "limit", "exceeds"),
    [
        (1, 0, False),
        ([], 1, False),
        ([], 0, True),
        ({"a": [1, {"b": []}]}, 4, False),
        ({"a": [1, {"b": []}]}, 3, True),
        ([[], [[[]]]], 4, False),
        ([[], [[[]]]], 3, True),
    ],
)
def test_depth_counts_nested_containers(value, limit, exceeds):
    assert depth_exceeds(value, limit) is exceeds


def test_loads_bounded_refuses_a_document_past_the_limit_as_a_decode_error():
    text = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        loads_bounded(text)


def test_loads_bounded_refuses_a_document_past_the_interpreters_recursion_limit():
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        loads_bounded("[" * 100_000 + "]" * 100_000)


def test_loads_bounded_reads_a_document_at_the_limit():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert depth_exceeds(loads_bounded(text), MAX_JSON_DEPTH - 1)
