"""Mean reversion around a real anchor: the rolling mean of the last ``window`` closed bars.

The predecessor's version (reference/predecessor.md 6.2) anchored on the mark itself, so the
deviation was always 0 and only its "bootstrap" buys fired. Here the anchor is the simple
mean of the last ``window`` closes: buy ``entry_bps`` below it, sell ``exit_bps`` above it,
with an optional stop loss against the position's average cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from math import fsum
from typing import ClassVar

from trading.domain.intents import Intent, PricePolicy
from trading.domain.orders import Side
from trading.domain.strategies.base import DataclassParams, StrategyContext, StrategyParamError
from trading.domain.strategies.signals import PYTHON_SIGNALS, SignalBars, SignalKernels

_ZERO = Decimal(0)
_BPS = Decimal(10000)


@dataclass(frozen=True, slots=True)
class MeanReversion(DataclassParams):
    """Buy a dip below the rolling mean, sell the bounce above it.

    Params: ``window`` closed bars (int >= 2); ``entry_bps``, ``exit_bps``, ``stop_loss_bps``
    basis points (Decimal >= 0, below 10000; ``stop_loss_bps == 0`` turns the stop off);
    ``order_notional`` quote units per entry (Decimal > 0) or ``None`` to let allocation size it.

    Intents, with ``mean`` the mean of the last ``window`` closes and ``last`` the last close:

    - flat, no resting buy, ``last <= mean * (1 - entry_bps/1e4)`` -> BUY LIMIT at the mark,
      ``order_notional``, reason ``mean_reversion_entry``;
    - holding, no resting sell, stop on and ``mark <= average_cost * (1 - stop_loss_bps/1e4)``
      -> SELL MARKET of the whole position, reason ``stop_loss`` (checked first);
    - holding, no resting sell, ``last >= mean * (1 + exit_bps/1e4)`` -> SELL LIMIT at the mark
      of the whole position, reason ``mean_reversion_exit``.

    Sells are ``reduce_only``. Raises :class:`StrategyParamError` (naming the key) for params
    outside those bounds.
    """

    name: ClassVar[str] = "mean_reversion"

    window: int = 20
    entry_bps: Decimal = Decimal("100")
    exit_bps: Decimal = Decimal("50")
    stop_loss_bps: Decimal = Decimal("0")
    order_notional: Decimal | None = None
    _entry_factor: float = field(init=False, repr=False, compare=False)
    _exit_factor: float = field(init=False, repr=False, compare=False)
    _stop_factor: Decimal | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.window < 2:
            raise StrategyParamError(
                f"mean_reversion parameter 'window' must be >= 2, got {self.window}"
            )
        for key in ("entry_bps", "exit_bps", "stop_loss_bps"):
            value = getattr(self, key)
            if not _ZERO <= value < _BPS:
                raise StrategyParamError(
                    f"mean_reversion parameter {key!r} must be in [0, 10000), got {value}"
                )
        if self.order_notional is not None and self.order_notional <= _ZERO:
            raise StrategyParamError(
                f"mean_reversion parameter 'order_notional' must be > 0, got {self.order_notional}"
            )
        stop = 1 - self.stop_loss_bps / _BPS if self.stop_loss_bps > _ZERO else None
        object.__setattr__(self, "_entry_factor", 1.0 - float(self.entry_bps) / 1e4)
        object.__setattr__(self, "_exit_factor", 1.0 + float(self.exit_bps) / 1e4)
        object.__setattr__(self, "_stop_factor", stop)

    def warmup_bars(self) -> int:
        """``window``: the anchor is the mean of that many closed bars."""
        return self.window

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        """One intent or ``None`` for ``ctx.symbol`` from its last ``window`` closed bars."""
        bars = ctx.bars
        window = self.window
        if bars.count < window:
            return None
        holding = ctx.position_quantity > _ZERO
        if (holding and ctx.open_sell) or (not holding and ctx.open_buy):
            return None
        closes = bars.closes(window)
        mean = fsum(closes) / window
        last = closes[-1]
        mark = ctx.market.mark_price
        if holding:
            if self._stop_factor is not None and mark <= ctx.average_cost * self._stop_factor:
                return self._sell(ctx, PricePolicy.MARKET, "stop_loss", None)
            if last >= mean * self._exit_factor and mark > _ZERO:
                return self._sell(ctx, PricePolicy.LIMIT, "mean_reversion_exit", mark)
            return None
        if last <= mean * self._entry_factor and mark > _ZERO:
            return Intent(
                strategy=self.name,
                symbol=ctx.symbol,
                side=Side.BUY,
                price_policy=PricePolicy.LIMIT,
                reason="mean_reversion_entry",
                notional=self.order_notional,
                limit_price=mark,
            )
        return None

    def _sell(
        self, ctx: StrategyContext, policy: PricePolicy, reason: str, price: Decimal | None
    ) -> Intent:
        return Intent(
            strategy=self.name,
            symbol=ctx.symbol,
            side=Side.SELL,
            price_policy=policy,
            reason=reason,
            limit_price=price,
            reduce_only=True,
        )

    def signal_bars(
        self, close: Sequence[float], kernels: SignalKernels = PYTHON_SIGNALS
    ) -> SignalBars:
        """Entry bars (close at or below the entry band) when flat; exit bars when holding,
        or every bar when a stop loss is set (it depends on the average cost)."""
        means = kernels.rolling_means(close, self.window)
        entry, exit_ = kernels.band_masks(close, means, self._entry_factor, self._exit_factor)
        holding = None if self._stop_factor is not None else exit_
        return SignalBars(flat=entry, holding=holding)
