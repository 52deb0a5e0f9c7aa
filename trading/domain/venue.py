"""The simulated venue: BTCTurk-like order matching against closed bars, in memory.

It implements the order interface the live BTCTurk adapter implements (submit, cancel, get,
open orders, balances, fills since a cursor) and answers in the port's report types
(:mod:`trading.domain.reports`): orders are :class:`~trading.domain.reports.OrderReport`,
fills :class:`~trading.domain.reports.TradeReport` (with ``liquidity``), balances
:class:`~trading.domain.reports.AssetBalance`, accepted submits and cancels
:class:`~trading.domain.reports.SubmitAck` / :class:`~trading.domain.reports.CancelAck`, and a
refusal a :class:`VenueReject`. So a backtest, a paper session and the sandbox exchange drive
the same planner through the same port; ``trading.exchange.simulated`` only maps refusals to
the error taxonomy. Pure domain: Decimal maths, no clock (callers pass ``now_ms``), no I/O.
Units: prices quote per base unit, quantities base units, fees basis points of the notional,
times epoch milliseconds UTC.

One type represents an order in each layer: the planner sends an
:class:`~trading.domain.orders.OrderRequest` and sees resting orders as ``OrderReport``; this
venue and the exchange port answer with ``OrderReport``; the database holds
``trading.models.Order``; the sandbox wire keeps its ``OrderRecord``. As BTCTurk reports it,
a market buy's ``OrderReport.quantity`` and ``remaining`` are quote amounts (the amount to
spend and what is left of it); every other order's are base units.

Acceptance (checked in this order; the first failure rejects, reference/btcturk_api.md 4.7, 5):

====================================  ===============================================
reject code                           BTCTurk equivalent
====================================  ===============================================
``UNKNOWN_SYMBOL``                    pair not listed in exchangeinfo
``INVALID_ORDER``                     FAILED_ORDER_PARAMETER (no limit price, size <= 0)
``SYMBOL_NOT_TRADING`` ...            from :func:`~trading.domain.rules.check_order`:
``ORDER_METHOD_NOT_SUPPORTED``        1134
``MIN_NOTIONAL``                      1123 FAILED_MIN_TOTAL_AMOUNT
``PRICE_ABOVE_BAND`` / ``..._BELOW``  1226 / 1227
``INVALID_PRICE_SCALE``               1126 (limit price not on the tick grid)
``INVALID_QUANTITY_SCALE``            1127 (quantity not on the step grid)
``DUPLICATE_CLIENT_ORDER_ID``         ours (BTCTurk server-side uniqueness UNVERIFIED)
``INSUFFICIENT_BALANCE``              1122 FAILED_ORDER_WITH_OPEN_ORDERS / BALANCE_NOT_ENOUGH
====================================  ===============================================

A rejected submit is answered with a :class:`VenueReject` (code, detail, and the order id it
was recorded under), is recorded as an order (status ``REJECTED``, reject code kept in its
:class:`~trading.domain.venue_state.OrderState`, it gets an order id) and does not reserve
its client order id. An accepted order is ``OPEN`` and locks
balance: a limit buy ``price * quantity * (1 + fee rate)`` quote, a market buy
``quote_amount * (1 + fee rate)`` quote (BTCTurk: a market buy's size is the quote amount to
spend), a sell its base ``quantity``. The fee rate of a lock is the larger of maker and taker
(the worst case). Min notional: ``price * quantity`` for a limit, ``quote_amount`` for a market
buy, ``quantity * last close`` for a market sell (skipped while no bar has been seen).

Fill rules (bar matching happens in :meth:`SimulatedVenue.on_bar`, against a bar that closed
after the order was submitted; open orders of the symbol are matched in submission order; the
backtest engine and paper venues use only this):

- ``FillModel.BAR``: a market order fills at the bar's open (taker). A limit buy fills at the
  open if ``open <= limit`` (taker: it was marketable on arrival), else at the limit if
  ``low <= limit`` (maker), else it rests. A limit sell: ``open >= limit`` -> open (taker),
  else ``high >= limit`` -> limit (maker), else it rests.
- ``FillModel.NEXT_OPEN``: every order is decided at the open of its first bar: a market order
  fills at the open (taker); a limit fills at the open (taker) only if the open is at or better
  than its limit, otherwise it is ``CANCELED`` (expired) and its lock released. A limit's
  remainder after that bar (volume cap) is canceled too: it behaves as immediate-or-cancel.
- Volume cap: with ``max_volume_share`` set, at most ``max_volume_share * bar.volume`` base
  units (rounded down to the step) fill per symbol and bar, shared by the orders in submission
  order; what does not fit stays open (``PARTIALLY_FILLED``) for later bars, where a market
  order's remainder fills at their opens.
- A market buy converts its remaining quote amount to base at the fill price (rounded down to
  the step). When the remaining quote cannot buy one more step it completes (``FILLED``, or
  ``CANCELED`` if nothing filled) and the unused lock is released.
- Fees: ``fee = price * quantity * bps / 10000`` in the quote asset, maker or taker as above,
  not rounded. A buy debits ``notional + fee`` from its lock; a sell credits
  ``notional - fee``. A completed or canceled order releases what is left of its lock.
- Each fill is a :class:`~trading.domain.reports.TradeReport` with trade id
  ``f"{account}-t{n}"`` (n = 1, 2, ...), ``ts_ms`` = the bar's open time, ``fee`` as above,
  ``tax`` 0 and ``liquidity`` ``"maker"``/``"taker"``; order ids are ``"1"``, ``"2"``, ...
- Taking liquidity (:meth:`SimulatedVenue.take_liquidity`, used by the sandbox exchange on
  submit): an open order fills at once as a taker against given book levels, each level at its
  price (walk rules in :mod:`trading.domain.taker`); a limit order's remainder rests for
  ``on_bar``, a market order's remainder is canceled.
- Cancel: ``OPEN``/``PARTIALLY_FILLED`` -> ``CANCELED`` (lock released); an unknown id is
  refused with ``ORDER_NOT_FOUND`` (BTCTurk NO_ORDER_MATCHES_YOUR_REQUEST), a terminal order
  with ``ORDER_COULD_NOT_BE_CANCELED``. Status changes go through
  :func:`~trading.domain.orders.order_transition`.

Persistence: :meth:`SimulatedVenue.state` and :meth:`SimulatedVenue.from_state` (paper
accounts keep the venue in rows between cycles, :mod:`trading.domain.venue_state`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ledger.domain.fills import Liquidity
from trading.domain.market import Bar
from trading.domain.orders import (
    TERMINAL_STATUSES,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    order_transition,
)
from trading.domain.reports import AssetBalance, CancelAck, OrderReport, SubmitAck, TradeReport
from trading.domain.rules import ExchangeRules, check_order
from trading.domain.symbols import Symbol
from trading.domain.taker import Level, affordable, floor_to_step, walk_levels
from trading.domain.venue_state import OrderState, VenueState

ZERO = Decimal(0)
BPS = Decimal(10000)
_RESTING = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class FillModel(StrEnum):
    """How resting orders meet a bar (see the module's "Fill rules")."""

    BAR = "bar"
    NEXT_OPEN = "next_open"


class RejectCode(StrEnum):
    """Reject codes of the venue itself (rule codes come from ``check_order``)."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_PRICE_SCALE = "INVALID_PRICE_SCALE"
    INVALID_QUANTITY_SCALE = "INVALID_QUANTITY_SCALE"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_COULD_NOT_BE_CANCELED = "ORDER_COULD_NOT_BE_CANCELED"


class UnknownOrder(LookupError):
    """No order with this order id was ever submitted to the venue."""


@dataclass(frozen=True, slots=True)
class VenueReject:
    """The venue refused a submit or a cancel.

    ``code`` is a venue reject code (:class:`RejectCode` or a rule code of
    :func:`~trading.domain.rules.check_order`; the module docstring maps them to BTCTurk's),
    ``detail`` says why in words. ``order_id`` is the id the refused submit was recorded
    under (the requested id for a cancel); ``client_order_id`` the request's (``""`` for a
    cancel of an unknown id).
    """

    code: str
    detail: str
    order_id: str = ""
    client_order_id: str = ""


@dataclass(slots=True)
class _Order:
    # Mutable on purpose: the matching loop updates it in place every bar; callers only ever
    # see frozen OrderReport snapshots (and OrderState for persistence).
    order_id: str
    request: OrderRequest
    created_ms: int
    status: OrderStatus
    lock: Decimal = ZERO  # remaining lock, quote units for a buy, base units for a sell
    filled: Decimal = ZERO
    quote_left: Decimal = ZERO  # market buy only: quote amount still to spend
    reject_code: str | None = None
    updated_ms: int = 0

    def report(self) -> OrderReport:
        """This order as the port reports it (a market buy's sizes in quote units)."""
        r = self.request
        if r.order_type is OrderType.MARKET:
            price = None
            if r.side is Side.BUY:
                quantity = r.quote_amount or ZERO
                rejected = self.status is OrderStatus.REJECTED
                remaining = quantity if rejected else max(ZERO, self.quote_left)
            else:
                quantity = r.quantity
                remaining = quantity - self.filled
        else:
            price = r.price
            quantity = r.quantity
            remaining = quantity - self.filled
        return OrderReport(
            self.order_id,
            r.client_order_id,
            r.symbol,
            r.side,
            r.order_type,
            self.status,
            price,
            quantity,
            remaining,
            self.created_ms,
            self.updated_ms,
        )

    def state(self) -> OrderState:
        return OrderState(
            order_id=self.order_id,
            request=self.request,
            status=self.status,
            created_ms=self.created_ms,
            updated_ms=self.updated_ms,
            lock=self.lock,
            filled=self.filled,
            quote_left=self.quote_left,
            reject_code=self.reject_code,
        )

    @property
    def market_buy(self) -> bool:
        return self.request.order_type is OrderType.MARKET and self.request.side is Side.BUY


class SimulatedVenue:
    """In-memory BTCTurk-like venue over the given rules and starting free balances.

    ``balances`` maps asset to free amount (nothing locked at start); fees are basis points
    (>= 0); ``max_volume_share`` (0 < share) caps fills per bar, ``None`` = no cap; ``account``
    prefixes trade ids. Raises ``ValueError`` on a negative balance, fee or share.
    """

    def __init__(
        self,
        *,
        rules: Mapping[Symbol, ExchangeRules],
        balances: Mapping[str, Decimal],
        fee_maker_bps: Decimal,
        fee_taker_bps: Decimal,
        fill_model: FillModel = FillModel.BAR,
        max_volume_share: Decimal | None = None,
        account: str = "sim",
    ) -> None:
        if fee_maker_bps < 0 or fee_taker_bps < 0:
            raise ValueError("fees must be >= 0 bps")
        if max_volume_share is not None and max_volume_share <= 0:
            raise ValueError("max_volume_share must be > 0 (or None for no cap)")
        if any(amount < 0 for amount in balances.values()):
            raise ValueError("starting balances must be >= 0")
        self._rules = dict(rules)
        self._free: dict[str, Decimal] = {a: Decimal(str(v)) for a, v in balances.items()}
        self._locked: dict[str, Decimal] = dict.fromkeys(self._free, ZERO)
        self._maker_rate = fee_maker_bps / BPS
        self._taker_rate = fee_taker_bps / BPS
        self._lock_rate = max(self._maker_rate, self._taker_rate)
        self._fill_model = fill_model
        self._max_share = max_volume_share
        self._account = account
        self._orders: dict[str, _Order] = {}
        self._submitted: list[_Order] = []  # every order in submission order (orders_since)
        self._open: dict[Symbol, dict[str, _Order]] = {}
        self._used_coids: set[str] = set()
        self._last_price: dict[Symbol, Decimal] = {}
        self._fills: list[TradeReport] = []
        self._next_order = 1

    # --- persistence -------------------------------------------------------------------

    def state(self) -> VenueState:
        """Everything needed to continue exactly (see :mod:`trading.domain.venue_state`)."""
        return VenueState(
            balances={a: AssetBalance(a, self._free[a], self._locked[a]) for a in self._free},
            orders=tuple(o.state() for o in self._submitted),
            fills=tuple(self._fills),
            next_order_id=self._next_order,
            used_client_order_ids=frozenset(self._used_coids),
            last_prices=dict(self._last_price),
        )

    @classmethod
    def from_state(
        cls,
        state: VenueState,
        *,
        rules: Mapping[Symbol, ExchangeRules],
        fee_maker_bps: Decimal,
        fee_taker_bps: Decimal,
        fill_model: FillModel = FillModel.BAR,
        max_volume_share: Decimal | None = None,
        account: str = "sim",
    ) -> SimulatedVenue:
        """A venue that continues from ``state`` with these settings (as the constructor's).

        From then on it answers exactly as the venue ``state`` was taken from would (same
        order and trade ids, locks, matching order). Raises ``ValueError`` like the
        constructor, and for a resting order of a symbol without ``rules``.
        """
        venue = cls(
            rules=rules,
            balances={},
            fee_maker_bps=fee_maker_bps,
            fee_taker_bps=fee_taker_bps,
            fill_model=fill_model,
            max_volume_share=max_volume_share,
            account=account,
        )
        for asset, balance in state.balances.items():
            venue._free[asset] = balance.free
            venue._locked[asset] = balance.locked
        for saved in state.orders:
            order = _Order(
                saved.order_id,
                saved.request,
                saved.created_ms,
                saved.status,
                saved.lock,
                saved.filled,
                saved.quote_left,
                saved.reject_code,
                saved.updated_ms,
            )
            venue._orders[order.order_id] = order
            venue._submitted.append(order)
            if order.status in _RESTING:
                if order.request.symbol not in venue._rules:
                    raise ValueError(f"resting order {order.order_id} has no rules")
                venue._open.setdefault(order.request.symbol, {})[order.order_id] = order
        venue._fills = list(state.fills)
        venue._next_order = state.next_order_id
        venue._used_coids = set(state.used_client_order_ids)
        venue._last_price = dict(state.last_prices)
        return venue

    @property
    def rules(self) -> Mapping[Symbol, ExchangeRules]:
        """The exchange rules the venue accepts orders by, per symbol."""
        return self._rules

    # --- order interface ---------------------------------------------------------------

    def submit_order(self, request: OrderRequest, *, now_ms: int) -> SubmitAck | VenueReject:
        """Accept ``request`` (``OPEN``, balance locked) or refuse it with a reject code.

        Never raises for a bad order: a :class:`VenueReject` says why (module docstring lists
        the codes and their order). ``now_ms`` becomes the order's ``created_ms`` and the
        ack's ``ts_ms``; the ack's ``quantity`` is the quote amount for a market buy.
        """
        order = _Order(str(self._next_order), request, now_ms, OrderStatus.NEW, updated_ms=now_ms)
        self._next_order += 1
        self._orders[order.order_id] = order
        self._submitted.append(order)
        order.status = order_transition(order.status, OrderStatus.SUBMITTED)
        rejection = self._rejection(request)
        if rejection is not None:
            order.status = order_transition(order.status, OrderStatus.REJECTED)
            order.reject_code = rejection[0]
            return VenueReject(rejection[0], rejection[1], order.order_id, request.client_order_id)
        order.lock = self._lock_needed(request)
        self._move(self._lock_asset(request), order.lock, to_locked=True)
        market_buy = order.market_buy
        order.quote_left = request.quote_amount if market_buy else ZERO
        order.status = order_transition(order.status, OrderStatus.OPEN)
        self._open.setdefault(request.symbol, {})[order.order_id] = order
        self._used_coids.add(request.client_order_id)
        limit = request.order_type is OrderType.LIMIT
        return SubmitAck(
            order.order_id,
            request.client_order_id,
            request.symbol,
            request.side,
            request.order_type,
            request.price if limit else None,
            request.quote_amount if market_buy else request.quantity,
            now_ms,
        )

    def cancel_order(self, order_id: str, *, now_ms: int) -> CancelAck | VenueReject:
        """Cancel an open or partially filled order and release its remaining lock.

        Refusals come back as a :class:`VenueReject`: ``ORDER_NOT_FOUND`` for an unknown id,
        ``ORDER_COULD_NOT_BE_CANCELED`` for a terminal order (reference 4.8). ``now_ms``
        becomes the canceled order's ``updated_ms``.
        """
        order = self._orders.get(order_id)
        if order is None:
            return VenueReject(
                RejectCode.ORDER_NOT_FOUND.value, f"no order with id {order_id!r}", order_id
            )
        if order.status in TERMINAL_STATUSES:
            return VenueReject(
                RejectCode.ORDER_COULD_NOT_BE_CANCELED.value,
                f"order {order_id} is already {order.status}",
                order_id,
                order.request.client_order_id,
            )
        self._close(order, OrderStatus.CANCELED)
        order.updated_ms = max(order.updated_ms, now_ms)
        return CancelAck(order_id)

    def get_order(self, order_id: str) -> OrderReport:
        """Any order ever submitted (rejected ones too); raises :class:`UnknownOrder`."""
        order = self._orders.get(order_id)
        if order is None:
            raise UnknownOrder(f"no order with id {order_id!r}")
        return order.report()

    def orders_since(self, cursor: int) -> tuple[list[OrderReport], int]:
        """Every order submitted after ``cursor`` (0 = from the start; rejected ones too), in
        submission order, and the cursor to pass next time.

        Raises ``ValueError`` for a cursor that this venue never returned.
        """
        if not 0 <= cursor <= len(self._submitted):
            raise ValueError(f"cursor {cursor} outside 0..{len(self._submitted)}")
        return [o.report() for o in self._submitted[cursor:]], len(self._submitted)

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        """``OPEN``/``PARTIALLY_FILLED`` orders (of ``symbol``, or all), oldest first."""
        if symbol is not None:
            return [o.report() for o in self._open.get(symbol, {}).values()]
        orders = [o for book in self._open.values() for o in book.values()]
        return [o.report() for o in sorted(orders, key=lambda o: int(o.order_id))]

    def has_open_orders(self, symbol: Symbol) -> bool:
        """Whether ``symbol`` has a resting order; O(1)."""
        return bool(self._open.get(symbol))

    def observe_price(self, symbol: Symbol, price: Decimal) -> None:
        """Tell the venue the last traded price of ``symbol`` (quote per base unit).

        The venue values a market sell at the last price it has seen (min notional check);
        it learns prices from :meth:`on_bar`, and from here when no bar needed matching.
        """
        self._last_price[symbol] = price

    def has_any_open_orders(self) -> bool:
        """Whether any symbol has a resting order; O(symbols)."""
        return any(self._open.values())

    @property
    def fill_count(self) -> int:
        """Number of fills so far (the cursor :meth:`fills_since` would return)."""
        return len(self._fills)

    def balance(self, asset: str) -> AssetBalance:
        """Free and locked balance of one asset (zero for an asset never seen)."""
        return AssetBalance(asset, self._free.get(asset, ZERO), self._locked.get(asset, ZERO))

    def balances(self) -> dict[str, AssetBalance]:
        """Every asset the venue has seen, free and locked, exact Decimal, by asset code."""
        return {a: AssetBalance(a, self._free[a], self._locked[a]) for a in sorted(self._free)}

    def fills_since(self, cursor: int) -> tuple[list[TradeReport], int]:
        """Fills after ``cursor`` (0 = from the start) and the cursor to pass next time.

        Raises ``ValueError`` for a cursor that this venue never returned.
        """
        if not 0 <= cursor <= len(self._fills):
            raise ValueError(f"cursor {cursor} outside 0..{len(self._fills)}")
        return self._fills[cursor:], len(self._fills)

    # --- matching ----------------------------------------------------------------------

    def on_bar(self, symbol: Symbol, bar: Bar) -> list[TradeReport]:
        """Match the open orders of ``symbol`` against ``bar`` (just closed); return new fills.

        The caller guarantees every open order of ``symbol`` was submitted before ``bar``
        opened. The bar's close becomes the last known price of ``symbol``.
        """
        book = self._open.get(symbol)
        fills: list[TradeReport] = []
        if book:
            rules = self._rules[symbol]
            share = self._max_share
            cap = None if share is None else floor_to_step(share * bar.volume, rules.step_size)
            for order in list(book.values()):
                fill = self._match(order, bar, rules, cap)
                if fill is not None:
                    fills.append(fill)
                    if cap is not None:
                        cap -= fill.quantity
        self._last_price[symbol] = bar.close
        return fills

    def take_liquidity(
        self, order_id: str, levels: Sequence[Level], *, ts_ms: int
    ) -> list[TradeReport]:
        """Fill resting order ``order_id`` now, as a taker, against book ``levels``.

        ``levels`` are ``(price, base amount available)`` of the side the order takes from
        (asks for a buy, bids for a sell), best first; each level taken from gives one fill at
        its price, with taker fee and ``ts_ms`` (see :mod:`trading.domain.taker` for the walk).
        Afterwards a limit order rests with what is left (matched by :meth:`on_bar` later) or
        is ``FILLED``; a market order never rests: ``FILLED`` when complete, else what is left
        is canceled (``CANCELED``, fills kept, lock released). Raises :class:`UnknownOrder`
        for an unknown id and ``ValueError`` for an order that is not resting.
        """
        order = self._orders.get(order_id)
        if order is None:
            raise UnknownOrder(f"no order with id {order_id!r}")
        if order.status not in _RESTING:
            raise ValueError(f"order {order_id} is {order.status}, not resting")
        request = order.request
        market = request.order_type is OrderType.MARKET
        walk = walk_levels(
            side=request.side,
            levels=levels,
            step=self._rules[request.symbol].step_size,
            limit=None if market else request.price,
            base_left=None if order.market_buy else request.quantity - order.filled,
            quote_left=order.quote_left if order.market_buy else None,
        )
        fills = [self._execute(order, p, q, Liquidity.TAKER, ts_ms) for p, q in walk.fills]
        if order.market_buy and walk.complete:
            self._complete_market_buy(order)
        elif walk.complete:
            self._close(order, OrderStatus.FILLED)
        elif market:
            self._close(order, OrderStatus.CANCELED)
        return fills

    def _match(
        self, order: _Order, bar: Bar, rules: ExchangeRules, cap: Decimal | None
    ) -> TradeReport | None:
        price, liquidity = self._fill_price(order.request, bar)
        immediate_or_cancel = (
            self._fill_model is FillModel.NEXT_OPEN and order.request.order_type is OrderType.LIMIT
        )
        if price is None:
            if immediate_or_cancel:
                self._close(order, OrderStatus.CANCELED)
            return None
        if order.market_buy:
            wanted = affordable(order.quote_left, price, rules.step_size)
            if wanted == 0:
                self._complete_market_buy(order)
                return None
        else:
            wanted = order.request.quantity - order.filled
        quantity = wanted if cap is None else min(wanted, cap)
        fill = self._execute(order, price, quantity, liquidity, bar.ts_ms) if quantity > 0 else None
        if order.market_buy and order.quote_left < price * rules.step_size:
            self._complete_market_buy(order)
        elif not order.market_buy and order.filled == order.request.quantity:
            self._close(order, OrderStatus.FILLED)
        elif immediate_or_cancel:
            self._close(order, OrderStatus.CANCELED)
        return fill

    def _fill_price(
        self, request: OrderRequest, bar: Bar
    ) -> tuple[Decimal | None, Liquidity | None]:
        if request.order_type is OrderType.MARKET:
            return bar.open, Liquidity.TAKER
        limit = request.price
        buy = request.side is Side.BUY
        if (bar.open <= limit) if buy else (bar.open >= limit):
            return bar.open, Liquidity.TAKER
        if self._fill_model is FillModel.BAR and (
            (bar.low <= limit) if buy else (bar.high >= limit)
        ):
            return limit, Liquidity.MAKER
        return None, None

    def _execute(
        self, order: _Order, price: Decimal, quantity: Decimal, liquidity: Liquidity, ts_ms: int
    ) -> TradeReport:
        request = order.request
        base, quote = request.symbol.base, request.symbol.quote
        rate = self._maker_rate if liquidity is Liquidity.MAKER else self._taker_rate
        notional = price * quantity
        fee = notional * rate
        if request.side is Side.BUY:
            order.lock -= notional + fee
            self._locked[quote] -= notional + fee
            self._free[base] = self._free.get(base, ZERO) + quantity
            self._locked.setdefault(base, ZERO)
            if order.market_buy:
                order.quote_left -= notional
        else:
            order.lock -= quantity
            self._locked[base] -= quantity
            self._free[quote] = self._free.get(quote, ZERO) + notional - fee
            self._locked.setdefault(quote, ZERO)
        order.filled += quantity
        order.updated_ms = max(order.updated_ms, ts_ms)
        if order.status is not OrderStatus.PARTIALLY_FILLED:
            order.status = order_transition(order.status, OrderStatus.PARTIALLY_FILLED)
        fill = TradeReport(
            f"{self._account}-t{len(self._fills) + 1}",
            order.order_id,
            request.client_order_id,
            request.symbol,
            request.side,
            price,
            quantity,
            fee,
            ZERO,
            quote,
            ts_ms,
            liquidity,
        )
        self._fills.append(fill)
        return fill

    def _complete_market_buy(self, order: _Order) -> None:
        self._close(order, OrderStatus.FILLED if order.filled > 0 else OrderStatus.CANCELED)

    def _close(self, order: _Order, status: OrderStatus) -> None:
        """Move ``order`` to a terminal ``status``, release its lock, drop it from the book."""
        order.status = order_transition(order.status, status)
        self._move(self._lock_asset(order.request), order.lock, to_locked=False)
        order.lock = ZERO
        del self._open[order.request.symbol][order.order_id]

    # --- acceptance and balances -------------------------------------------------------

    def _rejection(self, request: OrderRequest) -> tuple[str, str] | None:
        """``(code, detail)`` of the first failed acceptance check, or ``None``."""
        rules = self._rules.get(request.symbol)
        if rules is None:
            return RejectCode.UNKNOWN_SYMBOL.value, f"{request.symbol} has no exchange rules"
        problem = _invalid_parameters(request)
        if problem is not None:
            return RejectCode.INVALID_ORDER.value, problem
        violation = check_order(
            rules,
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            price=request.price if request.order_type is OrderType.LIMIT else None,
            notional=self._notional_for_check(request, rules),
        )
        if violation is not None:
            return violation.code, violation.detail
        if request.order_type is OrderType.LIMIT and request.price % rules.tick_size != 0:
            return RejectCode.INVALID_PRICE_SCALE.value, (
                f"price {request.price} is not a multiple of tick size {rules.tick_size}"
            )
        if not _is_market_buy(request) and request.quantity % rules.step_size != 0:
            return RejectCode.INVALID_QUANTITY_SCALE.value, (
                f"quantity {request.quantity} is not a multiple of step size {rules.step_size}"
            )
        if request.client_order_id in self._used_coids:
            return RejectCode.DUPLICATE_CLIENT_ORDER_ID.value, (
                f"client order id {request.client_order_id!r} is already in use"
            )
        asset, needed = self._lock_asset(request), self._lock_needed(request)
        if self._free.get(asset, ZERO) < needed:
            return RejectCode.INSUFFICIENT_BALANCE.value, (
                f"needs {needed} {asset} free, has {self._free.get(asset, ZERO)}"
            )
        return None

    def _notional_for_check(self, request: OrderRequest, rules: ExchangeRules) -> Decimal:
        if request.order_type is OrderType.LIMIT:
            return request.price * request.quantity
        if request.side is Side.BUY:
            return request.quote_amount
        last = self._last_price.get(request.symbol)
        # No price seen yet: nothing to value a market sell with, so the check passes.
        return rules.min_notional if last is None else request.quantity * last

    def _lock_needed(self, request: OrderRequest) -> Decimal:
        if request.side is Side.SELL:
            return request.quantity
        if request.order_type is OrderType.MARKET:
            return request.quote_amount * (1 + self._lock_rate)
        return request.price * request.quantity * (1 + self._lock_rate)

    @staticmethod
    def _lock_asset(request: OrderRequest) -> str:
        return request.symbol.quote if request.side is Side.BUY else request.symbol.base

    def _move(self, asset: str, amount: Decimal, *, to_locked: bool) -> None:
        signed = amount if to_locked else -amount
        self._free[asset] = self._free.get(asset, ZERO) - signed
        self._locked[asset] = self._locked.get(asset, ZERO) + signed


def _is_market_buy(request: OrderRequest) -> bool:
    return request.order_type is OrderType.MARKET and request.side is Side.BUY


def _invalid_parameters(request: OrderRequest) -> str | None:
    if _is_market_buy(request):
        if request.quote_amount is None or request.quote_amount <= 0:
            return "a market buy needs quote_amount > 0 (the quote amount to spend)"
        return None
    if request.quantity <= 0:
        return f"quantity {request.quantity} must be > 0"
    if request.order_type is OrderType.LIMIT and (request.price is None or request.price <= 0):
        return "a limit order needs a price > 0"
    return None
