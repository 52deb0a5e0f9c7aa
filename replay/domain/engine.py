"""The backtest engine: the one cycle pipeline over a replay clock, entirely in memory.

For every distinct bar open time ``t`` in the dataset (within ``start``..``end``) one cycle
runs at ``now = t + interval`` (the moment bar ``t`` has closed):

1. snapshot: for each symbol, bars with open time <= ``t`` are now closed; before they are
   revealed the simulated venue matches that symbol's resting orders against each of them
   (so an order only ever fills against bars that closed after it was placed); the snapshot
   holds the closed-bar window, the last close as mark (Decimal) and the data age;
2-9. :func:`trading.domain.planner.plan_cycle` (reconcile, ledger, risk mode, universe,
   strategies, allocation, order building, risk rules);
10. execution: cancels, then submits, on the simulated venue (rejects become denials);
11. record: a compact per-cycle record, the running drawdown and the fingerprint.

There is no ORM, file or network access inside the loop; lookups are O(1) per step (each
symbol keeps a cursor into its columns), so doubling the bars doubles the time. Results are
written in bulk by ``replay.services`` after the run.
"""

from __future__ import annotations

import hashlib
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from ledger.domain.drawdown import DrawdownState, TradingDayClock, drawdown_update
from ledger.domain.fills import Fill
from ledger.domain.portfolio import Portfolio
from replay.domain.dataset import ReplayDataset
from replay.domain.metrics import RoundTrip, round_trips, sharpe_ratio, win_rate
from trading.domain.intents import Intent
from trading.domain.market import MarketSnapshot
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.planner import Cancel, CycleInputs, OpenOrder, plan_cycle
from trading.domain.risk import Denial, RiskLimits, RiskState
from trading.domain.strategies.base import Strategy
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits
from trading.domain.venue import FillModel, SimulatedVenue

EMPTY: tuple = ()
ProgressFn = Callable[[int, int], None]


class BacktestError(ValueError):
    """The backtest cannot run with these inputs (e.g. an empty window)."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Inputs of a run. Fees in basis points; cash in the dataset's quote currency; ms UTC."""

    strategy: Strategy
    limits: RiskLimits
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    initial_cash: Decimal
    fill_model: FillModel = FillModel.BAR
    max_volume_share: Decimal | None = None
    universe_limits: UniverseLimits = UniverseLimits()
    start_ms: int | None = None
    end_ms: int | None = None
    account: str = "backtest"
    trading_tz: str = "Europe/Istanbul"


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """What one cycle decided and where equity stood (drawdown in percent)."""

    seq: int
    now_ms: int
    mode: str
    mode_reasons: tuple[str, ...]
    equity: Decimal
    cash: Decimal
    drawdown_pct: Decimal
    universe: tuple[Symbol, ...]
    intents: tuple[Intent, ...]
    orders: tuple[OrderRequest, ...]
    cancels: tuple[Cancel, ...]
    denials: tuple[Denial, ...]
    fills: int


@dataclass(slots=True)
class BacktestResult:
    """Everything a run produced; ``fingerprint`` is sha256 over decisions and ledger."""

    symbols: list[Symbol]
    quote_asset: str
    interval_ms: int
    bars: int
    cycles: list[CycleRecord]
    fills: list[Fill]
    trades: list[RoundTrip]
    portfolio: Portfolio
    initial_equity: Decimal
    final_equity: Decimal
    drawdown: DrawdownState
    fees: Decimal
    sharpe: float | None
    win_rate: float | None
    fingerprint: str
    elapsed_s: float
    venue_balances: dict[str, Decimal] = field(default_factory=dict)

    @property
    def return_pct(self) -> Decimal:
        return (self.final_equity - self.initial_equity) / self.initial_equity * 100

    @property
    def cycles_per_s(self) -> float:
        return len(self.cycles) / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_backtest(
    dataset: ReplayDataset,
    config: BacktestConfig,
    *,
    progress: ProgressFn | None = None,
    progress_every: int = 2000,
) -> BacktestResult:
    """Run ``config.strategy`` over ``dataset``; raises :class:`BacktestError` on no cycles."""
    started = time.perf_counter()
    run = _Run(dataset, config)
    total = len(run.times)
    for seq, t in enumerate(run.times):
        run.cycle(seq, t)
        if progress is not None and seq % progress_every == 0:
            progress(seq, total)
    if progress is not None:
        progress(total, total)
    return run.result(time.perf_counter() - started)


class _Run:
    """Mutable loop state of one run (kept out of the pure planner on purpose)."""

    def __init__(self, dataset: ReplayDataset, config: BacktestConfig) -> None:
        self.config = config
        self.dataset = dataset
        self.interval = dataset.interval_ms
        self.symbols = sorted(dataset.series)
        self.quote = dataset.quote_asset
        self.times = _timeline(dataset, config)
        if not self.times:
            raise BacktestError("no bars between the requested start and end")
        first = self.times[0]
        self.cursor = {s: bisect_left(dataset.series[s].ts, first) for s in self.symbols}
        self.first_cursor = dict(self.cursor)
        self.book_cursor = {s: 0 for s in dataset.books}
        self.venue = SimulatedVenue(
            rules=dataset.rules,
            balances={self.quote: config.initial_cash},
            fee_maker_bps=config.fee_maker_bps,
            fee_taker_bps=config.fee_taker_bps,
            fill_model=config.fill_model,
            max_volume_share=config.max_volume_share,
            account=config.account,
        )
        self.portfolio = Portfolio(
            quote_asset=self.quote,
            cash=config.initial_cash,
            positions={},
            realized_pnl=Decimal(0),
            fees_paid=Decimal(0),
        )
        self.risk_state = RiskState()
        self.drawdown: DrawdownState | None = None
        self.fill_cursor = 0
        self.fills: list[Fill] = []
        self.records: list[CycleRecord] = []
        self.day_clock = TradingDayClock(ZoneInfo(config.trading_tz))
        self.hasher = hashlib.sha256()
        self.strategies = (config.strategy,)
        self.placed: set[str] = set()

    def cycle(self, seq: int, t: int) -> None:
        now = t + self.interval
        market = self._snapshot(t, now)
        new_fills, self.fill_cursor = self.venue.fills_since(self.fill_cursor)
        self.fills.extend(new_fills)
        open_orders = [
            OpenOrder(o.order_id, o.client_order_id, o.symbol, o.side, o.created_ms)
            for o in self.venue.open_orders()
        ]
        quote_balance = self.venue.balances()[self.quote]
        plan = plan_cycle(
            CycleInputs(
                now_ms=now,
                account=self.config.account,
                market=market,
                rules=self.dataset.rules,
                portfolio=self.portfolio,
                available_cash=quote_balance.free,
                fills=new_fills,
                open_orders=open_orders,
                risk_state=self.risk_state,
                limits=self.config.limits,
                strategies=self.strategies,
                fee_maker_bps=self.config.fee_maker_bps,
                fee_taker_bps=self.config.fee_taker_bps,
                trading_day=self.day_clock.day_of(now),
                universe_limits=self.config.universe_limits,
            )
        )
        denials = self._execute(plan, now)
        self.portfolio = plan.portfolio
        self.risk_state = plan.risk_state
        self.drawdown = drawdown_update(self.drawdown, plan.equity)
        record = CycleRecord(
            seq,
            now,
            plan.mode.value,
            plan.mode_reasons,
            plan.equity,
            self.portfolio.cash,
            self.drawdown.drawdown_pct,
            plan.universe,
            plan.intents,
            plan.orders,
            plan.cancels,
            denials,
            len(new_fills),
        )
        self.records.append(record)
        self._hash(record, new_fills)

    def _snapshot(self, t: int, now: int) -> dict[Symbol, MarketSnapshot]:
        market: dict[Symbol, MarketSnapshot] = {}
        venue = self.venue
        for symbol in self.symbols:
            series = self.dataset.series[symbol]
            ts = series.ts
            p = self.cursor[symbol]
            n = len(ts)
            while p < n and ts[p] <= t:
                if venue.has_open_orders(symbol):
                    venue.on_bar(symbol, series.bar(p))
                p += 1
            self.cursor[symbol] = p
            if p == 0:
                continue
            bid = ask = None
            book = self.dataset.books.get(symbol)
            if book is not None:
                bid, ask = self._book_quote(symbol, book, now)
            market[symbol] = MarketSnapshot(
                symbol,
                series.window(p),
                series.close_decimal(p - 1),
                now - ts[p - 1] - self.interval,
                bid,
                ask,
            )
        return market

    def _book_quote(self, symbol: Symbol, book, now: int) -> tuple[Decimal | None, Decimal | None]:
        q = self.book_cursor[symbol]
        while q < len(book.ts) and book.ts[q] <= now:
            q += 1
        self.book_cursor[symbol] = q
        if q == 0:
            return None, None
        return book.bid_decimal(q - 1), book.ask_decimal(q - 1)

    def _execute(self, plan, now: int) -> tuple[Denial, ...]:
        denials = plan.denials
        for cancel in plan.cancels:
            self.venue.cancel_order(cancel.order.order_id, now_ms=now)
        rejected = []
        market_sells = {
            o.symbol
            for o in plan.orders
            if o.order_type is OrderType.MARKET and o.side is Side.SELL
        }
        for symbol in sorted(market_sells):
            self._show_last_bar(symbol)
        for order in plan.orders:
            ack = self.venue.submit_order(order, now_ms=now)
            self.placed.add(order.client_order_id)
            if ack.status is OrderStatus.REJECTED:
                rejected.append(
                    Denial(
                        f"VENUE_{ack.reject_code}",
                        ack.detail,
                        order.symbol,
                        order.side,
                        order.strategy,
                    )
                )
        return denials + tuple(rejected) if rejected else denials

    def _show_last_bar(self, symbol: Symbol) -> None:
        """Let the venue see ``symbol``'s last closed bar before a market sell is submitted.

        The venue values a market sell at the last close it has seen (min notional), but the
        snapshot feeds it bars only while it holds open orders of the symbol, so without this
        its price could be many bars old. With no open orders there is nothing to match.
        """
        p = self.cursor[symbol]
        if p and not self.venue.has_open_orders(symbol):
            self.venue.on_bar(symbol, self.dataset.series[symbol].bar(p - 1))

    def _hash(self, record: CycleRecord, fills: list[Fill]) -> None:
        parts = [f"{record.now_ms}|{record.mode}|{record.equity}"]
        if record.intents or record.denials or record.cancels or fills:
            parts.extend(canonical_decisions(record, fills))
        self.hasher.update(("\n".join(parts) + "\n").encode())

    def result(self, elapsed: float) -> BacktestResult:
        for symbol, position in sorted(self.portfolio.positions.items()):
            self.hasher.update(
                f"P|{symbol}|{position.quantity}|{position.average_cost}|{position.realized_pnl}\n".encode()
            )
        self.hasher.update(f"C|{self.portfolio.cash}|{self.portfolio.fees_paid}\n".encode())
        bars = sum(self.cursor[s] - self.first_cursor[s] for s in self.symbols)
        equity = [r.equity for r in self.records]
        trips = round_trips(self.fills, self.quote)
        balances = {a: b.free + b.locked for a, b in self.venue.balances().items()}
        return BacktestResult(
            symbols=self.symbols,
            quote_asset=self.quote,
            interval_ms=self.interval,
            bars=bars,
            cycles=self.records,
            fills=self.fills,
            trades=trips,
            portfolio=self.portfolio,
            initial_equity=self.config.initial_cash,
            final_equity=equity[-1],
            drawdown=self.drawdown,
            fees=self.portfolio.fees_paid,
            sharpe=sharpe_ratio(equity, self.interval),
            win_rate=win_rate(trips),
            fingerprint=self.hasher.hexdigest(),
            elapsed_s=elapsed,
            venue_balances=balances,
        )


def _timeline(dataset: ReplayDataset, config: BacktestConfig) -> list[int]:
    times: set[int] = set()
    for series in dataset.series.values():
        times.update(series.ts)
    ordered = sorted(times)
    lo = 0 if config.start_ms is None else bisect_left(ordered, config.start_ms)
    hi = len(ordered) if config.end_ms is None else bisect_left(ordered, config.end_ms)
    return ordered[lo:hi]


def canonical_decisions(record: CycleRecord, fills: list[Fill]) -> list[str]:
    """Stable text lines for a cycle's decisions (used by the fingerprint)."""
    lines = [
        f"I|{i.strategy}|{i.symbol}|{i.side}|{i.price_policy}|{i.quantity}|{i.notional}|{i.limit_price}|{i.reason}"
        for i in record.intents
    ]
    lines += [
        f"O|{o.client_order_id}|{o.order_type}|{o.quantity}|{o.price}|{o.quote_amount}"
        for o in record.orders
    ]
    lines += [f"X|{c.order.client_order_id}|{c.reason}" for c in record.cancels]
    lines += [f"D|{d.code}|{d.symbol}|{d.side}|{d.strategy}" for d in record.denials]
    lines += [
        f"F|{f.trade_id}|{f.client_order_id}|{f.price}|{f.quantity}|{f.fee}|{f.liquidity}"
        for f in fills
    ]
    return lines
