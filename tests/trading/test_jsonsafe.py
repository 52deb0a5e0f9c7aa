"""Bounded JSON parsing (trading.domain.jsonsafe): too large, too deep or malformed input is a
typed error that never repeats the input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.domain.jsonsafe import (
    JsonInvalid,
    JsonRejected,
    JsonTooDeep,
    JsonTooLarge,
    json_loads_bounded,
)


def test_within_limits_it_parses() -> None:
    assert json_loads_bounded(b'{"a": [1, {"b": "[[[["}]}') == {"a": [1, {"b": "[[[["}]}


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ("[" * 33 + "]" * 33, JsonTooDeep, "nested deeper than 32"),
        ("[" * 100_000, JsonTooDeep, "nested deeper"),
        ("x" * 101, JsonTooLarge, "larger than 100 bytes"),
        (b"\xff\xfe", JsonInvalid, "not UTF-8"),
        ('{"secret": hunter2}', JsonInvalid, "not valid JSON"),
        ("[NaN]", JsonInvalid, "NaN is not a number"),
    ],
)
def test_bad_input_is_a_typed_error_without_the_input(data, error, message) -> None:
    with pytest.raises(error, match=message) as raised:
        json_loads_bounded(data, max_bytes=100 if "x" in str(data) else 1_000_000, what="body")
    assert str(raised.value).startswith("body: ")
    assert "hunter2" not in str(raised.value)


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_input_parses_or_is_rejected_never_anything_else(data) -> None:
    with contextlib.suppress(JsonRejected):
        json_loads_bounded(data, max_depth=8)
