"""The backtest engine: the one cycle pipeline over a replay clock, entirely in memory.

For every distinct bar open time ``t`` in the dataset (within ``start``..``end``) one cycle
runs at ``now = t + interval`` (the moment bar ``t`` has closed):

1. snapshot: for each symbol, bars with open time <= ``t`` are now closed; before they are
   revealed the simulated venue matches that symbol's resting orders against each of them
   (so an order only ever fills against bars that closed after it was placed); the snapshot
   holds the closed-bar window, the last close as mark (Decimal) and the data age;
   the venue's answer (free quote balance, open orders, new fills) is a
   :class:`~trading.domain.cycle.VenueSnapshot` and the planner's inputs come from
   :func:`~trading.domain.cycle.cycle_inputs_build`, as in paper and live cycles;
2-9. :func:`trading.domain.planner.plan_cycle` (reconcile, ledger, risk mode, universe,
   strategies, allocation, order building, risk rules);
10. execution: the injected ``execute`` (``trading.services.execution.plan_execute``, which
   domain code cannot import) cancels, then submits, through the injected ``port`` built on
   the run's simulated venue (``trading.exchange.simulated.SimulatedExchange`` stamped with
   the replay clock); venue rejects come back as ``VENUE_<code>`` denials. The engine itself
   never calls ``submit_order``/``cancel_order`` (``tests/test_architecture.py``);
11. record: a compact per-cycle record, the running drawdown and the fingerprint.

Quiet cycles (fast path, ``BacktestConfig.fast_path``): runs of cycles that provably
produce no order (no resting order, no strategy signal) are recorded by
:class:`replay.domain.fast_path.QuietCycles` without steps 5-9, with folds that equal the
planner's steps 3-4 point by point; ``tests/replay/test_engine_fast_path.py`` shows runs with
and without it are identical.

There is no ORM, file or network access inside the loop; lookups are O(1) per step (each
symbol keeps a cursor into its columns), so the cost grows linearly with the bars (and with
the number of decisions). Results are written in bulk by ``replay.services`` after the run.
"""

from __future__ import annotations

import gc
import hashlib
import time
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from operator import add
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ledger.domain.drawdown import DrawdownState, TradingDayClock, drawdown_update
from ledger.domain.fills import Fill
from ledger.domain.portfolio import Portfolio
from replay.domain.cycle_log import EMPTY, CycleLog, CycleRecord
from replay.domain.dataset import ReplayDataset
from replay.domain.fast_path import QuietCycles
from replay.domain.feed import SymbolFeed
from replay.domain.metrics import RoundTrip, round_trips, sharpe_ratio, win_rate
from trading.domain.adaptation import (
    AdaptationPolicy,
    AdaptationState,
    ParamVersion,
    adaptation_start,
    adaptation_step,
)
from trading.domain.adaptation_bounds import FieldBound
from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.orders import OrderType, Side
from trading.domain.planner import INITIAL_UNIVERSE, NO_REJECTS, CyclePlan, plan_cycle
from trading.domain.risk import Denial, RiskLimits, RiskState
from trading.domain.strategies.base import Strategy
from trading.domain.strategies.signals import EVERY_BAR, PYTHON_SIGNALS, SignalBars, SignalKernels
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits
from trading.domain.universe_plan import UniverseGovernance, cycle_outcome
from trading.domain.venue import FillModel, SimulatedVenue

ProgressFn = Callable[[int, int], None]
# (venue, *, clock) -> the order port the executor calls, e.g. SimulatedExchange;
# ``clock`` returns the replay time in epoch ms.
PortFactory = Callable[..., Any]


class Executed(Protocol):
    """What the engine reads of an execution result: all denials of the cycle, in order."""

    @property
    def denials(self) -> tuple[Denial, ...]: ...


class Execute(Protocol):
    """The executor's signature: ``trading.services.execution.plan_execute``."""

    def __call__(self, plan: CyclePlan, *, port: Any, now_ms: int) -> Executed: ...


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
    fast_path: bool = True
    # Issue 11, both off by default (a run without them is unchanged): a governed universe
    # (scoring and governance over a carried state) and parameter adaptation starting from
    # ``adaptation_params`` within ``adaptation_bounds``. Either plans every cycle (the
    # governance state and the adaptation window advance every cycle, as in paper trading).
    universe_governance: UniverseGovernance | None = None
    adaptation: AdaptationPolicy | None = None
    adaptation_params: Mapping[str, Decimal | int] | None = None
    adaptation_bounds: Mapping[str, FieldBound] | None = None
    reject_window_ms: int = 3_600_000
    # the column passes of the strategies' signal masks (the services pass NumPy's in)
    signal_kernels: SignalKernels = PYTHON_SIGNALS


@dataclass(slots=True)
class BacktestResult:
    """Everything a run produced; ``fingerprint`` is sha256 over decisions and ledger."""

    symbols: list[Symbol]
    quote_asset: str
    interval_ms: int
    bars: int
    cycles: CycleLog  # every cycle: a Sequence[CycleRecord], stored compactly
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
    param_versions: tuple[ParamVersion, ...] = ()  # with adaptation: every version, final status

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
    execute: Execute,
    port: PortFactory,
    progress: ProgressFn | None = None,
    progress_every: int | None = None,
) -> BacktestResult:
    """Run ``config.strategy`` over ``dataset``; raises :class:`BacktestError` on no cycles.

    ``execute`` is ``trading.services.execution.plan_execute`` and ``port`` builds the order
    port over the run's venue, called as ``port(venue, clock=...)`` (e.g.
    ``trading.exchange.simulated.SimulatedExchange``): the same execution paper and live
    cycles use, injected because domain code cannot import services or adapters.
    ``progress(done, total)`` is called every ``progress_every`` cycles (``None``: every 1 % of
    the run's cycles, at most 101 calls) and once more at the end with ``done == total``.
    """
    started = time.perf_counter()
    with collector_paused():
        run = ReplayLoop(dataset, config, execute, port)
        return _run_loop(run, progress, progress_every, started)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block, then restore it as it was.

    The loop allocates many small objects that stay alive (a record per deciding cycle); the
    collector would rescan them again and again, with nothing to free: reference counting
    frees what the run drops. The loop state itself (:class:`ReplayLoop`, its fast path and
    the venue's clock callback refer to each other) is a reference cycle once the run ends:
    the first collection after the block frees it, and with it the cycle log the result no
    longer needs.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _run_loop(
    run: ReplayLoop, progress: ProgressFn | None, progress_every: int | None, started: float
) -> BacktestResult:
    total = len(run.times)
    if progress_every is None:
        progress_every = max(1, total // 100)
    seq = 0
    next_report = 0
    while seq < total:
        if progress is not None and seq >= next_report:
            progress(seq, total)  # cycles done so far
            next_report = seq + progress_every
        seq = run.cycle(seq, run.times[seq])
    if progress is not None:
        progress(total, total)
    result = run.result()
    result.elapsed_s = time.perf_counter() - started  # the metrics (Sharpe, trips) included
    return result


class ReplayLoop:
    """Mutable loop state of one run (kept out of the pure planner on purpose): the feeds
    (:class:`~replay.domain.feed.SymbolFeed`), the simulated venue, the ledger, risk and
    drawdown states, the cycle log and the fingerprint. :meth:`cycle` runs one planned cycle
    (or a run of quiet ones, through :attr:`quiet`)."""

    def __init__(
        self, dataset: ReplayDataset, config: BacktestConfig, execute: Execute, port: PortFactory
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.interval = dataset.interval_ms
        self.symbols = sorted(dataset.series)
        self.quote = dataset.quote_asset
        self.times = _timeline(dataset, config)
        if not self.times:
            raise BacktestError("no bars between the requested start and end")
        # each cycle's time (its bars' close), as machine integers: the fast path records
        # stretches of them by slicing (no Python int per cycle)
        self.nows = array("q", map(add, self.times, repeat(self.interval)))
        self.governed = config.universe_governance is not None
        self.adapting = config.adaptation is not None and config.adaptation.enabled
        # governance counts cycles and adaptation judges each one: both plan every cycle
        fast_path = config.fast_path and not (self.governed or self.adapting)
        self.universe_state = INITIAL_UNIVERSE
        self.universe_outcome = ""
        self.rejects: deque[tuple[int, Symbol]] = deque()  # (cycle ms, symbol) of venue rejects
        self.previous_equity: Decimal | None = None
        self.adaptation_state: AdaptationState | None = None
        if self.adapting:
            self.adaptation_state = adaptation_start(
                config.adaptation_params or {},
                bounds=config.adaptation_bounds or {},
                now_ms=self.times[0] + dataset.interval_ms,
            )
        self.exit_band = getattr(config.strategy, "exit_band", None)
        masks = _signal_masks(dataset, config) if fast_path else {}  # read by the fast path only
        self.feeds = [
            SymbolFeed(
                s, dataset.series[s], self.times[0], masks.get(s, EVERY_BAR), dataset.books.get(s)
            )
            for s in self.symbols
        ]
        self.feed_of = {feed.symbol: feed for feed in self.feeds}
        self.quiet = QuietCycles(self) if fast_path else None
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
        self.log = CycleLog()
        self.day_clock = TradingDayClock(ZoneInfo(config.trading_tz))
        self.hasher = hashlib.sha256()
        self.setup = CycleSetup(
            account=config.account,
            strategies=(config.strategy,),
            limits=config.limits,
            fee_maker_bps=config.fee_maker_bps,
            fee_taker_bps=config.fee_taker_bps,
            universe_limits=config.universe_limits,
            universe_governance=config.universe_governance,
        )
        self.now = 0  # the replay clock: the current cycle's time, epoch ms
        self.execute = execute
        self.port = port(self.venue, clock=self._clock)

    def _clock(self) -> int:
        return self.now

    def cycle(self, seq: int, t: int) -> int:
        """Run cycle ``seq`` (bar open time ``t``); returns the next cycle to run."""
        now = t + self.interval
        self._advance(t)
        if self.quiet is not None:
            resume = self.quiet.run(seq)
            if resume > seq:
                return resume
        market = self._market(now)
        venue = self.venue
        trades, self.fill_cursor = venue.fills_since(self.fill_cursor)
        snapshot = VenueSnapshot(
            {self.quote: venue.balance(self.quote)},  # the planner reads only the free cash
            venue.open_orders() if venue.has_any_open_orders() else EMPTY,
            trades,
        )
        setup = self.setup
        if self.adaptation_state is not None:
            setup = setup._replace(params=self.adaptation_state.active_version.params)
        inputs = cycle_inputs_build(
            now_ms=now,
            setup=setup,
            venue=snapshot,
            market=market,
            rules=self.dataset.rules,
            portfolio=self.portfolio,
            risk_state=self.risk_state,
            trading_day=self.day_clock.day_of(now),
            universe_state=self.universe_state,
            symbol_rejects=self._recent_rejects(now) if self.governed else NO_REJECTS,
        )
        if self.quiet is not None:
            inputs = inputs._replace(quiet_symbols=self.quiet.quiet_symbols(trades))
        new_fills = inputs.fills
        self.fills.extend(new_fills)
        plan = plan_cycle(inputs)
        denials = self._execute(plan, now)
        mode_changed = plan.mode is not self.risk_state.mode or seq == 0
        self.portfolio = plan.portfolio
        self.risk_state = plan.risk_state
        self.drawdown = drawdown_update(self.drawdown, plan.equity)
        events = (
            self._govern_and_adapt(plan, denials, seq) if self.governed or self.adapting else ()
        )
        record = CycleRecord(
            seq=seq,
            now_ms=now,
            mode=plan.mode.value,
            mode_reasons=plan.mode_reasons,
            equity=plan.equity,
            cash=self.portfolio.cash,
            drawdown_pct=self.drawdown.drawdown_pct,
            universe=plan.universe,
            intents=plan.intents,
            orders=plan.orders,
            cancels=plan.cancels,
            denials=denials,
            fills=len(new_fills),
            events=events,
        )
        self.log.append(record)
        self.fingerprint_update(record, new_fills, mode_changed=mode_changed)
        return seq + 1

    def _recent_rejects(self, now: int) -> dict[Symbol, int]:
        """Venue rejects per symbol over the last ``reject_window_ms`` (scoring, spikes)."""
        rejects, since = self.rejects, now - self.config.reject_window_ms
        while rejects and rejects[0][0] <= since:
            rejects.popleft()
        counts: dict[Symbol, int] = {}
        for _, symbol in rejects:
            counts[symbol] = counts.get(symbol, 0) + 1
        return counts

    def _govern_and_adapt(
        self, plan: CyclePlan, denials: tuple[Denial, ...], seq: int
    ) -> tuple[str, ...]:
        """Carry the governed universe state and take the adaptation step after a planned
        cycle, as paper cycles do (``trading.services.adaptive``); returns the cycle's events
        as text (``universe <CODE> [<symbol>] [<detail>]``, ``<action> <REASON> v<from>->v<to>
        [<field>=<before>-><after>...]``)."""
        events: list[str] = []
        rejected = [d for d in denials if d.code.startswith("VENUE_") and d.symbol is not None]
        self.rejects.extend((plan.now_ms, d.symbol) for d in rejected)
        if plan.universe_state is not None:
            self.universe_state = plan.universe_state
            repeated = plan.universe_outcome == self.universe_outcome
            self.universe_outcome = plan.universe_outcome
            for event in plan.universe_events:
                if repeated and event.code.startswith("KEPT_"):
                    continue  # a freeze is recorded when it begins, not every cycle it lasts
                symbol = "" if event.symbol is None else f" {event.symbol}"
                detail = f" {event.detail}" if event.detail else ""
                events.append(f"universe {event.code}{symbol}{detail}")
        state = self.adaptation_state
        if state is not None:
            if seq == 0:
                events.append(f"params.start INITIAL v0->v{state.active}")
            outcome = cycle_outcome(
                plan,
                drawdown_pct=self.drawdown.drawdown_pct,
                previous_equity=self.previous_equity,
                rejects=len(rejected),
            )
            step = adaptation_step(
                state, outcome, policy=self.config.adaptation, bounds=self.config.adaptation_bounds
            )
            self.adaptation_state = step.state
            for event in step.events:
                changes = "".join(f" {c.name}={c.before}->{c.after}" for c in event.changes)
                events.append(
                    f"{event.action} {event.reason} v{event.from_version}->v{event.to_version}"
                    f"{changes}"
                )
        self.previous_equity = plan.equity
        return tuple(events)

    def _advance(self, t: int) -> None:
        """Close every bar with open time <= ``t``; the venue matches resting orders first."""
        venue = self.venue
        matching = venue.has_any_open_orders()  # orders are only placed after this step
        for feed in self.feeds:
            ts, closed, count = feed.ts, feed.closed, feed.bar_count
            while closed < count and ts[closed] <= t:
                if matching and venue.has_open_orders(feed.symbol):
                    venue.on_bar(feed.symbol, feed.series.bar(closed))
                closed += 1
            feed.closed = closed

    def _market(self, now: int) -> dict[Symbol, MarketSnapshot]:
        market: dict[Symbol, MarketSnapshot] = {}
        interval = self.interval
        for feed in self.feeds:
            closed = feed.closed
            if closed == 0:
                continue
            bid = ask = None
            if feed.book is not None:
                bid, ask = self._book_quote(feed, now)
            market[feed.symbol] = MarketSnapshot(
                symbol=feed.symbol,
                # CandleSeries.window(closed) and close_decimal(closed - 1), without their call
                # overhead (columns: ts, open, high, low, close, volume)
                bars=BarWindow(*feed.columns, closed, interval),
                mark_price=Decimal(feed.close_i[closed - 1]).scaleb(feed.price_exponent),
                age_ms=now - feed.ts[closed - 1] - interval,
                bid=bid,
                ask=ask,
            )
        return market

    def _book_quote(self, feed: SymbolFeed, now: int) -> tuple[Decimal | None, Decimal | None]:
        book, seen = feed.book, feed.book_cursor
        while seen < len(book.ts) and book.ts[seen] <= now:
            seen += 1
        feed.book_cursor = seen
        if seen == 0:
            return None, None
        return book.bid_decimal(seen - 1), book.ask_decimal(seen - 1)

    def _execute(self, plan: CyclePlan, now: int) -> tuple[Denial, ...]:
        """Step 10 through the injected executor and port; returns all the cycle's denials."""
        if not plan.orders and not plan.cancels:
            return plan.denials
        market_sells = {
            o.symbol
            for o in plan.orders
            if o.order_type is OrderType.MARKET and o.side is Side.SELL
        }
        for symbol in sorted(market_sells):
            self._show_last_price(symbol)
        self.now = now
        return self.execute(plan, port=self.port, now_ms=now).denials

    def _show_last_price(self, symbol: Symbol) -> None:
        """Give the venue ``symbol``'s last close before a market sell is submitted.

        The venue values a market sell at the last price it has seen (min notional), but it
        sees bars only while it holds open orders of the symbol, so its price could be old.
        """
        feed = self.feed_of[symbol]
        if feed.closed:
            self.venue.observe_price(symbol, feed.series.close_decimal(feed.closed - 1))

    def fingerprint_update(
        self, record: CycleRecord, fills: list[Fill], *, mode_changed: bool
    ) -> None:
        """Fold a cycle's decisions into the fingerprint; cycles without any add nothing.

        Decisions are mode changes, intents, orders, cancels, denials and fills, so a quiet
        cycle (fast path) and an empty planned cycle hash alike.
        """
        if not (mode_changed or record.decided):  # orders come only from intents
            return
        lines = [f"{record.now_ms}|{record.mode}|{','.join(record.mode_reasons)}"]
        lines.extend(canonical_decisions(record, fills))
        lines.extend(f"G|{event}" for event in record.events)  # only with issue 11 features
        self.hasher.update(("\n".join(lines) + "\n").encode())

    def result(self) -> BacktestResult:
        """The run's result, ``elapsed_s`` 0 (the caller times the whole run)."""
        for symbol, position in sorted(self.portfolio.positions.items()):
            self.hasher.update(
                f"P|{symbol}|{position.quantity}|{position.average_cost}|{position.realized_pnl}\n".encode()
            )
        self.hasher.update(f"C|{self.portfolio.cash}|{self.portfolio.fees_paid}\n".encode())
        versions = () if self.adaptation_state is None else self.adaptation_state.versions
        for version in versions:  # the fingerprint covers the parameter versions
            params = ",".join(f"{k}={version.params[k]}" for k in sorted(version.params))
            line = f"V|{version.number}|{version.parent}|{version.status.value}|{version.reason}"
            self.hasher.update(f"{line}|{params}\n".encode())
        self.hasher.update(f"E|{self.log.equity[-1]}|{self.drawdown.max_drawdown_pct}\n".encode())
        bars = sum(feed.closed - feed.first_bar for feed in self.feeds)
        equity = self.log.equity
        trips = round_trips(self.fills, self.quote)
        balances = {a: b.free + b.locked for a, b in self.venue.balances().items()}
        return BacktestResult(
            symbols=self.symbols,
            quote_asset=self.quote,
            interval_ms=self.interval,
            bars=bars,
            cycles=self.log,
            fills=self.fills,
            trades=trips,
            portfolio=self.portfolio,
            initial_equity=self.config.initial_cash,
            final_equity=equity[-1],
            drawdown=self.drawdown,
            fees=self.portfolio.fees_paid,
            sharpe=sharpe_ratio(self.log.equity_floats, self.interval, self.config.signal_kernels),
            win_rate=win_rate(trips),
            fingerprint=self.hasher.hexdigest(),
            elapsed_s=0.0,
            venue_balances=balances,
            param_versions=versions,
        )


def _signal_masks(dataset: ReplayDataset, config: BacktestConfig) -> dict[Symbol, SignalBars]:
    """Each symbol's strategy signal masks; strategies without ``signal_bars`` act every bar."""
    signal_bars = getattr(config.strategy, "signal_bars", None)
    if signal_bars is None:
        return {symbol: EVERY_BAR for symbol in dataset.series}
    kernels = config.signal_kernels
    return {symbol: signal_bars(series.close, kernels) for symbol, series in dataset.series.items()}


def _timeline(dataset: ReplayDataset, config: BacktestConfig) -> Sequence[int]:
    """The distinct bar open times of the window, ascending (one cycle each)."""
    columns = [series.ts for series in dataset.series.values()]
    # One series is already strictly increasing (validated at load), and so are several with
    # the same open times (one C-level comparison each): its column is the timeline (a slice
    # of it is a copy of the machine integers, no Python objects); others are merged.
    ordered: Sequence[int]
    if all(column == columns[0] for column in columns[1:]):
        ordered = columns[0]
    else:
        ordered = sorted(set().union(*columns))
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
