"""Universe selection (cycle step 5): which symbols may be traded this cycle.

A symbol is a candidate when it has exchange rules with status TRADING, fresh data (its
newest bar or book is at most ``max_data_age_ms`` old) and, when a book is known, a spread
within ``max_spread_bps``. When ``size`` is set and more candidates pass, they are ranked by
recent liquidity (quote volume of the last ``liquidity_bars`` closed bars; ties by symbol)
and the top ``size`` are kept. Symbols with a position are always kept so that they can be
exited. Excluded symbols come back with a reason code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.market import MarketSnapshot
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol


@dataclass(frozen=True, slots=True)
class UniverseLimits:
    """``size`` 0 means every candidate; spreads in basis points."""

    size: int = 0
    max_spread_bps: Decimal | None = None
    liquidity_bars: int = 12


@dataclass(frozen=True, slots=True)
class Universe:
    symbols: tuple[Symbol, ...]
    excluded: Mapping[Symbol, str]


def universe_select(
    market: Mapping[Symbol, MarketSnapshot],
    rules: Mapping[Symbol, ExchangeRules],
    held: frozenset[Symbol],
    *,
    max_data_age_ms: int,
    limits: UniverseLimits,
) -> Universe:
    """Select this cycle's tradable symbols (sorted) and the reasons for the others."""
    candidates: list[Symbol] = []
    excluded: dict[Symbol, str] = {}
    for symbol, snapshot in market.items():
        reason = _exclusion(snapshot, rules.get(symbol), max_data_age_ms, limits)
        if reason is None:
            candidates.append(symbol)
        else:
            excluded[symbol] = reason
    if limits.size and len(candidates) > limits.size:
        ranked = sorted(candidates, key=lambda s: (-_liquidity(market[s], limits), s))
        keep = set(ranked[: limits.size]) | (held & set(candidates))
        for symbol in candidates:
            if symbol not in keep:
                excluded[symbol] = "RANKED_OUT"
        candidates = [s for s in candidates if s in keep]
    return Universe(tuple(sorted(candidates)), excluded)


def _exclusion(
    snapshot: MarketSnapshot,
    rules: ExchangeRules | None,
    max_data_age_ms: int,
    limits: UniverseLimits,
) -> str | None:
    if rules is None:
        return "NO_RULES"
    if not rules.trading:
        return "NOT_TRADING"
    if snapshot.age_ms > max_data_age_ms:
        return "STALE_DATA"
    if limits.max_spread_bps is not None:
        spread = snapshot.spread_bps
        if spread is not None and spread > limits.max_spread_bps:
            return "SPREAD_TOO_WIDE"
    return None


def _liquidity(snapshot: MarketSnapshot, limits: UniverseLimits) -> float:
    bars = snapshot.bars
    start = max(0, bars.end - limits.liquidity_bars)
    return sum(bars.close[i] * bars.volume[i] for i in range(start, bars.end))
