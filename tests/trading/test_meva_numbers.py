"""Console number formatting (trading/templatetags/meva_numbers.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from trading.templatetags.meva_numbers import format_money, format_qty


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("12345.67800000000000000000"), 2, "12,345.68"),
        (Decimal("0.005"), 2, "0.00"),  # half-even
        (Decimal("0.015"), 2, "0.02"),
        (Decimal("-0.001"), 2, "0.00"),  # never "-0.00"
        (Decimal("-1234567.5"), 0, "-1,234,568"),
        (None, 2, "—"),
        ("n/a", 2, "n/a"),
    ],
)
def test_money(value, places, expected):
    assert format_money(value, places) == expected


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        (Decimal("0.00150000000000000000"), None, "0.0015"),
        (Decimal("2150000.00000000000000000000"), None, "2,150,000"),
        (Decimal("0.123456789123"), None, "0.12345679"),
        (Decimal("2150123.456"), Decimal("1"), "2,150,123"),
        (Decimal("0.5"), "0.00000100", "0.500000"),
        (Decimal("3.14159"), Decimal("0.01"), "3.14"),
    ],
)
def test_qty(value, step, expected):
    assert format_qty(value, step) == expected


def test_filters_in_a_template():
    rendered = Template(
        "{% load meva_numbers %}{{ a|money }} {{ b|qty }} {{ c|pct }} {{ d|signed_money }} {{ e|money }}"
    ).render(
        Context(
            {
                "a": Decimal("1000"),
                "b": Decimal("0.10000000000000000000"),
                "c": Decimal("-0.0123"),
                "d": Decimal("5.5"),
                "e": None,
            }
        )
    )
    assert rendered == "1,000.00 0.1 -1.23 % +5.50 —"
