"""Risk limits from settings, with validated per-run overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace

from django.conf import settings

from meva.errors import ApplicationError
from trading.domain.bounds import BoundError, bounded, risk_limits_problems
from trading.domain.risk import RiskLimits


def risk_limits_from_settings(overrides: Mapping[str, object] | None = None) -> RiskLimits:
    """Build :class:`RiskLimits` from the ``RISK_*`` settings, then apply ``overrides``.

    ``overrides`` uses the dataclass field names (``max_position_pct``, ``cooldown_ms``...);
    fractions and notionals may be JSON numbers or numeric strings, ``*_notional`` may be
    ``null`` for "no absolute cap". Raises :class:`ApplicationError` naming a bad key or value.
    """
    limits = RiskLimits(
        cash_reserve_pct=settings.RISK_CASH_RESERVE_PCT,
        max_order_pct=settings.RISK_MAX_ORDER_PCT,
        max_cycle_pct=settings.RISK_MAX_CYCLE_PCT,
        max_position_pct=settings.RISK_MAX_POSITION_PCT,
        max_order_notional=settings.RISK_MAX_ORDER_NOTIONAL,
        max_cycle_notional=settings.RISK_MAX_CYCLE_NOTIONAL,
        max_position_notional=settings.RISK_MAX_POSITION_NOTIONAL,
        max_orders_per_cycle=settings.RISK_MAX_ORDERS_PER_CYCLE,
        cooldown_ms=settings.RISK_COOLDOWN_SECONDS * 1000,
        reduce_drawdown_pct=settings.RISK_REDUCE_DRAWDOWN_PCT,
        observe_drawdown_pct=settings.RISK_OBSERVE_DRAWDOWN_PCT,
        daily_loss_pct=settings.RISK_DAILY_LOSS_PCT,
        max_data_age_ms=settings.RISK_MAX_DATA_AGE_SECONDS * 1000,
    )
    return risk_limits_override(limits, overrides or {})


def risk_limits_override(limits: RiskLimits, overrides: Mapping[str, object]) -> RiskLimits:
    """Return ``limits`` with ``overrides`` applied, each value and the result checked by the
    shared validator (:mod:`trading.domain.bounds`, the one the ``RISK_*`` settings use).
    Raises :class:`ApplicationError` naming each bad key (``risk: key=value: problem``)."""
    known = {f.name for f in fields(RiskLimits)}
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ApplicationError(
                f"risk: unknown limit {key!r}; known: {', '.join(sorted(known))}"
            )
        try:
            changes[key] = bounded(key, value, source=f"risk: {key}")
        except BoundError as exc:
            raise ApplicationError(str(exc)) from None
    result = replace(limits, **changes)
    problems = risk_limits_problems(result, {key: f"risk: {key}" for key in known})
    if problems:
        raise ApplicationError("; ".join(problems))
    return result
