"""Sandbox accounts: one :class:`~trading.domain.venue.SimulatedVenue` per API key.

An account holds the key, the decoded secret, its venue (balances, orders, matching), the map
from BTCTurk order ids (ints, unique over all accounts of one sandbox) to venue orders, its fills
as user trades, and it produces the private websocket frames of its orders
(reference/btcturk_api.md section 6): 451 OrderInsert when an order is accepted, per fill a
441 UserOrderMatch and a 423 UserTrade, then 453 OrderUpdate while the order stays partially
filled, and 452 OrderDelete when it is canceled (by the client, or a market order whose
remainder found no liquidity). A fully filled order gets no frame beyond its 441/423.

Fills. On submit an accepted order first takes the book levels it is given, as a taker
(:meth:`~trading.domain.venue.SimulatedVenue.take_liquidity`: best price first, each level's
amount, a limit order up to its limit price); a limit order's remainder rests and is matched
against later bars (:meth:`~trading.domain.venue.SimulatedVenue.on_bar`, maker when a bar
trades through its price), a market order's remainder is canceled. Both kinds of fill give
the same records and frames.

Fees. The venue charges ``notional * fee_bps * (1 + tax_rate) / 10000`` per fill in the quote
asset (taker or maker bps as the venue decides). It is reported split the BTCTurk way, both
negative: ``fee = charged / (1 + tax_rate)`` rounded half-even to 16 decimals and ``tax =
charged - fee`` (VAT on the fee; default 20 %, the 2024 rate, reference section 4.2 and 7), so
``fee + tax`` is exactly what the balance lost. Defaults: maker 5 bps, taker 9 bps (ccxt's
BTCTurk defaults), i.e. 6 and 10.8 bps charged.

Times are replay times (epoch ms): an order's ``created_ms`` is the replay time of the submit,
a fill's ``ts_ms`` the replay time of the submit (taken on submit) or the close of the bar it
matched in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from trading.domain.market import Bar
from trading.domain.orders import TERMINAL_STATUSES, OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import TradeReport
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.taker import Level
from trading.domain.venue import SimulatedVenue, VenueReject
from trading.exchange.btcturk.auth import decode_secret
from trading.exchange.sandbox import frames
from trading.exchange.sandbox.records import (
    AccountSpec,
    FeeSchedule,
    Frame,
    OrderRecord,
    SubmitOutcome,
    UserTrade,
)

ZERO = Decimal(0)
BPS = Decimal(10000)
FEE_QUANTUM = Decimal("1E-16")


class Account:
    """One API key's venue and records (module docstring). Callers hold the sandbox lock.

    ``max_volume_share`` caps the base quantity one symbol's orders fill per bar at that share
    of the bar's volume (``None`` = no cap; with a cap orders fill partially over bars).
    """

    def __init__(
        self,
        spec: AccountSpec,
        *,
        rules: Mapping[Symbol, ExchangeRules],
        pair_ids: Mapping[Symbol, int],
        fees: FeeSchedule,
        interval_ms: int,
        next_order_id: Callable[[], int],
        next_trade_id: Callable[[], int],
        last_prices: Mapping[Symbol, Decimal],
        max_volume_share: Decimal | None = None,
    ) -> None:
        self.api_key = spec.api_key
        self.secret_key = decode_secret(spec.api_secret, variable="sandbox api secret")
        self.user_id = spec.user_id
        self.assets = sorted({a for s in rules for a in (s.base, s.quote)} | set(spec.balances))
        charged = 1 + fees.tax_rate
        self.venue = SimulatedVenue(
            rules=rules,
            balances={a: Decimal(spec.balances.get(a, ZERO)) for a in self.assets},
            fee_maker_bps=fees.maker_bps * charged,
            fee_taker_bps=fees.taker_bps * charged,
            max_volume_share=max_volume_share,
            account=f"u{spec.user_id}",
        )
        for symbol, price in last_prices.items():
            self.venue.observe_price(symbol, price)
        self._lock_rate = max(fees.maker_bps, fees.taker_bps) * charged / BPS
        self._tax_factor = charged
        self._pair_ids = pair_ids
        self._interval_ms = interval_ms
        self._next_order_id = next_order_id
        self._next_trade_id = next_trade_id
        self.orders: dict[int, OrderRecord] = {}
        self._by_client_id: dict[str, OrderRecord] = {}
        self.trades: list[UserTrade] = []

    # --- orders ---------------------------------------------------------------------------

    def submit(
        self,
        *,
        symbol: Symbol,
        side: Side,
        method: OrderType,
        quantity: Decimal,
        price: Decimal | None,
        client_order_id: str,
        now_ms: int,
        levels: Sequence[Level] = (),
    ) -> SubmitOutcome:
        """Send an order to the venue; ``quantity`` is the quote amount for a market buy.

        An accepted order then takes ``levels`` (``(price, base amount)`` of the side it
        takes from, best first; module docstring "Fills"); the outcome's ``trades`` are those
        fills, its frames the 451 and then the fills' frames.
        """
        market_buy = method is OrderType.MARKET and side is Side.BUY
        request = OrderRequest(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            order_type=method,
            quantity=ZERO if market_buy else quantity,
            price=price if method is OrderType.LIMIT else None,
            quote_amount=quantity if market_buy else None,
        )
        ack = self.venue.submit_order(request, now_ms=now_ms)
        if isinstance(ack, VenueReject):
            return SubmitOutcome(None, ack.code, ack.detail)
        record = OrderRecord(
            exchange_id=self._next_order_id(),
            venue_id=ack.order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            method=method,
            price=request.price,
            quantity=quantity,
            created_ms=now_ms,
            updated_ms=now_ms,
            status=OrderStatus.OPEN,
            denom_left=self._denom_left(request),
        )
        self.orders[record.exchange_id] = record
        self._by_client_id[client_order_id] = record
        out = [self._order_frame(451, record)]
        first_trade = len(self.trades)
        fills = self.venue.take_liquidity(ack.order_id, levels, ts_ms=now_ms)
        for fill in fills:
            out.extend(self._record_fill(record, fill, now_ms))
        out.extend(self._sync(record, now_ms, bool(fills)))
        return SubmitOutcome(record, frames=tuple(out), trades=tuple(self.trades[first_trade:]))

    def _denom_left(self, request: OrderRequest) -> Decimal:
        if request.side is Side.SELL:
            return request.quantity * (request.price or ZERO)
        notional = request.quote_amount or request.price * request.quantity
        return notional * (1 + self._lock_rate)

    def cancel(self, exchange_id: int, *, now_ms: int) -> tuple[str | None, tuple[Frame, ...]]:
        """Cancel an order of this account: ``(None, frames)`` or ``(venue reject code, ())``.

        An id this account never issued is ``ORDER_NOT_FOUND`` (another key's order too).
        """
        record = self.orders.get(exchange_id)
        if record is None:
            return "ORDER_NOT_FOUND", ()
        ack = self.venue.cancel_order(record.venue_id, now_ms=now_ms)
        if isinstance(ack, VenueReject):
            return ack.code, ()
        record.status, record.updated_ms = OrderStatus.CANCELED, now_ms
        return None, (self._order_frame(452, record),)

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderRecord]:
        """Open and partially filled orders (of ``symbol``), oldest first."""
        return [
            r
            for r in self.orders.values()
            if r.status not in TERMINAL_STATUSES and (symbol is None or r.symbol == symbol)
        ]

    # --- matching -------------------------------------------------------------------------

    def on_bars(self, bars: Iterable[tuple[Symbol, Bar]]) -> list[Frame]:
        """Match resting orders against closed ``bars`` (oldest first); return private frames."""
        out: list[Frame] = []
        for symbol, bar in bars:
            if not self.venue.has_open_orders(symbol):
                self.venue.observe_price(symbol, bar.close)
                continue
            watched = self.open_orders(symbol)
            filled: set[int] = set()
            close_ms = bar.ts_ms + self._interval_ms
            for fill in self.venue.on_bar(symbol, bar):
                record = self._by_client_id[fill.client_order_id]
                out.extend(self._record_fill(record, fill, close_ms))
                filled.add(record.exchange_id)
            for record in watched:
                out.extend(self._sync(record, close_ms, record.exchange_id in filled))
        return out

    def _record_fill(self, record: OrderRecord, fill: TradeReport, close_ms: int) -> list[Frame]:
        fee = (fill.fee / self._tax_factor).quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
        trade = UserTrade(
            trade_id=self._next_trade_id(),
            order_id=record.exchange_id,
            client_order_id=record.client_order_id,
            symbol=record.symbol,
            side=record.side,
            price=fill.price,
            quantity=fill.quantity,
            fee=fee,
            tax=fill.fee - fee,
            ts_ms=close_ms,
        )
        self.trades.append(trade)
        record.filled += fill.quantity
        record.spent += fill.price * fill.quantity
        if record.first_fill_price is None:
            record.first_fill_price = fill.price
        record.updated_ms = close_ms
        pair_id = self._pair_ids[record.symbol]
        return [
            frames.order_match(record, trade, user_id=self.user_id, pair_id=pair_id),
            frames.user_trade(trade),
        ]

    def _sync(self, record: OrderRecord, close_ms: int, filled: bool) -> list[Frame]:
        status = self.venue.get_order(record.venue_id).status
        changed = status is not record.status
        record.status = status
        if changed:
            record.updated_ms = close_ms
        if status is OrderStatus.PARTIALLY_FILLED and filled:
            return [self._order_frame(453, record)]
        if status is OrderStatus.CANCELED and changed:
            return [self._order_frame(452, record)]
        return []

    def _order_frame(self, frame_type: int, record: OrderRecord) -> Frame:
        return frames.order_event(
            frame_type, record, user_id=self.user_id, pair_id=self._pair_ids[record.symbol]
        )

    # --- reads ----------------------------------------------------------------------------

    def user_trades(
        self,
        *,
        sides: set[str] | None = None,
        assets: set[str] | None = None,
        symbol: Symbol | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        order_id: int | None = None,
    ) -> list[UserTrade]:
        """Fills matching every given filter (``assets``: base or quote in the set), newest first."""
        out = []
        for trade in reversed(self.trades):
            if order_id is not None:
                if trade.order_id == order_id:
                    out.append(trade)
                continue
            if sides and trade.side.value not in sides:
                continue
            if assets and not {trade.symbol.base, trade.symbol.quote} & assets:
                continue
            if symbol is not None and trade.symbol != symbol:
                continue
            if (start_ms is not None and trade.ts_ms < start_ms) or (
                end_ms is not None and trade.ts_ms > end_ms
            ):
                continue
            out.append(trade)
        return out
