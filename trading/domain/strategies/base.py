"""The strategy protocol.

A strategy is called once per symbol per cycle with a :class:`StrategyContext` and returns an
:class:`~trading.domain.intents.Intent` or ``None``. It sees only closed bars (``ctx.bars``
ends before the bar that is still forming) and the current state; it has no clock, no I/O
and no memory between calls, so the same inputs give the same intents in a backtest, a paper
session and live.

Sizing: a BUY intent without ``notional``/``quantity`` asks for "as much as allocation allows"
(cash reserve, per-order, per-cycle and per-symbol position caps); a SELL intent without a
size means "the whole position". Indicator maths may use floats; prices in intents are Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import NamedTuple, Protocol

from trading.domain.intents import Intent
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.strategies.signals import PYTHON_SIGNALS, SignalBars, SignalKernels
from trading.domain.symbols import Symbol


class StrategyContext(NamedTuple):
    """Inputs of one strategy call for one symbol.

    ``position_quantity`` base units held (0 when flat) at ``average_cost`` quote per base
    unit (fees included). ``fee_maker_bps``/``fee_taker_bps`` are the venue's fees in basis
    points. ``open_buy``/``open_sell`` say whether an order on that side is still resting.
    ``min_notional`` is the symbol's smallest order value the exchange accepts (quote units;
    ``ExchangeRules.min_notional``, 0 when unknown): a strategy uses it to sell a position
    whole, or to leave dust alone, instead of proposing an order the rules must deny.
    """

    symbol: Symbol
    bars: BarWindow
    market: MarketSnapshot
    position_quantity: Decimal
    average_cost: Decimal
    fee_maker_bps: Decimal
    fee_taker_bps: Decimal
    open_buy: bool = False
    open_sell: bool = False
    min_notional: Decimal = Decimal(0)


class StrategyParamError(ValueError):
    """A strategy parameter is unknown, of the wrong type or out of range (names the key)."""


class Strategy(Protocol):
    """What the planner calls. ``name`` is the registry key; ``params`` the effective values."""

    name: str
    params: Mapping[str, object]

    def warmup_bars(self) -> int:
        """How many closed bars the strategy needs before it can return an intent."""
        ...

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        """Return at most one intent for ``ctx.symbol``; ``None`` for no action."""
        ...

    def signal_bars(
        self, close: Sequence[float], kernels: SignalKernels = PYTHON_SIGNALS
    ) -> SignalBars:
        """Bars of a whole close series where :meth:`evaluate` may act (see ``signals``),
        computed with ``kernels``' column passes.

        Must be causal and conservative; return ``EVERY_BAR`` when no cheap summary exists.
        """
        ...


class DataclassParams:
    """Mixin for strategies written as dataclasses: ``params`` are the ``__init__`` fields.

    ``params`` gives the effective values (ints, Decimals, ``None``); ``params_json`` the same
    with Decimals as strings, which :func:`~trading.domain.strategies.registry.build_strategy`
    accepts back.
    """

    __slots__ = ()

    @property
    def params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def params_json(self) -> dict[str, object]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in self.params.items()}
