"""Adaptable parameters and their bounds (issue 11, part 2): what adaptation may change.

Each adaptable field is declared with a :class:`FieldBound`: :data:`DEFAULT_BOUNDS` for the
universe (size, score weights), order building (offset) and risk (per-cycle turnover cap, max
orders per cycle, max spread, min volume), plus strategy parameters that opt in
(:func:`adaptable_bounds`). Values are Decimal; integer fields hold integral Decimals. A
proposal goes through :func:`params_clamp` and is never applied raw. Used by
:mod:`trading.domain.adaptation`; :func:`params_read` and :func:`params_apply` move the fields
between the account's policies (scoring, governance, risk limits) and a parameter set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType

from trading.domain.bounds import MAX_AMOUNT
from trading.domain.risk import RiskLimits
from trading.domain.universe_governance import GovernancePolicy
from trading.domain.universe_scoring import ScoreWeights, ScoringPolicy, score_weights_normalise

Params = Mapping[str, Decimal]


class ParamBoundsError(ValueError):
    """A proposal names a field without bounds, or gives it a value that is not a number."""


@dataclass(frozen=True, slots=True)
class FieldBound:
    """Inclusive ``minimum``..``maximum`` of one field (``integer``: whole numbers only).
    Raises ``ValueError`` when the bounds are not finite or ``minimum > maximum``."""

    minimum: Decimal
    maximum: Decimal
    integer: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        if not (self.minimum.is_finite() and self.maximum.is_finite()):
            raise ValueError(f"bounds must be finite: {self.minimum}..{self.maximum}")
        if self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} above maximum {self.maximum}")


def _int(minimum: int, maximum: int, unit: str) -> FieldBound:
    return FieldBound(Decimal(minimum), Decimal(maximum), integer=True, unit=unit)


def _weight() -> FieldBound:
    return FieldBound(Decimal(0), Decimal(1), unit="score weight, normalised with the others")


DEFAULT_BOUNDS: Mapping[str, FieldBound] = MappingProxyType(
    {
        "universe_size": _int(1, 50, "symbols"),
        "weight_volume": _weight(),
        "weight_spread": _weight(),
        "weight_volatility": _weight(),
        "weight_depth": _weight(),
        "weight_rejects": _weight(),
        "order_offset_bps": FieldBound(Decimal(0), Decimal(50), unit="basis points"),
        "turnover_cap": FieldBound(Decimal(0), MAX_AMOUNT, unit="quote currency per cycle"),
        "max_orders_per_cycle": _int(1, 20, "orders"),
        "max_spread_bps": FieldBound(Decimal(10), Decimal(500), unit="basis points"),
        "min_quote_volume": FieldBound(Decimal(0), MAX_AMOUNT, unit="quote currency"),
    }
)
STRATEGY_PREFIX = "strategy."


def adaptable_bounds(
    *,
    turnover_cap_max: Decimal | None = None,
    pairs: int | None = None,
    strategy_fields: Mapping[str, FieldBound] | None = None,
) -> Mapping[str, FieldBound]:
    """:data:`DEFAULT_BOUNDS` with ``turnover_cap`` capped at ``turnover_cap_max`` (the risk
    limits' per-cycle notional, quote currency), ``universe_size`` at ``pairs`` (the
    candidates there are: an account's symbols, a dataset's pairs; at least the minimum) and
    the strategy fields that opt in, keyed ``strategy.<name>`` (e.g.
    ``{"sma_cross.fast": FieldBound(...)}``)."""
    bounds = dict(DEFAULT_BOUNDS)
    if turnover_cap_max is not None:
        bounds["turnover_cap"] = replace(bounds["turnover_cap"], maximum=turnover_cap_max)
    if pairs is not None:
        size = bounds["universe_size"]
        top = max(size.minimum, min(size.maximum, Decimal(pairs)))
        bounds["universe_size"] = replace(size, maximum=top)
    for name, bound in (strategy_fields or {}).items():
        bounds[STRATEGY_PREFIX + name] = bound
    return MappingProxyType(bounds)


@dataclass(frozen=True, slots=True)
class Clamped:
    """Clamped ``params`` and the names of the fields whose value had to move."""

    params: Params
    clamped: frozenset[str]


def params_clamp(
    proposal: Mapping[str, Decimal | int], bounds: Mapping[str, FieldBound]
) -> Clamped:
    """Every value of ``proposal`` moved into its field's bounds (integer fields rounded half
    even after clamping). ±Infinity clamps to the bound. Raises :class:`ParamBoundsError` for a
    field without bounds, a value that is not an int or Decimal, or NaN."""
    params: dict[str, Decimal] = {}
    clamped: set[str] = set()
    for name in sorted(proposal):
        bound = bounds.get(name)
        if bound is None:
            raise ParamBoundsError(f"{name}: not an adaptable field")
        value = proposal[name]
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise ParamBoundsError(f"{name}={value!r}: not a number")
        value = Decimal(value)
        if value.is_nan():
            raise ParamBoundsError(f"{name}={value}: not a number")
        result = min(max(value, bound.minimum), bound.maximum)
        if bound.integer:
            result = result.to_integral_value(rounding=ROUND_HALF_EVEN)  # whatever the context
        if result != value:
            clamped.add(name)
        params[name] = result
    return Clamped(MappingProxyType(params), frozenset(clamped))


# Where each adaptable field lives. ``order_offset_bps`` and strategy fields have no home in
# these policies: their consumers (order building, the strategy's params) read them directly.
_WEIGHTS = ("volume", "spread", "volatility", "depth", "rejects")


def params_read(
    *, scoring: ScoringPolicy, governance: GovernancePolicy, limits: RiskLimits
) -> dict[str, Decimal]:
    """The adaptable fields of an account's policies, by :data:`DEFAULT_BOUNDS` name.

    Weights come normalised to sum to 1 (same scores, inside their bounds);
    ``turnover_cap`` is ``limits.max_cycle_notional``; a ``None`` threshold or cap (no limit)
    is left out, so adaptation cannot invent one. Raises ``ValueError`` for invalid weights.
    """
    params = {
        "universe_size": Decimal(governance.size),
        "max_orders_per_cycle": Decimal(limits.max_orders_per_cycle),
    }
    weights = score_weights_normalise(scoring.weights)  # inside [0, 1], same proportions
    for name in _WEIGHTS:
        params[f"weight_{name}"] = getattr(weights, name)
    optional = {
        "max_spread_bps": scoring.max_spread_bps,
        "min_quote_volume": scoring.min_quote_volume,
        "turnover_cap": limits.max_cycle_notional,
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def params_apply(
    params: Params, *, scoring: ScoringPolicy, governance: GovernancePolicy, limits: RiskLimits
) -> tuple[ScoringPolicy, GovernancePolicy, RiskLimits]:
    """The policies with the fields ``params`` carries (as :func:`params_read` names them)
    replaced; other names are ignored. Raises ``ValueError`` as the policies' own checks."""
    weights = {n: params.get(f"weight_{n}", getattr(scoring.weights, n)) for n in _WEIGHTS}
    scoring = replace(
        scoring,
        weights=ScoreWeights(**weights),
        max_spread_bps=params.get("max_spread_bps", scoring.max_spread_bps),
        min_quote_volume=params.get("min_quote_volume", scoring.min_quote_volume),
    )
    if "universe_size" in params:
        governance = replace(governance, size=int(params["universe_size"]))
    limits = replace(
        limits,
        max_orders_per_cycle=int(params.get("max_orders_per_cycle", limits.max_orders_per_cycle)),
        max_cycle_notional=params.get("turnover_cap", limits.max_cycle_notional),
    )
    return scoring, governance, limits
