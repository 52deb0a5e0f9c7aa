"""Risk: limits, modes, denials and the per-order risk rules.

Modes (DESIGN.md section 1 step 4), least to most severe:

- ``NORMAL``: every rule below applies, nothing more;
- ``REDUCE_RISK_ONLY``: only orders that reduce exposure (sells of held positions) and cancels;
- ``OBSERVE_ONLY``: no new orders, cancels only.

:func:`risk_mode_decide` derives the mode from the kill switch, unresolved UNKNOWN orders,
stale data, the account's stop-entries switch, the drawdown from the risk peak, and the loss
of the current trading day (``Europe/Istanbul`` by default). Flags and their reason codes:
kill switch ``KILL_SWITCH``, unknown orders ``UNKNOWN_ORDERS`` and stale data ``STALE_DATA``
force ``OBSERVE_ONLY``; stop entries ``STOP_ENTRIES`` forces at least ``REDUCE_RISK_ONLY``. A degraded mode is held for at least
``RiskLimits.mode_cooldown_ms`` (hysteresis), so a mode cannot flap cycle to cycle.

The risk peak is the highest equity seen within ``RiskLimits.drawdown_window_ms``; when the
peak is older than the window it is re-based to the current equity. This makes a drawdown
halt temporary in a long backtest, as an operator's manual review would; the reported max
drawdown (ledger) still uses the all-time running peak.

Every rule returns ``None`` or a :class:`Denial` with a stable reason code; denials are
recorded, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, getcontext
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from trading.domain.orders import Side
from trading.domain.symbols import Symbol

HUNDRED = Decimal(100)


class Mode(StrEnum):
    NORMAL = "NORMAL"
    REDUCE_RISK_ONLY = "REDUCE_RISK_ONLY"
    OBSERVE_ONLY = "OBSERVE_ONLY"


SEVERITY = {Mode.NORMAL: 0, Mode.REDUCE_RISK_ONLY: 1, Mode.OBSERVE_ONLY: 2}


@dataclass(frozen=True, slots=True)
class Denial:
    """Why an intent or order was not placed. ``code`` is a stable UPPER_SNAKE reason code."""

    code: str
    detail: str
    symbol: Symbol | None = None
    side: Side | None = None
    strategy: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "detail": self.detail,
            "symbol": str(self.symbol) if self.symbol else "",
            "side": self.side.value if self.side else "",
            "strategy": self.strategy,
        }


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Allocation and risk limits.

    ``*_pct`` are fractions of equity (``0.25`` = 25 %); ``*_notional`` absolute caps in quote
    currency (``None`` = no absolute cap, the fraction still applies); the effective cap is the
    smaller of both. Times are milliseconds.
    """

    cash_reserve_pct: Decimal = Decimal("0.05")
    max_order_pct: Decimal = Decimal("0.10")
    max_cycle_pct: Decimal = Decimal("0.20")
    max_position_pct: Decimal = Decimal("0.25")
    max_order_notional: Decimal | None = None
    max_cycle_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_orders_per_cycle: int = 4
    cooldown_ms: int = 300_000
    reduce_drawdown_pct: Decimal = Decimal("0.10")
    observe_drawdown_pct: Decimal = Decimal("0.20")
    daily_loss_pct: Decimal = Decimal("0.05")
    max_data_age_ms: int = 900_000
    mode_cooldown_ms: int = 3_600_000
    drawdown_window_ms: int = 7 * 86_400_000
    order_ttl_ms: int = 900_000

    def as_json(self) -> dict[str, object]:
        return {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in ((f, getattr(self, f)) for f in self.__dataclass_fields__)
        }


@dataclass(frozen=True, slots=True)
class RiskState:
    """What risk remembers between cycles (immutable; the planner returns the next one).

    ``last_order_ms`` maps ``(symbol, side)`` to the cycle time of the last order placed, for
    cooldowns. ``day_start_equity`` is the equity at the first cycle of ``day``.
    """

    mode: Mode = Mode.NORMAL
    mode_since_ms: int = 0
    mode_reasons: tuple[str, ...] = ()
    day: date | None = None
    day_start_equity: Decimal = Decimal(0)
    risk_peak: Decimal = Decimal(0)
    risk_peak_ms: int = 0
    last_order_ms: dict[tuple[Symbol, Side], int] = field(default_factory=dict)


class ModeInputs(NamedTuple):
    """Inputs of :func:`risk_mode_decide` (equity in quote; ``day`` the trading day of now).

    Flags: ``kill_switch``, ``unknown_orders`` (count) and ``all_data_stale`` force
    ``OBSERVE_ONLY``; ``stop_entries`` (the operator's per-account switch) forces at least
    ``REDUCE_RISK_ONLY``. Like every degraded mode, the mode is held for
    ``RiskLimits.mode_cooldown_ms`` after a flag clears.
    """

    now_ms: int
    equity: Decimal
    day: date
    kill_switch: bool = False
    unknown_orders: int = 0
    all_data_stale: bool = False
    stop_entries: bool = False


def data_all_stale(ages_ms: Iterable[int], max_data_age_ms: int) -> bool:
    """True when there is market data and every symbol's is older than ``max_data_age_ms``."""
    seen = False
    for age in ages_ms:
        if age <= max_data_age_ms:
            return False
        seen = True
    return seen


def fall_ratio(reference: Decimal, equity: Decimal) -> Decimal:
    """How far ``equity`` is below ``reference`` (positive), as a fraction of it:
    ``(reference - equity) / reference``, in the current context. The drawdown from the risk
    peak and the day's loss are both this expression, and every test of them (the full
    decision, its quick path, the fold) calls it, so they agree to the last digit."""
    return (reference - equity) / reference


def risk_mode_decide(state: RiskState, inputs: ModeInputs, limits: RiskLimits) -> RiskState:
    """Return the next :class:`RiskState` with the mode for this cycle and its reasons."""
    if _still_normal(state, inputs, limits):
        return state
    state = _roll_day(state, inputs)
    state = _roll_peak(state, inputs, limits)
    wanted, reasons = _wanted_mode(state, inputs, limits)
    held = state.mode
    cooling = inputs.now_ms - state.mode_since_ms < limits.mode_cooldown_ms
    if SEVERITY[wanted] < SEVERITY[held] and cooling:
        return replace(state, mode_reasons=(*reasons, f"COOLDOWN_{held.value}"))
    if wanted is not held:
        return replace(state, mode=wanted, mode_since_ms=inputs.now_ms, mode_reasons=reasons)
    return state if state.mode_reasons == reasons else replace(state, mode_reasons=reasons)


def risk_stable_until(state: RiskState, limits: RiskLimits) -> int:
    """Epoch ms before which ``state`` cannot change while its inputs stay the same.

    Promise: if ``state`` came out of :func:`risk_mode_decide` at some equity, then for any
    later cycle time ``now < risk_stable_until(state, limits)`` in the same trading day, with
    the same equity and no flag (kill switch, unknown orders, stale data, stop entries),
    ``risk_mode_decide`` returns ``state`` itself. Only a NORMAL state without reasons makes
    this promise (the risk peak expiring is then the only clock); any other state returns 0.
    The backtest engine uses it to record runs of identical quiet cycles in bulk.
    """
    if state.mode is not Mode.NORMAL or state.mode_reasons:
        return 0
    return state.risk_peak_ms + limits.drawdown_window_ms + 1


def _still_normal(state: RiskState, inputs: ModeInputs, limits: RiskLimits) -> bool:
    """Cheap exact test for the common cycle: NORMAL stays NORMAL and nothing rolls.

    Same day, peak neither beaten nor expired, no flag, and both loss measures below their
    thresholds (multiplied out instead of divided; equivalent for positive references).
    """
    if state.mode is not Mode.NORMAL or state.mode_reasons or state.day != inputs.day:
        return False
    if inputs.kill_switch or inputs.unknown_orders or inputs.all_data_stale or inputs.stop_entries:
        return False
    equity, peak = inputs.equity, state.risk_peak
    if equity > peak or peak <= 0 or inputs.now_ms - state.risk_peak_ms > limits.drawdown_window_ms:
        return False
    # fall_ratio is _wanted_mode's own expression, so both always agree to the last digit.
    if fall_ratio(peak, equity) >= limits.reduce_drawdown_pct:
        return False
    start = state.day_start_equity
    return start > 0 and fall_ratio(start, equity) < limits.daily_loss_pct


def risk_mode_fold(
    state: RiskState, points: Iterable[tuple[int, Decimal, date]], limits: RiskLimits
) -> tuple[RiskState, list[tuple[str, ...]]]:
    """Fold flag-free cycles ``(now_ms, equity, trading day)`` into ``state`` while its mode holds.

    Exactly :func:`risk_mode_decide` applied point by point with no kill switch, unknown
    orders, stale data or stop entries (a point carries none of them, so a caller must never
    fold over a cycle where one is set; the backtest sets none), stopping before the first
    point that would change the mode.
    Returns the state after the accepted points and each accepted point's reasons (so the
    list's length is the number accepted). NORMAL points that neither roll the day nor cross
    a threshold, new highs included, are decided on local values without building the
    intermediate states; the backtest engine folds its quiet stretches with it.
    """
    mode = state.mode
    out: list[tuple[str, ...]] = []
    peak, peak_ms = state.risk_peak, state.risk_peak_ms
    window, reduce, daily = (
        limits.drawdown_window_ms,
        limits.reduce_drawdown_pct,
        limits.daily_loss_pct,
    )
    # Above these equities a loss measure is certainly below its threshold, so the division
    # is skipped; at or below them the expression itself decides (see _safe_floor).
    margin = _rounding_margin()
    floor_peak, reduce_floor = peak, _safe_floor(peak, reduce, margin)
    start, state_day = state.day_start_equity, state.day
    daily_floor = _safe_floor(start, daily, margin)
    # the state's part of the quick test, true while the state is the same (a new high keeps
    # the peak positive)
    quick = _quick_state(state)
    append = out.append
    for now, equity, day in points:
        if (
            quick
            and day == state_day
            and now - peak_ms <= window
            and (equity > daily_floor or fall_ratio(start, equity) < daily)
        ):
            if equity > peak:  # _roll_peak moves the peak; the drawdown is then 0
                peak, peak_ms = equity, now
                append(())
                continue
            if peak is not floor_peak:
                floor_peak, reduce_floor = peak, _safe_floor(peak, reduce, margin)
            if equity > reduce_floor or fall_ratio(peak, equity) < reduce:
                append(())
                continue
        if peak is not state.risk_peak or peak_ms != state.risk_peak_ms:
            state = replace(state, risk_peak=peak, risk_peak_ms=peak_ms)
        new = risk_mode_decide(state, ModeInputs(now, equity, day), limits)
        if new.mode is not mode:
            break
        state = new
        peak, peak_ms = state.risk_peak, state.risk_peak_ms
        if state.day_start_equity is not start:
            start = state.day_start_equity
            daily_floor = _safe_floor(start, daily, margin)
        state_day = state.day
        quick = _quick_state(state)
        append(state.mode_reasons)
    if peak is not state.risk_peak or peak_ms != state.risk_peak_ms:
        state = replace(state, risk_peak=peak, risk_peak_ms=peak_ms)
    return state, out


def risk_mode_fold_columns(
    state: RiskState,
    now_ms: Sequence[int],
    equity: Sequence[Decimal],
    days: Sequence[date],
    limits: RiskLimits,
) -> tuple[RiskState, list[tuple[str, ...]]]:
    """:func:`risk_mode_fold` over the points ``zip(now_ms, equity, days)`` (equal lengths,
    in time order), with the same result, the peak object included.

    A stretch where every point takes the fold's quick NORMAL path without a new high is
    decided in C-level passes instead of point by point: the state is NORMAL without reasons,
    every point is in the state's day and within the drawdown window of the state's peak time
    (the latest time is), no equity is above the peak, and the lowest is above both the day's
    loss floor and the peak's drawdown floor (``_safe_floor``). Then every point's reasons are
    ``()`` and the state stays as it is. Any other stretch is folded point by point.
    """
    count = len(equity)
    start, peak = state.day_start_equity, state.risk_peak
    if (
        count
        and _quick_state(state)
        and now_ms[-1] - state.risk_peak_ms <= limits.drawdown_window_ms
        and days.count(state.day) == count
        and not max(equity) > peak
    ):
        margin = _rounding_margin()
        lowest = min(equity)
        if lowest > _safe_floor(start, limits.daily_loss_pct, margin) and lowest > _safe_floor(
            peak, limits.reduce_drawdown_pct, margin
        ):
            return state, [()] * count
    return risk_mode_fold(state, zip(now_ms, equity, days, strict=True), limits)


def _quick_state(state: RiskState) -> bool:
    """The state's part of the folds' quick NORMAL path: NORMAL without reasons, with a
    positive day-start equity and peak (the floors of :func:`_safe_floor` are then finite)."""
    return (
        state.mode is Mode.NORMAL
        and not state.mode_reasons
        and state.day_start_equity > 0
        and state.risk_peak > 0
    )


_FLOOR = Context(prec=60, rounding=ROUND_FLOOR)
_CEILING = Context(prec=60, rounding=ROUND_CEILING)
_NEVER = Decimal("Infinity")


def _rounding_margin() -> Decimal:
    """``2 * 10^(1 - prec)`` for the current context: more than the relative error of a
    subtraction followed by a division, each correctly rounded to ``prec`` digits."""
    return _margin_of(getcontext().prec)


@lru_cache(maxsize=8)
def _margin_of(prec: int) -> Decimal:
    return Decimal(2).scaleb(1 - prec)


# A floor depends only on the values (a Decimal equal in value hashes alike and gives an equal
# floor), and a backtest asks about the same peak and day-start equity again and again.
@lru_cache(maxsize=1024)
def _safe_floor(reference: Decimal, limit: Decimal, margin: Decimal) -> Decimal:
    """An equity ``B`` such that ``equity > B`` implies ``(reference - equity) / reference <
    limit`` as the current context computes it (rounded), for positive ``reference`` and
    ``limit``; ``Infinity`` (never) otherwise.

    ``B >= reference * (1 - limit * (1 - margin))`` (products rounded down, the difference
    up), so ``equity > B`` gives an exact quotient ``q < limit * (1 - margin)``; rounding
    adds less than ``margin`` relatively, and a quotient ``<= 0`` stays ``<= 0``. Lets
    :func:`risk_mode_fold` compare instead of divide on all but the points near a threshold.
    """
    if reference <= 0 or limit <= 0:
        return _NEVER
    kept = _FLOOR.multiply(_FLOOR.multiply(reference, limit), _FLOOR.subtract(1, margin))
    return _CEILING.subtract(reference, kept)


def _roll_day(state: RiskState, inputs: ModeInputs) -> RiskState:
    if state.day == inputs.day:
        return state
    return replace(state, day=inputs.day, day_start_equity=inputs.equity)


def _roll_peak(state: RiskState, inputs: ModeInputs, limits: RiskLimits) -> RiskState:
    # A new high moves the peak; equal equity keeps the older peak time (it may expire).
    expired = inputs.now_ms - state.risk_peak_ms > limits.drawdown_window_ms
    if inputs.equity > state.risk_peak or expired:
        return replace(state, risk_peak=inputs.equity, risk_peak_ms=inputs.now_ms)
    return state


def _wanted_mode(
    state: RiskState, inputs: ModeInputs, limits: RiskLimits
) -> tuple[Mode, tuple[str, ...]]:
    observe: list[str] = []
    reduce: list[str] = []
    if inputs.kill_switch:
        observe.append("KILL_SWITCH")
    if inputs.unknown_orders:
        observe.append("UNKNOWN_ORDERS")
    if inputs.all_data_stale:
        observe.append("STALE_DATA")
    if inputs.stop_entries:
        reduce.append("STOP_ENTRIES")
    if state.risk_peak > 0:
        drawdown = fall_ratio(state.risk_peak, inputs.equity)
        if drawdown >= limits.observe_drawdown_pct:
            observe.append("DRAWDOWN")
        elif drawdown >= limits.reduce_drawdown_pct:
            reduce.append("DRAWDOWN")
    if state.day_start_equity > 0:
        loss = fall_ratio(state.day_start_equity, inputs.equity)
        if loss >= limits.daily_loss_pct:
            observe.append("DAILY_LOSS")
    if observe:
        return Mode.OBSERVE_ONLY, tuple(observe + reduce)
    if reduce:
        return Mode.REDUCE_RISK_ONLY, tuple(reduce)
    return Mode.NORMAL, ()


# --- per-order rules -------------------------------------------------------------------------


class OrderCheck(NamedTuple):
    """One candidate order as the per-order rules see it (notional in quote)."""

    symbol: Symbol
    side: Side
    notional: Decimal
    reduces_exposure: bool
    strategy: str


class CycleRiskContext(NamedTuple):
    """Cycle-wide facts for the per-order rules."""

    now_ms: int
    mode: Mode
    limits: RiskLimits
    last_order_ms: dict[tuple[Symbol, Side], int]
    open_sides: frozenset[tuple[Symbol, Side]]
    orders_accepted: int


def rule_mode(order: OrderCheck, ctx: CycleRiskContext) -> Denial | None:
    if ctx.mode is Mode.OBSERVE_ONLY:
        return _deny("MODE_OBSERVE_ONLY", "no new orders in OBSERVE_ONLY", order)
    if ctx.mode is Mode.REDUCE_RISK_ONLY and not order.reduces_exposure:
        return _deny("MODE_REDUCE_RISK_ONLY", "only exposure-reducing orders allowed", order)
    return None


def rule_max_orders(order: OrderCheck, ctx: CycleRiskContext) -> Denial | None:
    if ctx.orders_accepted >= ctx.limits.max_orders_per_cycle:
        return _deny(
            "MAX_ORDERS_PER_CYCLE", f"{ctx.limits.max_orders_per_cycle} orders already", order
        )
    return None


def rule_open_order(order: OrderCheck, ctx: CycleRiskContext) -> Denial | None:
    if (order.symbol, order.side) in ctx.open_sides:
        return _deny("OPEN_ORDER_EXISTS", "an order on this side is still open", order)
    return None


def rule_cooldown(order: OrderCheck, ctx: CycleRiskContext) -> Denial | None:
    last = ctx.last_order_ms.get((order.symbol, order.side))
    if (
        last is not None
        and ctx.now_ms - last < ctx.limits.cooldown_ms
        and not order.reduces_exposure
    ):
        wait_s = (ctx.limits.cooldown_ms - (ctx.now_ms - last)) // 1000
        return _deny("COOLDOWN", f"same symbol and side traded recently; {wait_s}s left", order)
    return None


ORDER_RULES = (rule_mode, rule_max_orders, rule_open_order, rule_cooldown)


def order_risk_check(order: OrderCheck, ctx: CycleRiskContext) -> Denial | None:
    """Apply :data:`ORDER_RULES` in order; the first denial wins (all are cheap)."""
    for rule in ORDER_RULES:
        denial = rule(order, ctx)
        if denial is not None:
            return denial
    return None


def _deny(code: str, detail: str, order: OrderCheck) -> Denial:
    return Denial(code, detail, order.symbol, order.side, order.strategy)
