"""A paper account's simulated venue: restored from rows before a cycle, saved in its record.

:func:`paper_venue_load` rebuilds the account's :class:`~trading.domain.venue.SimulatedVenue`
from ``PaperVenue``/``PaperBalance``/``PaperOrder``/``PaperTrade`` rows (a fresh venue with the
account's ``initial_balances`` the first time) and returns the bar cursor: per symbol, the open
time of the last bar the venue has matched. :func:`paper_venue_save` writes what changed in
the venue back, inside the caller's transaction (the cycle's record), so a worker that
restarts continues exactly where the last committed cycle left the venue.

Cost per cycle does not grow with the venue's history: each process keeps, per account, the
orders and fills **as read back from the rows** after its last committed save, tagged with the
``PaperVenue.revision`` that save wrote. A load whose header carries the same revision reads
only the header and the balances (balances are always read: a direct edit of them is seen);
any other revision (another process saved, a restart, a rolled-back save) reads every row
again. A save writes the header (a new revision), balances that changed, new and changed
orders and new fills, and reads back only the rows it wrote, so the kept state is exactly
what a full read would return (kept at once: a rollback leaves the old revision in the rows) (on SQLite, decimals come back as floats: the kept state is the
rounded one, as a restart would see it). Orders and fills are written only by this module.

Fill rules are the simulated venue's (README "Fill rules"); the paper cycle feeds the venue
the candles that closed since its cursor, the same bars a backtest over an export of the
session would replay, so a resting order fills exactly when it would there.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from weakref import WeakKeyDictionary

from django.conf import settings
from django.utils import timezone

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


@dataclass(frozen=True, slots=True)
class _History:
    """A venue's orders (by order id, in submission order) and fills as the rows hold them
    at ``revision``, and the client order ids its accepted orders reserve."""

    revision: str
    orders: dict[str, OrderState]
    fills: tuple[TradeReport, ...]
    used: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Baseline:
    """What a loaded venue's rows held: the save writes only what differs from it."""

    history: _History
    balances: dict[str, AssetBalance]


# Per process: account name -> history after its last committed save (module docstring).
_histories: dict[str, _History] = {}
# Loaded venue -> its rows as loaded (or as last saved by this process).
_baselines: WeakKeyDictionary[SimulatedVenue, _Baseline] = WeakKeyDictionary()


def paper_cache_forget(*, account: str | None = None) -> None:
    """Forget the orders and fills kept for ``account`` (every account by default), as a
    worker restart does (tests)."""
    if account is None:
        _histories.clear()
    else:
        _histories.pop(account, None)


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
    balances = {
        row.asset: AssetBalance(row.asset, decimal_trim(row.free), decimal_trim(row.locked))
        for row in PaperBalance.objects.filter(account=account.name)
    }
    history = _histories.get(account.name)
    if history is None or not header.revision or history.revision != header.revision:
        history = _history_read(account.name, header.revision)
    state = VenueState(
        balances=balances,
        orders=tuple(history.orders.values()),
        fills=history.fills,
        next_order_id=header.next_order_id,
        used_client_order_ids=history.used,
        last_prices={parse_symbol(s): Decimal(p) for s, p in header.last_prices.items()},
    )
    cursor = {parse_symbol(s): int(ts) for s, ts in header.bar_cursor.items()}
    venue = SimulatedVenue.from_state(state, **options)
    _baselines[venue] = _Baseline(history, balances)
    return venue, cursor


def _history_read(account: str, revision: str) -> _History:
    """Every order and fill row of ``account`` (the full read of a cache miss)."""
    orders = {row.order_id: _order_state(row) for row in PaperOrder.objects.filter(account=account)}
    fills = tuple(_trade(row) for row in PaperTrade.objects.filter(account=account))
    return _History(revision, orders, fills, _used(orders.values()))


def _used(orders) -> frozenset[str]:
    # a rejected submit does not reserve its client order id (SimulatedVenue)
    return frozenset(
        o.request.client_order_id for o in orders if o.status is not OrderStatus.REJECTED
    )


def paper_venue_save(
    *, account: Account, venue: SimulatedVenue, cursor: Mapping[Symbol, int]
) -> None:
    """Write ``venue``'s state and ``cursor`` (call inside the cycle's record transaction).

    Writes the header with a new revision, balances that changed, new and changed orders and
    new fills (fills never change) against what the venue was loaded from (every stored row
    when the venue was not loaded by :func:`paper_venue_load`); the account's kept history
    becomes the rows as written, under the new revision (module docstring)."""
    state = venue.state()
    name = account.name
    base = _baselines.get(venue)
    revision = uuid.uuid4().hex
    header = {
        "next_order_id": state.next_order_id,
        "bar_cursor": {s.pair_normalized: ts for s, ts in sorted(cursor.items())},
        "last_prices": {s.pair_normalized: str(p) for s, p in sorted(state.last_prices.items())},
        "revision": revision,
    }
    if not PaperVenue.objects.filter(account=name).update(updated_at=timezone.now(), **header):
        PaperVenue.objects.create(account=name, **header)
    for asset, balance in state.balances.items():
        if base is None or base.balances.get(asset) != balance:
            PaperBalance.objects.update_or_create(
                account=name, asset=asset, defaults={"free": balance.free, "locked": balance.locked}
            )
    if base is None:
        stored = {
            row.order_id: _order_state(row) for row in PaperOrder.objects.filter(account=name)
        }
        known = PaperTrade.objects.filter(account=name).count()
    else:
        stored, known = base.history.orders, len(base.history.fills)
    created, written = [], []
    for order in state.orders:
        old = stored.get(order.order_id)
        if old is None:
            created.append(
                PaperOrder(account=name, order_id=order.order_id, **_order_values(order))
            )
            written.append(order.order_id)
        elif old != order:
            PaperOrder.objects.filter(account=name, order_id=order.order_id).update(
                **_order_values(order)
            )
            written.append(order.order_id)
    PaperOrder.objects.bulk_create(created)
    PaperTrade.objects.bulk_create(
        _trade_row(name, seq, trade)
        for seq, trade in enumerate(state.fills[known:], start=known + 1)
    )
    if base is None:
        history = _history_read(name, revision)
    else:
        history = _history_merge(name, revision, base.history, written, len(state.fills))
    _baselines[venue] = _Baseline(history, dict(state.balances))
    # Kept at once: if the transaction rolls back, the rows keep the old revision and the
    # next load reads them all again.
    _histories[name] = history


def _history_merge(
    account: str, revision: str, base: _History, written: list[str], fill_count: int
) -> _History:
    """``base`` with the orders in ``written`` and the fills after it (up to ``fill_count``)
    read back from the rows just written, so it holds what a full read would return."""
    orders = dict(base.orders)
    used = set(base.used)
    if written:
        for row in PaperOrder.objects.filter(account=account, order_id__in=written):
            order = _order_state(row)
            orders[order.order_id] = order
            if order.status is not OrderStatus.REJECTED:
                used.add(order.request.client_order_id)
    fills = base.fills
    if fill_count > len(fills):
        fills += tuple(
            _trade(row) for row in PaperTrade.objects.filter(account=account, seq__gt=len(fills))
        )
    return _History(revision, orders, fills, frozenset(used))


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
