"""Cycle step 1, snapshot: everything the planner may know, read through the ports.

Order matters and mirrors the backtest engine: for a paper account the venue first matches
its resting orders against the bars that closed since its cursor (so an order only fills
against bars that closed after it was placed), then the venue's balances, open orders and
fills are read; the market snapshot holds the closed bars, the last close as mark and the
data age; the portfolio is the ledger's **before** this cycle's new fills, which the planner
applies itself (as in a backtest).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings

from ledger.domain.drawdown import trading_day
from ledger.models import LedgerFill
from ledger.selectors import ledger_balances, portfolio_load
from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build
from trading.domain.market import Bar, MarketSnapshot
from trading.domain.planner import CycleInputs
from trading.domain.reports import AssetBalance, OrderReport, TradeReport
from trading.domain.strategies.registry import build_strategy
from trading.domain.symbols import Symbol
from trading.models import Account, Alert
from trading.services.account_state import balances_from_json, risk_state_from_json
from trading.services.adaptive import AdaptiveContext, adaptive_load
from trading.services.cycle_ports import AccountPorts
from trading.services.market import (
    EXTRA_HISTORY_BARS,
    Quote,
    bars_load,
    bars_since,
    candles_refresh,
    quotes_fetch,
    snapshot_build,
)
from trading.services.market_feed import quotes_fresh
from trading.services.reconcile import escalated_unknown_orders, order_ids
from trading.services.risk import risk_limits_from_settings


@dataclass(frozen=True, slots=True)
class CycleSnapshot:
    """The planner's inputs and what the record needs besides: ``quotes`` per symbol,
    ``balances``/``open_orders``/``new_trades`` as the venue reported them, ``drift`` whether a
    balance-drift alert is open (the account then only reduces exposure), ``adaptive`` the
    universe governance and adaptation read for the cycle (:mod:`.adaptive`)."""

    inputs: CycleInputs
    quotes: dict[Symbol, Quote]
    balances: dict[str, AssetBalance]
    open_orders: tuple[OrderReport, ...]
    new_trades: tuple[TradeReport, ...]
    drift: bool
    adaptive: AdaptiveContext | None = None


def cycle_setup(account: Account) -> CycleSetup:
    """The account's constants: strategy (validated by the registry), risk limits, fees."""
    strategy = build_strategy(account.strategy, account.params)
    return CycleSetup(
        account=account.name,
        strategies=(strategy,),
        limits=risk_limits_from_settings(account.risk),
        fee_maker_bps=account.fee_maker_bps,
        fee_taker_bps=account.fee_taker_bps,
    )


def cycle_snapshot(*, account: Account, ports: AccountPorts, now_ms: int) -> CycleSnapshot:
    """Read everything for the cycle at ``now_ms`` (module docstring). Exchange errors
    propagate: the cycle is then recorded as failed."""
    setup = cycle_setup(account)
    adaptive = adaptive_load(account=account, limits=setup.limits, now_ms=now_ms)
    setup = setup._replace(universe_governance=adaptive.governance, params=adaptive.params)
    symbols = account.symbol_list
    history = max(s.warmup_bars() for s in setup.strategies) + EXTRA_HISTORY_BARS
    for symbol in symbols:
        candles_refresh(
            client=ports.market,
            symbol=symbol,
            interval_s=account.bar_interval_s,
            now_ms=now_ms,
            history_bars=history,
        )
    if ports.paper is not None:
        _paper_match(account, ports, symbols, now_ms)
    fresh = quotes_fresh(symbols=symbols, now_ms=now_ms)
    quotes = quotes_fetch(client=ports.market, symbols=symbols, fresh=fresh)
    market = _market(account, symbols, quotes, now_ms, history)
    balances = ports.orders.balances()
    open_orders = ports.orders.open_orders()
    new_trades = _new_trades(account, ports.orders.user_trades(since_ms=account.trade_cursor_ms))
    quote = account.quote_asset
    opening = balances_from_json(account.initial_balances, field="initial_balances")
    cash = ledger_balances(account=account.name, opening=opening).get(quote, opening.get(quote))
    portfolio = portfolio_load(account=account.name, quote_asset=quote, cash=cash or 0)
    drift = Alert.objects.filter(
        account=account.name, kind="BALANCE_DRIFT", acknowledged_at__isnull=True
    ).exists()
    inputs = cycle_inputs_build(
        now_ms=now_ms,
        setup=setup,
        venue=VenueSnapshot(balances=balances, open_orders=open_orders, new_trades=new_trades),
        market=market,
        rules=ports.rules,
        portfolio=portfolio,
        risk_state=risk_state_from_json(account.risk_state),
        trading_day=trading_day(now_ms, ZoneInfo(settings.TRADING_DAY_TIME_ZONE)),
        unknown_orders=escalated_unknown_orders(account),
        stop_entries=account.stop_entries or drift,
        universe_state=adaptive.universe_state,
        symbol_rejects=adaptive.rejects,
        exchange_degraded=adaptive.degraded,
    )
    return CycleSnapshot(inputs, quotes, balances, tuple(open_orders), new_trades, drift, adaptive)


def _paper_match(account: Account, ports: AccountPorts, symbols: list[Symbol], now_ms: int) -> None:
    """Feed the paper venue the bars closed since its cursor, oldest first, per symbol.

    A new venue (no cursor) starts after the last bar closed before its first cycle: it has
    no order yet, so there is nothing to match."""
    session = ports.paper
    interval_ms = account.bar_interval_s * 1000
    session.set_clock(now_ms)
    for symbol in symbols:
        after = session.cursor.get(symbol)
        if after is None:
            session.cursor[symbol] = now_ms // interval_ms * interval_ms - interval_ms
            continue
        for candle in bars_since(
            symbol=symbol, interval_s=account.bar_interval_s, after_ms=after, now_ms=now_ms
        ):
            bar = Bar(
                candle.ts_ms, candle.open, candle.high, candle.low, candle.close, candle.volume
            )
            session.exchange.observe_bar(symbol, bar)
            session.cursor[symbol] = candle.ts_ms


def _market(
    account: Account, symbols: list[Symbol], quotes: dict[Symbol, Quote], now_ms: int, history: int
) -> dict[Symbol, MarketSnapshot]:
    market = {}
    for symbol in symbols:
        bars = bars_load(
            symbol=symbol, interval_s=account.bar_interval_s, now_ms=now_ms, count=history
        )
        snapshot = snapshot_build(
            symbol=symbol,
            bars=bars,
            interval_s=account.bar_interval_s,
            now_ms=now_ms,
            quote=quotes.get(symbol),
        )
        if snapshot is not None:
            market[symbol] = snapshot
    return market


def _new_trades(account: Account, trades) -> tuple[TradeReport, ...]:
    """Trades not yet in the ledger and from orders of this account, oldest first.

    Trades of orders we did not create are left to :func:`~trading.services.reconcile.fills_ingest`,
    which alerts on them; they never reach the planner's portfolio."""
    if not trades:
        return ()
    known = set(
        LedgerFill.objects.filter(
            account=account.name, trade_id__in=[t.trade_id for t in trades]
        ).values_list("trade_id", flat=True)
    )
    ids = order_ids(account, trades)
    seen: set[str] = set()
    fresh = []
    for trade in trades:
        if trade.trade_id in known or trade.trade_id in seen:
            continue
        if ids.owner(trade.client_order_id, trade.order_id) is None:
            continue
        seen.add(trade.trade_id)
        fresh.append(trade)
    return tuple(fresh)
