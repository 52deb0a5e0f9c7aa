"""The explicit strategy registry and the parameter parsing every strategy shares.

Strategies are looked up by name in :data:`STRATEGY_REGISTRY` (no import-time discovery, no
plugins) and built with :func:`build_strategy` from JSON-ish params: the values an operator
types in the admin or a backtest command reads from a file. Each strategy's params are declared
once, in :data:`STRATEGY_PARAMS`, as :class:`ParamSpec` tuples; the strategy class checks the
rules that span several params (``fast < slow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from trading.domain.strategies.base import Strategy, StrategyParamError
from trading.domain.strategies.mean_reversion import MeanReversion
from trading.domain.strategies.profit_take import ProfitTake
from trading.domain.strategies.sma_cross import SmaCross

ParamValue = int | Decimal | None


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One strategy parameter: its key, kind (``int`` or ``Decimal``), default and bounds.

    ``minimum``/``maximum`` are inclusive (``None`` = unbounded) unless ``exclusive_minimum``;
    ``nullable`` allows ``None`` (JSON ``null``) as a value.
    """

    name: str
    kind: type
    default: ParamValue
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    exclusive_minimum: bool = False
    nullable: bool = False

    def parse(self, strategy: str, raw: object) -> ParamValue:
        """Return ``raw`` as ``kind``: accepts ints, floats, Decimals and numeric strings.

        Decimals are built with ``Decimal(str(raw))``; an ``int`` param accepts integral
        values only (``10``, ``10.0``, ``"10"``). Raises :class:`StrategyParamError` naming
        the key for bools, other types, non-numbers, NaN/infinity and values out of bounds.
        """
        if raw is None and self.nullable:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
            raise self._error(strategy, f"must be a number, got {type(raw).__name__} {raw!r}")
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise self._error(strategy, f"must be a number, got {raw!r}") from None
        if not number.is_finite():
            raise self._error(strategy, f"must be a finite number, got {raw!r}")
        if self.kind is int and number != number.to_integral_value():
            raise self._error(strategy, f"must be an integer, got {raw!r}")
        self._check_bounds(strategy, number)  # before int(): "1e999999" never becomes an int
        return int(number) if self.kind is int else number

    def _check_bounds(self, strategy: str, value: Decimal) -> None:
        low, high = self.minimum, self.maximum
        if low is not None and (value <= low if self.exclusive_minimum else value < low):
            raise self._error(
                strategy, f"must be {'>' if self.exclusive_minimum else '>='} {low}, got {value}"
            )
        if high is not None and value > high:
            raise self._error(strategy, f"must be <= {high}, got {value}")

    def _error(self, strategy: str, problem: str) -> StrategyParamError:
        return StrategyParamError(f"{strategy} parameter {self.name!r} {problem}")


def _bps(name: str, default: str, maximum: str = "9999") -> ParamSpec:
    return ParamSpec(name, Decimal, Decimal(default), Decimal(0), Decimal(maximum))


STRATEGY_PARAMS: Mapping[str, tuple[ParamSpec, ...]] = MappingProxyType(
    {
        "profit_take": (
            _bps("min_profit_bps", "30"),
            ParamSpec(
                "sell_fraction",
                Decimal,
                Decimal("0.25"),
                Decimal(0),
                Decimal(1),
                exclusive_minimum=True,
            ),
            ParamSpec(
                "entry_notional", Decimal, Decimal("1000"), Decimal(0), exclusive_minimum=True
            ),
            _bps("max_spread_bps", "100", "10000"),
            _bps("assumed_spread_bps", "10", "10000"),
        ),
        "mean_reversion": (
            ParamSpec("window", int, 20, 2, 10_000),
            _bps("entry_bps", "100"),
            _bps("exit_bps", "50"),
            _bps("stop_loss_bps", "0"),
            ParamSpec(
                "order_notional", Decimal, None, Decimal(0), exclusive_minimum=True, nullable=True
            ),
        ),
        "sma_cross": (
            ParamSpec("fast", int, 10, 1, 10_000),
            ParamSpec("slow", int, 30, 1, 10_000),
        ),
    }
)
"""Each registered strategy's params, in declaration order (see the strategy's docstring)."""

STRATEGY_REGISTRY: Mapping[str, type] = MappingProxyType(
    {
        "profit_take": ProfitTake,
        "mean_reversion": MeanReversion,
        "sma_cross": SmaCross,
    }
)
"""Registry key -> strategy class; the key is also the class's ``name``."""


def strategy_params_parse(name: str, params: Mapping[str, object] | None) -> dict[str, ParamValue]:
    """Return every param of strategy ``name``: ``params`` parsed, defaults for the rest.

    Raises :class:`StrategyParamError` for an unknown strategy (listing the available names),
    a params value that is not a mapping, unknown keys (named, with the known ones) and any
    value :meth:`ParamSpec.parse` refuses.
    """
    specs = _specs(name)
    given = {} if params is None else params
    if not isinstance(given, Mapping):
        raise StrategyParamError(f"{name} params must be a mapping, got {type(given).__name__}")
    known = {spec.name for spec in specs}
    unknown = sorted(str(key) for key in given if key not in known)
    if unknown:
        raise StrategyParamError(
            f"{name} has no parameter {', '.join(map(repr, unknown))}"
            f" (known: {', '.join(spec.name for spec in specs)})"
        )
    return {
        spec.name: spec.parse(name, given[spec.name]) if spec.name in given else spec.default
        for spec in specs
    }


def build_strategy(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """Build the registered strategy ``name`` from JSON numbers or numeric strings.

    ``params`` maps param keys to values (missing keys take their defaults); the result's
    ``params`` holds the effective values and ``params_json()`` their JSON form, which this
    function accepts back. Raises :class:`StrategyParamError` naming the strategy or key.
    """
    values = strategy_params_parse(name, params)
    return STRATEGY_REGISTRY[name](**values)


def _specs(name: str) -> tuple[ParamSpec, ...]:
    specs = STRATEGY_PARAMS.get(name)
    if specs is None:
        available = ", ".join(sorted(STRATEGY_REGISTRY))
        raise StrategyParamError(f"unknown strategy {name!r} (available: {available})")
    return specs
