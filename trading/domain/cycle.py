"""The shared edges of the one cycle: venue answers in, planner inputs out (DESIGN.md 1).

A backtest, a paper cycle and a live cycle differ only in their ports. Each asks its venue
port for a :class:`VenueSnapshot` (balances, open orders, our new fills), knows its
:class:`CycleSetup` (the account's constants), and builds the planner's
:class:`~trading.domain.planner.CycleInputs` with :func:`cycle_inputs_build`; the plan is then
executed by ``trading.services.execution.plan_execute``. Nothing else turns venue answers
into planner inputs, so the three modes cannot drift apart.

Types representing an order, one per layer: the planner sends
:class:`~trading.domain.orders.OrderRequest` and sees resting orders as
:class:`~trading.domain.reports.OrderReport`; venues and the port answer with
``OrderReport``; the database holds ``trading.models.Order``; the sandbox wire its
``OrderRecord``. A fill is a :class:`~trading.domain.reports.TradeReport` from the venue and
a :class:`~ledger.domain.fills.Fill` in the ledger (:func:`fill_from_trade`).

Pure domain: standard library and domain imports only; fast enough to run on every planned
backtest cycle (no copies beyond the fills' conversion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from ledger.domain.fills import Fill, Liquidity
from ledger.domain.portfolio import Portfolio
from trading.domain.adaptation_bounds import Params
from trading.domain.market import MarketSnapshot
from trading.domain.planner import INITIAL_UNIVERSE, NO_REJECTS, CycleInputs
from trading.domain.reports import AssetBalance, OrderReport, TradeReport
from trading.domain.risk import RiskLimits, RiskState
from trading.domain.rules import ExchangeRules
from trading.domain.strategies.base import Strategy
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits
from trading.domain.universe_governance import UniverseState
from trading.domain.universe_plan import UniverseGovernance, governance_params_apply

ZERO = Decimal(0)
_LIQUIDITY = {"maker": Liquidity.MAKER, "taker": Liquidity.TAKER}


class VenueSnapshot(NamedTuple):
    """What the venue port said this cycle.

    ``balances`` by asset code (free and locked; an asset left out counts as zero, so a
    caller may pass only the quote asset); ``open_orders`` our resting orders, oldest first;
    ``new_trades`` our fills not seen in an earlier cycle, oldest first (the caller dedupes
    on trade id).
    """

    balances: Mapping[str, AssetBalance]
    open_orders: Sequence[OrderReport]
    new_trades: Sequence[TradeReport]


class CycleSetup(NamedTuple):
    """An account's (or a backtest run's) constants: fees in basis points.

    ``universe_governance`` governs the universe (scoring, governance, allow/deny; ``None`` =
    ``universe_limits`` and ``universe_select``, as before); ``params`` the active adaptive
    parameter set (``ParamVersion.params``; ``None`` = the policies and limits as configured),
    applied to ``universe_governance`` and ``limits`` by :func:`cycle_inputs_build`.
    """

    account: str
    strategies: Sequence[Strategy]
    limits: RiskLimits
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    universe_limits: UniverseLimits = UniverseLimits()
    universe_governance: UniverseGovernance | None = None
    params: Params | None = None


def fill_from_trade(trade: TradeReport) -> Fill:
    """The ledger fill of one of our trades.

    The fee charged is ``fee + tax`` (both positive, in ``trade.fee_asset``; BTCTurk's VAT is
    part of the cost); ``liquidity`` ``None`` (BTCTurk REST does not say) counts as taker,
    the dearer side. Raises ``KeyError`` for a liquidity other than maker/taker.
    """
    fee = trade.fee + trade.tax if trade.tax else trade.fee
    liquidity = Liquidity.TAKER if trade.liquidity is None else _LIQUIDITY[trade.liquidity]
    return Fill(
        trade.trade_id,
        trade.client_order_id,
        trade.symbol,
        trade.side,
        trade.price,
        trade.quantity,
        fee,
        trade.fee_asset,
        trade.ts_ms,
        liquidity,
    )


def cycle_inputs_build(
    *,
    now_ms: int,
    setup: CycleSetup,
    venue: VenueSnapshot,
    market: Mapping[Symbol, MarketSnapshot],
    rules: Mapping[Symbol, ExchangeRules],
    portfolio: Portfolio,
    risk_state: RiskState,
    trading_day: date,
    known_client_order_ids: frozenset[str] | None = None,
    kill_switch: bool = False,
    unknown_orders: int = 0,
    stop_entries: bool = False,
    universe_state: UniverseState = INITIAL_UNIVERSE,
    symbol_rejects: Mapping[Symbol, int] = NO_REJECTS,
    exchange_degraded: bool = False,
) -> CycleInputs:
    """The planner's inputs for the cycle at ``now_ms`` (epoch ms UTC), the same in every mode.

    ``portfolio`` is the ledger before this cycle's fills (its ``quote_asset`` is the cash
    currency); the available cash is the venue's free balance of that asset (0 when the
    venue reports none); ``fills`` are :func:`fill_from_trade` of ``venue.new_trades`` in
    their order; ``open_orders`` are passed through. ``market`` and ``rules`` are per symbol;
    ``trading_day`` is the day of ``now_ms`` in the trading time zone; the flags and counters
    are as on :class:`~trading.domain.planner.CycleInputs`, and so are ``universe_state``
    (the previous plan's ``universe_state``), ``symbol_rejects`` and ``exchange_degraded``
    (used only with ``setup.universe_governance``). ``setup.params``, when set, replaces the
    adaptable fields of the governance and the limits
    (:func:`~trading.domain.universe_plan.governance_params_apply`). Never raises for valid
    reports.
    """
    cash = venue.balances.get(portfolio.quote_asset)
    trades = venue.new_trades
    governance, limits = setup.universe_governance, setup.limits
    if setup.params is not None:
        governance, limits = governance_params_apply(setup.params, governance, limits)
    return CycleInputs(
        now_ms=now_ms,
        account=setup.account,
        market=market,
        rules=rules,
        portfolio=portfolio,
        available_cash=ZERO if cash is None else cash.free,
        fills=[fill_from_trade(t) for t in trades] if trades else (),
        open_orders=venue.open_orders,
        risk_state=risk_state,
        limits=limits,
        strategies=setup.strategies,
        fee_maker_bps=setup.fee_maker_bps,
        fee_taker_bps=setup.fee_taker_bps,
        trading_day=trading_day,
        universe_limits=setup.universe_limits,
        known_client_order_ids=known_client_order_ids,
        kill_switch=kill_switch,
        unknown_orders=unknown_orders,
        stop_entries=stop_entries,
        universe_governance=governance,
        universe_state=universe_state,
        symbol_rejects=symbol_rejects,
        exchange_degraded=exchange_degraded,
    )
