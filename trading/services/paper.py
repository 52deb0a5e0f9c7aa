"""A paper account's simulated venue: restored from rows before a cycle, saved in its record.

:func:`paper_venue_load` rebuilds the account's :class:`~trading.domain.venue.SimulatedVenue`
from ``PaperVenue``/``PaperBalance``/``PaperOrder``/``PaperTrade`` rows (a fresh venue with the
account's ``initial_balances`` the first time) and returns the bar cursor: per symbol, the open
time of the last bar the venue has matched. :func:`paper_venue_save` writes the venue's whole
state back, inside the caller's transaction (the cycle's record), so a worker that restarts
continues exactly where the last committed cycle left the venue.

Fill rules are the simulated venue's (README "Fill rules"); the paper cycle feeds the venue
the candles that closed since its cursor, the same bars a backtest over an export of the
session would replay, so a resting order fills exactly when it would there.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings

from trading.domain.decimals import decimal_trim
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import AssetBalance, TradeReport
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol, parse_symbol
from trading.domain.venue import FillModel, SimulatedVenue
from trading.domain.venue_state import OrderState, VenueState
from trading.models import Account, PaperBalance, PaperOrder, PaperTrade, PaperVenue
from trading.services.account_state import balances_from_json

ZERO = Decimal(0)


def _d(value: Decimal | None) -> Decimal | None:
    return None if value is None else decimal_trim(value)


def paper_venue_load(
    *, account: Account, rules: Mapping[Symbol, ExchangeRules]
) -> tuple[SimulatedVenue, dict[Symbol, int]]:
    """The account's venue and bar cursor (module docstring). ``rules`` are the exchange rules
    of the account's symbols; fees and fill model come from the account."""
    options = {
        "rules": rules,
        "fee_maker_bps": decimal_trim(account.fee_maker_bps),
        "fee_taker_bps": decimal_trim(account.fee_taker_bps),
        "fill_model": FillModel(account.fill_model),
        "max_volume_share": settings.BACKTEST_MAX_VOLUME_SHARE,
        "account": account.name,
    }
    header = PaperVenue.objects.filter(account=account.name).first()
    if header is None:
        opening = balances_from_json(account.initial_balances, field="initial_balances")
        return SimulatedVenue(balances=opening, **options), {}
    orders = tuple(_order_state(row) for row in PaperOrder.objects.filter(account=account.name))
    state = VenueState(
        balances={
            row.asset: AssetBalance(row.asset, decimal_trim(row.free), decimal_trim(row.locked))
            for row in PaperBalance.objects.filter(account=account.name)
        },
        orders=orders,
        fills=tuple(_trade(row) for row in PaperTrade.objects.filter(account=account.name)),
        next_order_id=header.next_order_id,
        # a rejected submit does not reserve its client order id (SimulatedVenue)
        used_client_order_ids=frozenset(
            o.request.client_order_id for o in orders if o.status is not OrderStatus.REJECTED
        ),
        last_prices={parse_symbol(s): Decimal(p) for s, p in header.last_prices.items()},
    )
    cursor = {parse_symbol(s): int(ts) for s, ts in header.bar_cursor.items()}
    return SimulatedVenue.from_state(state, **options), cursor


def paper_venue_save(
    *, account: Account, venue: SimulatedVenue, cursor: Mapping[Symbol, int]
) -> None:
    """Write ``venue``'s state and ``cursor`` (call inside the cycle's record transaction).

    Balances and changed orders are upserted, new fills appended (fills never change)."""
    state = venue.state()
    PaperVenue.objects.update_or_create(
        account=account.name,
        defaults={
            "next_order_id": state.next_order_id,
            "bar_cursor": {s.pair_normalized: ts for s, ts in sorted(cursor.items())},
            "last_prices": {
                s.pair_normalized: str(p) for s, p in sorted(state.last_prices.items())
            },
        },
    )
    for asset, balance in state.balances.items():
        PaperBalance.objects.update_or_create(
            account=account.name,
            asset=asset,
            defaults={"free": balance.free, "locked": balance.locked},
        )
    stored = {row.order_id: row for row in PaperOrder.objects.filter(account=account.name)}
    for order in state.orders:
        values = _order_values(order)
        row = stored.get(order.order_id)
        if row is None:
            PaperOrder.objects.create(account=account.name, order_id=order.order_id, **values)
        elif _order_state(row) != order:
            PaperOrder.objects.filter(pk=row.pk).update(**values)
    known = PaperTrade.objects.filter(account=account.name).count()
    PaperTrade.objects.bulk_create(
        _trade_row(account.name, seq, trade)
        for seq, trade in enumerate(state.fills[known:], start=known + 1)
    )


def _order_values(order: OrderState) -> dict[str, object]:
    r = order.request
    return {
        "client_order_id": r.client_order_id,
        "symbol": r.symbol.pair_normalized,
        "side": r.side.value,
        "order_type": r.order_type.value,
        "price": r.price,
        "quantity": r.quantity,
        "quote_amount": r.quote_amount,
        "strategy": r.strategy,
        "reason": r.reason[:200],
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "status": order.status.value,
        "filled": order.filled,
        "quote_left": order.quote_left,
        "lock": order.lock,
        "reject_code": order.reject_code or "",
    }


def _order_state(row: PaperOrder) -> OrderState:
    request = OrderRequest(
        client_order_id=row.client_order_id,
        symbol=parse_symbol(row.symbol),
        side=Side(row.side),
        order_type=OrderType(row.order_type),
        quantity=decimal_trim(row.quantity),
        price=_d(row.price),
        quote_amount=_d(row.quote_amount),
        strategy=row.strategy,
        reason=row.reason,
    )
    return OrderState(
        order_id=row.order_id,
        request=request,
        status=OrderStatus(row.status),
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        lock=decimal_trim(row.lock),
        filled=decimal_trim(row.filled),
        quote_left=decimal_trim(row.quote_left),
        reject_code=row.reject_code or None,
    )


def _trade(row: PaperTrade) -> TradeReport:
    return TradeReport(
        trade_id=row.trade_id,
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        symbol=parse_symbol(row.symbol),
        side=Side(row.side),
        price=decimal_trim(row.price),
        quantity=decimal_trim(row.quantity),
        fee=decimal_trim(row.fee),
        tax=decimal_trim(row.tax),
        fee_asset=row.fee_asset,
        ts_ms=row.ts_ms,
        liquidity=row.liquidity or None,
    )


def _trade_row(account: str, seq: int, trade: TradeReport) -> PaperTrade:
    return PaperTrade(
        account=account,
        seq=seq,
        trade_id=trade.trade_id,
        order_id=trade.order_id,
        client_order_id=trade.client_order_id,
        symbol=trade.symbol.pair_normalized,
        side=trade.side.value,
        price=trade.price,
        quantity=trade.quantity,
        fee=trade.fee,
        tax=trade.tax,
        fee_asset=trade.fee_asset,
        ts_ms=trade.ts_ms,
        liquidity=trade.liquidity or "",
    )
