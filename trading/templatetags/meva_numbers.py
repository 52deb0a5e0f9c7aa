"""Number formatting for the console: values at their meaningful precision, never padded.

Stored amounts are exact ``Decimal`` with 20 places (``trading.models.fields.EXACT``); pages show

- ``{{ value|money }}``: a quote-currency amount (TRY, USDT), 2 places, thousands separated:
  ``Decimal("12345.678")`` → ``12,345.68``;
- ``{{ value|money:0 }}``: the same at another number of places;
- ``{{ value|qty }}``: a quantity or price at its own precision: trailing zeros dropped, at most 8
  places, thousands separated: ``Decimal("0.00150000000000000000")`` → ``0.0015``;
- ``{{ value|qty:step }}``: quantized to an instrument's tick or step size (``Decimal`` or str);
- ``{{ value|pct }}``: a fraction as a percentage, 2 places: ``Decimal("-0.0123")`` → ``-1.23 %``;
- ``{{ value|signed_money }}``: like ``money`` with an explicit ``+`` for gains.

``None`` and empty values show as an em dash; values that are not numbers are shown unchanged.
Rounding is half-even on display only; nothing here changes a stored value.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django import template

register = template.Library()

DASH = "—"
MAX_PLACES = 8


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _grouped(number: Decimal, places: int) -> str:
    quantized = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if quantized == 0:
        quantized = abs(quantized)  # no "-0.00"
    return f"{quantized:,.{places}f}"


def format_money(value: object, places: int = 2) -> str:
    """``value`` at ``places`` decimal places with thousands separators (``—`` for None)."""
    number = _decimal(value)
    if number is None:
        return DASH if value in (None, "") else str(value)
    if not number.is_finite():
        return str(number)
    return _grouped(number, int(places))


def format_qty(value: object, step: object = None) -> str:
    """A quantity or price: quantized to ``step`` when given, else trailing zeros dropped (at
    most 8 places)."""
    number = _decimal(value)
    if number is None:
        return DASH if value in (None, "") else str(value)
    if not number.is_finite():
        return str(number)
    step_number = _decimal(step)
    if step_number is not None and step_number > 0:
        places = max(0, -step_number.normalize().as_tuple().exponent)
        return _grouped(number, places)
    rounded = number.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding=ROUND_HALF_EVEN)
    exponent = rounded.normalize().as_tuple().exponent
    return _grouped(rounded, max(0, -int(exponent)))


@register.filter
def money(value: object, places: int = 2) -> str:
    return format_money(value, places)


@register.filter
def signed_money(value: object, places: int = 2) -> str:
    text = format_money(value, places)
    number = _decimal(value)
    if number is not None and number.is_finite() and text != DASH and number > 0:
        return f"+{text}"
    return text


@register.filter
def qty(value: object, step: object = None) -> str:
    return format_qty(value, step)


@register.filter
def pct(value: object, places: int = 2) -> str:
    number = _decimal(value)
    if number is None:
        return DASH if value in (None, "") else str(value)
    if not number.is_finite():
        return str(number)
    return f"{_grouped(number * 100, int(places))} %"
