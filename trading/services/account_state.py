"""An account's carried state as JSON: the planner's ``RiskState`` and the ledger's opening
balances, read and written exactly (Decimals as strings).

``risk_state`` JSON shape::

    {"mode": "NORMAL", "mode_since_ms": 0, "mode_reasons": ["..."], "day": "2024-01-31",
     "day_start_equity": "100000", "risk_peak": "100000", "risk_peak_ms": 0,
     "last_order_ms": [["BTC_TRY", "buy", 1706659200000], ...]}

An empty dict is the initial state. Malformed JSON raises ``ApplicationError`` naming the
field (a hand-edited row must not silently reset risk).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from meva.errors import ApplicationError
from trading.domain.decimals import decimal_trim
from trading.domain.orders import Side
from trading.domain.risk import Mode, RiskState
from trading.domain.symbols import parse_symbol


def risk_state_to_json(state: RiskState) -> dict[str, object]:
    """``state`` as JSON-able data (module docstring)."""
    return {
        "mode": state.mode.value,
        "mode_since_ms": state.mode_since_ms,
        "mode_reasons": list(state.mode_reasons),
        "day": state.day.isoformat() if state.day else None,
        "day_start_equity": str(state.day_start_equity),
        "risk_peak": str(state.risk_peak),
        "risk_peak_ms": state.risk_peak_ms,
        "last_order_ms": [
            [symbol.pair_normalized, side.value, ms]
            for (symbol, side), ms in sorted(state.last_order_ms.items())
        ],
    }


def risk_state_from_json(data: Mapping[str, object] | None) -> RiskState:
    """The ``RiskState`` stored as ``data``; ``{}``/``None`` is the initial state."""
    if not data:
        return RiskState()
    try:
        day = data.get("day")
        return RiskState(
            mode=Mode(data["mode"]),
            mode_since_ms=int(data["mode_since_ms"]),
            mode_reasons=tuple(str(r) for r in data.get("mode_reasons", ())),
            day=date.fromisoformat(day) if day else None,
            day_start_equity=decimal_trim(Decimal(str(data["day_start_equity"]))),
            risk_peak=decimal_trim(Decimal(str(data["risk_peak"]))),
            risk_peak_ms=int(data["risk_peak_ms"]),
            last_order_ms={
                (parse_symbol(symbol), Side(side)): int(ms)
                for symbol, side, ms in data.get("last_order_ms", ())
            },
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ApplicationError(f"account risk_state is malformed: {exc!r}") from None


def balances_to_json(balances: Mapping[str, Decimal]) -> dict[str, str]:
    """Asset -> amount as ``{"TRY": "100000"}`` (upper-case assets, exact strings)."""
    return {asset.upper(): str(amount) for asset, amount in sorted(balances.items())}


def balances_from_json(data: Mapping[str, object] | None, *, field: str) -> dict[str, Decimal]:
    """``{"TRY": "100000"}`` -> ``{"TRY": Decimal("100000")}``; raises ``ApplicationError``
    naming ``field`` and the asset for a value that is not a finite decimal."""
    out: dict[str, Decimal] = {}
    for asset, raw in (data or {}).items():
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise ApplicationError(f"{field}: {asset}={raw!r} is not a number") from None
        if not amount.is_finite():
            raise ApplicationError(f"{field}: {asset}={raw!r} is not finite")
        out[str(asset).upper()] = decimal_trim(amount)
    return out
