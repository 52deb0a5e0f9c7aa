"""Order books of the sandbox exchange, derived from the replay candles (or the dataset's book).

The book is what order book requests answer (``GET /api/v2/orderbook``, websocket 431/432):
a plausible, deterministic book. It is also the liquidity that orders take on submit: a
marketable limit or market order fills at once against the current book's levels as a taker
(:meth:`~trading.exchange.sandbox.market.ReplayMarket.taker_levels`, which subtracts what
other orders took in the same step; the published book does not), and a limit order's
remainder rests and fills as later bars trade through it (:mod:`trading.domain.venue`).

Construction for one symbol at one replay step (prices quote per base unit, amounts base units):

- top of book: the dataset's ``book/<PAIR>.csv`` row in force (the last quote time at or before
  the replay time) when there is one, else ``bid = floor(close * (1 - spread/2))`` and
  ``ask = ceil(close * (1 + spread/2))`` with ``spread = spread_bps / 10000``; both on the tick
  grid and ``ask > bid`` (at least one tick apart);
- ``depth`` levels per side, ``gap = max(tick, ceil(close * level_gap_bps / 10000))`` apart;
- level amounts: ``unit * u`` rounded down to the step size, ``u`` uniform in [0.2, 2.0) from a
  ``random.Random`` seeded with ``(seed, symbol, bar open time)`` (same inputs, same book) and
  ``unit = max(bar volume / 10, 3 * min notional / close)``.

Diffs (websocket 432) compare two books level by level: ``CP`` 1 = level added, 0 = amount
changed (``A`` is the new absolute amount), 3 = level deleted (``A`` the amount it had)
(reference/btcturk_api.md section 6, "Order book maintenance").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.market import Bar
from trading.domain.rules import ExchangeRules

ZERO = Decimal(0)
BPS = Decimal(10000)
CP_UPDATED = 0
CP_ADDED = 1
CP_DELETED = 3

Level = tuple[Decimal, Decimal]  # (price, amount)


@dataclass(frozen=True, slots=True)
class Book:
    """One book: ``bids`` best (highest) first, ``asks`` best (lowest) first; ``ts_ms`` replay ms."""

    ts_ms: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Decimal:
        return self.bids[0][0]

    @property
    def best_ask(self) -> Decimal:
        return self.asks[0][0]


@dataclass(frozen=True, slots=True)
class BookDiff:
    """Changes from one book to the next: rows ``(cp, price, amount)`` per side, by price."""

    asks: tuple[tuple[int, Decimal, Decimal], ...]
    bids: tuple[tuple[int, Decimal, Decimal], ...]

    def __bool__(self) -> bool:
        return bool(self.asks or self.bids)


@dataclass(frozen=True, slots=True)
class BookShape:
    """Parameters of the synthetic book (see the module docstring)."""

    spread_bps: Decimal = Decimal(10)
    level_gap_bps: Decimal = Decimal(2)
    depth: int = 100
    seed: int = 0


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``."""
    return (value // step) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded up to a multiple of ``step``."""
    down = floor_to(value, step)
    return down if down == value else down + step


def synthetic_book(
    *,
    rules: ExchangeRules,
    bar: Bar,
    shape: BookShape,
    ts_ms: int,
    top: tuple[Decimal, Decimal] | None = None,
) -> Book:
    """The book of ``rules.symbol`` after ``bar`` closed (module docstring); ``top`` = (bid, ask)."""
    tick, close = rules.tick_size, bar.close
    if top is None:
        half = close * shape.spread_bps / BPS / 2
        bid, ask = floor_to(close - half, tick), ceil_to(close + half, tick)
    else:
        bid, ask = floor_to(top[0], tick), ceil_to(top[1], tick)
    if bid <= 0:
        bid = tick
    if ask <= bid:
        ask = bid + tick
    gap = max(tick, ceil_to(close * shape.level_gap_bps / BPS, tick))
    # Print prices with the tick's decimals (``353500``, ``301.1``), amounts with the step's.
    quantum = Decimal(1).scaleb(min(0, tick.normalize().as_tuple().exponent))
    bid, ask, gap = bid.quantize(quantum), ask.quantize(quantum), gap.quantize(quantum)
    rng = random.Random(f"{shape.seed}|{rules.symbol}|{bar.ts_ms}")
    unit = max(bar.volume / 10, 3 * rules.min_notional / close)
    bids = []
    for i in range(shape.depth):
        price = bid - gap * i
        if price <= 0:
            break
        bids.append((price, _amount(unit, rng, rules.step_size)))
    asks = [(ask + gap * i, _amount(unit, rng, rules.step_size)) for i in range(shape.depth)]
    return Book(ts_ms=ts_ms, bids=tuple(bids), asks=tuple(asks))


def _amount(unit: Decimal, rng: random.Random, step: Decimal) -> Decimal:
    factor = Decimal(str(round(0.2 + 1.8 * rng.random(), 6)))
    return max(floor_to(unit * factor, step), step).quantize(step)


def book_diff(old: Book, new: Book) -> BookDiff:
    """Rows that turn ``old`` into ``new`` (module docstring); asks ascending, bids descending."""
    return BookDiff(
        asks=_side_diff(old.asks, new.asks, reverse=False),
        bids=_side_diff(old.bids, new.bids, reverse=True),
    )


def _side_diff(
    old: tuple[Level, ...], new: tuple[Level, ...], *, reverse: bool
) -> tuple[tuple[int, Decimal, Decimal], ...]:
    before, after = dict(old), dict(new)
    rows = []
    for price in sorted(before.keys() | after.keys(), reverse=reverse):
        if price not in after:
            rows.append((CP_DELETED, price, before[price]))
        elif price not in before:
            rows.append((CP_ADDED, price, after[price]))
        elif before[price] != after[price]:
            rows.append((CP_UPDATED, price, after[price]))
    return tuple(rows)
