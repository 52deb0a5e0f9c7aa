"""The planner: cycle steps 2-9 as one pure function (DESIGN.md section 1).

``plan_cycle(inputs) -> CyclePlan`` has no I/O and no clock of its own: everything it knows
arrives in :class:`CycleInputs` (the cycle time included) and everything it decides leaves
in :class:`CyclePlan`, so a backtest, a paper session and live make the same decisions from
the same inputs. Steps:

2. reconcile: new fills are matched to their orders by client order id (unknown ids are
   reported as ``UNMATCHED_FILL`` denials, never dropped);
3. ledger: fills are applied to the average-cost portfolio; equity is marked to market;
4. risk mode: :func:`~trading.domain.risk.risk_mode_decide`;
5. universe: :func:`~trading.domain.universe.universe_select`, or, when the inputs carry a
   ``universe_governance``, :func:`~trading.domain.universe_plan.universe_plan` (scoring then
   governance over the carried ``universe_state``; the plan returns the next state and the
   universe events, and buys on ``exit_only`` symbols are denied ``UNIVERSE_EXIT_ONLY``);
6. strategies: each strategy sees each universe symbol's closed bars and position;
7-8. allocation and order building (:mod:`trading.domain.allocation`);
9. per-order risk rules (:mod:`trading.domain.risk`); every denial is kept with its reason.

Cancels: open buys are canceled in REDUCE_RISK_ONLY and OBSERVE_ONLY, and any order older
than ``RiskLimits.order_ttl_ms`` is canceled (``ORDER_TTL``).

One type represents an order in each layer: the planner sends
:class:`~trading.domain.orders.OrderRequest` and sees resting orders (``open_orders``,
``Cancel.order``) as the venue port reports them, :class:`~trading.domain.reports.OrderReport`;
the database holds ``trading.models.Order``; the sandbox wire its ``OrderRecord``. Inputs are
built by :func:`trading.domain.cycle.cycle_inputs_build` in every mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from ledger.domain.fills import Fill
from ledger.domain.portfolio import Portfolio, portfolio_apply_fill, portfolio_equity
from trading.domain.allocation import BuyBudget, OrderSpec, build_order, buy_notional, sell_quantity
from trading.domain.intents import Intent
from trading.domain.market import MarketSnapshot
from trading.domain.orders import OrderRequest, Side
from trading.domain.reports import OrderReport
from trading.domain.risk import (
    CycleRiskContext,
    Denial,
    Mode,
    ModeInputs,
    OrderCheck,
    RiskLimits,
    RiskState,
    data_all_stale,
    order_risk_check,
    risk_mode_decide,
)
from trading.domain.rules import ExchangeRules
from trading.domain.strategies.base import Strategy, StrategyContext
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits, universe_select
from trading.domain.universe_governance import UniverseEvent, UniverseState
from trading.domain.universe_plan import UniverseGovernance, exit_only_denial, universe_plan

ZERO = Decimal(0)
BPS = Decimal(10000)
NO_REJECTS: Mapping[Symbol, int] = MappingProxyType({})
INITIAL_UNIVERSE = UniverseState()


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel ``order`` (a resting order as the venue reported it) because of ``reason``."""

    order: OrderReport
    reason: str


class CycleInputs(NamedTuple):
    """Everything one cycle may know. Money in the portfolio's quote currency; times epoch ms.

    ``available_cash`` is the venue's free quote balance (what new buys can use);
    ``open_orders`` our resting orders as the venue reports them, oldest first;
    ``known_client_order_ids`` the ids this account placed (for reconciliation);
    ``trading_day`` the current trading day (Europe/Istanbul unless configured otherwise);
    ``kill_switch`` forces ``OBSERVE_ONLY``; ``unknown_orders`` counts unresolved ``UNKNOWN``
    orders (> 0 forces ``OBSERVE_ONLY``); ``stop_entries`` is the account's operator switch
    (at least ``REDUCE_RISK_ONLY``: only exposure-reducing orders and cancels).

    Governed universe (issue 11; all optional, the defaults plan exactly as before):
    ``universe_governance`` scoring and governance policies (``None`` = ``universe_select``
    with ``universe_limits``); ``universe_state`` the state the previous cycle's plan
    returned; ``symbol_rejects`` recent rejects per symbol
    (:func:`~trading.domain.universe_scoring.symbol_rejects_count`); ``exchange_degraded``
    freezes the governed set.

    ``quiet_symbols`` (backtests; empty by default): symbols whose strategies are known to
    return nothing this cycle (the strategy's signal mask is 0 at the last closed bar, with
    no order resting and no new fill for the symbol), so step 6 does not evaluate them. Every
    other step still sees them (universe, marks, risk).
    """

    now_ms: int
    account: str
    market: Mapping[Symbol, MarketSnapshot]
    rules: Mapping[Symbol, ExchangeRules]
    portfolio: Portfolio
    available_cash: Decimal
    fills: Sequence[Fill]
    open_orders: Sequence[OrderReport]
    risk_state: RiskState
    limits: RiskLimits
    strategies: Sequence[Strategy]
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    trading_day: date
    universe_limits: UniverseLimits = UniverseLimits()
    known_client_order_ids: frozenset[str] | None = None
    kill_switch: bool = False
    unknown_orders: int = 0
    stop_entries: bool = False
    universe_governance: UniverseGovernance | None = None
    universe_state: UniverseState = INITIAL_UNIVERSE
    symbol_rejects: Mapping[Symbol, int] = NO_REJECTS
    exchange_degraded: bool = False
    quiet_symbols: frozenset[Symbol] = frozenset()


class CyclePlan(NamedTuple):
    """The decisions of one cycle and the state after it.

    ``orders`` are to be submitted and ``cancels`` canceled by the execution step; ``equity``
    is marked at this cycle's marks after this cycle's fills. With a governed universe:
    ``universe_state`` the next state to carry (``None`` without governance),
    ``universe_outcome`` governance's outcome (``SEEDED``, ``UPDATED``, ``UNCHANGED``,
    ``KEPT_*``; ``""`` without), ``universe_events`` its events, ``exit_only`` the traded
    symbols whose buys were denied.
    """

    now_ms: int
    mode: Mode
    mode_reasons: tuple[str, ...]
    universe: tuple[Symbol, ...]
    excluded: Mapping[Symbol, str]
    intents: tuple[Intent, ...]
    orders: tuple[OrderRequest, ...]
    cancels: tuple[Cancel, ...]
    denials: tuple[Denial, ...]
    portfolio: Portfolio
    risk_state: RiskState
    equity: Decimal
    universe_state: UniverseState | None = None
    universe_outcome: str = ""
    universe_events: tuple[UniverseEvent, ...] = ()
    exit_only: frozenset[Symbol] = frozenset()


def plan_cycle(inputs: CycleInputs) -> CyclePlan:
    """Run cycle steps 2-9 over ``inputs``; see the module docstring. Never performs I/O."""
    denials: list[Denial] = _reconcile(inputs)
    portfolio = inputs.portfolio
    for fill in inputs.fills:
        portfolio = portfolio_apply_fill(portfolio, fill)
    marks = {symbol: snap.mark_price for symbol, snap in inputs.market.items()}
    equity = portfolio_equity(portfolio, marks)
    held = frozenset(s for s, p in portfolio.positions.items() if p.quantity > 0)
    if inputs.universe_governance is None:
        universe = universe_select(
            inputs.market,
            inputs.rules,
            held,
            max_data_age_ms=inputs.limits.max_data_age_ms,
            limits=inputs.universe_limits,
        )
        governed = None
    else:
        universe = governed = universe_plan(
            inputs.universe_governance,
            inputs.universe_state,
            market=inputs.market,
            rules=inputs.rules,
            held=held,
            rejects=inputs.symbol_rejects,
            now_ms=inputs.now_ms,
            trading_day=inputs.trading_day,
            exchange_degraded=inputs.exchange_degraded,
        )
    exit_only = frozenset() if governed is None else governed.exit_only
    all_stale = data_all_stale(
        (snapshot.age_ms for snapshot in inputs.market.values()), inputs.limits.max_data_age_ms
    )
    risk_state = risk_mode_decide(
        inputs.risk_state,
        ModeInputs(
            now_ms=inputs.now_ms,
            equity=equity,
            day=inputs.trading_day,
            kill_switch=inputs.kill_switch,
            unknown_orders=inputs.unknown_orders,
            all_data_stale=all_stale,
            stop_entries=inputs.stop_entries,
        ),
        inputs.limits,
    )
    mode = risk_state.mode
    cancels = _cancels(inputs, mode)
    open_sides = frozenset((o.symbol, o.side) for o in inputs.open_orders)
    intents = _strategy_intents(inputs, portfolio, universe.symbols, open_sides)
    orders: tuple[OrderRequest, ...] = ()
    if intents:
        orders, risk_state = _orders_for(
            inputs, intents, portfolio, equity, risk_state, open_sides, denials, exit_only
        )
    return CyclePlan(
        now_ms=inputs.now_ms,
        mode=mode,
        mode_reasons=risk_state.mode_reasons,
        universe=universe.symbols,
        excluded=universe.excluded,
        intents=intents,
        orders=orders,
        cancels=cancels,
        denials=tuple(denials),
        portfolio=portfolio,
        risk_state=risk_state,
        equity=equity,
        universe_state=None if governed is None else governed.state,
        universe_outcome="" if governed is None else governed.outcome,
        universe_events=() if governed is None else governed.events,
        exit_only=exit_only,
    )


def _reconcile(inputs: CycleInputs) -> list[Denial]:
    known = inputs.known_client_order_ids
    if known is None:
        return []
    return [
        Denial(
            "UNMATCHED_FILL",
            f"fill {f.trade_id} has unknown order {f.client_order_id}",
            f.symbol,
            f.side,
        )
        for f in inputs.fills
        if f.client_order_id not in known
    ]


def _cancels(inputs: CycleInputs, mode: Mode) -> tuple[Cancel, ...]:
    if not inputs.open_orders:
        return ()
    out = []
    for order in inputs.open_orders:
        if mode is not Mode.NORMAL and order.side is Side.BUY:
            out.append(Cancel(order, f"MODE_{mode.value}"))
        elif inputs.now_ms - order.created_ms >= inputs.limits.order_ttl_ms:
            out.append(Cancel(order, "ORDER_TTL"))
    return tuple(out)


def _strategy_intents(
    inputs: CycleInputs,
    portfolio: Portfolio,
    universe: tuple[Symbol, ...],
    open_sides: frozenset[tuple[Symbol, Side]],
) -> tuple[Intent, ...]:
    intents: list[Intent] = []
    positions = portfolio.positions
    rules = inputs.rules
    quiet = inputs.quiet_symbols
    for symbol in universe:
        if symbol in quiet:
            continue  # provably no intent (see CycleInputs)
        snapshot = inputs.market[symbol]
        position = positions.get(symbol)
        symbol_rules = rules.get(symbol)
        ctx = StrategyContext(
            symbol=symbol,
            bars=snapshot.bars,
            market=snapshot,
            position_quantity=position.quantity if position else ZERO,
            average_cost=position.average_cost if position else ZERO,
            fee_maker_bps=inputs.fee_maker_bps,
            fee_taker_bps=inputs.fee_taker_bps,
            open_buy=(symbol, Side.BUY) in open_sides,
            open_sell=(symbol, Side.SELL) in open_sides,
            min_notional=ZERO if symbol_rules is None else symbol_rules.min_notional,
        )
        for strategy in inputs.strategies:
            intent = strategy.evaluate(ctx)
            if intent is not None:
                intents.append(intent)
    return tuple(intents)


def _orders_for(
    inputs: CycleInputs,
    intents: tuple[Intent, ...],
    portfolio: Portfolio,
    equity: Decimal,
    risk_state: RiskState,
    open_sides: frozenset[tuple[Symbol, Side]],
    denials: list[Denial],
    exit_only: frozenset[Symbol] = frozenset(),
) -> tuple[tuple[OrderRequest, ...], RiskState]:
    orders: list[OrderRequest] = []
    last_order_ms = dict(risk_state.last_order_ms)
    cash = inputs.available_cash
    spent = ZERO
    fee_factor = 1 + inputs.fee_taker_bps / BPS
    # Exits first: they free cash and reduce risk before any new exposure is sized.
    for intent in sorted(intents, key=lambda i: (i.side is Side.BUY, i.symbol)):
        if intent.side is Side.BUY and intent.symbol in exit_only:
            denials.append(exit_only_denial(intent.symbol, intent.side, intent.strategy))
            continue
        position = portfolio.positions.get(intent.symbol)
        held = position.quantity if position else ZERO
        mark = inputs.market[intent.symbol].mark_price
        rules = inputs.rules[intent.symbol]
        check = OrderCheck(
            intent.symbol, intent.side, ZERO, intent.side is Side.SELL and held > 0, intent.strategy
        )
        ctx = CycleRiskContext(
            inputs.now_ms, risk_state.mode, inputs.limits, last_order_ms, open_sides, len(orders)
        )
        denial = order_risk_check(check, ctx)
        if denial is None:
            if intent.side is Side.BUY:
                budget = BuyBudget(equity, cash, spent, inputs.fee_taker_bps, inputs.limits)
                size = buy_notional(intent, budget, held * mark, rules, mark_price=mark)
            else:
                size = sell_quantity(intent, held)
            if isinstance(size, Denial):
                denial = size
        if denial is None:
            spec = OrderSpec(inputs.account, inputs.now_ms, len(orders), mark, rules)
            built = build_order(intent, size, held, spec)
            if isinstance(built, Denial):
                denial = built
        if denial is not None:
            denials.append(denial)
            continue
        orders.append(built)
        last_order_ms[(intent.symbol, intent.side)] = inputs.now_ms
        if intent.side is Side.BUY:
            spent += built.notional
            cash -= built.notional * fee_factor
    if orders:
        risk_state = replace(risk_state, last_order_ms=last_order_ms)
    return tuple(orders), risk_state
