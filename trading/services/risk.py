"""Risk limits from settings, with validated per-run overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from decimal import Decimal, InvalidOperation

from django.conf import settings

from meva.errors import ApplicationError
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
    """Return ``limits`` with ``overrides`` applied (validated; see the function above)."""
    kinds = {f.name: f.type for f in fields(RiskLimits)}
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in kinds:
            raise ApplicationError(
                f"risk: unknown limit {key!r}; known: {', '.join(sorted(kinds))}"
            )
        changes[key] = _coerce(key, kinds[key], value)
    return replace(limits, **changes)


def _coerce(key: str, kind: str, value: object) -> object:
    if value is None and "None" in kind:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApplicationError(f"risk: {key}={value!r} is not a number")
    if kind == "int":
        if isinstance(value, float) or (isinstance(value, str) and not value.lstrip("-").isdigit()):
            raise ApplicationError(f"risk: {key}={value!r} is not an integer")
        number: int | Decimal = int(value)
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ApplicationError(f"risk: {key}={value!r} is not a number") from None
        if not number.is_finite():
            raise ApplicationError(f"risk: {key}={value!r} is not finite")
    if number < 0:
        raise ApplicationError(f"risk: {key}={value!r} must be >= 0")
    if key.endswith("_pct") and number > 1:
        raise ApplicationError(f"risk: {key}={value!r} is a fraction and must be <= 1")
    return number
