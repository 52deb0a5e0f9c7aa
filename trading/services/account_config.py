"""Validation of an account's configuration, shared by the account services and the admin form.

:func:`account_config_clean` takes every configuration field of an
:class:`~trading.models.Account` and returns them normalized, or raises
:class:`AccountConfigError` naming the first bad field. It reads settings (fee defaults, the
``RISK_*`` limits) but not the database; uniqueness and enabling rules are the services'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.conf import settings

from meva.errors import ApplicationError
from trading.domain.bounds import BoundError, bounded
from trading.domain.strategies.base import StrategyParamError
from trading.domain.strategies.registry import STRATEGY_REGISTRY, build_strategy
from trading.domain.symbols import SymbolError, parse_symbol
from trading.domain.venue import FillModel
from trading.models import AccountMode
from trading.services.adaptive_config import (
    AdaptiveConfigError,
    adaptation_config_clean,
    universe_config_clean,
)
from trading.services.audit import json_safe
from trading.services.risk import risk_limits_from_settings

CONFIG_FIELDS = (
    "name",
    "mode",
    "strategy",
    "params",
    "risk",
    "symbols",
    "initial_balances",
    "bar_interval_s",
    "cycle_interval_s",
    "reconcile_interval_s",
    "balances_check_interval_s",
    "fee_maker_bps",
    "fee_taker_bps",
    "fill_model",
    "universe",
    "adaptation",
)
"""The fields :func:`account_config_clean` takes and returns (model field names)."""

INTERVAL_FIELDS = (
    "bar_interval_s",
    "cycle_interval_s",
    "reconcile_interval_s",
    "balances_check_interval_s",
)
MAX_INTERVAL_S = 7 * 24 * 3600
MAX_FEE_BPS = Decimal(1000)
NAME_MAX_LENGTH = 64
_SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")
_ASSET = re.compile(r"[A-Z0-9]{1,16}\Z")


class AccountConfigError(ApplicationError):
    """A configuration value is invalid; ``field`` is the model field name it concerns."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def account_config_clean(config: Mapping[str, object]) -> dict[str, object]:
    """Validate and normalize an account's configuration.

    ``config`` maps each of :data:`CONFIG_FIELDS` to its value (missing ones count as
    ``None``/empty). Rules, with the normalized result:

    - ``name``: a slug (letters, digits, ``-``, ``_``) of at most 64 characters;
    - ``mode``: ``paper`` or ``live``;
    - ``strategy`` and ``params``: built with ``build_strategy``; ``params`` becomes the
      strategy's ``params_json()`` (every param, defaults filled in, Decimals as strings);
    - ``risk``: ``RiskLimits`` overrides checked by ``risk_limits_from_settings``, kept as
      given (JSON-safe: Decimals as strings);
    - ``symbols``: a non-empty list (or a comma-separated string) of pairs that
      ``parse_symbol`` reads, no duplicates, all with one quote asset; becomes ``["BTC_TRY"]``;
    - intervals: whole seconds from 1 to 7 days;
    - ``initial_balances``: paper accounts need ``{ASSET: amount > 0}`` with at least the quote
      asset, assets among the symbols' bases and quote, amounts as decimal strings; live
      accounts must leave it empty (balances come from the exchange);
    - ``fee_maker_bps``/``fee_taker_bps``: basis points 0..1000, ``None`` = the
      ``BACKTEST_FEE_*_BPS`` settings (for live accounts an estimate used in sizing);
    - ``fill_model``: a ``FillModel`` value (``bar``, ``next_open``; used by paper venues);
    - ``universe`` and ``adaptation``: issue 11 settings, off when empty
      (:mod:`trading.services.adaptive_config`; the error names the key).

    Raises :class:`AccountConfigError` naming the field.
    """
    mode = _mode(config.get("mode"))
    strategy, params = _strategy(config.get("strategy"), config.get("params"))
    symbols, quote = _symbols(config.get("symbols"))
    cleaned: dict[str, object] = {
        "name": _name(config.get("name")),
        "mode": mode,
        "strategy": strategy,
        "params": params,
        "risk": _risk(config.get("risk")),
        "symbols": symbols,
        "initial_balances": _balances(mode, config.get("initial_balances"), symbols, quote),
        "fee_maker_bps": _fee("fee_maker_bps", config.get("fee_maker_bps")),
        "fee_taker_bps": _fee("fee_taker_bps", config.get("fee_taker_bps")),
        "fill_model": _fill_model(config.get("fill_model")),
        **_adaptive(config),
    }
    for field in INTERVAL_FIELDS:
        cleaned[field] = _interval(field, config.get(field))
    return {field: cleaned[field] for field in CONFIG_FIELDS}


def _adaptive(config: Mapping[str, object]) -> dict[str, object]:
    try:
        return {
            "universe": universe_config_clean(config.get("universe")),
            "adaptation": adaptation_config_clean(config.get("adaptation")),
        }
    except AdaptiveConfigError as exc:
        raise AccountConfigError(exc.field, exc.problem) from None


def _name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise AccountConfigError("name", "is required")
    if len(value) > NAME_MAX_LENGTH or not _SLUG.match(value):
        raise AccountConfigError(
            "name",
            f"{value!r} must be a slug (letters, digits, '-', '_') of at most "
            f"{NAME_MAX_LENGTH} characters",
        )
    return value


def _mode(value: object) -> str:
    if value not in AccountMode.values:
        raise AccountConfigError("mode", f"{value!r} is not one of {', '.join(AccountMode.values)}")
    return str(value)


def _strategy(name: object, params: object) -> tuple[str, dict[str, object]]:
    if not isinstance(name, str) or name not in STRATEGY_REGISTRY:
        available = ", ".join(sorted(STRATEGY_REGISTRY))
        raise AccountConfigError("strategy", f"unknown strategy {name!r} (available: {available})")
    try:
        strategy = build_strategy(name, params if params is not None else {})
    except StrategyParamError as exc:
        raise AccountConfigError("params", str(exc)) from None
    return name, strategy.params_json()


def _risk(value: object) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AccountConfigError("risk", "must be a JSON object of RiskLimits overrides")
    try:
        risk_limits_from_settings(value)
    except ApplicationError as exc:
        raise AccountConfigError("risk", str(exc).removeprefix("risk: ")) from None
    return json_safe(dict(value))  # type: ignore[return-value]


def _symbols(value: object) -> tuple[list[str], str]:
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list | tuple) or not value:
        raise AccountConfigError("symbols", "list at least one pair, e.g. BTC_TRY")
    symbols: list[str] = []
    for text in value:
        try:
            symbol = parse_symbol(str(text))
        except SymbolError as exc:
            raise AccountConfigError("symbols", str(exc)) from None
        if str(symbol) in symbols:
            raise AccountConfigError("symbols", f"{symbol} is listed twice")
        symbols.append(str(symbol))
    quotes = sorted({symbol.split("_")[1] for symbol in symbols})
    if len(quotes) > 1:
        raise AccountConfigError(
            "symbols", f"all pairs must share one quote asset, got {', '.join(quotes)}"
        )
    return symbols, quotes[0]


def _interval(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AccountConfigError(field, f"{value!r} is not a whole number of seconds")
    try:
        seconds = int(value)
    except ValueError:
        raise AccountConfigError(field, f"{value!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= MAX_INTERVAL_S:
        raise AccountConfigError(field, f"{seconds} must be between 1 and {MAX_INTERVAL_S} s")
    return seconds


def _balances(mode: str, value: object, symbols: list[str], quote: str) -> dict[str, str]:
    if mode == AccountMode.LIVE:
        if value:
            raise AccountConfigError(
                "initial_balances", "a live account's balances come from the exchange; leave empty"
            )
        return {}
    if not isinstance(value, Mapping) or not value:
        raise AccountConfigError(
            "initial_balances", f"a paper account needs starting balances, at least {quote}"
        )
    allowed = {quote} | {symbol.split("_")[0] for symbol in symbols}
    balances: dict[str, str] = {}
    for raw_asset, raw_amount in value.items():
        asset = str(raw_asset).strip().upper()
        if not _ASSET.match(asset) or asset not in allowed:
            raise AccountConfigError(
                "initial_balances",
                f"asset {raw_asset!r} is not traded by {', '.join(symbols)}"
                f" (allowed: {', '.join(sorted(allowed))})",
            )
        amount = _decimal(raw_amount)
        if amount is None or amount <= 0:
            raise AccountConfigError(
                "initial_balances", f"{asset}={raw_amount!r} must be a number > 0"
            )
        balances[asset] = format(amount.normalize(), "f")
    if quote not in balances:
        raise AccountConfigError("initial_balances", f"needs the quote asset {quote}")
    return balances


def _fee(field: str, value: object) -> Decimal:
    if value is None or value == "":
        default = "BACKTEST_FEE_MAKER_BPS" if field == "fee_maker_bps" else "BACKTEST_FEE_TAKER_BPS"
        return Decimal(str(getattr(settings, default)))
    try:
        return bounded(field, value if isinstance(value, str | int | Decimal) else str(value))
    except BoundError:
        raise AccountConfigError(
            field, f"{value!r} must be basis points between 0 and {MAX_FEE_BPS}"
        ) from None


def _fill_model(value: object) -> str:
    models = [model.value for model in FillModel]
    if value not in models:
        raise AccountConfigError("fill_model", f"{value!r} is not one of {', '.join(models)}")
    return str(value)


def _decimal(value: object) -> Decimal | None:
    """``Decimal(str(value))`` for numbers and numeric strings; ``None`` otherwise or if not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
