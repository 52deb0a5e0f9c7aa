"""Taker fills against order-book levels: which levels an incoming order takes, and how much.

Pure planning for :meth:`trading.domain.venue.SimulatedVenue.take_liquidity` (the sandbox
exchange fills marketable orders on submit against its current book, as BTCTurk does). Units:
prices quote per base unit, amounts and quantities base units, quote amounts quote units.

Rules of :func:`walk_levels`, given the levels of the side the order takes from (asks for a
buy, bids for a sell), best price first, each ``(price, amount available)``:

- a level fills ``min(what the order still wants, amount rounded down to the step)`` at the
  level's price; a level with less than one step available is skipped;
- a limit order stops at the first level beyond its limit (above it for a buy, below for a
  sell); a market order takes every level it is given (callers apply any price band);
- a buy or sell by base quantity wants what is left of its quantity; a market buy by quote
  amount wants the most steps its remaining quote buys at the level's price (notional only,
  the fee comes from the order's lock) and is complete once the remaining quote buys less
  than one step at the price it last saw (later levels are dearer, so it could buy nothing
  there either).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.orders import Side

ZERO = Decimal(0)

Level = tuple[Decimal, Decimal]  # (price, base amount)


@dataclass(frozen=True, slots=True)
class Walk:
    """The outcome of a walk: ``fills`` ``(price, quantity)`` per level taken from, best
    first; ``complete`` when nothing is left to trade (module docstring)."""

    fills: tuple[Level, ...]
    complete: bool


def floor_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """``quantity`` rounded down to the step grid (0 if below one step)."""
    return (quantity // step) * step


def affordable(quote: Decimal, price: Decimal, step: Decimal) -> Decimal:
    """Most base units on the step grid that ``quote`` buys at ``price`` (notional only)."""
    quantity = floor_to_step(quote / price, step)
    # quote / price is rounded to 28 digits; step back if that rounding made it unaffordable.
    if quantity * price > quote:
        quantity -= step
    return max(quantity, ZERO)


def walk_levels(
    *,
    side: Side,
    levels: Iterable[Level],
    step: Decimal,
    limit: Decimal | None = None,
    base_left: Decimal | None = None,
    quote_left: Decimal | None = None,
) -> Walk:
    """Walk ``levels`` for one order (module docstring).

    Give ``base_left`` (base units still to trade) or, for a market buy, ``quote_left``
    (quote still to spend); ``limit`` is the limit price, ``None`` for a market order.
    Raises ``ValueError`` unless exactly one of ``base_left`` and ``quote_left`` is given.
    """
    if (base_left is None) == (quote_left is None):
        raise ValueError("give exactly one of base_left and quote_left")
    buy = side is Side.BUY
    fills: list[Level] = []
    for price, amount in levels:
        if limit is not None and (price > limit if buy else price < limit):
            break
        wanted = base_left if quote_left is None else affordable(quote_left, price, step)
        if wanted <= 0:
            return Walk(tuple(fills), True)
        quantity = min(wanted, floor_to_step(amount, step))
        if quantity <= 0:
            continue
        fills.append((price, quantity))
        if quote_left is None:
            base_left -= quantity
            if base_left == 0:
                return Walk(tuple(fills), True)
        else:
            quote_left -= price * quantity
            if quote_left < price * step:
                return Walk(tuple(fills), True)
    return Walk(tuple(fills), False)
