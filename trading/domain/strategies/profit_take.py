"""Take profit in slices once a sale clears costs; enter conservatively when the book is tight.

The predecessor's ``ProfitAwareStrategyV1`` (reference/predecessor.md 6.1) sold once the bid
cleared ``average_cost * (1 + 30 bps)``, so after the sell fee and the spread a "profit" could
be a loss, and while flat it bought again every cycle, even with its last buy still resting.
This version makes a sale clear fees, spread and a margin, and never adds to a position or
stacks a second buy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from trading.domain.intents import Intent, PricePolicy
from trading.domain.orders import Side
from trading.domain.strategies.base import DataclassParams, StrategyContext, StrategyParamError
from trading.domain.strategies.signals import (
    EVERY_BAR,
    PYTHON_SIGNALS,
    ExitBand,
    SignalBars,
    SignalKernels,
)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class ProfitTake(DataclassParams):
    """Sell a fraction of the position at a real profit; buy a fixed notional when flat.

    Params (Decimal): ``min_profit_bps`` margin over costs (bps, >= 0); ``sell_fraction`` of the
    position sold per take-profit, in (0, 1]; ``entry_notional`` quote units per entry (> 0);
    ``max_spread_bps`` widest spread an entry accepts (bps, >= 0); ``assumed_spread_bps`` the
    spread used when the snapshot has no bid/ask (bps, >= 0).

    With ``spread`` the snapshot's ``spread_bps`` (or ``assumed_spread_bps``):

    - **take profit**: holding, no resting sell, and ``bid`` (or the mark without a book)
      ``>= average_cost * (1 + (2 * fee_taker_bps + spread + min_profit_bps) / 1e4)`` -> SELL
      LIMIT at that price of ``position_quantity * sell_fraction`` base units, reason
      ``take_profit``, ``reduce_only``; the whole position when that slice is worth less than
      ``min_notional`` (the exchange would refuse it). A whole position worth less than
      ``min_notional`` is dust: no order can sell it, so none is proposed (rather than one
      denied ``MIN_NOTIONAL`` every cycle) and the symbol counts as flat for entries, so dust
      never freezes the strategy. ``average_cost`` already includes the buy fee; charging
      the taker fee twice (the sell's own fee plus one more) is a deliberately conservative
      round-trip allowance: it still holds if the buy fee was charged in another asset or
      booked late, and the sale must also pay the spread it crosses and then the margin;
    - **conservative entry**: flat (or holding only dust), no resting buy, ``spread <= max_spread_bps`` -> BUY LIMIT
      at ``ask`` (or the mark) for ``entry_notional`` quote, reason ``conservative_entry``.

    Holding without a profit, or flat with a resting buy, gives ``None``: it never re-buys.
    Raises :class:`StrategyParamError` (naming the key) for params outside those bounds.
    """

    name: ClassVar[str] = "profit_take"

    min_profit_bps: Decimal = Decimal("30")
    sell_fraction: Decimal = Decimal("0.25")
    entry_notional: Decimal = Decimal("1000")
    max_spread_bps: Decimal = Decimal("100")
    assumed_spread_bps: Decimal = Decimal("10")

    def __post_init__(self) -> None:
        for key in ("min_profit_bps", "max_spread_bps", "assumed_spread_bps"):
            if getattr(self, key) < _ZERO:
                raise StrategyParamError(
                    f"profit_take parameter {key!r} must be >= 0, got {getattr(self, key)}"
                )
        if not _ZERO < self.sell_fraction <= _ONE:
            raise StrategyParamError(
                f"profit_take parameter 'sell_fraction' must be in (0, 1], got {self.sell_fraction}"
            )
        if self.entry_notional <= _ZERO:
            raise StrategyParamError(
                f"profit_take parameter 'entry_notional' must be > 0, got {self.entry_notional}"
            )

    def warmup_bars(self) -> int:
        """1: it prices off the snapshot, but only once the symbol has a closed bar."""
        return 1

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        """One intent or ``None`` for ``ctx.symbol`` from its snapshot and position."""
        if ctx.bars.count < 1:
            return None
        market = ctx.market
        held = ctx.position_quantity
        price = market.mark_price if market.bid is None else market.bid
        if held > _ZERO and price <= _ZERO:
            return None  # no price to value the position by
        if held > _ZERO and held * price >= ctx.min_notional:  # a position, not dust
            if ctx.open_sell:
                return None
            costs_bps = 2 * ctx.fee_taker_bps + self._spread_bps(ctx) + self.min_profit_bps
            if price < ctx.average_cost * (_ONE + costs_bps / _BPS):
                return None
            quantity = held * self.sell_fraction
            if quantity * price < ctx.min_notional:
                quantity = held
            return Intent(
                strategy=self.name,
                symbol=ctx.symbol,
                side=Side.SELL,
                price_policy=PricePolicy.LIMIT,
                reason="take_profit",
                quantity=quantity,
                limit_price=price,
                reduce_only=True,
            )
        if ctx.open_buy or self._spread_bps(ctx) > self.max_spread_bps:
            return None
        price = market.mark_price if market.ask is None else market.ask
        if price <= _ZERO:
            return None
        return Intent(
            strategy=self.name,
            symbol=ctx.symbol,
            side=Side.BUY,
            price_policy=PricePolicy.LIMIT,
            reason="conservative_entry",
            notional=self.entry_notional,
            limit_price=price,
        )

    def _spread_bps(self, ctx: StrategyContext) -> Decimal:
        spread = ctx.market.spread_bps
        return self.assumed_spread_bps if spread is None else spread

    def signal_bars(
        self, close: Sequence[float], kernels: SignalKernels = PYTHON_SIGNALS
    ) -> SignalBars:
        """No per-series summary: entries depend on the spread, exits on the average cost
        (:meth:`exit_band` gives those once the cost is known)."""
        return EVERY_BAR

    def exit_band(
        self,
        quantity: Decimal,
        average_cost: Decimal,
        fee_taker_bps: Decimal,
        min_notional: Decimal,
    ) -> ExitBand | None:
        """While ``quantity`` (> 0) is held at ``average_cost`` with no book (the assumed
        spread applies): a take-profit needs the mark at or above
        ``average_cost * (1 + (2 * fee_taker_bps + assumed_spread_bps + min_profit_bps) / 1e4)``,
        and below ``min_notional / quantity`` the position is dust and counts as flat (an entry
        may follow). Between the two :meth:`evaluate` returns ``None``."""
        if quantity <= _ZERO:
            return None
        costs_bps = 2 * fee_taker_bps + self.assumed_spread_bps + self.min_profit_bps
        take = average_cost * (_ONE + costs_bps / _BPS)
        return ExitBand(take=take, dust=min_notional / quantity)
