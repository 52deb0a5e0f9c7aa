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
from trading.domain.market import MarketSnapshot
from trading.domain.planner import CycleInputs
from trading.domain.reports import AssetBalance, OrderReport, TradeReport
from trading.domain.risk import RiskLimits, RiskState
from trading.domain.rules import ExchangeRules
from trading.domain.strategies.base import Strategy
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits

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
    """An account's (or a backtest run's) constants: fees in basis points."""

    account: str
    strategies: Sequence[Strategy]
    limits: RiskLimits
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    universe_limits: UniverseLimits = UniverseLimits()


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
