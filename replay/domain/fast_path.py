"""The backtest's fast path: runs of quiet cycles, recorded without planning them.

A cycle is quiet when no order rests, no fill arrived but those of orders that just completed,
and no symbol's strategy mask marks its last closed bar (the masks are conservative:
``trading.domain.strategies.signals``; a held symbol whose strategy exits at a price set by
the average cost is scanned against its ``exit_band``, ``replay.domain.band_scan``). Such a
cycle cannot produce an order, so steps 5-9 of the pipeline would return nothing. For a run of
them :class:`QuietCycles` still does steps 3-4 with the planner's own functions (the fills
into the ledger, the marks, the risk mode, the drawdown), in folds that equal those functions
point by point (``risk_mode_fold_columns``, ``drawdown_fold``, ``portfolio_equity_series_scaled``),
and records the cycles in bulk; a flat book repeats one record until the next signal or risk
clock. A cycle whose mode would change is left to the planner, so the change is recorded
there. ``tests/replay/test_engine_fast_path.py`` shows runs with and without the fast path are
identical, record for record and fingerprint for fingerprint.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

from ledger.domain.drawdown import drawdown_fold
from ledger.domain.fills import Fill
from ledger.domain.portfolio import (
    Portfolio,
    ScaledMarks,
    portfolio_apply_fill,
    portfolio_equity_series_scaled,
)
from ledger.domain.positions import Position
from replay.domain.band_scan import BandBlocks, BandScan
from replay.domain.cycle_log import EMPTY, CycleRecord
from replay.domain.feed import SymbolFeed
from trading.domain.cycle import fill_from_trade
from trading.domain.risk import RiskState, risk_mode_fold_columns, risk_stable_until
from trading.domain.symbols import Symbol

if TYPE_CHECKING:
    from replay.domain.engine import ReplayLoop


class QuietCycles:
    """The fast path of one :class:`~replay.domain.engine.ReplayLoop`: :meth:`run` records the
    quiet cycles from a given one on, :meth:`quiet_symbols` tells the planner which symbols of
    a planned cycle need no strategy call. It reads and advances the loop's state (ledger,
    risk and drawdown states, feeds, log and fingerprint) exactly as planned cycles would."""

    __slots__ = ("loop",)

    def __init__(self, loop: ReplayLoop) -> None:
        self.loop = loop

    def quiet_symbols(self, trades: list) -> frozenset[Symbol]:
        """The symbols whose strategy provably returns nothing at this cycle: no order resting,
        no new fill (so the position is as the mask assumes) and the mask for that position
        0 at the last closed bar (``CycleInputs.quiet_symbols``): a signal on one pair does not
        evaluate the others."""
        loop = self.loop
        traded = {trade.symbol for trade in trades}
        venue, positions = loop.venue, loop.portfolio.positions
        resting = venue.has_any_open_orders()
        quiet = []
        for feed in loop.feeds:
            symbol, closed = feed.symbol, feed.closed
            if not closed or symbol in traded or (resting and venue.has_open_orders(symbol)):
                continue
            position = positions.get(symbol)
            held = position is not None and position.quantity
            mask = feed.signals.holding if held else feed.signals.flat
            if mask is not None and not mask[closed - 1]:
                quiet.append(symbol)
        return frozenset(quiet)

    def run(self, seq: int) -> int:
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
        loop = self.loop
        venue = loop.venue
        if seq == 0 or venue.has_any_open_orders():
            return seq
        fills: list[Fill] = []
        portfolio = loop.portfolio
        if venue.fill_count != loop.fill_cursor:
            trades, _ = venue.fills_since(loop.fill_cursor)
            fills = [fill_from_trade(t) for t in trades]
            for fill in fills:  # step 3 exactly as the planner does it
                portfolio = portfolio_apply_fill(portfolio, fill)
        positions = portfolio.positions
        held = {
            f.symbol
            for f in loop.feeds
            if (position := positions.get(f.symbol)) and position.quantity
        }
        masks = []
        for feed in loop.feeds:
            if feed.symbol in held:
                mask = feed.signals.holding
                if mask is None:
                    mask = self._exit_scan(feed, positions[feed.symbol])
            else:
                mask = feed.signals.flat
            if mask is None or (feed.closed and mask[feed.closed - 1]):
                return seq
            masks.append(mask)
        stop = self._next_signal_cycle(seq, masks)
        return self._record(seq, stop, held, portfolio, fills)

    def _exit_scan(self, feed: SymbolFeed, position: Position) -> BandScan | None:
        """The held symbol's :class:`BandScan` from the strategy's exit band (its exits depend
        on the average cost), or ``None`` (plan every bar) without one or with a book."""
        loop = self.loop
        exit_band = loop.exit_band
        rules = loop.dataset.rules.get(feed.symbol)
        if exit_band is None or feed.book is not None or rules is None:
            return None
        band = exit_band(
            position.quantity, position.average_cost, loop.config.fee_taker_bps, rules.min_notional
        )
        if band is None:
            return None
        if feed.blocks is None:
            feed.blocks = BandBlocks(feed.series.close)
        take, dust = band.float_bounds()
        return BandScan(feed.blocks, take, dust)

    def _commit_fills(self, portfolio: Portfolio, fills: list[Fill]) -> None:
        """The quiet run's first cycle is recorded: its fills become the loop's."""
        loop = self.loop
        loop.portfolio = portfolio
        loop.fills.extend(fills)
        loop.fill_cursor += len(fills)

    def _next_signal_cycle(self, seq: int, masks: list[bytes | BandScan]) -> int:
        """First cycle after ``seq`` at which some symbol's mask fires (or the end)."""
        loop = self.loop
        stop = len(loop.times)
        for feed, mask in zip(loop.feeds, masks, strict=True):
            fire = mask.find(1, feed.closed)  # bytes or BandScan
            if fire != -1:
                stop = min(stop, bisect_left(loop.times, feed.ts[fire], seq + 1))
        return stop

    def _record(
        self, seq: int, stop: int, held: set[Symbol], portfolio: Portfolio, fills: list[Fill]
    ) -> int:
        """Mark, risk-check and record cycles ``seq..stop-1``; stop early at a mode change.

        ``portfolio`` already holds cycle ``seq``'s ``fills``; both are committed only if that
        cycle is recorded here (otherwise the planner takes the cycle, fills included).
        """
        loop = self.loop
        times, limits = loop.times, loop.config.limits
        last_t = times[stop - 1]
        for feed in loop.feeds:
            # Batch only while each held symbol closes exactly one bar per cycle (no gap):
            # its bars in (times[seq], last_t] must be as many as the cycles there.
            if (
                feed.symbol in held
                and bisect_right(feed.ts, last_t, feed.closed) - feed.closed != stop - seq - 1
            ):
                stop = seq + 1
                last_t = times[seq]
        signal_stop = stop
        if not held:  # flat: equity is the cash; fold one cycle, then repeat it in bulk
            stop = seq + 1
        marks = {
            feed.symbol: ScaledMarks(
                feed.close_i[feed.closed - 1 : feed.closed - 1 + stop - seq],
                feed.price_exponent,
                feed.largest_close_i,
            )
            for feed in loop.feeds
            if feed.symbol in held
        }
        equities, equity_floats = portfolio_equity_series_scaled(portfolio, marks, stop - seq)
        nows = loop.nows[seq:stop]
        days = loop.day_clock.days_of(nows)
        state, reasons = risk_mode_fold_columns(loop.risk_state, nows, equities, days, limits)
        accepted = len(reasons)
        if accepted == 0:
            return seq  # the first cycle changes the mode: the planner records it
        drawdowns, drawdown = drawdown_fold(loop.drawdown, equities[:accepted])
        mode, cash = state.mode.value, portfolio.cash
        first = CycleRecord(
            seq=seq,
            now_ms=nows[0],
            mode=mode,
            mode_reasons=reasons[0],
            equity=equities[0],
            cash=cash,
            drawdown_pct=drawdowns[0],
            universe=None,
            intents=EMPTY,
            orders=EMPTY,
            cancels=EMPTY,
            denials=EMPTY,
            fills=len(fills),
        )
        loop.log.append(first)
        if fills:
            self._commit_fills(portfolio, fills)
            loop.fingerprint_update(first, fills, mode_changed=False)
        loop.log.extend_quiet(
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
        loop.risk_state, loop.drawdown = state, drawdown
        if k > seq:
            end_t = times[k - 1]
            for feed in loop.feeds:
                feed.closed = bisect_right(feed.ts, end_t, feed.closed)
        return k

    def _flat_stretch(self, seq: int, now: int, state: RiskState, stop: int) -> int:
        """After quiet cycle ``seq`` with a flat book, record the cycles that must repeat it.

        With no position, no resting order and no fill, equity is the cash and stays so; the
        drawdown state then cannot change, and the risk state cannot change before
        :func:`risk_stable_until` or the end of the trading day. Every cycle before the next of
        those times, and before the next bar where a strategy mask fires, is therefore
        identical to cycle ``seq`` except for its number and time. ``stop`` is the next cycle
        where a mask fires. Returns the next cycle to run (``seq + 1`` when no stretch applies);
        the caller closes the feeds' bars up to it.
        """
        loop = self.loop
        stable_until = min(
            risk_stable_until(state, loop.config.limits), loop.day_clock.day_end_ms(now)
        )
        times, interval = loop.times, loop.interval
        stop = min(stop, bisect_left(times, stable_until - interval, seq + 1))
        if stop <= seq + 1:
            return seq + 1
        loop.log.repeat_last(loop.nows[seq + 1 : stop])
        return stop
