"""An account's universe governance and adaptation settings (issue 11): validation and the
domain policies they build. Both are off by default (``{}``).

``universe`` JSON (every key optional; defaults are the domain's)::

    {"enabled": true, "size": 3, "weights": {"volume": "0.4", "spread": "0.25",
     "volatility": "0.15", "depth": "0.1", "rejects": "0.1"}, "allow": ["BTC_TRY"],
     "deny": ["USDT_TRY"], "probation_cycles": 1, "removal_cooldown_s": 21600,
     "max_changes_per_day": 4, "reject_spike_count": 3, "reject_cooldown_s": 3600,
     "reject_window_s": 3600, "max_spread_bps": "50", "min_quote_volume": "100000",
     "volume_bars": 12, "volatility_bars": 20, "prefer_volatile": false,
     "max_data_age_s": 900}

The candidates are the account's ``symbols`` (the cycle reads market data for those only),
narrowed by ``allow``/``deny``; ``size`` is the top N traded. ``max_data_age_s`` defaults to
the risk limits' ``max_data_age_ms``.

``adaptation`` JSON::

    {"enabled": true, "window_cycles": 5, "max_drawdown_pct": "0.10",
     "near_drawdown_share": "0.8", "reject_spike_count": 3, "throttle_cycles": 3,
     "loss_cycles": 3, "loss_threshold": "0", "max_fields_per_change": 3,
     "offset_step_bps": "2", "turnover_down": "0.95", "turnover_up": "1.05"}

Errors raise :class:`~trading.services.account_config.AccountConfigError` on the field
(``universe`` or ``adaptation``) with a message naming the key, e.g.
``universe: weights.volume: '-1' must be a number >= 0``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from meva.errors import ApplicationError
from trading.domain.adaptation import AdaptationPolicy
from trading.domain.bounds import MAX_AMOUNT
from trading.domain.risk import RiskLimits
from trading.domain.symbols import SymbolError, parse_symbol
from trading.domain.universe_governance import GovernancePolicy
from trading.domain.universe_plan import UniverseGovernance
from trading.domain.universe_scoring import CandidatePolicy, ScoreWeights, ScoringPolicy

WEIGHTS = ("volume", "spread", "volatility", "depth", "rejects")
MAX_SECONDS = 30 * 86_400
DEFAULT_REJECT_WINDOW_S = 3600


class AdaptiveConfigError(ApplicationError):
    """A universe or adaptation setting is invalid: ``field`` (``universe`` or
    ``adaptation``), ``key`` within it and ``problem``."""

    def __init__(self, field: str, key: str, problem: str) -> None:
        self.field = field
        self.key = key
        self.problem = f"{key}: {problem}"
        super().__init__(f"{field}: {key}: {problem}")


def _int(low: int, high: int) -> Callable[[str, str, object], int]:
    def check(field: str, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise AdaptiveConfigError(field, key, f"{value!r} must be a whole number")
        try:
            number = int(value)
        except ValueError:
            raise AdaptiveConfigError(field, key, f"{value!r} must be a whole number") from None
        if not low <= number <= high:
            raise AdaptiveConfigError(field, key, f"{number} must be between {low} and {high}")
        return number

    return check


def _dec(low: Decimal, high: Decimal) -> Callable[[str, str, object], str]:
    def check(field: str, key: str, value: object) -> str:
        number = None
        if not isinstance(value, bool) and isinstance(value, int | str | Decimal | float):
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite() or abs(number.as_tuple().exponent) > 20:
            raise AdaptiveConfigError(field, key, f"{value!r} must be a number")
        if not low <= number <= high:
            raise AdaptiveConfigError(field, key, f"{value!r} must be between {low} and {high}")
        return format(number.normalize(), "f")

    return check


def _optional(check: Callable[[str, str, object], object]) -> Callable[[str, str, object], object]:
    def optional(field: str, key: str, value: object) -> object:
        return None if value is None else check(field, key, value)

    return optional


def _bool(field: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AdaptiveConfigError(field, key, f"{value!r} must be true or false")
    return value


def _symbols(field: str, key: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, list | tuple):
        raise AdaptiveConfigError(field, key, 'must be a list of pairs, e.g. ["BTC_TRY"]')
    try:
        return sorted({str(parse_symbol(str(v))) for v in value})
    except SymbolError as exc:
        raise AdaptiveConfigError(field, key, str(exc)) from None


def _weights(field: str, key: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise AdaptiveConfigError(field, key, f"must be an object with keys {', '.join(WEIGHTS)}")
    unknown = sorted(set(map(str, value)) - set(WEIGHTS))
    if unknown:
        raise AdaptiveConfigError(
            field, f"{key}.{unknown[0]}", f"unknown weight (known: {', '.join(WEIGHTS)})"
        )
    check = _dec(Decimal(0), Decimal(1000))
    return {name: check(field, f"{key}.{name}", value[name]) for name in WEIGHTS if name in value}


FRACTION = _dec(Decimal(0), Decimal(1))
UNIVERSE_KEYS: dict[str, Callable[[str, str, object], object]] = {
    "enabled": _bool,
    "size": _int(1, 50),
    "weights": _weights,
    "allow": _symbols,
    "deny": _symbols,
    "probation_cycles": _int(0, 1000),
    "removal_cooldown_s": _int(0, MAX_SECONDS),
    "max_changes_per_day": _int(0, 1000),
    "reject_spike_count": _int(1, 1000),
    "reject_cooldown_s": _int(0, MAX_SECONDS),
    "reject_window_s": _int(1, MAX_SECONDS),
    "max_spread_bps": _optional(_dec(Decimal(0), Decimal(10000))),
    "min_quote_volume": _optional(_dec(Decimal(0), MAX_AMOUNT)),
    "volume_bars": _int(1, 10_000),
    "volatility_bars": _int(1, 10_000),
    "prefer_volatile": _bool,
    "max_data_age_s": _int(1, MAX_SECONDS),
}
ADAPTATION_KEYS: dict[str, Callable[[str, str, object], object]] = {
    "enabled": _bool,
    "window_cycles": _int(1, 10_000),
    "max_drawdown_pct": FRACTION,
    "near_drawdown_share": FRACTION,
    "reject_spike_count": _int(1, 1000),
    "throttle_cycles": _int(0, 10_000),
    "loss_cycles": _int(0, 10_000),
    "loss_threshold": _dec(Decimal(0), MAX_AMOUNT),
    "max_fields_per_change": _int(1, 20),
    "offset_step_bps": _dec(Decimal(0), Decimal(1000)),
    "turnover_down": FRACTION,
    "turnover_up": _dec(Decimal(1), Decimal(10)),
}


def _clean(field: str, value: object, keys: Mapping[str, Callable]) -> dict[str, object]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise AdaptiveConfigError(field, "(value)", "must be a JSON object")
    unknown = sorted(set(map(str, value)) - set(keys))
    if unknown:
        raise AdaptiveConfigError(field, unknown[0], f"unknown key (known: {', '.join(keys)})")
    return {key: keys[key](field, key, value[key]) for key in keys if key in value}


def universe_config_clean(value: object) -> dict[str, object]:
    """The ``universe`` settings normalized (only the keys given; Decimals as strings, lists
    of pairs sorted), checked by building the policies. Raises :class:`AdaptiveConfigError`."""
    cleaned = _clean("universe", value, UNIVERSE_KEYS)
    try:
        universe_governance_build(cleaned, RiskLimits(), force=True)
    except ValueError as exc:
        raise AdaptiveConfigError("universe", "(settings)", str(exc)) from None
    return cleaned


def adaptation_config_clean(value: object) -> dict[str, object]:
    """The ``adaptation`` settings normalized, checked by building the policy (the window must
    hold the throttle and loss runs). Raises :class:`AdaptiveConfigError`."""
    cleaned = _clean("adaptation", value, ADAPTATION_KEYS)
    try:
        adaptation_policy_build(cleaned)
    except ValueError as exc:
        raise AdaptiveConfigError("adaptation", "window_cycles", str(exc)) from None
    return cleaned


def universe_governance_build(
    config: Mapping[str, object], limits: RiskLimits, *, quote: str = "TRY", force: bool = False
) -> UniverseGovernance | None:
    """The policies of cleaned ``universe`` settings for pairs quoted in ``quote``; ``None``
    unless ``enabled`` (or ``force``). Times in seconds become milliseconds; ``max_data_age_s`` defaults to
    ``limits.max_data_age_ms``. Raises ``ValueError`` as the domain policies."""
    if not (config.get("enabled") or force):
        return None
    age_ms = int(config.get("max_data_age_s", limits.max_data_age_ms // 1000)) * 1000
    weights = {k: Decimal(v) for k, v in dict(config.get("weights", {})).items()}
    optional = {
        k: Decimal(str(config[k]))
        for k in ("max_spread_bps", "min_quote_volume")
        if config.get(k) is not None
    }
    scoring = ScoringPolicy(
        candidates=CandidatePolicy(
            quote=quote,
            allow=frozenset(parse_symbol(s) for s in config.get("allow", ())),
            deny=frozenset(parse_symbol(s) for s in config.get("deny", ())),
        ),
        weights=ScoreWeights(**weights),
        volume_bars=int(config.get("volume_bars", 12)),
        volatility_bars=int(config.get("volatility_bars", 20)),
        max_data_age_ms=age_ms,
        prefer_volatile=bool(config.get("prefer_volatile", False)),
        **optional,
    )
    governance = GovernancePolicy(
        size=int(config.get("size", 10)),
        removal_cooldown_ms=int(config.get("removal_cooldown_s", 6 * 3600)) * 1000,
        probation_cycles=int(config.get("probation_cycles", 1)),
        max_changes_per_day=int(config.get("max_changes_per_day", 4)),
        reject_spike_count=int(config.get("reject_spike_count", 3)),
        reject_cooldown_ms=int(config.get("reject_cooldown_s", 3600)) * 1000,
        max_data_age_ms=age_ms,
    )
    return UniverseGovernance(scoring, governance)


def adaptation_policy_build(config: Mapping[str, object]) -> AdaptationPolicy:
    """The :class:`AdaptationPolicy` of cleaned ``adaptation`` settings. Raises
    ``ValueError`` as the policy."""
    decimals = {
        "max_drawdown_pct",
        "near_drawdown_share",
        "loss_threshold",
        "offset_step_bps",
        "turnover_down",
        "turnover_up",
    }
    kwargs = {
        key: (Decimal(str(value)) if key in decimals else value) for key, value in config.items()
    }
    return AdaptationPolicy(**kwargs)


def reject_window_ms(config: Mapping[str, object]) -> int:
    """The window recent rejects are counted over for scoring and reject spikes, ms."""
    return int(config.get("reject_window_s", DEFAULT_REJECT_WINDOW_S)) * 1000
