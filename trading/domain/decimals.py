"""Decimal helpers for values read back from the database.

A ``DecimalField`` with 20 decimal places returns ``Decimal("100050.00000000000000000000")``:
numerically exact, but with 26 significant digits, so one product with another such value
exceeds the default context's 28 digits and is rounded. :func:`decimal_trim` drops the
trailing zeros (``Decimal("100050")``), so arithmetic on restored values is exactly the
arithmetic on the values before they were stored.
"""

from __future__ import annotations

from decimal import Decimal


def decimal_trim(value: Decimal) -> Decimal:
    """``value`` without trailing fractional zeros, never in exponent form for integers.

    ``Decimal("1.50000") -> Decimal("1.5")``, ``Decimal("100.000") -> Decimal("100")``,
    ``Decimal("0E-20") -> Decimal("0")``. Raises ``TypeError`` for a non-Decimal.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}")
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()
