"""A portfolio: quote cash plus average-cost positions, moved by fills; equity and exposure.

The portfolio tracks one quote asset (e.g. TRY) as cash and the base holdings as positions.
A fee in the quote asset is paid from cash, a fee in the base asset from the position (see
:mod:`ledger.domain.positions`), and a fee in any other asset is converted to quote at the
fill-time rate and paid from cash (the portfolio holds no third-asset balances).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, getcontext
from functools import lru_cache
from itertools import repeat
from operator import mul, truediv
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from ledger.domain.fills import Fill
from ledger.domain.positions import (
    ZERO,
    FeeConversionError,
    LedgerIntegrityError,
    Position,
    fee_paid_in_base,
    fill_fee_in_quote,
    position_apply_fill,
)
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

__all__ = [
    "FeeConversionError",
    "LedgerIntegrityError",
    "MissingMarkError",
    "Portfolio",
    "portfolio_apply_fill",
    "portfolio_equity",
    "portfolio_equity_series",
    "portfolio_equity_series_scaled",
    "portfolio_exposure",
    "portfolio_unrealized_pnl",
]


_M = TypeVar("_M")  # one symbol's mark or marks, in whatever form a caller gives them


class MissingMarkError(KeyError):
    """A held symbol has no mark price, so equity cannot be valued."""

    def __init__(self, symbol: Symbol) -> None:
        super().__init__(symbol)
        self.symbol = symbol

    def __str__(self) -> str:
        return f"no mark price for held symbol {self.symbol}"


def _empty_positions() -> Mapping[Symbol, Position]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Cash and positions of one account or backtest run.

    ``quote_asset`` upper-case code (``TRY``); ``cash`` quote units (may go negative only if
    fills say so: the ledger records facts, allocation prevents overspending); ``positions``
    read-only mapping symbol -> :class:`Position`, flat positions kept with quantity 0 for
    their realized PnL; ``realized_pnl`` and ``fees_paid`` quote, summed over positions.
    """

    quote_asset: str
    cash: Decimal
    positions: Mapping[Symbol, Position] = field(default_factory=_empty_positions)
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO


def portfolio_apply_fill(
    portfolio: Portfolio, fill: Fill, *, rates: Mapping[str, Decimal] | None = None
) -> Portfolio:
    """Return the portfolio after ``fill``.

    Cash: BUY ``-= price * qty`` (and ``-= fee`` unless the fee is in base), SELL
    ``+= price * qty`` (and ``-= fee`` unless in base). ``rates`` maps an upper-case asset to
    its quote price at fill time, needed only for fees in a third asset. Raises
    :class:`LedgerIntegrityError` when the fill's quote is not ``quote_asset`` or on an
    oversell, :class:`FeeConversionError` naming the asset when a needed rate is missing.
    Cost: one dict copy of the positions per fill.
    """
    if fill.symbol.quote != portfolio.quote_asset:
        raise LedgerIntegrityError(
            f"fill {fill.trade_id} for {fill.symbol} is quoted in {fill.symbol.quote}, "
            f"portfolio in {portfolio.quote_asset}"
        )
    fee_quote = fill_fee_in_quote(fill, rates=rates)
    old = portfolio.positions.get(fill.symbol)
    new = position_apply_fill(old, fill, fee_in_quote=fee_quote)
    cash_fee = ZERO if fee_paid_in_base(fill) else fee_quote
    notional = fill.price * fill.quantity
    cash_delta = -notional - cash_fee if fill.side is Side.BUY else notional - cash_fee
    positions = dict(portfolio.positions)
    positions[fill.symbol] = new
    old_realized, old_fees = (ZERO, ZERO) if old is None else (old.realized_pnl, old.fees_paid)
    return Portfolio(
        quote_asset=portfolio.quote_asset,
        cash=portfolio.cash + cash_delta,
        positions=MappingProxyType(positions),
        realized_pnl=portfolio.realized_pnl + new.realized_pnl - old_realized,
        fees_paid=portfolio.fees_paid + new.fees_paid - old_fees,
    )


def _held_marks(portfolio: Portfolio, marks: Mapping[Symbol, _M]) -> list[tuple[Position, _M]]:
    """``(position, marks[symbol])`` of each held symbol (a mark, or a series of them);
    :class:`MissingMarkError` for one without."""
    held = []
    for symbol, position in portfolio.positions.items():
        if position.quantity == 0:
            continue
        mark = marks.get(symbol)
        if mark is None:
            raise MissingMarkError(symbol)
        held.append((position, mark))
    return held


def portfolio_exposure(portfolio: Portfolio, marks: Mapping[Symbol, Decimal]) -> Decimal:
    """Quote value of all holdings: ``sum(qty * mark)``. Flat positions need no mark.

    ``marks`` maps symbol -> quote per base unit. Raises :class:`MissingMarkError` (a
    ``KeyError``) for a held symbol without a mark.
    """
    return sum((p.market_value(mark) for p, mark in _held_marks(portfolio, marks)), ZERO)


def portfolio_equity(portfolio: Portfolio, marks: Mapping[Symbol, Decimal]) -> Decimal:
    """Equity in quote: ``cash + sum(qty * mark)``. Raises :class:`MissingMarkError` like
    :func:`portfolio_exposure`. One point of :func:`portfolio_equity_series`, where the
    formula lives."""
    return portfolio_equity_series(portfolio, {s: (mark,) for s, mark in marks.items()}, 1)[0]


def portfolio_equity_series(
    portfolio: Portfolio, marks: Mapping[Symbol, Sequence[Decimal]], length: int
) -> list[Decimal]:
    """Equity at ``length`` successive sets of marks, positions unchanged (the formula of
    :func:`portfolio_equity`, which is one point of it).

    ``marks[symbol][i]`` is the mark of a held symbol at point ``i``. Each result equals
    ``portfolio_equity(portfolio, {s: marks[s][i] for s in marks})`` exactly (same additions
    in the same order); used by the backtest for stretches of cycles without fills. Raises
    :class:`MissingMarkError` for a held symbol without marks.
    """
    held = [(p.quantity, series) for p, series in _held_marks(portfolio, marks)]
    cash = portfolio.cash
    if not held:
        return [cash + ZERO] * length
    if len(held) == 1:
        quantity, series = held[0]
        return [cash + (ZERO + quantity * mark) for mark in series[:length]]
    out = []
    for i in range(length):
        exposure = ZERO
        for quantity, series in held:
            exposure += quantity * series[i]
        out.append(cash + exposure)
    return out


class ScaledMarks(NamedTuple):
    """Marks as scaled integers: mark ``i`` is ``Decimal(units[i]).scaleb(exponent)`` quote
    units per base unit (a candle column and its ``-price_scale``). ``largest``, if given, is
    at least every ``abs(units[i])`` (e.g. the largest of the whole column, found once),
    which spares a pass over ``units`` for the exactness bound; ``None``: they are scanned."""

    units: Sequence[int]
    exponent: int
    largest: int | None = None


class EquitySeries(NamedTuple):
    """Equity at successive marks (quote), exact, and each as the nearest ``float``
    (``float(values[i])``, e.g. for return statistics)."""

    values: list[Decimal]
    floats: list[float]


def portfolio_equity_series_scaled(
    portfolio: Portfolio, marks: Mapping[Symbol, ScaledMarks], length: int
) -> EquitySeries:
    """:func:`portfolio_equity_series` over marks given as scaled integers, in integers.

    Each value equals ``portfolio_equity_series`` at the marks ``Decimal(units[i]).scaleb(
    exponent)`` exactly, digits included: every addition and product there is exact while
    its coefficient stays below ``10^prec`` (the context precision), and then the result's
    exponent is the least of the operands' (cash, 0 and each quantity's plus its mark's).
    The integers are checked against that bound first; beyond it (or with a special value)
    the Decimal path runs instead. The floats are the integers' correctly rounded quotients,
    which is what ``float`` of the Decimal gives, without formatting it. Raises
    :class:`MissingMarkError` for a held symbol without marks.
    """
    held = [(p.quantity, series) for p, series in _held_marks(portfolio, marks)]
    cash = portfolio.cash
    if not held:
        value = cash + ZERO
        return EquitySeries([value] * length, [float(value)] * length)
    exact = _scaled_terms(cash, held, length)
    if exact is None:
        decimals = {
            symbol: [Decimal(u).scaleb(m.exponent) for u in m.units[:length]]
            for symbol, m in marks.items()
        }
        values = portfolio_equity_series(portfolio, decimals, length)
        return EquitySeries(values, list(map(float, values)))
    base, terms, exponent = exact
    if len(terms) == 1:
        factor, units = terms[0]
        totals = [base + factor * u for u in units[:length]]
    else:
        columns = [(factor, units[:length]) for factor, units in terms]
        totals = []
        for i in range(length):
            total = base
            for factor, units in columns:
                total += factor * units[i]
            totals.append(total)
    # total * 10^exponent: the product with a one-digit power of ten is exact (the bound
    # above), the same coefficient and exponent as Decimal(total).scaleb(exponent) and a
    # quarter cheaper; C-level passes
    values = list(map(mul, map(Decimal, totals), repeat(_power_of_ten(exponent))))
    if exponent < 0:  # int / int is correctly rounded, as float(Decimal) is
        floats = list(map(truediv, totals, repeat(10**-exponent)))
    else:
        floats = list(map(float, map(mul, totals, repeat(10**exponent))))
    return EquitySeries(values, floats)


def _scaled_terms(
    cash: Decimal, held: list[tuple[Decimal, ScaledMarks]], length: int
) -> tuple[int, list[tuple[int, Sequence[int]]], int] | None:
    """``(cash units, [(quantity factor, mark units)], exponent)`` with equity ``i`` =
    ``(cash units + sum(factor * units[i])) * 10^exponent``, or ``None`` when a value is
    special or a coefficient could reach ``10^prec`` (not exact in Decimal)."""
    cash_scaled = _units(cash)
    if cash_scaled is None:
        return None
    cash_units, cash_exp = cash_scaled
    quantities = []
    exponent = min(cash_exp, 0)
    for quantity, series in held:
        scaled = _units(quantity)
        units = series.units[:length]
        if scaled is None or not units:
            return None
        coefficient, exp = scaled
        largest = series.largest
        if largest is None:
            largest = max(-min(units), max(units))
        quantities.append((coefficient, exp + series.exponent, units, largest))
        exponent = min(exponent, exp + series.exponent)
    limit = 10 ** getcontext().prec
    base = cash_units * 10 ** (cash_exp - exponent)
    bound = abs(base)
    terms = []
    for coefficient, exp, units, largest in quantities:
        if largest >= limit or abs(coefficient) * largest >= limit:
            return None  # a mark or a product not exact in Decimal
        factor = coefficient * 10 ** (exp - exponent)
        bound += abs(factor) * largest
        terms.append((factor, units))
    return None if bound >= limit else (base, terms, exponent)


@lru_cache(maxsize=64)
def _power_of_ten(exponent: int) -> Decimal:
    """``1E<exponent>``: one coefficient digit, so a product with it is exact."""
    return Decimal(1).scaleb(exponent)


_UNITS: dict[int, tuple[Decimal, int, int]] = {}  # id -> (the object, coefficient, exponent)


def _units(value: Decimal) -> tuple[int, int] | None:
    """``(coefficient, exponent)`` with ``value == coefficient * 10^exponent`` in ``value``'s
    own digits, or ``None`` for a special value. A backtest asks again and again about the
    same cash and quantity objects between fills, so the last few thousand are remembered by
    identity (the entry keeps its object alive, so an id is never reused while cached)."""
    hit = _UNITS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1], hit[2]
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return None
    coefficient = int("".join(map(str, digits))) * (-1 if sign else 1)
    if len(_UNITS) >= 4096:
        _UNITS.clear()
    _UNITS[id(value)] = (value, coefficient, exponent)
    return coefficient, exponent


def portfolio_unrealized_pnl(portfolio: Portfolio, marks: Mapping[Symbol, Decimal]) -> Decimal:
    """Quote PnL of holdings at ``marks``: ``sum(qty * mark - cost_basis)``. Raises
    :class:`MissingMarkError` like :func:`portfolio_exposure`."""
    return sum((p.unrealized_pnl(mark) for p, mark in _held_marks(portfolio, marks)), ZERO)
