"""Universe selection: rules, status, data age and spread filters; liquidity ranking; held
symbols kept for their exits; a reason code for every excluded symbol."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.universe import Universe, UniverseLimits, universe_select

D = Decimal
MAX_AGE = 900_000
BTC, ETH, SOL, AVAX = (Symbol(b, "TRY") for b in ("BTC", "ETH", "SOL", "AVAX"))
EVERY_CANDIDATE = UniverseLimits()


def snapshot(
    symbol: Symbol,
    *,
    age_ms: int = 0,
    volumes: tuple[float, ...] = (1.0, 1.0, 1.0),
    close: float = 100.0,
    bid: str | None = None,
    ask: str | None = None,
) -> MarketSnapshot:
    n = len(volumes)
    closes = [close] * n
    bars = BarWindow(
        ts=[i * 60_000 for i in range(n)],
        open=closes,
        high=closes,
        low=closes,
        close=closes,
        volume=list(volumes),
        end=n,
        interval_ms=60_000,
    )
    return MarketSnapshot(
        symbol,
        bars,
        D(str(close)),
        age_ms,
        None if bid is None else D(bid),
        None if ask is None else D(ask),
    )


def rules(symbol: Symbol, status: str = "TRADING") -> ExchangeRules:
    return ExchangeRules(symbol, D("1"), D("0.0001"), D("10"), status=status)


def select(
    market: dict[Symbol, MarketSnapshot],
    *,
    held: frozenset[Symbol] = frozenset(),
    limits: UniverseLimits = EVERY_CANDIDATE,
    rules_for: dict[Symbol, ExchangeRules] | None = None,
) -> Universe:
    book = rules_for if rules_for is not None else {s: rules(s) for s in market}
    return universe_select(market, book, held, max_data_age_ms=MAX_AGE, limits=limits)


def test_it_keeps_every_healthy_symbol_sorted() -> None:
    universe = select({s: snapshot(s) for s in (SOL, BTC, ETH)})

    assert universe.symbols == (BTC, ETH, SOL)
    assert universe.excluded == {}


@pytest.mark.parametrize(
    ("snap", "book", "reason"),
    [
        (snapshot(BTC), {}, "NO_RULES"),
        (snapshot(BTC), {BTC: rules(BTC, "HALTED")}, "NOT_TRADING"),
        (snapshot(BTC, age_ms=MAX_AGE + 1), None, "STALE_DATA"),
        (snapshot(BTC, bid="99", ask="101"), None, "SPREAD_TOO_WIDE"),  # 200 bps > 50
    ],
)
def test_it_excludes_a_symbol_with_a_reason(
    snap: MarketSnapshot, book: dict[Symbol, ExchangeRules] | None, reason: str
) -> None:
    limits = UniverseLimits(max_spread_bps=D("50"))

    universe = select({BTC: snap}, rules_for=book, limits=limits)

    assert universe.symbols == ()
    assert universe.excluded == {BTC: reason}


@pytest.mark.parametrize(
    "snap",
    [
        snapshot(BTC, age_ms=MAX_AGE),  # exactly the limit is still fresh
        snapshot(BTC, bid="99.9", ask="100.1"),  # 20 bps
        snapshot(BTC),  # no book: the spread filter cannot apply
    ],
)
def test_it_keeps_a_symbol_at_the_limits(snap: MarketSnapshot) -> None:
    universe = select({BTC: snap}, limits=UniverseLimits(max_spread_bps=D("50")))

    assert universe.symbols == (BTC,)


def test_without_a_spread_limit_a_wide_book_is_kept() -> None:
    assert select({BTC: snapshot(BTC, bid="50", ask="150")}).symbols == (BTC,)


def test_it_keeps_the_most_liquid_symbols_when_the_universe_is_capped() -> None:
    market = {
        BTC: snapshot(BTC, volumes=(5.0, 5.0, 5.0)),
        ETH: snapshot(ETH, volumes=(1.0, 1.0, 1.0)),
        SOL: snapshot(SOL, volumes=(9.0, 9.0, 9.0)),
        AVAX: snapshot(AVAX, volumes=(2.0, 2.0, 2.0)),
    }

    universe = select(market, limits=UniverseLimits(size=2))

    assert universe.symbols == (BTC, SOL)
    assert universe.excluded == {ETH: "RANKED_OUT", AVAX: "RANKED_OUT"}


def test_liquidity_counts_only_the_last_liquidity_bars() -> None:
    # ETH traded a lot long ago, BTC a little but recently
    market = {
        BTC: snapshot(BTC, volumes=(0.0, 0.0, 0.0, 3.0, 3.0)),
        ETH: snapshot(ETH, volumes=(100.0, 100.0, 100.0, 1.0, 1.0)),
    }

    universe = select(market, limits=UniverseLimits(size=1, liquidity_bars=2))

    assert universe.symbols == (BTC,)


def test_liquidity_is_quote_volume_not_base_volume() -> None:
    market = {
        BTC: snapshot(BTC, volumes=(1.0, 1.0, 1.0), close=1000.0),  # 3,000 quote
        ETH: snapshot(ETH, volumes=(10.0, 10.0, 10.0), close=10.0),  # 300 quote
    }

    assert select(market, limits=UniverseLimits(size=1)).symbols == (BTC,)


def test_ties_in_liquidity_are_broken_by_symbol() -> None:
    market = {s: snapshot(s) for s in (SOL, ETH, BTC)}

    assert select(market, limits=UniverseLimits(size=2)).symbols == (BTC, ETH)


def test_a_held_symbol_is_kept_even_when_ranked_out_so_it_can_be_exited() -> None:
    market = {
        BTC: snapshot(BTC, volumes=(5.0, 5.0, 5.0)),
        ETH: snapshot(ETH, volumes=(1.0, 1.0, 1.0)),
        SOL: snapshot(SOL, volumes=(9.0, 9.0, 9.0)),
    }

    universe = select(market, held=frozenset({ETH}), limits=UniverseLimits(size=1))

    assert universe.symbols == (ETH, SOL)
    assert universe.excluded == {BTC: "RANKED_OUT"}


def test_a_held_symbol_with_stale_data_is_still_excluded() -> None:
    market = {BTC: snapshot(BTC, age_ms=MAX_AGE * 2), ETH: snapshot(ETH)}

    universe = select(market, held=frozenset({BTC}), limits=UniverseLimits(size=1))

    assert universe.symbols == (ETH,)
    assert universe.excluded == {BTC: "STALE_DATA"}


def test_a_size_of_zero_keeps_every_candidate() -> None:
    market = {s: snapshot(s) for s in (BTC, ETH, SOL, AVAX)}

    universe = select(market, limits=replace(UniverseLimits(), size=0))

    assert universe.symbols == (AVAX, BTC, ETH, SOL)
