"""Weighted-average-cost positions built from trade-level fills (DESIGN.md sections 3 and 5).

Fee rules:

- a fee in the **quote** asset (or in another asset, converted to quote at the fill-time mark
  by the caller) adds to the cost basis of a buy and reduces the proceeds of a sell;
- a fee in the **base** asset reduces the quantity held: a buy of ``q`` with fee ``f`` adds
  ``q - f`` units at a cost of ``price * q``; a sell of ``q`` with fee ``f`` removes ``q + f``
  units, and those fee units leave at their average cost (so realized PnL already carries them).

The position keeps its cost basis (quote) next to its average cost. A sell releases
``sold * average_cost`` rounded to :data:`COST_EXPONENT`, and closing a position releases the
whole remaining basis, so realized PnL plus the open cost basis always add up exactly to what
was paid. That makes ``equity == opening cash + realized + unrealized`` exact, and a buy-then-sell
round trip realizes exactly ``q * (p_sell - p_buy) - fee_buy - fee_sell``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.fills import Fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

ZERO = Decimal(0)
# Released cost is rounded to the database precision (DecimalField decimal_places=12).
COST_EXPONENT = Decimal("1e-12")


class LedgerIntegrityError(ValueError):
    """A fill the ledger cannot apply: an oversell, a wrong symbol or quote, a negative amount."""


class FeeConversionError(LookupError):
    """A fee in an asset that is neither base nor quote, with no usable fill-time rate."""

    def __init__(self, asset: str, detail: str = "no fill-time rate") -> None:
        super().__init__(f"cannot convert fee in {asset} to quote: {detail}")
        self.asset = asset


@dataclass(frozen=True, slots=True)
class Position:
    """Holdings of one symbol.

    ``quantity`` base units (never negative); ``average_cost`` quote per base unit including
    buy fees (``0`` when flat); ``realized_pnl`` and ``fees_paid`` quote, cumulative;
    ``cost_basis`` quote paid for the units held (``None`` means ``quantity * average_cost`` and
    is filled in at construction).
    """

    symbol: Symbol
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    cost_basis: Decimal | None = None

    def __post_init__(self) -> None:
        if self.cost_basis is None:
            object.__setattr__(self, "cost_basis", self.quantity * self.average_cost)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def market_value(self, mark: Decimal) -> Decimal:
        """Quote value of the units held at ``mark`` (quote per base unit)."""
        return self.quantity * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """Quote PnL of the units held if sold at ``mark`` without fees: value minus cost basis."""
        return self.quantity * mark - self.cost_basis


def fee_paid_in_base(fill: Fill) -> bool:
    """True when the fill's fee is charged in the symbol's base asset (it reduces quantity)."""
    return fill.fee_asset.upper() == fill.symbol.base


def fill_fee_in_quote(fill: Fill, *, rates: Mapping[str, Decimal] | None = None) -> Decimal:
    """The fill's fee valued in the symbol's quote asset.

    Quote fee: as is. Base fee: ``fee * price`` (the fill price is the base's fill-time mark).
    Other asset: ``fee * rates[ASSET]`` where ``rates`` maps upper-case asset codes to quote per
    unit at fill time. A zero fee needs no rate. Raises :class:`FeeConversionError` naming the
    asset when the rate is missing or not positive.
    """
    asset = fill.fee_asset.upper()
    if fill.fee == 0 or asset == fill.symbol.quote:
        return fill.fee
    if asset == fill.symbol.base:
        return fill.fee * fill.price
    rate = None if rates is None else rates.get(asset)
    if rate is None:
        raise FeeConversionError(asset)
    if rate <= 0:
        raise FeeConversionError(asset, f"rate {rate} is not positive")
    return fill.fee * rate


def position_apply_fill(
    position: Position | None, fill: Fill, *, fee_in_quote: Decimal
) -> Position:
    """Return the position after ``fill``; ``None`` means no position yet.

    ``fee_in_quote`` is the fee valued in quote (see :func:`fill_fee_in_quote`); for a base-asset
    fee it only feeds ``fees_paid``. BUY: cost basis += ``price * qty`` (+ the fee unless it is in
    base), quantity += ``qty`` (- the fee if in base). SELL: realized += proceeds (``price * qty``
    minus the fee unless in base) minus the released cost; quantity -= ``qty`` (+ the fee if in
    base); ``average_cost`` unchanged, reset to 0 when flat.

    Raises :class:`LedgerIntegrityError` when selling more than held (naming symbol, held and
    sold), when the position belongs to another symbol, or on a non-positive price or quantity,
    a negative fee, or a base fee larger than the bought quantity.
    """
    if position is None:
        position = Position(fill.symbol)
    _check_fill(position, fill, fee_in_quote)
    base_fee = fill.fee if fee_paid_in_base(fill) else ZERO
    quote_fee = ZERO if base_fee else fee_in_quote
    if fill.side is Side.BUY:
        return _apply_buy(position, fill, base_fee, quote_fee, fee_in_quote)
    return _apply_sell(position, fill, base_fee, quote_fee, fee_in_quote)


def _check_fill(position: Position, fill: Fill, fee_in_quote: Decimal) -> None:
    if position.symbol != fill.symbol:
        raise LedgerIntegrityError(
            f"fill {fill.trade_id} for {fill.symbol} applied to position {position.symbol}"
        )
    if fill.price <= 0 or fill.quantity <= 0 or fill.fee < 0 or fee_in_quote < 0:
        raise LedgerIntegrityError(
            f"fill {fill.trade_id} for {fill.symbol} has price {fill.price}, quantity "
            f"{fill.quantity}, fee {fill.fee} ({fee_in_quote} in quote); "
            "price and quantity must be positive and fees non-negative"
        )


def _apply_buy(
    position: Position, fill: Fill, base_fee: Decimal, quote_fee: Decimal, fee_in_quote: Decimal
) -> Position:
    added = fill.quantity - base_fee
    if added <= 0:
        raise LedgerIntegrityError(
            f"fill {fill.trade_id} for {fill.symbol}: base fee {base_fee} is not below "
            f"the bought quantity {fill.quantity}"
        )
    quantity = position.quantity + added
    cost_basis = position.cost_basis + fill.price * fill.quantity + quote_fee
    return Position(
        symbol=position.symbol,
        quantity=quantity,
        average_cost=cost_basis / quantity,
        realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid + fee_in_quote,
        cost_basis=cost_basis,
    )


def _apply_sell(
    position: Position, fill: Fill, base_fee: Decimal, quote_fee: Decimal, fee_in_quote: Decimal
) -> Position:
    sold = fill.quantity + base_fee
    held = position.quantity
    if sold > held:
        raise LedgerIntegrityError(
            f"oversell of {fill.symbol} by fill {fill.trade_id}: held {held}, sold {sold}"
        )
    quantity = held - sold
    if quantity == 0:
        released, average_cost = position.cost_basis, ZERO
    else:
        released = (sold * position.average_cost).quantize(COST_EXPONENT)
        average_cost = position.average_cost
    proceeds = fill.price * fill.quantity - quote_fee
    return Position(
        symbol=position.symbol,
        quantity=quantity,
        average_cost=average_cost,
        realized_pnl=position.realized_pnl + proceeds - released,
        fees_paid=position.fees_paid + fee_in_quote,
        cost_basis=position.cost_basis - released,
    )
