"""Parsers for BTCTurk's private account endpoints: balances, orders, order acks and our own
trades (reference/btcturk_api.md section 4).

Same rules as :mod:`.parse_market`: decoded JSON in, :mod:`trading.domain.reports` types out,
envelope errors classified, malformed fields -> :class:`~trading.exchange.errors.PayloadError`
naming field and endpoint, unknown fields ignored.

Decisions (documented here because the reference leaves them open):

- **Stop orders** (``method`` ``stoplimit``/``stopmarket``, reference 4.6) raise
  :class:`PayloadError` on field ``...method``. Meva never places them and our
  :class:`~trading.domain.orders.OrderType` cannot represent a trigger price; mapping them to
  limit/market would show a dormant stop as a resting order. One on the account (placed by
  hand) therefore makes order reads fail loudly until it is removed: fail closed.
- **Order size**: ``quantity`` (falling back to ``amount``) is the original size and
  ``leftAmount`` the unfilled rest, in the unit BTCTurk uses (quote currency for a market
  buy, reference 4.7). ``time`` is reported as 0 by ``openOrders``; ``created_ms`` keeps 0.
- **Fills**: BTCTurk reports ``amount`` negative for sells and ``fee``/``tax`` negative
  (charges, reference 4.2); we report their absolute values. The fee asset is the pair's
  quote (denominator) asset: BTCTurk charges commission in the quote currency
  (``commissionFromNumerator: false`` on every recorded pair, reference 2.1 and 7).
"""

from __future__ import annotations

from decimal import Decimal

from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import AssetBalance, CancelAck, OrderReport, SubmitAck, TradeReport
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.parse import SIDES, Node, root, symbol_from, unwrap
from trading.exchange.errors import NonRetryableError

ZERO = Decimal(0)

METHODS: dict[str, OrderType] = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
STOP_METHODS = frozenset({"stoplimit", "stopmarket", "stop_limit", "stop_market"})
# Reference 4.6; matched case-insensitively. "cancelled" is accepted as a spelling variant.
STATUSES: dict[str, OrderStatus] = {
    "untouched": OrderStatus.OPEN,
    "partial": OrderStatus.PARTIALLY_FILLED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
}
CLIENT_ID_KEYS = ("orderClientId", "newOrderClientId", "clientId")


def parse_balances(
    payload: object, *, endpoint: str = urls.BALANCES.label
) -> dict[str, AssetBalance]:
    """``GET /api/v1/users/balances`` (reference 4.1) -> ``{"BTC": AssetBalance, ...}``.

    ``free`` is tradable, ``locked`` in orders or withdrawals (decimal strings, asset units).
    Keys are upper-case asset codes; an asset listed twice raises :class:`PayloadError`.
    """
    balances: dict[str, AssetBalance] = {}
    for item in root(payload, endpoint).items():
        asset = item.req("asset").asset()
        if asset in balances:
            raise item.req("asset").fail(f"asset {asset} listed twice")
        balances[asset] = AssetBalance(
            asset=asset, free=item.req("free").decimal(), locked=item.req("locked").decimal()
        )
    return balances


def parse_open_orders(
    payload: object, *, endpoint: str = urls.OPEN_ORDERS.label
) -> tuple[OrderReport, ...]:
    """``GET /api/v1/openOrders`` (reference 4.4) -> asks then bids, in wire order.

    ``data = {"asks": [Order], "bids": [Order]}``; each list is required (may be empty).
    """
    data = root(payload, endpoint)
    return tuple(_order(item) for side in ("asks", "bids") for item in data.req(side).items())


def parse_orders(
    payload: object, *, endpoint: str = urls.ALL_ORDERS.label
) -> tuple[OrderReport, ...]:
    """``GET /api/v1/allOrders`` (reference 4.5) -> orders in wire order, any status."""
    return tuple(_order(item) for item in root(payload, endpoint).items())


def parse_order(payload: object, *, endpoint: str = urls.ORDER_GET.label) -> OrderReport:
    """``GET /api/v1/order/{id}`` (reference 4.6) -> one order.

    ``{"success": false, "code": 1152}`` raises :class:`~trading.exchange.errors.OrderNotFound`.
    """
    return _order(root(payload, endpoint))


def _order(node: Node) -> OrderReport:
    method = node.req("method")
    if method.text().lower() in STOP_METHODS:
        raise method.fail(
            f"stop order method {method.text()!r} is not supported (Meva places only limit "
            "and market orders; this one was placed outside Meva)"
        )
    order_type = method.choice(METHODS)
    return OrderReport(
        order_id=node.req("id").ident(),
        client_order_id=_client_order_id(node),
        symbol=symbol_from(node, ("numeratorSymbol", "denominatorSymbol"), _PAIR_KEYS),
        side=node.req("type").choice(SIDES),
        order_type=order_type,
        status=node.req("status").choice(STATUSES),
        price=None if order_type is OrderType.MARKET else node.req("price").decimal(positive=True),
        quantity=node.first("quantity", "amount").decimal(minimum=ZERO),
        remaining=node.req("leftAmount").decimal(minimum=ZERO),
        created_ms=node.req("time").ms(),
        updated_ms=node.req("updateTime").ms(),
    )


_PAIR_KEYS = ("pairSymbolNormalized", "pairSymbol")


def _client_order_id(node: Node) -> str:
    for key in CLIENT_ID_KEYS:
        child = node.opt(key)
        if child is None:
            continue
        if isinstance(child.value, int) and not isinstance(child.value, bool):
            return child.ident()
        if not isinstance(child.value, str) or len(child.value) > 100:
            raise child.fail("client order id is not a string of at most 100 characters")
        return child.value.strip()
    return ""


def parse_submit_ack(
    payload: object, request: OrderRequest, *, endpoint: str = urls.ORDER_SUBMIT.label
) -> SubmitAck:
    """``POST /api/v1/order`` response (reference 4.7) -> :class:`SubmitAck` for ``request``.

    ``data.id`` (exchange order id, int or string) and ``data.datetime`` (ms) are required.
    Echoed fields, when present, must match what was sent: client order id, pair, side
    (``type``) and method; a mismatch raises :class:`PayloadError` (the client turns any
    error here into ``OutcomeUncertain``: the order may exist). ``quantity``/``price`` are
    the values sent: for a market buy ``quantity`` is the quote amount (wire convention, as
    in :class:`~trading.domain.reports.OrderReport`), and ``price`` is ``None`` for market
    orders.
    """
    data = root(payload, endpoint)
    order_id = data.req("id").ident()
    ts_ms = data.req("datetime").ms()
    echoed_client_id = _client_order_id(data)
    if echoed_client_id and echoed_client_id != request.client_order_id:
        raise data.first(*CLIENT_ID_KEYS).fail("differs from the client order id sent")
    pair = next((node for key in _PAIR_KEYS if (node := data.opt(key)) is not None), None)
    if pair is not None and pair.pair() != request.symbol:
        raise pair.fail(f"differs from the pair sent ({request.symbol})")
    side = data.opt("type")
    if side is not None and side.choice(SIDES) != request.side:
        raise side.fail(f"differs from the side sent ({request.side})")
    method = data.opt("method")
    if method is not None and method.choice(METHODS) != request.order_type:
        raise method.fail(f"differs from the order method sent ({request.order_type})")
    return SubmitAck(
        order_id=order_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        order_type=request.order_type,
        price=request.price if request.order_type is OrderType.LIMIT else None,
        quantity=wire_quantity(request),
        ts_ms=ts_ms,
    )


def wire_quantity(request: OrderRequest) -> Decimal:
    """The ``quantity`` BTCTurk expects for ``request`` (reference 4.7).

    A market **buy** spends ``quote_amount`` (quote currency); every other order sizes in
    base units (``quantity``). Raises :class:`NonRetryableError` when a market buy carries no
    quote amount (the client checks this before sending).
    """
    if request.order_type is OrderType.MARKET and request.side is Side.BUY:
        if request.quote_amount is None:
            raise NonRetryableError(
                "a market buy needs quote_amount: BTCTurk sizes it in the quote currency"
            )
        return request.quote_amount
    return request.quantity


def parse_cancel(
    payload: object, order_id: str, *, endpoint: str = urls.ORDER_CANCEL.label
) -> CancelAck:
    """``DELETE /api/v1/order?id=`` response (reference 4.8) -> :class:`CancelAck`.

    Only the envelope is checked (``data`` is usually absent). A 200 means "accepted after
    validation", not "canceled": the final status comes from websocket 452 or a REST read.
    """
    unwrap(payload, endpoint=endpoint)
    return CancelAck(order_id=order_id)


def parse_user_trades(
    payload: object, *, endpoint: str = urls.USER_TRADES.label
) -> tuple[TradeReport, ...]:
    """``GET /api/v1/users/transactions/trade`` (reference 4.2) -> our fills, wire order.

    ``id`` (can exceed 2**53) and ``orderId`` become strings; ``amount`` (negative for
    sells) becomes a positive ``quantity``; ``fee``/``tax`` (negative) become positive, in
    the quote asset. Values may be strings or numbers; ``code`` may be ``"0"``.
    """
    return tuple(_user_trade(item) for item in root(payload, endpoint).items())


def _user_trade(node: Node) -> TradeReport:
    symbol = symbol_from(node, ("numeratorSymbol", "denominatorSymbol"), _PAIR_KEYS)
    amount = node.req("amount")
    quantity = abs(amount.decimal())
    if quantity == 0:
        raise amount.fail("a fill of zero quantity")
    return TradeReport(
        trade_id=node.req("id").ident(),
        order_id=node.req("orderId").ident(),
        client_order_id=_client_order_id(node),
        symbol=symbol,
        side=node.req("orderType").choice(SIDES),
        price=node.req("price").decimal(positive=True),
        quantity=quantity,
        fee=abs(node.req("fee").decimal()),
        tax=abs(node.req("tax").decimal()),
        fee_asset=symbol.quote,
        ts_ms=node.req("timestamp").ms(),
    )
