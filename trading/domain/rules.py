"""Exchange rules per symbol, built from BTCTurk ``exchangeinfo``, and quantization.

Source: reference/btcturk_api.md section 2.1 ("Deriving trading rules").

- quantity step = ``10^-numeratorScale``; quantities are truncated (rounded down) to it;
- a price must be a multiple of ``PRICE_FILTER.tickSize`` **and** have at most
  ``denominatorScale`` decimals, so the effective tick is the least common multiple of both;
- min notional = ``minExchangeValue`` (quote currency), checked on price x quantity;
- price band = [max(minPrice, minimumLimitOrderPrice), min(maxPrice, maximumLimitOrderPrice)].

A symbol whose rules are missing or invalid is skipped with a recorded reason
(:class:`RulesBook.skipped`); it never fails the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from math import gcd

from trading.domain.orders import OrderType, Side
from trading.domain.symbols import Symbol


class QuantizationError(ValueError):
    """A non-zero price or quantity that rounds to zero on the exchange grid."""


class RulesError(ValueError):
    """An exchangeinfo symbol entry with a missing or malformed field (names the field)."""


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    """Trading rules of one symbol. Prices in quote per base unit, quantities in base units.

    ``min_price``/``max_price`` are the effective price band (``None`` = unbounded).
    """

    symbol: Symbol
    tick_size: Decimal
    step_size: Decimal
    min_notional: Decimal
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    status: str = "TRADING"
    order_methods: frozenset[str] = frozenset({"MARKET", "LIMIT"})

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


@dataclass(frozen=True, slots=True)
class RulesBook:
    """Rules parsed from one exchangeinfo payload: usable ones and skipped ones with reasons."""

    rules: Mapping[Symbol, ExchangeRules]
    skipped: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """Why an order breaks the exchange rules; ``code`` is a stable reason code."""

    code: str
    detail: str


DEFAULT_QUANTITY_SCALE = 8
# Prices, ticks and notionals beyond 1e+-30 are corrupt input, not market data.
MAX_EXPONENT = 30
DEFAULT_MIN_NOTIONAL = Decimal("10")


def default_rules(symbol: Symbol, *, price_scale: int) -> ExchangeRules:
    """Rules used when a dataset has no exchangeinfo entry for ``symbol``.

    tick = ``10^-price_scale`` (the decimals seen in the data), step = ``10^-8``,
    min notional = 10 quote units, no price band, LIMIT and MARKET allowed.
    """
    return ExchangeRules(
        symbol=symbol,
        tick_size=Decimal(1).scaleb(-price_scale),
        step_size=Decimal(1).scaleb(-DEFAULT_QUANTITY_SCALE),
        min_notional=DEFAULT_MIN_NOTIONAL,
    )


def effective_tick(tick_size: Decimal | None, price_scale: int) -> Decimal:
    """Smallest price increment that is a multiple of ``tick_size`` with <= ``price_scale`` decimals."""
    scale_tick = Decimal(1).scaleb(-price_scale)
    if tick_size is None or tick_size <= 0:
        return scale_tick
    exponent = min(tick_size.as_tuple().exponent, -price_scale, 0)
    a = int(tick_size.scaleb(-exponent))
    b = int(scale_tick.scaleb(-exponent))
    return Decimal(a * b // gcd(a, b)).scaleb(exponent)


def quantize_price(price: Decimal, rules: ExchangeRules, side: Side) -> Decimal:
    """Round ``price`` onto the tick grid, never to a worse price for the order's owner.

    A buy rounds down and a sell rounds up, so the limit never crosses further than asked.
    Raises :class:`QuantizationError` if a positive price rounds to zero.
    """
    rounding = ROUND_DOWN if side is Side.BUY else ROUND_UP
    ticks = (price / rules.tick_size).to_integral_value(rounding=rounding)
    result = (ticks * rules.tick_size).quantize(rules.tick_size)
    if price > 0 and result <= 0:
        raise QuantizationError(
            f"{rules.symbol}: price {price} rounds to zero with tick size {rules.tick_size}"
        )
    return result


def quantize_quantity(quantity: Decimal, rules: ExchangeRules) -> Decimal:
    """Truncate ``quantity`` (base units) to the step size.

    Raises :class:`QuantizationError` if a positive quantity rounds down to zero.
    """
    steps = (quantity / rules.step_size).to_integral_value(rounding=ROUND_DOWN)
    result = (steps * rules.step_size).quantize(rules.step_size)
    if quantity > 0 and result <= 0:
        raise QuantizationError(
            f"{rules.symbol}: quantity {quantity} rounds to zero with step size {rules.step_size}"
        )
    return result


def check_order(
    rules: ExchangeRules,
    *,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
    notional: Decimal,
) -> RuleViolation | None:
    """Check a quantized order against the rules; ``None`` when it passes.

    ``notional`` is the quote value used for the min-notional check (price x quantity for a
    limit order; the estimated value at the mark for a market order).
    Reason codes mirror BTCTurk's errors: ``SYMBOL_NOT_TRADING``, ``ORDER_METHOD_NOT_SUPPORTED``
    (1134), ``MIN_NOTIONAL`` (1123), ``PRICE_ABOVE_BAND`` (1226), ``PRICE_BELOW_BAND`` (1227).
    """
    if not rules.trading:
        return RuleViolation("SYMBOL_NOT_TRADING", f"{rules.symbol} status is {rules.status}")
    if order_type.value.upper() not in rules.order_methods:
        return RuleViolation("ORDER_METHOD_NOT_SUPPORTED", f"{order_type} not in order methods")
    if notional < rules.min_notional:
        return RuleViolation(
            "MIN_NOTIONAL", f"notional {notional} below min notional {rules.min_notional}"
        )
    if price is not None and order_type is OrderType.LIMIT:
        if rules.max_price is not None and price > rules.max_price:
            return RuleViolation("PRICE_ABOVE_BAND", f"price {price} above {rules.max_price}")
        if rules.min_price is not None and price < rules.min_price:
            return RuleViolation("PRICE_BELOW_BAND", f"price {price} below {rules.min_price}")
    return None


# --- exchangeinfo parsing ------------------------------------------------------------------


def rules_from_exchangeinfo(payload: Mapping) -> RulesBook:
    """Build a :class:`RulesBook` from a ``GET /api/v2/server/exchangeinfo`` response.

    Accepts the full envelope (``{"data": {...}}``) or its ``data`` part. Symbols whose entry
    is malformed are listed in ``skipped`` as ``{"BTC_TRY": "<field>: <problem>"}``.
    Raises :class:`RulesError` only when the payload has no ``symbols`` list at all.
    """
    data = payload.get("data", payload) if isinstance(payload, Mapping) else None
    symbols = data.get("symbols") if isinstance(data, Mapping) else None
    if not isinstance(symbols, list):
        raise RulesError("exchangeinfo: 'data.symbols' is missing or not a list")
    rules: dict[Symbol, ExchangeRules] = {}
    skipped: dict[str, str] = {}
    for index, entry in enumerate(symbols):
        label = _entry_label(entry, index)
        try:
            parsed = symbol_rules_from_entry(entry)
        except RulesError as exc:
            skipped[label] = str(exc)
            continue
        rules[parsed.symbol] = parsed
    return RulesBook(rules=rules, skipped=skipped)


def symbol_rules_from_entry(entry: Mapping) -> ExchangeRules:
    """Parse one ``exchangeinfo`` symbol entry; raises :class:`RulesError` naming the field."""
    if not isinstance(entry, Mapping):
        raise RulesError("entry is not an object")
    base = _required_str(entry, "numerator")
    quote = _required_str(entry, "denominator")
    quantity_scale = _required_scale(entry, "numeratorScale")
    price_scale = _required_scale(entry, "denominatorScale")
    price_filter = _price_filter(entry)
    tick = _optional_decimal(price_filter, "tickSize", positive=True)
    min_notional = _optional_decimal(price_filter, "minExchangeValue", positive=False)
    if min_notional is None:
        raise RulesError("filters.PRICE_FILTER.minExchangeValue: missing")
    low = _max_of(
        _optional_decimal(price_filter, "minPrice", positive=False),
        _optional_decimal(entry, "minimumLimitOrderPrice", positive=False),
    )
    high = _min_of(
        _optional_decimal(price_filter, "maxPrice", positive=True),
        _optional_decimal(entry, "maximumLimitOrderPrice", positive=True),
    )
    methods = entry.get("orderMethods") or ["MARKET", "LIMIT"]
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise RulesError("orderMethods: not a list of strings")
    return ExchangeRules(
        symbol=Symbol(base.upper(), quote.upper()),
        tick_size=effective_tick(tick, price_scale),
        step_size=Decimal(1).scaleb(-quantity_scale),
        min_notional=min_notional,
        min_price=low if low is not None and low > 0 else None,
        max_price=high,
        status=str(entry.get("status") or "UNKNOWN").upper(),
        order_methods=frozenset(m.upper() for m in methods),
    )


def _entry_label(entry: object, index: int) -> str:
    if isinstance(entry, Mapping):
        for key in ("nameNormalized", "name"):
            if isinstance(entry.get(key), str):
                return entry[key]
    return f"symbols[{index}]"


def _required_str(entry: Mapping, name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{name}: missing or not a string")
    return value.strip()


def _required_scale(entry: Mapping, name: str) -> int:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RulesError(f"{name}: missing or not an integer")
    try:
        scale = int(value)
    except ValueError:
        raise RulesError(f"{name}: {value!r} is not an integer") from None
    if not 0 <= scale <= 18:
        raise RulesError(f"{name}: {scale} outside 0..18")
    return scale


def _price_filter(entry: Mapping) -> Mapping:
    filters = entry.get("filters")
    if not isinstance(filters, list):
        raise RulesError("filters: missing or not a list")
    for item in filters:
        if isinstance(item, Mapping) and item.get("filterType") == "PRICE_FILTER":
            return item
    raise RulesError("filters: no PRICE_FILTER")


def _optional_decimal(source: Mapping, name: str, *, positive: bool) -> Decimal | None:
    value = source.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise RulesError(f"{name}: {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):  # InvalidOperation, or an int too long for str()
        raise RulesError(f"{name}: not a number") from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise RulesError(f"{name}: {value!r} out of range")
    if number and not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise RulesError(f"{name}: {value!r} out of range (magnitude 1e+-{MAX_EXPONENT})")
    return number


def _max_of(*values: Decimal | None) -> Decimal | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _min_of(*values: Decimal | None) -> Decimal | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None
