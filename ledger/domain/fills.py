"""Fills: trade-level executions, the only input of the ledger (DESIGN.md section 5)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from trading.domain.orders import Side
from trading.domain.symbols import Symbol


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class Fill(NamedTuple):
    """One execution. Unique on ``trade_id``.

    ``price`` quote per base unit; ``quantity`` base units (always positive); ``fee`` in
    ``fee_asset`` (the symbol's quote or base asset, or another asset converted at the
    fill-time mark by the ledger); ``ts_ms`` epoch milliseconds UTC.
    """

    trade_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    ts_ms: int
    liquidity: Liquidity = Liquidity.TAKER

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity
