"""Universe scoring (issue 11, part 1): candidates, metrics per symbol and one score each.

Pure and deterministic: the same market, rules, books and rejects give the same scores in a
backtest, a paper cycle and live, whatever order the mappings iterate in. What the scores do
to the traded set (top N, cooldowns, probation, churn cap, freezes) is
:mod:`trading.domain.universe_governance`.

**Candidates** are the symbols named by ``rules`` (the ``Instrument`` rows) or ``market``.
One is excluded, with the first reason code that applies, in this order:

=====================  ==========================================================
``QUOTE_MISMATCH``     its quote is not :attr:`CandidatePolicy.quote`
``DENIED``             it is on the deny list (the deny list wins over the allow list)
``NOT_ALLOWED``        an allow list is set and it is not on it
``STABLE_BASE``        its base is a stablecoin or fiat-like asset (USDT, EUR, ...)
``NO_RULES``           no exchange rules
``NOT_TRADING``        the rules' status is not TRADING
``BAD_RULES``          tick size, step size or min notional is not positive
``NO_MARKET_DATA``     no market snapshot
``NO_BARS``            no closed bar yet
``STALE_DATA``         its data is older than :attr:`ScoringPolicy.max_data_age_ms`
``SPREAD_TOO_WIDE``    a known spread above :attr:`ScoringPolicy.max_spread_bps`
``VOLUME_TOO_LOW``     quote volume below :attr:`ScoringPolicy.min_quote_volume`
=====================  ==========================================================

**Metrics** (:class:`SymbolMetrics`), computed in floats like indicators (the bar columns are
floats; sums are exactly rounded with ``math.fsum``, so they are the same on every platform)
and returned as Decimal: quote volume of the last ``volume_bars`` closed bars;
spread in bps from the snapshot's bid and ask; volatility, the population standard deviation
of the simple close-to-close returns of the last ``volatility_bars`` closed bars; book depth,
the quote value resting within ``depth_bps`` of the mid on both sides when a book is known;
recent rejects of the symbol (counted by :func:`symbol_rejects_count`).

**Normalisation: percentile rank.** For each metric, a candidate's part is the share of the
other candidates it beats, ties counting half: ``(better + (equal - 1) / 2) / (n - 1)`` in
[0, 1] (1 when it is the only one with a value). Direction: more volume and more depth are
better; a narrower spread, fewer rejects and (by default, :attr:`ScoringPolicy.prefer_volatile`
off) lower volatility are better. A missing value (no book, too few bars) scores 0 and is not
ranked. Ranks rather than min-max because volumes are heavy-tailed: one large pair would press
every other pair's min-max volume towards 0. The score is the weighted sum of the parts with
weights normalised to sum to 1 (:func:`score_weights_normalise`), so it lies in [0, 1];
candidates are ordered by score, highest first, ties by symbol.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

from trading.domain.market import MarketSnapshot
from trading.domain.reports import OrderBook
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10000)

# Bases whose price is (meant to be) pegged: trading them against TRY is a currency bet, not
# the spot trading the strategies are built for.
DEFAULT_EXCLUDED_BASES: frozenset[str] = frozenset(
    {
        "USDT", "USDC", "BUSD", "DAI", "TUSD", "FDUSD", "USDP", "PYUSD", "USDD", "EURT",
        "EURC", "EURS", "GUSD", "TRYB", "USD", "EUR", "GBP", "TRY", "CHF", "JPY",
    }
)  # fmt: skip
# Rejects that say our orders do not fit the symbol (its rules or its book), by our code and
# by BTCTurk's number; balance and rate-limit rejects are about the account, not the symbol.
SYMBOL_REJECT_CODES: frozenset[str] = frozenset(
    {
        "MIN_NOTIONAL", "1123",
        "PRICE_ABOVE_BAND", "1226",
        "PRICE_BELOW_BAND", "1227",
        "INVALID_PRICE_SCALE", "1126",
        "INVALID_QUANTITY_SCALE", "1127",
        "ORDER_METHOD_NOT_SUPPORTED", "1134",
    }
)  # fmt: skip
METRICS = ("volume", "spread", "volatility", "depth", "rejects")


@dataclass(frozen=True, slots=True)
class CandidatePolicy:
    """Which pairs may be candidates. ``allow`` empty = every pair of ``quote``."""

    quote: str = "TRY"
    allow: frozenset[Symbol] = frozenset()
    deny: frozenset[Symbol] = frozenset()
    excluded_bases: frozenset[str] = DEFAULT_EXCLUDED_BASES


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weight of each metric (any non-negative numbers; :func:`score_weights_normalise` makes
    them sum to 1). Defaults follow the predecessor's 0.5 / 0.3 / 0.2 for volume, spread and
    volatility, with depth and rejects added."""

    volume: Decimal = Decimal("0.4")
    spread: Decimal = Decimal("0.25")
    volatility: Decimal = Decimal("0.15")
    depth: Decimal = Decimal("0.1")
    rejects: Decimal = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    """Per-account scoring settings. Bars count closed bars; ``max_data_age_ms`` milliseconds;
    ``max_spread_bps`` and ``depth_bps`` basis points; ``min_quote_volume`` quote currency over
    ``volume_bars``. ``None`` thresholds do not filter. Raises ``ValueError`` for a bar count
    below 1 or a negative depth band or age."""

    candidates: CandidatePolicy = CandidatePolicy()
    weights: ScoreWeights = ScoreWeights()
    volume_bars: int = 12
    volatility_bars: int = 20
    depth_bps: Decimal = Decimal(50)
    max_data_age_ms: int = 900_000
    max_spread_bps: Decimal | None = None
    min_quote_volume: Decimal | None = None
    prefer_volatile: bool = False

    def __post_init__(self) -> None:
        if min(self.volume_bars, self.volatility_bars) < 1:
            raise ValueError("volume_bars and volatility_bars must be >= 1")
        if self.depth_bps < 0 or self.max_data_age_ms < 0:
            raise ValueError("depth_bps and max_data_age_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class SymbolMetrics:
    """Measured metrics of one symbol. ``quote_volume`` and ``depth`` quote currency,
    ``spread_bps`` basis points, ``volatility`` a fraction per bar (0.01 = 1 %), ``rejects`` a
    count, ``age_ms`` milliseconds. ``None``: not measurable (no book, fewer than 2 returns)."""

    symbol: Symbol
    quote_volume: Decimal
    spread_bps: Decimal | None
    volatility: Decimal | None
    depth: Decimal | None
    rejects: int
    age_ms: int


@dataclass(frozen=True, slots=True)
class ScoredSymbol:
    """A candidate with its ``score`` in [0, 1] and ``parts``, the normalised value of each
    metric (keys of :data:`METRICS`) before weighting."""

    symbol: Symbol
    score: Decimal
    metrics: SymbolMetrics
    parts: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class UniverseScores:
    """The candidates best first (ties by symbol), every other symbol with its reason code,
    and ``data_age_ms``: the age of the freshest snapshot in the market (``None`` when there is
    none), which governance compares with its limit to tell stale data."""

    ranked: tuple[ScoredSymbol, ...]
    excluded: Mapping[Symbol, str]
    data_age_ms: int | None


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """One rejected order: its symbol, reject ``code`` (ours or BTCTurk's number as text) and
    the time it was rejected (epoch ms UTC)."""

    symbol: Symbol
    code: str
    ts_ms: int


def symbol_rejects_count(
    rejects: Iterable[RejectRecord],
    *,
    now_ms: int,
    window_ms: int,
    codes: frozenset[str] = SYMBOL_REJECT_CODES,
) -> dict[Symbol, int]:
    """Rejects per symbol with a code in ``codes`` within ``(now_ms - window_ms, now_ms]``."""
    counts: dict[Symbol, int] = {}
    for record in rejects:
        if record.code in codes and now_ms - window_ms < record.ts_ms <= now_ms:
            counts[record.symbol] = counts.get(record.symbol, 0) + 1
    return counts


def score_weights_normalise(weights: ScoreWeights) -> ScoreWeights:
    """``weights`` scaled to sum to 1; all zero means no preference (equal weights).

    Raises ``ValueError`` for a negative or non-finite weight.
    """
    values = [getattr(weights, f.name) for f in fields(ScoreWeights)]
    if any(not v.is_finite() or v < 0 for v in values):
        raise ValueError(f"score weights must be finite and >= 0: {weights}")
    total = sum(values, ZERO)
    if total == 0:
        return ScoreWeights(*(ONE / len(values) for _ in values))
    return ScoreWeights(*(v / total for v in values))


def symbol_metrics_measure(
    snapshot: MarketSnapshot,
    *,
    policy: ScoringPolicy,
    book: OrderBook | None = None,
    rejects: int = 0,
) -> SymbolMetrics:
    """The metrics of one symbol from its snapshot (closed bars only), book and reject count."""
    bars = snapshot.bars
    start = max(0, bars.end - policy.volume_bars)
    volume = math.fsum(bars.close[i] * bars.volume[i] for i in range(start, bars.end))
    return SymbolMetrics(
        symbol=snapshot.symbol,
        quote_volume=_decimal(volume),
        spread_bps=snapshot.spread_bps,
        volatility=_volatility(snapshot, policy.volatility_bars),
        depth=None if book is None else _depth(book, policy.depth_bps),
        rejects=rejects,
        age_ms=snapshot.age_ms,
    )


def universe_score(
    *,
    market: Mapping[Symbol, MarketSnapshot],
    rules: Mapping[Symbol, ExchangeRules],
    policy: ScoringPolicy,
    books: Mapping[Symbol, OrderBook] | None = None,
    rejects: Mapping[Symbol, int] | None = None,
) -> UniverseScores:
    """Score every candidate of ``rules`` and ``market`` (see the module docstring).

    ``books`` are known order books per symbol (depth is unknown without one); ``rejects``
    recent reject counts per symbol (:func:`symbol_rejects_count`; absent = 0). Raises
    ``ValueError`` for invalid weights.
    """
    weights = score_weights_normalise(policy.weights)
    books = books or {}
    rejects = rejects or {}
    measured: list[SymbolMetrics] = []
    excluded: dict[Symbol, str] = {}
    for symbol in sorted(set(rules) | set(market)):
        reason = _exclusion(symbol, market.get(symbol), rules.get(symbol), policy)
        if reason is None:
            metrics = symbol_metrics_measure(
                market[symbol],
                policy=policy,
                book=books.get(symbol),
                rejects=rejects.get(symbol, 0),
            )
            reason = _threshold_exclusion(metrics, policy)
            if reason is None:
                measured.append(metrics)
                continue
        excluded[symbol] = reason
    ranked = sorted(_scored(measured, weights, policy), key=lambda s: (-s.score, s.symbol))
    ages = [snapshot.age_ms for snapshot in market.values()]
    return UniverseScores(tuple(ranked), excluded, min(ages) if ages else None)


def _exclusion(
    symbol: Symbol,
    snapshot: MarketSnapshot | None,
    rules: ExchangeRules | None,
    policy: ScoringPolicy,
) -> str | None:
    candidates = policy.candidates
    if symbol.quote != candidates.quote:
        return "QUOTE_MISMATCH"
    if symbol in candidates.deny:
        return "DENIED"
    if candidates.allow and symbol not in candidates.allow:
        return "NOT_ALLOWED"
    if symbol.base in candidates.excluded_bases:
        return "STABLE_BASE"
    if rules is None:
        return "NO_RULES"
    if not rules.trading:
        return "NOT_TRADING"
    if min(rules.tick_size, rules.step_size, rules.min_notional) <= 0:
        return "BAD_RULES"
    if snapshot is None:
        return "NO_MARKET_DATA"
    if snapshot.bars.end <= 0:
        return "NO_BARS"
    if snapshot.age_ms > policy.max_data_age_ms:
        return "STALE_DATA"
    return None


def _threshold_exclusion(metrics: SymbolMetrics, policy: ScoringPolicy) -> str | None:
    spread = metrics.spread_bps
    if policy.max_spread_bps is not None and spread is not None and spread > policy.max_spread_bps:
        return "SPREAD_TOO_WIDE"
    if policy.min_quote_volume is not None and metrics.quote_volume < policy.min_quote_volume:
        return "VOLUME_TOO_LOW"
    return None


def _scored(
    measured: list[SymbolMetrics], weights: ScoreWeights, policy: ScoringPolicy
) -> list[ScoredSymbol]:
    volatility_sign = 1 if policy.prefer_volatile else -1
    columns = {
        "volume": _rank_parts([m.quote_volume for m in measured]),
        "spread": _rank_parts([_negated(m.spread_bps) for m in measured]),
        "volatility": _rank_parts(
            [None if m.volatility is None else volatility_sign * m.volatility for m in measured]
        ),
        "depth": _rank_parts([m.depth for m in measured]),
        "rejects": _rank_parts([Decimal(-m.rejects) for m in measured]),
    }
    scored = []
    for i, metrics in enumerate(measured):
        parts = {name: columns[name][i] for name in METRICS}
        score = sum((getattr(weights, name) * parts[name] for name in METRICS), ZERO)
        scored.append(ScoredSymbol(metrics.symbol, score, metrics, parts))
    return scored


def _rank_parts(values: list[Decimal | None]) -> list[Decimal]:
    """Percentile rank of each value among the known ones (higher is better), ties half."""
    known = sorted(v for v in values if v is not None)
    if len(known) <= 1:
        return [ZERO if v is None else ONE for v in values]
    span = Decimal(2 * (len(known) - 1))
    parts = []
    for value in values:
        if value is None:
            parts.append(ZERO)
            continue
        below = _count_below(known, value)
        equal = _count_below(known, value, inclusive=True) - below
        parts.append(Decimal(2 * below + equal - 1) / span)
    return parts


def _count_below(known: list[Decimal], value: Decimal, *, inclusive: bool = False) -> int:
    return (bisect_right if inclusive else bisect_left)(known, value)


def _negated(value: Decimal | None) -> Decimal | None:
    return None if value is None else -value


def _volatility(snapshot: MarketSnapshot, lookback: int) -> Decimal | None:
    closes = snapshot.bars.closes(lookback + 1)
    returns = [b / a - 1 for a, b in zip(closes, closes[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None
    mean = math.fsum(returns) / len(returns)
    return _decimal(math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / len(returns)))


def _depth(book: OrderBook, depth_bps: Decimal) -> Decimal | None:
    mid = book.mid
    if mid is None or mid <= 0:
        return None
    low = mid * (1 - depth_bps / BPS)
    high = mid * (1 + depth_bps / BPS)
    bids = sum((lv.price * lv.quantity for lv in book.bids if lv.price >= low), ZERO)
    asks = sum((lv.price * lv.quantity for lv in book.asks if lv.price <= high), ZERO)
    return bids + asks


def _decimal(value: float) -> Decimal:
    # repr is the shortest string that round-trips: deterministic on every platform
    return Decimal(repr(value))
