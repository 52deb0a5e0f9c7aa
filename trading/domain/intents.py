"""Intents: what a strategy wants, before allocation, quantization and risk.

An intent is immutable. Its size is given either as a base ``quantity`` or as a quote
``notional``; allocation turns it into a quantity at the intent's price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from trading.domain.orders import Side
from trading.domain.symbols import Symbol


class PricePolicy(StrEnum):
    """How the order price is chosen: a limit at ``limit_price`` or a market order."""

    LIMIT = "limit"
    MARKET = "market"


@dataclass(frozen=True, slots=True)
class Intent:
    """A strategy's request to trade one symbol.

    Shapes: ``quantity`` base units or ``notional`` quote units (exactly one set; ``None``
    notional and quantity on a SELL means "the whole position"); ``limit_price`` quote per base
    unit, required for LIMIT. ``reason`` is a short machine code (``sma_cross_up``).
    """

    strategy: str
    symbol: Symbol
    side: Side
    price_policy: PricePolicy
    reason: str
    quantity: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if self.quantity is not None and self.notional is not None:
            raise ValueError("an intent has a quantity or a notional, not both")
        if self.price_policy is PricePolicy.LIMIT and self.limit_price is None:
            raise ValueError("a LIMIT intent needs a limit_price")
        for name in ("quantity", "notional", "limit_price"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"intent {name} must be positive, got {value}")
