"""Universe scoring: candidates with a reason code for every exclusion, metrics per symbol,
percentile-rank normalisation with each metric's direction, weights summing to 1, ties by
symbol, and scores that do not depend on the order candidates arrive in.

Numbers: TRY pairs, 1-minute bars, close 100 TRY unless a test says otherwise.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.reports import BookLevel, OrderBook
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.universe_scoring import (
    CandidatePolicy,
    RejectRecord,
    ScoreWeights,
    ScoringPolicy,
    UniverseScores,
    score_weights_normalise,
    symbol_metrics_measure,
    symbol_rejects_count,
    universe_score,
)

D = Decimal
BTC, ETH, SOL, AVAX = (Symbol(b, "TRY") for b in ("BTC", "ETH", "SOL", "AVAX"))
POLICY = ScoringPolicy()


def snapshot(
    symbol: Symbol,
    *,
    closes: tuple[float, ...] = (100.0, 100.0, 100.0),
    volumes: tuple[float, ...] | None = None,
    age_ms: int = 0,
    bid: str | None = None,
    ask: str | None = None,
    end: int | None = None,
) -> MarketSnapshot:
    n = len(closes)
    bars = BarWindow(
        ts=[i * 60_000 for i in range(n)],
        open=list(closes),
        high=list(closes),
        low=list(closes),
        close=list(closes),
        volume=list(volumes if volumes is not None else (1.0,) * n),
        end=n if end is None else end,
        interval_ms=60_000,
    )
    bid_d = None if bid is None else D(bid)
    ask_d = None if ask is None else D(ask)
    return MarketSnapshot(symbol, bars, D(repr(closes[-1])), age_ms, bid_d, ask_d)


def rules(symbol: Symbol, *, status: str = "TRADING", min_notional: str = "10") -> ExchangeRules:
    return ExchangeRules(symbol, D("1"), D("0.0001"), D(min_notional), status=status)


def score(
    market: dict[Symbol, MarketSnapshot],
    *,
    policy: ScoringPolicy = POLICY,
    rules_for: dict[Symbol, ExchangeRules] | None = None,
    **kwargs: object,
) -> UniverseScores:
    book = rules_for if rules_for is not None else {s: rules(s) for s in market}
    return universe_score(market=market, rules=book, policy=policy, **kwargs)


def ranked(scores: UniverseScores) -> list[Symbol]:
    return [s.symbol for s in scores.ranked]


# --- candidates ------------------------------------------------------------------------


USDT_TRY, BTC_USDT = Symbol("USDT", "TRY"), Symbol("BTC", "USDT")


@pytest.mark.parametrize(
    ("symbol", "snap", "book", "policy", "reason"),
    [
        (BTC_USDT, snapshot(BTC_USDT), None, POLICY, "QUOTE_MISMATCH"),
        (
            BTC,
            snapshot(BTC),
            None,
            replace(POLICY, candidates=CandidatePolicy(deny=frozenset({BTC}))),
            "DENIED",
        ),
        (
            BTC,
            snapshot(BTC),
            None,
            replace(POLICY, candidates=CandidatePolicy(allow=frozenset({ETH}))),
            "NOT_ALLOWED",
        ),
        (USDT_TRY, snapshot(USDT_TRY), None, POLICY, "STABLE_BASE"),
        (BTC, snapshot(BTC), {}, POLICY, "NO_RULES"),
        (BTC, snapshot(BTC), {BTC: rules(BTC, status="HALTED")}, POLICY, "NOT_TRADING"),
        (BTC, snapshot(BTC), {BTC: rules(BTC, min_notional="0")}, POLICY, "BAD_RULES"),
        (BTC, None, {BTC: rules(BTC)}, POLICY, "NO_MARKET_DATA"),
        (BTC, snapshot(BTC, end=0), None, POLICY, "NO_BARS"),
        (BTC, snapshot(BTC, age_ms=900_001), None, POLICY, "STALE_DATA"),
        (
            BTC,
            snapshot(BTC, bid="99", ask="101"),  # 200 bps
            None,
            replace(POLICY, max_spread_bps=D("50")),
            "SPREAD_TOO_WIDE",
        ),
        (
            BTC,
            snapshot(BTC),  # 3 bars x 1 BTC x 100 TRY = 300 TRY
            None,
            replace(POLICY, min_quote_volume=D("301")),
            "VOLUME_TOO_LOW",
        ),
    ],
)
def test_it_excludes_a_symbol_with_a_reason_code(
    symbol: Symbol,
    snap: MarketSnapshot | None,
    book: dict[Symbol, ExchangeRules] | None,
    policy: ScoringPolicy,
    reason: str,
) -> None:
    market = {} if snap is None else {symbol: snap}
    book = book if book is not None else {symbol: rules(symbol)}

    scores = score(market, rules_for=book, policy=policy)

    assert scores.ranked == ()
    assert scores.excluded == {symbol: reason}


def test_a_symbol_at_every_limit_is_still_a_candidate() -> None:
    policy = replace(POLICY, max_spread_bps=D("20"), min_quote_volume=D("300"))

    scores = score({BTC: snapshot(BTC, age_ms=900_000, bid="99.9", ask="100.1")}, policy=policy)

    assert ranked(scores) == [BTC]


def test_the_deny_list_wins_over_the_allow_list() -> None:
    both = CandidatePolicy(allow=frozenset({BTC}), deny=frozenset({BTC}))

    scores = score({BTC: snapshot(BTC)}, policy=replace(POLICY, candidates=both))

    assert scores.excluded == {BTC: "DENIED"}


def test_an_allow_list_keeps_only_its_symbols() -> None:
    only_btc = CandidatePolicy(allow=frozenset({BTC}))

    scores = score(
        {s: snapshot(s) for s in (BTC, ETH)}, policy=replace(POLICY, candidates=only_btc)
    )

    assert ranked(scores) == [BTC]
    assert scores.excluded == {ETH: "NOT_ALLOWED"}


def test_stable_bases_are_configurable() -> None:
    everything = CandidatePolicy(excluded_bases=frozenset())

    scores = score({USDT_TRY: snapshot(USDT_TRY)}, policy=replace(POLICY, candidates=everything))

    assert ranked(scores) == [USDT_TRY]


@pytest.mark.parametrize("base", ["USDT", "USDC", "EUR", "DAI", "TRY"])
def test_stablecoin_and_fiat_bases_are_excluded_by_default(base: str) -> None:
    symbol = Symbol(base, "TRY")

    assert score({symbol: snapshot(symbol)}).excluded == {symbol: "STABLE_BASE"}


def test_another_quote_currency_can_be_the_candidates_quote() -> None:
    usdt = replace(POLICY, candidates=CandidatePolicy(quote="USDT"))

    scores = score({BTC_USDT: snapshot(BTC_USDT), BTC: snapshot(BTC)}, policy=usdt)

    assert ranked(scores) == [BTC_USDT]
    assert scores.excluded == {BTC: "QUOTE_MISMATCH"}


# --- metrics ---------------------------------------------------------------------------


def test_quote_volume_sums_close_times_volume_over_the_last_volume_bars() -> None:
    snap = snapshot(BTC, closes=(1000.0, 10.0, 20.0), volumes=(9.0, 2.0, 3.0))

    metrics = symbol_metrics_measure(snap, policy=replace(POLICY, volume_bars=2))

    assert metrics.quote_volume == D("80")  # 10 x 2 + 20 x 3; the first bar is outside


def test_volatility_is_the_population_stdev_of_close_to_close_returns() -> None:
    snap = snapshot(BTC, closes=(50.0, 100.0, 110.0, 99.0))
    # the lookback of 2 returns skips 50 -> 100: returns +0.1 and -0.1, mean 0

    metrics = symbol_metrics_measure(snap, policy=replace(POLICY, volatility_bars=2))

    assert abs(metrics.volatility - D("0.1")) <= D("1e-15")  # float maths, like indicators


def test_volatility_matches_the_exact_population_stdev() -> None:
    closes = (100.0, 101.5, 99.25, 100.75, 98.0)
    exact = statistics.pstdev([D(repr(b)) / D(repr(a)) - 1 for a, b in pairwise(closes)])

    metrics = symbol_metrics_measure(snapshot(BTC, closes=closes), policy=POLICY)

    assert abs(metrics.volatility - exact) <= D("1e-15")


def test_volatility_is_unknown_with_fewer_than_two_returns() -> None:
    metrics = symbol_metrics_measure(snapshot(BTC, closes=(100.0, 101.0)), policy=POLICY)

    assert metrics.volatility is None


def test_spread_is_in_basis_points_of_the_mid() -> None:
    metrics = symbol_metrics_measure(snapshot(BTC, bid="99", ask="101"), policy=POLICY)

    assert metrics.spread_bps == D("200")


def test_depth_counts_the_quote_value_within_depth_bps_of_the_mid() -> None:
    book = OrderBook(
        BTC,
        0,
        bids=(BookLevel(D("99.9"), D("2")), BookLevel(D("99"), D("100"))),  # 99 is 100 bps off
        asks=(BookLevel(D("100.1"), D("1")), BookLevel(D("100.5"), D("1"))),  # 50 bps: inside
    )

    metrics = symbol_metrics_measure(snapshot(BTC), policy=POLICY, book=book)

    assert metrics.depth == D("99.9") * 2 + D("100.1") + D("100.5")


def test_depth_is_unknown_without_a_book_or_with_an_empty_side() -> None:
    one_sided = OrderBook(BTC, 0, bids=(BookLevel(D("99"), D("1")),), asks=())

    assert symbol_metrics_measure(snapshot(BTC), policy=POLICY).depth is None
    assert symbol_metrics_measure(snapshot(BTC), policy=POLICY, book=one_sided).depth is None


def test_recent_rejects_count_only_symbol_codes_inside_the_window() -> None:
    now = 1_000_000
    records = [
        RejectRecord(BTC, "1123", now),
        RejectRecord(BTC, "MIN_NOTIONAL", now - 59_999),
        RejectRecord(BTC, "MIN_NOTIONAL", now - 60_000),  # just outside
        RejectRecord(BTC, "INSUFFICIENT_BALANCE", now),  # about the account, not the symbol
        RejectRecord(ETH, "1226", now),
        RejectRecord(ETH, "1123", now + 1),  # after the cycle
    ]

    assert symbol_rejects_count(records, now_ms=now, window_ms=60_000) == {BTC: 2, ETH: 1}


# --- normalisation, weights, ranking ---------------------------------------------------


def only(metric: str) -> ScoringPolicy:
    weights = {name: D(0) for name in ("volume", "spread", "volatility", "depth", "rejects")}
    return replace(POLICY, weights=ScoreWeights(**{**weights, metric: D(1)}))


def parts(scores: UniverseScores, metric: str) -> dict[Symbol, Decimal]:
    return {s.symbol: s.parts[metric] for s in scores.ranked}


def test_volume_is_normalised_by_rank_not_by_magnitude() -> None:
    market = {
        BTC: snapshot(BTC, volumes=(1000.0,) * 3),
        ETH: snapshot(ETH, volumes=(2.0,) * 3),
        SOL: snapshot(SOL, volumes=(1.0,) * 3),
    }

    scores = score(market, policy=only("volume"))

    # min-max would give ETH 0.001; its rank puts it half way
    assert parts(scores, "volume") == {BTC: D(1), ETH: D("0.5"), SOL: D(0)}
    assert ranked(scores) == [BTC, ETH, SOL]


def test_equal_values_share_the_mean_of_their_ranks() -> None:
    market = {
        BTC: snapshot(BTC, volumes=(5.0,) * 3),
        ETH: snapshot(ETH, volumes=(5.0,) * 3),
        SOL: snapshot(SOL, volumes=(1.0,) * 3),
    }

    assert parts(score(market), "volume") == {BTC: D("0.75"), ETH: D("0.75"), SOL: D(0)}


def test_a_narrower_spread_scores_higher_and_an_unknown_one_lowest() -> None:
    market = {
        BTC: snapshot(BTC, bid="99.9", ask="100.1"),
        ETH: snapshot(ETH, bid="99", ask="101"),
        SOL: snapshot(SOL),  # no book
    }

    scores = score(market, policy=only("spread"))

    assert parts(scores, "spread") == {BTC: D(1), ETH: D(0), SOL: D(0)}
    assert ranked(scores) == [BTC, ETH, SOL]  # ETH and SOL tie at 0: by symbol


def test_fewer_rejects_score_higher() -> None:
    market = {s: snapshot(s) for s in (BTC, ETH)}

    scores = score(market, policy=only("rejects"), rejects={BTC: 4})

    assert ranked(scores) == [ETH, BTC]
    assert parts(scores, "rejects") == {ETH: D(1), BTC: D(0)}


def test_lower_volatility_scores_higher_unless_volatility_is_preferred() -> None:
    market = {
        BTC: snapshot(BTC, closes=(100.0, 101.0, 100.0, 101.0)),
        ETH: snapshot(ETH, closes=(100.0, 110.0, 100.0, 110.0)),
    }

    calm = score(market, policy=only("volatility"))
    lively = score(market, policy=replace(only("volatility"), prefer_volatile=True))

    assert ranked(calm) == [BTC, ETH]
    assert ranked(lively) == [ETH, BTC]


def test_more_depth_scores_higher() -> None:
    def book(quantity: str) -> OrderBook:
        return OrderBook(
            BTC, 0, (BookLevel(D("99.9"), D(quantity)),), (BookLevel(D("100.1"), D(quantity)),)
        )

    market = {s: snapshot(s, bid="99.9", ask="100.1") for s in (BTC, ETH)}

    scores = score(market, policy=only("depth"), books={BTC: book("1"), ETH: book("5")})

    assert ranked(scores) == [ETH, BTC]


def test_a_lone_candidate_scores_one_on_every_known_metric() -> None:
    scores = score({BTC: snapshot(BTC, closes=(100.0, 101.0, 102.0), bid="99", ask="101")})

    only_one = scores.ranked[0]
    assert only_one.parts == {
        "volume": D(1),
        "spread": D(1),
        "volatility": D(1),
        "depth": D(0),  # no book: unknown
        "rejects": D(1),
    }
    assert only_one.score == D(1) - score_weights_normalise(POLICY.weights).depth


def test_ties_in_score_are_broken_by_symbol() -> None:
    market = {s: snapshot(s) for s in (SOL, AVAX, ETH, BTC)}

    assert ranked(score(market)) == [AVAX, BTC, ETH, SOL]


def test_weights_are_normalised_to_sum_to_one() -> None:
    normalised = score_weights_normalise(ScoreWeights(D(2), D(1), D(1), D(0), D(0)))

    assert normalised == ScoreWeights(D("0.5"), D("0.25"), D("0.25"), D(0), D(0))


def test_all_zero_weights_mean_no_preference() -> None:
    normalised = score_weights_normalise(ScoreWeights(D(0), D(0), D(0), D(0), D(0)))

    assert normalised == ScoreWeights(*(D("0.2"),) * 5)


@pytest.mark.parametrize("bad", [D(-1), D("NaN"), D("Infinity")])
def test_a_negative_or_non_finite_weight_is_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="score weights"):
        score_weights_normalise(ScoreWeights(volume=bad))


def test_the_data_age_is_that_of_the_freshest_snapshot() -> None:
    market = {BTC: snapshot(BTC, age_ms=5_000), ETH: snapshot(ETH, age_ms=2_000_000)}

    scores = score(market)

    assert scores.data_age_ms == 5_000
    assert scores.excluded == {ETH: "STALE_DATA"}
    assert score({}).data_age_ms is None


# --- properties ------------------------------------------------------------------------

BASES = ("BTC", "ETH", "SOL", "AVAX", "XRP", "ADA", "DOGE", "USDT", "LINK", "DOT")

symbol_spec = st.fixed_dictionaries(
    {
        "base": st.sampled_from(BASES),
        "closes": st.lists(st.integers(1, 1000), min_size=1, max_size=6),
        "volume": st.integers(0, 50),
        "spread": st.none() | st.integers(0, 400),
        "rejects": st.integers(0, 5),
        "depth": st.none() | st.integers(0, 20),
        "age": st.integers(0, 1_000_000),
        "status": st.sampled_from(["TRADING", "TRADING", "TRADING", "HALTED"]),
    }
)
weights = st.builds(ScoreWeights, *(st.decimals(0, 10, places=2) for _ in range(5)))


def build(specs: list[dict]) -> tuple[dict, dict, dict, dict]:
    market, book, books, rejects = {}, {}, {}, {}
    for spec in specs:
        symbol = Symbol(spec["base"], "TRY")
        closes = tuple(float(c) for c in spec["closes"])
        half = None if spec["spread"] is None else D(spec["spread"]) / 200
        market[symbol] = snapshot(
            symbol,
            closes=closes,
            volumes=(float(spec["volume"]),) * len(closes),
            age_ms=spec["age"],
            bid=None if half is None else str(100 - half),
            ask=None if half is None else str(100 + half),
        )
        book[symbol] = rules(symbol, status=spec["status"])
        if spec["depth"] is not None:
            level = (BookLevel(D(100), D(spec["depth"]) + 1),)
            books[symbol] = OrderBook(symbol, 0, level, level)
        rejects[symbol] = spec["rejects"]
    return market, book, books, rejects


def shuffled(mapping: dict, seed: int) -> dict:
    items = list(mapping.items())
    random.Random(seed).shuffle(items)
    return dict(items)


@settings(max_examples=200, deadline=None)
@given(
    specs=st.lists(symbol_spec, max_size=10, unique_by=lambda s: s["base"]),
    weights=weights,
    seed=st.integers(0, 2**32 - 1),
)
def test_scores_do_not_depend_on_the_order_of_the_candidates(
    specs: list[dict], weights: ScoreWeights, seed: int
) -> None:
    market, book, books, rejects = build(specs)
    policy = replace(POLICY, weights=weights)

    first = universe_score(market=market, rules=book, policy=policy, books=books, rejects=rejects)
    again = universe_score(
        market=shuffled(market, seed),
        rules=shuffled(book, seed + 1),
        policy=policy,
        books=shuffled(books, seed + 2),
        rejects=shuffled(rejects, seed + 3),
    )

    assert again == first


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(symbol_spec, max_size=10, unique_by=lambda s: s["base"]), weights=weights)
def test_every_symbol_is_ranked_or_excluded_and_every_score_lies_in_zero_one(
    specs: list[dict], weights: ScoreWeights
) -> None:
    market, book, books, rejects = build(specs)

    scores = universe_score(
        market=market,
        rules=book,
        policy=replace(POLICY, weights=weights),
        books=books,
        rejects=rejects,
    )

    seen = [s.symbol for s in scores.ranked]
    assert sorted(seen + list(scores.excluded)) == sorted(market)
    assert not set(seen) & set(scores.excluded)
    assert all(D(0) <= s.score <= D(1) for s in scores.ranked)
    keys = [(-s.score, s.symbol) for s in scores.ranked]
    assert keys == sorted(keys)
    normalised = score_weights_normalise(weights)
    total = sum(getattr(normalised, n) for n in ScoreWeights.__dataclass_fields__)
    assert abs(total - 1) <= D("1e-25")  # exact up to Decimal's 28 digits


@pytest.mark.parametrize(
    "settings_",
    [{"volume_bars": 0}, {"volatility_bars": 0}, {"depth_bps": D(-1)}, {"max_data_age_ms": -1}],
)
def test_a_policy_with_a_negative_or_empty_window_is_refused(settings_: dict) -> None:
    with pytest.raises(ValueError):
        ScoringPolicy(**settings_)
