"""Header sizes a server would refuse with 431 are refused when the monitor is written."""

import pytest
from django.core.exceptions import ValidationError

from monitors.validation import MAX_HEADER_VALUE, MAX_HEADERS_TOTAL, validate_headers


def test_a_value_of_exactly_the_limit_is_accepted():
    validate_headers({"X-Token": "x" * MAX_HEADER_VALUE})


def test_a_value_one_byte_over_the_limit_is_refused_in_utf8_bytes():
    with pytest.raises(ValidationError, match="8193 bytes; at most 8192 per header"):
        validate_headers({"X-Token": "é" * (MAX_HEADER_VALUE // 2) + "x"})


def test_headers_over_the_total_are_refused_though_each_is_small():
    headers = {f"X-{i}": "x" * 4000 for i in range(5)}

    with pytest.raises(ValidationError, match=f"at most {MAX_HEADERS_TOTAL}"):
        validate_headers(headers)


def test_a_huge_header_name_is_not_echoed_back_in_full():
    with pytest.raises(ValidationError) as refused:
        validate_headers({"X" * 100_000: "x"})

    assert len(str(refused.value)) < 200
