"""The simulated venue's complete state as plain frozen values (for paper accounts).

A paper account keeps its :class:`~trading.domain.venue.SimulatedVenue` in database rows
between cycles (DESIGN.md section 8a): :meth:`SimulatedVenue.state` returns a
:class:`VenueState`, the caller stores it, and :meth:`SimulatedVenue.from_state` rebuilds a
venue that continues exactly where the first one stopped (same order ids, trade ids, locks,
matching order and acceptance answers). Pure domain: no I/O, Decimal amounts, epoch ms UTC.

Types representing an order, one per layer: the planner sends :class:`OrderRequest` and
sees resting orders as :class:`~trading.domain.reports.OrderReport`; the venue and the
exchange port answer with ``OrderReport``; the database holds ``trading.models.Order``; the
sandbox wire has its ``OrderRecord``. :class:`OrderState` below is not a fifth view of an
order for callers to reason about: it is the venue's private bookkeeping, exposed only so it
can be persisted and restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.orders import OrderRequest, OrderStatus
from trading.domain.reports import AssetBalance, TradeReport
from trading.domain.symbols import Symbol


@dataclass(frozen=True, slots=True)
class OrderState:
    """One venue order's bookkeeping, exactly as the venue holds it.

    ``request`` is what was submitted (a market buy's size is its ``quote_amount``);
    ``lock`` the balance still reserved (quote units for a buy, base units for a sell; 0 once
    terminal); ``filled`` base units executed; ``quote_left`` the quote a market buy may still
    spend (0 for other orders and for rejected ones); ``reject_code`` the venue reject code of
    a ``REJECTED`` submit, else ``None``; ``created_ms`` the submit time, ``updated_ms`` the
    latest of submit, fills (bar open time) and an explicit cancel.
    """

    order_id: str
    request: OrderRequest
    status: OrderStatus
    created_ms: int
    updated_ms: int
    lock: Decimal
    filled: Decimal
    quote_left: Decimal
    reject_code: str | None = None


@dataclass(frozen=True, slots=True)
class VenueState:
    """Everything a :class:`~trading.domain.venue.SimulatedVenue` needs to continue exactly.

    ``balances`` per asset (free and locked, exact Decimal); ``orders`` every order ever
    submitted, rejected ones too, in submission order (= ascending numeric order id);
    ``fills`` every fill in fill order (trade ids are numbered from their count);
    ``next_order_id`` the numeric id the next submit gets; ``used_client_order_ids`` the
    client order ids of accepted orders (a rejected submit does not reserve its id);
    ``last_prices`` the last traded price per symbol the venue knows (values market sells).
    The mappings are fresh copies: treat them as read-only.
    """

    balances: Mapping[str, AssetBalance]
    orders: tuple[OrderState, ...]
    fills: tuple[TradeReport, ...]
    next_order_id: int
    used_client_order_ids: frozenset[str]
    last_prices: Mapping[Symbol, Decimal]
