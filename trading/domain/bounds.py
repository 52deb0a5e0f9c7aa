"""One validator for every numeric parameter, whatever its entry point.

A setting (``RISK_MAX_ORDER_PCT``), a command-line flag (``--fee-taker-bps``), a risk override
(``{"max_orders_per_cycle": 0}``), an account form field and an API body all name a parameter
of :data:`PARAMETER_BOUNDS`; :func:`bounded` parses and checks a value against it, and
:func:`risk_limits_problems` checks a whole :class:`~trading.domain.risk.RiskLimits` field by
field and across fields (the reduce-drawdown threshold below the observe one). A flag can
therefore never accept what its setting refuses.

:func:`instant_ms` / :func:`instant` do the same for times (flags, API ranges, dataset rows,
sandbox query parameters): 1970 up to 2200, never an overflow.

Errors are :class:`BoundError` naming the ``source`` the caller gives (the variable, the flag,
``risk: key``), the value as given (shortened) and the allowed range. Huge exponents
(``1e999999``, ``1e-999999``) are refused before any conversion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from trading.domain.risk import RiskLimits

DAY_MS = 86_400_000
# Any amount of money or quantity we accept stays below 10^15 (a 30-digit cash is an error).
MAX_AMOUNT = Decimal("1e15")
MAX_SHOWN = 40


class BoundError(ValueError):
    """A value outside its parameter's bounds; ``source`` is what the caller named it,
    ``problem`` what is wrong without the name and value (``"is after 2200"``), for callers
    that show the name their own way (a form field, a dataset cell)."""

    def __init__(self, source: str, value: object, problem: str) -> None:
        self.source = source
        self.problem = problem
        shown = repr(value)
        if len(shown) > MAX_SHOWN:
            shown = shown[: MAX_SHOWN - 3] + "..."
        super().__init__(f"{source}={shown}: {problem}")


@dataclass(frozen=True, slots=True)
class Bound:
    """``kind`` ``int`` or ``Decimal``; ``minimum``..``maximum`` inclusive unless
    ``exclusive_minimum``; ``nullable``: ``None`` (JSON ``null``, empty) means "no cap"."""

    kind: type
    minimum: Decimal
    maximum: Decimal
    unit: str
    exclusive_minimum: bool = False
    nullable: bool = False

    def describe(self) -> str:
        low = ">" if self.exclusive_minimum else ">="
        kind = "an integer" if self.kind is int else "a number"
        return f"must be {kind} {low} {self.minimum} and <= {self.maximum} ({self.unit})"


def _fraction(unit: str = "fraction of equity, 0.25 = 25 %") -> Bound:
    return Bound(Decimal, Decimal(0), Decimal(1), unit)


def _notional() -> Bound:
    return Bound(Decimal, Decimal(0), MAX_AMOUNT, "quote currency; null = no cap", nullable=True)


def _ms(minimum: int, maximum_days: int) -> Bound:
    return Bound(int, Decimal(minimum), Decimal(maximum_days * DAY_MS), "milliseconds")


PARAMETER_BOUNDS: Mapping[str, Bound] = MappingProxyType(
    {
        # fees and fills (backtests, paper venues, sizing estimates of live accounts)
        "fee_maker_bps": Bound(Decimal, Decimal(0), Decimal(1000), "basis points"),
        "fee_taker_bps": Bound(Decimal, Decimal(0), Decimal(1000), "basis points"),
        "max_volume_share": Bound(
            Decimal, Decimal(0), Decimal(1), "share of a bar's volume; 0 = no cap"
        ),
        "initial_cash": Bound(
            Decimal, Decimal(0), MAX_AMOUNT, "quote currency", exclusive_minimum=True
        ),
        # RiskLimits, field by field
        "cash_reserve_pct": _fraction(),
        "max_order_pct": _fraction(),
        "max_cycle_pct": _fraction(),
        "max_position_pct": _fraction(),
        "max_order_notional": _notional(),
        "max_cycle_notional": _notional(),
        "max_position_notional": _notional(),
        "max_orders_per_cycle": Bound(int, Decimal(1), Decimal(1000), "orders"),
        "cooldown_ms": _ms(0, 30),
        "reduce_drawdown_pct": _fraction(),
        "observe_drawdown_pct": _fraction(),
        "daily_loss_pct": _fraction(),
        "max_data_age_ms": _ms(1000, 7),
        "mode_cooldown_ms": _ms(0, 30),
        "drawdown_window_ms": _ms(60_000, 366),
        "order_ttl_ms": _ms(1000, 30),
    }
)


MAX_DECIMAL_PLACES = 20
"""Most decimal places a bounded number may have (the widest money column keeps 20): more is a
typo or a probe (``1e-999999``), never a setting."""


def bounded(parameter: str, value: object, *, source: str | None = None) -> int | Decimal | None:
    """``value`` (a number or numeric string) parsed as ``parameter``'s kind and checked
    against its bounds; ``None`` or ``""`` for a nullable parameter is ``None``. Raises
    :class:`BoundError` naming ``source`` (default: the parameter) and ``KeyError`` for an
    unknown parameter."""
    bound = PARAMETER_BOUNDS[parameter]
    source = source or parameter
    if value is None or value == "":
        if bound.nullable:
            return None
        raise BoundError(source, value, "is required: " + bound.describe())
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise BoundError(source, value, "is not a number")
    text = str(value).strip()
    if len(text) > 64:
        raise BoundError(source, value, "is not a number of at most 64 characters")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BoundError(source, value, "is not a number") from None
    if not number.is_finite():
        raise BoundError(source, value, "is not a finite number")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:  # 1e-999999
        raise BoundError(source, value, f"has more than {MAX_DECIMAL_PLACES} decimal places")
    # compare before any int(): Decimal("1e999999") must never become an int
    low, high = bound.minimum, bound.maximum
    if number > high or number < low or (bound.exclusive_minimum and number == low):
        raise BoundError(source, value, bound.describe())
    if bound.kind is int:
        if number != number.to_integral_value():
            raise BoundError(source, value, "is not an integer")
        return int(number)
    return number


def risk_limits_problems(limits: RiskLimits, sources: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of ``limits``: each field against :data:`PARAMETER_BOUNDS`, then the
    cross-field rules (reduce-drawdown below observe-drawdown, unless both are 1: drawdown
    modes off). ``sources`` maps a field to the name to report (a setting, ``risk:
    key``); default the field's name. Empty when valid."""
    sources = sources or {}
    problems = []
    for field in fields(RiskLimits):
        value = getattr(limits, field.name)
        try:
            bounded(field.name, value, source=sources.get(field.name, field.name))
        except BoundError as exc:
            problems.append(str(exc))
    reduce_at, observe_at = limits.reduce_drawdown_pct, limits.observe_drawdown_pct
    # both at 1 (a 100 % drawdown) is "drawdown modes off", as an oracle comparison needs
    if reduce_at >= observe_at and not reduce_at == observe_at == 1:
        reduce = sources.get("reduce_drawdown_pct", "reduce_drawdown_pct")
        observe = sources.get("observe_drawdown_pct", "observe_drawdown_pct")
        problems.append(
            f"{reduce}={limits.reduce_drawdown_pct} must be below {observe}="
            f"{limits.observe_drawdown_pct} (risk is reduced before trading stops)"
        )
    return problems


# --- instants (times) ------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
MIN_INSTANT_MS = 0
"""1970-01-01T00:00:00Z: nothing we trade, replay or report is older."""
MAX_INSTANT_MS = 7_258_118_400_000
"""2200-01-01T00:00:00Z (exclusive): far past any real time, well inside ``datetime``."""
_INSTANT_RANGE = "must be a time from 1970-01-01 up to 2200-01-01 (UTC)"


def instant_ms(parameter: str, value: object, *, source: str | None = None) -> int:
    """Epoch milliseconds (UTC) of ``value``: an aware or naive (= UTC) ``datetime``, an
    integer of epoch milliseconds (or a string of digits), or ISO-8601 text (``Z``, an
    offset, or none = UTC). The one check for times at every entry point: a value out of
    ``[1970-01-01, 2200-01-01)``, out of ``datetime``'s range (``9999-12-31T23:59-05:00``) or
    unparsable raises :class:`BoundError` naming ``source`` (default: ``parameter``)."""
    source = source or parameter
    if isinstance(value, bool):
        raise BoundError(source, value, "is not a time: " + _INSTANT_RANGE)
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        millis = (moment - _EPOCH) // _MS
    elif isinstance(value, int) or (isinstance(value, str) and value.strip().isdecimal()):
        text = str(value).strip()
        if len(text) > 20:
            raise BoundError(source, value, _INSTANT_RANGE)
        millis = int(text)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BoundError(source, value, "is not an ISO-8601 time or epoch ms") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        millis = (moment - _EPOCH) // _MS  # timedelta arithmetic: never overflows
    else:
        raise BoundError(source, value, "is not an ISO-8601 time or epoch ms")
    if not MIN_INSTANT_MS <= millis < MAX_INSTANT_MS:
        raise BoundError(source, value, _INSTANT_RANGE)
    return millis


def instant(parameter: str, value: object, *, source: str | None = None) -> dt.datetime:
    """:func:`instant_ms` as an aware UTC ``datetime``."""
    return _EPOCH + dt.timedelta(milliseconds=instant_ms(parameter, value, source=source))
