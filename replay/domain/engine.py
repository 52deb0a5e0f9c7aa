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

Quiet cycles (fast path, ``BacktestConfig.fast_path``): a cycle with no resting order and no
strategy signal (each strategy's conservative mask,
``trading.domain.strategies.signals``; for a held symbol whose strategy exits at a price set by
the average cost, its ``exit_band``, scanned by ``replay.domain.band_scan``) and at most fills
of orders that just completed, cannot produce an order. For runs of such cycles the engine applies the fills and marks the ledger
(step 3), decides the risk mode (step 4) and records equity and drawdown with folds that equal
the planner's own functions step by step, and skips steps 5-9; a flat book repeats one record
until the next signal or risk clock. ``tests/replay/test_engine_fast_path.py`` shows runs
with and without it are identical.

There is no ORM, file or network access inside the loop; lookups are O(1) per step (each
symbol keeps a cursor into its columns), so the cost grows linearly with the bars (and with
the number of decisions). Results are written in bulk by ``replay.services`` after the run.
"""

from __future__ import annotations

import gc
import hashlib
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from operator import add
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ledger.domain.drawdown import DrawdownState, TradingDayClock, drawdown_fold, drawdown_update
from ledger.domain.fills import Fill
from ledger.domain.portfolio import (
    Portfolio,
    ScaledMarks,
    portfolio_apply_fill,
    portfolio_equity_series_scaled,
)
from ledger.domain.positions import Position
from replay.domain.band_scan import BandBlocks, BandScan
from replay.domain.cycle_log import CycleLog, CycleRecord
from replay.domain.dataset import ReplayDataset
from replay.domain.metrics import RoundTrip, round_trips, sharpe_ratio, win_rate
from trading.domain.adaptation import (
    AdaptationPolicy,
    AdaptationState,
    ParamVersion,
    adaptation_start,
    adaptation_step,
)
from trading.domain.adaptation_bounds import FieldBound
from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build, fill_from_trade
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.orders import OrderType, Side
from trading.domain.planner import INITIAL_UNIVERSE, NO_REJECTS, CyclePlan, plan_cycle
from trading.domain.risk import (
    Denial,
    RiskLimits,
    RiskState,
    risk_mode_fold,
    risk_stable_until,
)
from trading.domain.strategies.base import Strategy
from trading.domain.strategies.signals import EVERY_BAR, PYTHON_SIGNALS, SignalBars, SignalKernels
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits
from trading.domain.universe_plan import UniverseGovernance, cycle_outcome
from trading.domain.venue import FillModel, SimulatedVenue

EMPTY: tuple = ()
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
        run = _Run(dataset, config, execute, port)
        return _run_loop(run, progress, progress_every, started)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block, then restore it as it was.

    The loop allocates many small objects that stay alive (a record per deciding cycle); the
    collector would rescan them again and again. Nothing in the loop creates reference
    cycles, so nothing is left for it to free. Reference counting still frees everything.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _run_loop(
    run: _Run, progress: ProgressFn | None, progress_every: int | None, started: float
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


class _Feed:
    """Loop state of one symbol: its columns, cursor (bars closed so far) and signal masks."""

    __slots__ = (
        "symbol", "series", "ts", "n", "p", "first_p", "signals", "book", "book_p", "blocks",
        "columns", "close_i", "price_exponent", "_largest_close_i",
    )  # fmt: skip

    def __init__(self, symbol: Symbol, series, start: int, signals: SignalBars, book) -> None:
        self.symbol = symbol
        self.series = series
        self.ts = series.ts
        self.n = len(series.ts)
        # what each cycle's market snapshot reads: BarWindow's columns and the exact close
        self.columns = (
            series.ts, series.open, series.high, series.low, series.close, series.volume,
        )  # fmt: skip
        self.close_i = series.close_i
        self.price_exponent = -series.price_scale
        self.p = self.first_p = bisect_left(series.ts, start)
        self.signals = signals
        self.book = book
        self.book_p = 0
        self.blocks: BandBlocks | None = None  # built on the first exit-band scan
        self._largest_close_i: int | None = None

    def largest_close_i(self) -> int:
        """The largest ``abs`` of the scaled closes of the whole series (found once): a bound
        for :class:`~ledger.domain.portfolio.ScaledMarks` of any stretch of it."""
        if self._largest_close_i is None:
            close = self.close_i
            self._largest_close_i = max(-min(close), max(close)) if close else 0
        return self._largest_close_i


class _Run:
    """Mutable loop state of one run (kept out of the pure planner on purpose)."""

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
        self.governed = config.universe_governance is not None
        self.adapting = config.adaptation is not None and config.adaptation.enabled
        self.fast_path = config.fast_path and not (self.governed or self.adapting)
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
        masks = _signal_masks(dataset, config) if config.fast_path else {}
        self.feeds = [
            _Feed(
                s, dataset.series[s], self.times[0], masks.get(s, EVERY_BAR), dataset.books.get(s)
            )
            for s in self.symbols
        ]
        self.feed_of = {feed.symbol: feed for feed in self.feeds}
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
        if self.fast_path:
            resume = self._quiet_run(seq)
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
        if self.fast_path:
            inputs = inputs._replace(quiet_symbols=self._quiet_symbols(trades))
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
            events,
        )
        self.log.append(record)
        self._hash(record, new_fills, mode_changed)
        return seq + 1

    def _quiet_symbols(self, trades: list) -> frozenset[Symbol]:
        """The symbols whose strategy provably returns nothing at this cycle: no order resting,
        no new fill (so the position is as the mask assumes) and the mask for that position
        0 at the last closed bar (``CycleInputs.quiet_symbols``): a signal on one pair does not
        evaluate the others."""
        traded = {trade.symbol for trade in trades}
        venue, positions = self.venue, self.portfolio.positions
        resting = venue.has_any_open_orders()
        quiet = []
        for feed in self.feeds:
            symbol, p = feed.symbol, feed.p
            if not p or symbol in traded or (resting and venue.has_open_orders(symbol)):
                continue
            position = positions.get(symbol)
            held = position is not None and position.quantity
            mask = feed.signals.holding if held else feed.signals.flat
            if mask is not None and not mask[p - 1]:
                quiet.append(symbol)
        return frozenset(quiet)

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

    def _quiet_run(self, seq: int) -> int:
        """Record quiet cycles from ``seq`` on; returns the first cycle the planner must run.

        A cycle is quiet when there is no new fill, no resting order, and no symbol whose
        strategy mask marks its last closed bar (masks are conservative: 0 guarantees the
        strategy returns nothing). Then reconciliation has nothing to match, there is nothing
        to cancel and no intent, so steps 5-9 would produce nothing. Steps 3-4 still run here
        with the planner's own functions (ledger marking, risk mode, drawdown); a cycle whose
        mode would change is left to the planner so the change is recorded there. Nothing is
        submitted inside the run, so the fill and open-order conditions hold throughout.

        Every cycle time is the close of at least one bar, whose age is 0, so the data is never
        all stale at a backtest cycle (``all_data_stale`` is False here as in the planner).
        """
        venue = self.venue
        if seq == 0 or venue.has_any_open_orders():
            return seq
        fills: list[Fill] = []
        portfolio = self.portfolio
        if venue.fill_count != self.fill_cursor:
            trades, _ = venue.fills_since(self.fill_cursor)
            fills = [fill_from_trade(t) for t in trades]
            for fill in fills:  # step 3 exactly as the planner does it
                portfolio = portfolio_apply_fill(portfolio, fill)
        positions = portfolio.positions
        held = {f.symbol for f in self.feeds if (p := positions.get(f.symbol)) and p.quantity}
        masks = []
        for feed in self.feeds:
            if feed.symbol in held:
                mask = feed.signals.holding
                if mask is None:
                    mask = self._exit_scan(feed, positions[feed.symbol])
            else:
                mask = feed.signals.flat
            if mask is None or (feed.p and mask[feed.p - 1]):
                return seq
            masks.append(mask)
        stop = self._next_signal_cycle(seq, masks)
        return self._record_quiet(seq, stop, held, portfolio, fills)

    def _exit_scan(self, feed: _Feed, position: Position) -> BandScan | None:
        """The held symbol's :class:`BandScan` from the strategy's exit band (its exits depend
        on the average cost), or ``None`` (plan every bar) without one or with a book."""
        exit_band = self.exit_band
        rules = self.dataset.rules.get(feed.symbol)
        if exit_band is None or feed.book is not None or rules is None:
            return None
        band = exit_band(
            position.quantity, position.average_cost, self.config.fee_taker_bps, rules.min_notional
        )
        if band is None:
            return None
        if feed.blocks is None:
            feed.blocks = BandBlocks(feed.series.close)
        take, dust = band.float_bounds()
        return BandScan(feed.blocks, take, dust)

    def _commit_fills(self, portfolio: Portfolio, fills: list[Fill]) -> None:
        self.portfolio = portfolio
        self.fills.extend(fills)
        self.fill_cursor += len(fills)

    def _next_signal_cycle(self, seq: int, masks: list[bytes | BandScan]) -> int:
        """First cycle after ``seq`` at which some symbol's mask fires (or the end)."""
        stop = len(self.times)
        for feed, mask in zip(self.feeds, masks, strict=True):
            fire = mask.find(1, feed.p)  # bytes or BandScan
            if fire != -1:
                stop = min(stop, bisect_left(self.times, feed.ts[fire], seq + 1))
        return stop

    def _record_quiet(
        self, seq: int, stop: int, held: set[Symbol], portfolio: Portfolio, fills: list[Fill]
    ) -> int:
        """Mark, risk-check and record cycles ``seq..stop-1``; stop early at a mode change.

        ``portfolio`` already holds cycle ``seq``'s ``fills``; both are committed only if that
        cycle is recorded here (otherwise the planner takes the cycle, fills included).
        """
        times, interval, limits = self.times, self.interval, self.config.limits
        last_t = times[stop - 1]
        for feed in self.feeds:
            # Batch only while each held symbol closes exactly one bar per cycle (no gap):
            # its bars in (times[seq], last_t] must be as many as the cycles there.
            if (
                feed.symbol in held
                and bisect_right(feed.ts, last_t, feed.p) - feed.p != stop - seq - 1
            ):
                stop = seq + 1
                last_t = times[seq]
        signal_stop = stop
        if not held:  # flat: equity is the cash; fold one cycle, then repeat it in bulk
            stop = seq + 1
        marks = {
            feed.symbol: ScaledMarks(
                feed.series.close_i[feed.p - 1 : feed.p - 1 + stop - seq],
                -feed.series.price_scale,
                feed.largest_close_i(),
            )
            for feed in self.feeds
            if feed.symbol in held
        }
        equities, equity_floats = portfolio_equity_series_scaled(portfolio, marks, stop - seq)
        nows = list(map(add, times[seq:stop], repeat(interval)))
        days = self.day_clock.days_of(nows)
        state, reasons = risk_mode_fold(
            self.risk_state, zip(nows, equities, days, strict=True), limits
        )
        accepted = len(reasons)
        if accepted == 0:
            return seq  # the first cycle changes the mode: the planner records it
        drawdowns, drawdown = drawdown_fold(self.drawdown, equities[:accepted])
        mode, cash = state.mode.value, portfolio.cash
        first = CycleRecord(
            seq,
            nows[0],
            mode,
            reasons[0],
            equities[0],
            cash,
            drawdowns[0],
            None,
            EMPTY,
            EMPTY,
            EMPTY,
            EMPTY,
            len(fills),
        )
        self.log.append(first)
        if fills:
            self._commit_fills(portfolio, fills)
            self._hash(first, fills, False)
        self.log.extend_quiet(
            nows[1:accepted],
            mode,
            reasons[1:],
            equities[1:accepted],
            cash,
            drawdowns[1:],
            equity_floats[1:accepted],
        )
        k = seq + accepted
        if not held:
            k = self._flat_stretch(seq, nows[0], state, signal_stop)
        self.risk_state, self.drawdown = state, drawdown
        if k > seq:
            end_t = times[k - 1]
            for feed in self.feeds:
                feed.p = bisect_right(feed.ts, end_t, feed.p)
        return k

    def _flat_stretch(self, seq: int, now: int, state: RiskState, stop: int) -> int:
        """After quiet cycle ``seq`` with a flat book, record the cycles that must repeat it.

        With no position, no resting order and no fill, equity is the cash and stays so; the
        drawdown state then cannot change, and the risk state cannot change before
        :func:`risk_stable_until` or the end of the trading day. Every cycle before the next of
        those times, and before the next bar where a strategy mask fires, is therefore
        identical to cycle ``seq`` except for its number and time. ``stop`` is the next cycle
        where a mask fires. Returns the next cycle to run (``seq + 1`` when no stretch applies).
        """
        stable_until = min(
            risk_stable_until(state, self.config.limits), self.day_clock.day_end_ms(now)
        )
        times, interval = self.times, self.interval
        stop = min(stop, bisect_left(times, stable_until - interval, seq + 1))
        if stop <= seq + 1:
            return seq + 1
        self.log.repeat_last(list(map(add, times[seq + 1 : stop], repeat(interval))))
        end_t = times[stop - 1]
        for feed in self.feeds:
            feed.p = bisect_right(feed.ts, end_t, feed.p)
        return stop

    def _advance(self, t: int) -> None:
        """Close every bar with open time <= ``t``; the venue matches resting orders first."""
        venue = self.venue
        matching = venue.has_any_open_orders()  # orders are only placed after this step
        for feed in self.feeds:
            ts, p, n = feed.ts, feed.p, feed.n
            while p < n and ts[p] <= t:
                if matching and venue.has_open_orders(feed.symbol):
                    venue.on_bar(feed.symbol, feed.series.bar(p))
                p += 1
            feed.p = p

    def _market(self, now: int) -> dict[Symbol, MarketSnapshot]:
        market: dict[Symbol, MarketSnapshot] = {}
        interval = self.interval
        for feed in self.feeds:
            p = feed.p
            if p == 0:
                continue
            bid = ask = None
            if feed.book is not None:
                bid, ask = self._book_quote(feed, now)
            market[feed.symbol] = MarketSnapshot(
                feed.symbol,
                # CandleSeries.window(p) and close_decimal(p - 1), without their call overhead
                BarWindow(*feed.columns, p, interval),
                Decimal(feed.close_i[p - 1]).scaleb(feed.price_exponent),
                now - feed.ts[p - 1] - interval,
                bid,
                ask,
            )
        return market

    def _book_quote(self, feed: _Feed, now: int) -> tuple[Decimal | None, Decimal | None]:
        book, q = feed.book, feed.book_p
        while q < len(book.ts) and book.ts[q] <= now:
            q += 1
        feed.book_p = q
        if q == 0:
            return None, None
        return book.bid_decimal(q - 1), book.ask_decimal(q - 1)

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
        if feed.p:
            self.venue.observe_price(symbol, feed.series.close_decimal(feed.p - 1))

    def _hash(self, record: CycleRecord, fills: list[Fill], mode_changed: bool) -> None:
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
        bars = sum(feed.p - feed.first_p for feed in self.feeds)
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


def _timeline(dataset: ReplayDataset, config: BacktestConfig) -> list[int]:
    columns = [series.ts for series in dataset.series.values()]
    # One series is already strictly increasing (validated at load), and so are several with
    # the same open times (one C-level comparison each); others are merged.
    if all(column == columns[0] for column in columns[1:]):
        ordered = list(columns[0])
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
