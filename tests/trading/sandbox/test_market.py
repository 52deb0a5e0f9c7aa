"""The sandbox's replay market, synthetic books and exchangeinfo entries (in memory), and the
paced clock over a real socket."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from replay.domain.dataset import ReplayDataset, load_dataset
from tests.trading.sandbox.conftest import MINI_START_MS, TIMEOUT, btc_bar, write_mini_dataset
from trading.domain.market import Bar
from trading.domain.rules import ExchangeRules, rules_from_exchangeinfo
from trading.domain.symbols import Symbol
from trading.exchange.sandbox import start_sandbox
from trading.exchange.sandbox.book import (
    CP_ADDED,
    CP_DELETED,
    CP_UPDATED,
    Book,
    BookShape,
    book_diff,
    synthetic_book,
)
from trading.exchange.sandbox.market import ReplayMarket
from trading.exchange.sandbox.wire_public import symbol_entry

BTC_TRY = Symbol("BTC", "TRY")
D = Decimal


def test_warmup_closes_steps_until_every_symbol_has_a_bar(
    sample_dataset: ReplayDataset, mini_dataset: ReplayDataset
) -> None:
    sample = ReplayMarket(sample_dataset)
    assert sample.steps == 3  # AVAX_TRY starts two minutes after the others
    assert all(sample.ticker(s) is not None for s in sample.symbols)
    mini = ReplayMarket(mini_dataset)
    assert (mini.steps, mini.now_ms) == (1, MINI_START_MS + 60_000)
    with pytest.raises(ValueError):
        ReplayMarket(mini_dataset, warmup_steps=41)


def test_advance_returns_the_closed_bars_and_stops_at_the_end(
    mini_dataset: ReplayDataset,
) -> None:
    market = ReplayMarket(mini_dataset)
    closed = market.advance(2)
    assert [(s.pair, b.ts_ms) for s, b in closed] == [
        ("BTCTRY", MINI_START_MS + 60_000),
        ("ETHTRY", MINI_START_MS + 60_000),
        ("BTCTRY", MINI_START_MS + 120_000),
        ("ETHTRY", MINI_START_MS + 120_000),
    ]
    assert closed[0][1].open == btc_bar(1)[0]
    assert len(market.advance(100)) == 2 * 37 and market.at_end
    assert market.advance(1) == [] and market.next_close_ms() is None


def test_the_synthetic_book_is_deterministic_on_the_grid_and_seed_dependent() -> None:
    rules = ExchangeRules(BTC_TRY, tick_size=D(10), step_size=D("1E-8"), min_notional=D(100))
    bar = Bar(MINI_START_MS, D(100000), D(100200), D(99900), D(100050), D("1.5"))
    book = synthetic_book(rules=rules, bar=bar, shape=BookShape(depth=20), ts_ms=1)
    assert book == synthetic_book(rules=rules, bar=bar, shape=BookShape(depth=20), ts_ms=1)
    assert (book.best_bid, book.best_ask) == (D(99990), D(100110))  # 10 bps, on ticks
    assert len(book.bids) == len(book.asks) == 20
    assert all(p % 10 == 0 and a > 0 and a % D("1E-8") == 0 for p, a in book.bids + book.asks)
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    other = synthetic_book(rules=rules, bar=bar, shape=BookShape(depth=20, seed=1), ts_ms=1)
    assert [p for p, _ in other.bids] == [p for p, _ in book.bids]
    assert [a for _, a in other.bids] != [a for _, a in book.bids]


def test_book_diff_marks_added_updated_and_deleted_levels() -> None:
    old = Book(1, bids=((D(99), D(1)), (D(98), D(2))), asks=((D(101), D(1)),))
    new = Book(2, bids=((D(99), D(3)), (D(97), D(1))), asks=((D(101), D(1)),))
    diff = book_diff(old, new)
    assert diff.asks == ()
    assert diff.bids == (
        (CP_UPDATED, D(99), D(3)),
        (CP_DELETED, D(98), D(2)),
        (CP_ADDED, D(97), D(1)),
    )
    assert not book_diff(new, new)


def test_book_updates_raise_the_change_set_once_per_changed_book(
    mini_dataset: ReplayDataset,
) -> None:
    market = ReplayMarket(mini_dataset)
    assert market.book_updates() == []
    market.advance(3)
    updates = market.book_updates()
    assert [(u.symbol.pair, u.cs) for u in updates] == [("BTCTRY", 1), ("ETHTRY", 1)]
    assert market.published_book(BTC_TRY) == (updates[0].book, 1)


def test_candles_aggregate_closed_bars_into_epoch_aligned_buckets(
    mini_dataset: ReplayDataset,
) -> None:
    market = ReplayMarket(mini_dataset)
    market.advance(6)  # bars 0..6 closed
    five = market.candles(BTC_TRY, start_ms=0, end_ms=10**15, bucket_ms=300_000)
    assert [c.ts_ms for c in five] == [MINI_START_MS, MINI_START_MS + 300_000]
    assert (five[0].open, five[0].close, five[0].volume) == (100000, btc_bar(4)[3], D("7.5"))
    assert (five[1].high, five[1].low) == (btc_bar(6)[1], btc_bar(5)[2])
    late = market.candles(BTC_TRY, start_ms=MINI_START_MS + 1, end_ms=10**15, bucket_ms=300_000)
    assert [c.ts_ms for c in late] == [MINI_START_MS + 300_000]
    with pytest.raises(ValueError):
        market.candles(BTC_TRY, start_ms=0, end_ms=10**15, bucket_ms=90_000)


def test_a_dataset_book_file_sets_the_top_of_book(tmp_path: Path) -> None:
    root = write_mini_dataset(tmp_path / "with-book", bars=5)
    (root / "book").mkdir()
    rows = ["ts,bid,ask", f"{MINI_START_MS + 30_000},99980,100090", f"{MINI_START_MS + 90_000},1,2"]
    (root / "book" / "BTC_TRY.csv").write_text("\n".join(rows) + "\n")
    market = ReplayMarket(load_dataset(root))
    book = market.book(BTC_TRY)
    assert (book.best_bid, book.best_ask) == (D(99980), D(100090))  # quote at or before now


@pytest.mark.parametrize(
    "rules",
    [
        ExchangeRules(BTC_TRY, D(10), D("1E-8"), D("99.91"), D("58387.9"), D(5838790)),
        ExchangeRules(BTC_TRY, D("0.0025"), D("0.0001"), D(10)),
        ExchangeRules(BTC_TRY, D("0.01"), D(1), D(10), D("0.123456789012345678"), D("0.3")),
        ExchangeRules(
            BTC_TRY, D(1), D("1E-4"), D(5), status="HALT", order_methods=frozenset({"LIMIT"})
        ),
    ],
)
def test_exchangeinfo_entries_parse_back_to_the_same_rules(rules: ExchangeRules) -> None:
    payload = json.loads(json.dumps({"data": {"symbols": [symbol_entry(rules, 7)]}}))
    assert rules_from_exchangeinfo(payload).rules == {BTC_TRY: rules}


def test_an_exchangeinfo_entry_needs_a_power_of_ten_step() -> None:
    with pytest.raises(ValueError, match="power of ten"):
        symbol_entry(ExchangeRules(BTC_TRY, D(1), D("0.5"), D(10)), 1)


def test_paced_mode_closes_bars_as_wall_time_passes(mini_dataset: ReplayDataset) -> None:
    server = start_sandbox(mini_dataset, speed=600.0)  # 60 s bars: one bar per 0.1 s
    try:
        time.sleep(0.45)
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            state = http.get("/sandbox/state").json()
        assert state["speed"] == 600.0
        assert 3 <= state["step"] - 1 <= 12  # ~4.5 bars of wall time, slack for a slow host
    finally:
        server.stop(wait=False)
