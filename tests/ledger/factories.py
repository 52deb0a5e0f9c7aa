"""Test data builders shared by the ledger tests."""

from __future__ import annotations

from decimal import Decimal

from ledger.domain.fills import Fill, Liquidity
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")


def make_fill(
    side: Side,
    price: str,
    quantity: str,
    fee: str = "0",
    fee_asset: str = "TRY",
    *,
    trade_id: str = "t1",
    symbol: Symbol = BTC_TRY,
    client_order_id: str = "c1",
    ts_ms: int = 1_700_000_000_000,
    liquidity: Liquidity = Liquidity.TAKER,
) -> Fill:
    """A fill from strings (prices TRY per base unit, quantities base units, fee in ``fee_asset``)."""
    return Fill(
        trade_id=trade_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        price=Decimal(price),
        quantity=Decimal(quantity),
        fee=Decimal(fee),
        fee_asset=fee_asset,
        ts_ms=ts_ms,
        liquidity=liquidity,
    )
