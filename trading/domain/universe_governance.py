"""Universe governance (issue 11, part 1): from this cycle's scores to the traded set.

:func:`universe_govern` takes the carried :class:`UniverseState` and the cycle's
:class:`~trading.domain.universe_scoring.UniverseScores` and returns the next state with the
symbols to trade. Pure and deterministic (no clock: the caller passes ``now_ms`` and the
trading day), so a backtest, a paper cycle and live govern alike; the state round-trips
through JSON (:meth:`UniverseState.as_json`, :func:`universe_state_from_json`) to be
persisted per account or run.

Rules, in order:

1. A new trading day resets the change count; expired cooldowns are dropped.
2. **Freeze.** When the exchange is degraded (``KEPT_DEGRADED``) or the data is stale
   (``KEPT_STALE``: the freshest snapshot is older than ``max_data_age_ms``, or there is no
   market data) the previous set is kept and nothing else changes. Snapshot ages are known in
   backtests too, so a replay does not freeze for ever.
3. **Reject spikes.** A candidate with at least ``reject_spike_count`` recent rejects enters a
   reject cooldown (``REJECT_SPIKE_COOLDOWN`` event) for ``reject_cooldown_ms``.
4. **Eligible**: the ranked candidates not in a removal cooldown (``REMOVAL_COOLDOWN``) or a
   reject cooldown (``REJECT_COOLDOWN``).
5. **Probation.** A newcomer among the top ``size`` eligible symbols must qualify so in
   ``probation_cycles`` cycles in a row (``PROBATION``) before the cycle that may add it;
   dropping out of the top ``size`` resets its count. 0 = added on its first qualifying cycle.
6. **Target**: the top ``size`` of the members and admissible newcomers, plus every member
   with a position (always kept so that it can exit, even beyond ``size``). Others are
   ``RANKED_OUT``; members that left the scores altogether are ``UNLISTED``.
7. **Churn cap.** The changes are the symbols added plus the symbols removed. When the day's
   count plus these would exceed ``max_changes_per_day``, the previous set is kept whole
   (``KEPT_CHURN_CAP``; blocked newcomers ``CHURN_CAP``). Filling an empty set (``SEEDED``, the
   first selection) is not counted. Removed symbols get a removal cooldown.

The traded symbols are the governed set plus every held symbol; held symbols outside the set
and members in a reject cooldown are ``exit_only`` (the planner should deny their entries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from trading.domain.symbols import Symbol, parse_symbol
from trading.domain.universe_scoring import UniverseScores


@dataclass(frozen=True, slots=True)
class GovernancePolicy:
    """Per-account governance settings; times in milliseconds. Raises ``ValueError`` for a
    ``size`` or ``reject_spike_count`` below 1 or any other value below 0."""

    size: int = 10
    removal_cooldown_ms: int = 6 * 3_600_000
    probation_cycles: int = 1
    max_changes_per_day: int = 4
    reject_spike_count: int = 3
    reject_cooldown_ms: int = 3_600_000
    max_data_age_ms: int = 900_000

    def __post_init__(self) -> None:
        if min(self.size, self.reject_spike_count) < 1:
            raise ValueError("size and reject_spike_count must be >= 1")
        others = (
            self.removal_cooldown_ms,
            self.probation_cycles,
            self.max_changes_per_day,
            self.reject_cooldown_ms,
            self.max_data_age_ms,
        )
        if min(others) < 0:
            raise ValueError(f"governance settings must be >= 0: {self}")


@dataclass(frozen=True, slots=True)
class UniverseState:
    """What governance carries between cycles (immutable; :func:`universe_govern` returns the
    next one). ``symbols`` the governed set, sorted; the cooldowns map a symbol to the epoch ms
    at which its cooldown ends; ``probation`` a newcomer's qualifying cycles so far;
    ``changes_today`` the changes counted on trading ``day``."""

    symbols: tuple[Symbol, ...] = ()
    removal_cooldowns: Mapping[Symbol, int] = field(default_factory=dict)
    reject_cooldowns: Mapping[Symbol, int] = field(default_factory=dict)
    probation: Mapping[Symbol, int] = field(default_factory=dict)
    day: date | None = None
    changes_today: int = 0

    def as_json(self) -> dict[str, object]:
        """JSON-safe form with sorted keys (deterministic for fingerprints)."""
        return {
            "symbols": [str(s) for s in self.symbols],
            "removal_cooldowns": _symbol_map_json(self.removal_cooldowns),
            "reject_cooldowns": _symbol_map_json(self.reject_cooldowns),
            "probation": _symbol_map_json(self.probation),
            "day": None if self.day is None else self.day.isoformat(),
            "changes_today": self.changes_today,
        }


def universe_state_from_json(data: Mapping[str, object]) -> UniverseState:
    """The state :meth:`UniverseState.as_json` wrote. Raises ``KeyError``/``ValueError``/
    ``TypeError`` on a malformed document."""
    day = data["day"]
    return UniverseState(
        symbols=tuple(sorted(parse_symbol(str(s)) for s in data["symbols"])),
        removal_cooldowns=_symbol_map(data["removal_cooldowns"]),
        reject_cooldowns=_symbol_map(data["reject_cooldowns"]),
        probation=_symbol_map(data["probation"]),
        day=None if day is None else date.fromisoformat(str(day)),
        changes_today=int(data["changes_today"]),
    )


@dataclass(frozen=True, slots=True)
class UniverseEvent:
    """Something governance decided, for an audit event: a stable ``code``, the symbol it is
    about (``None`` for the whole set) and a human ``detail``."""

    code: str
    symbol: Symbol | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UniverseDecision:
    """The outcome of one cycle.

    ``symbols`` to trade this cycle (governed set plus held symbols, sorted); ``state`` the
    next state; ``outcome`` one of ``SEEDED``, ``UPDATED``, ``UNCHANGED``, ``KEPT_DEGRADED``,
    ``KEPT_STALE``, ``KEPT_CHURN_CAP``; ``added``/``removed`` the changes applied;
    ``excluded`` a reason code for every scored or excluded symbol not traded; ``exit_only``
    the traded symbols whose entries should be denied.
    """

    symbols: tuple[Symbol, ...]
    state: UniverseState
    outcome: str
    added: tuple[Symbol, ...] = ()
    removed: tuple[Symbol, ...] = ()
    excluded: Mapping[Symbol, str] = field(default_factory=dict)
    exit_only: frozenset[Symbol] = frozenset()
    events: tuple[UniverseEvent, ...] = ()


def universe_govern(
    state: UniverseState,
    scores: UniverseScores,
    *,
    held: frozenset[Symbol],
    now_ms: int,
    trading_day: date,
    exchange_degraded: bool,
    policy: GovernancePolicy,
) -> UniverseDecision:
    """Apply the governance rules (module docstring) to this cycle's ``scores``.

    ``held`` the symbols with a position; ``now_ms`` the cycle time (epoch ms UTC);
    ``trading_day`` its day in the trading time zone. Never raises for valid inputs.
    """
    state = _state_roll(state, now_ms, trading_day)
    current = frozenset(state.symbols)
    frozen = _freeze_reason(scores, exchange_degraded, policy)
    if frozen is not None:
        excluded = _excluded_base(scores, current, frozen)
        return _decision(state, held, frozen, excluded, events=(UniverseEvent(frozen),))
    reject_cooldowns, events = _reject_spikes(state, scores, now_ms, policy)
    excluded = _excluded_base(scores, current, "RANKED_OUT")
    eligible = []
    for scored in scores.ranked:
        if scored.symbol in state.removal_cooldowns:
            excluded[scored.symbol] = "REMOVAL_COOLDOWN"
        elif scored.symbol in reject_cooldowns:
            excluded[scored.symbol] = "REJECT_COOLDOWN"
        else:
            eligible.append(scored.symbol)
    probation, admissible = _probation(state, eligible, current, excluded, policy)
    pool = [s for s in eligible if s in current or s in admissible]
    target = frozenset(pool[: policy.size]) | (held & current)
    state = replace(state, reject_cooldowns=reject_cooldowns, probation=probation)
    added, removed = target - current, current - target
    if not added and not removed:
        return _decision(state, held, "UNCHANGED", excluded, events=events)
    if current and state.changes_today + len(added) + len(removed) > policy.max_changes_per_day:
        for symbol in added:
            excluded[symbol] = "CHURN_CAP"
        detail = (
            f"{len(added) + len(removed)} changes with {state.changes_today} of "
            f"{policy.max_changes_per_day} used today"
        )
        events += (UniverseEvent("KEPT_CHURN_CAP", None, detail),)
        return _decision(state, held, "KEPT_CHURN_CAP", excluded, events=events)
    return _changed(state, target, added, removed, held, excluded, events, now_ms, policy)


def _state_roll(state: UniverseState, now_ms: int, trading_day: date) -> UniverseState:
    changes = state.changes_today if state.day == trading_day else 0
    return replace(
        state,
        removal_cooldowns={s: t for s, t in state.removal_cooldowns.items() if t > now_ms},
        reject_cooldowns={s: t for s, t in state.reject_cooldowns.items() if t > now_ms},
        day=trading_day,
        changes_today=changes,
    )


def _freeze_reason(
    scores: UniverseScores, exchange_degraded: bool, policy: GovernancePolicy
) -> str | None:
    if exchange_degraded:
        return "KEPT_DEGRADED"
    if scores.data_age_ms is None or scores.data_age_ms > policy.max_data_age_ms:
        return "KEPT_STALE"
    return None


def _excluded_base(
    scores: UniverseScores, current: frozenset[Symbol], code: str
) -> dict[Symbol, str]:
    """Scoring exclusions, ``code`` for ranked symbols, ``UNLISTED`` for vanished members."""
    excluded: dict[Symbol, str] = dict(scores.excluded)
    for scored in scores.ranked:
        excluded[scored.symbol] = code
    for symbol in current:
        excluded.setdefault(symbol, "UNLISTED")
    return excluded


def _reject_spikes(
    state: UniverseState, scores: UniverseScores, now_ms: int, policy: GovernancePolicy
) -> tuple[dict[Symbol, int], tuple[UniverseEvent, ...]]:
    cooldowns = dict(state.reject_cooldowns)
    events = []
    for scored in scores.ranked:
        rejects = scored.metrics.rejects
        if rejects >= policy.reject_spike_count and scored.symbol not in cooldowns:
            cooldowns[scored.symbol] = now_ms + policy.reject_cooldown_ms
            events.append(
                UniverseEvent("REJECT_SPIKE_COOLDOWN", scored.symbol, f"{rejects} recent rejects")
            )
    return cooldowns, tuple(events)


def _probation(
    state: UniverseState,
    eligible: list[Symbol],
    current: frozenset[Symbol],
    excluded: dict[Symbol, str],
    policy: GovernancePolicy,
) -> tuple[dict[Symbol, int], frozenset[Symbol]]:
    """Next probation counts and the newcomers that may be added this cycle."""
    counts: dict[Symbol, int] = {}
    admissible = set()
    for symbol in eligible[: policy.size]:
        if symbol in current:
            continue
        count = state.probation.get(symbol, 0)
        if count >= policy.probation_cycles:
            admissible.add(symbol)
            counts[symbol] = count
        else:
            counts[symbol] = count + 1
            excluded[symbol] = "PROBATION"
    return counts, frozenset(admissible)


def _changed(
    state: UniverseState,
    target: frozenset[Symbol],
    added: frozenset[Symbol],
    removed: frozenset[Symbol],
    held: frozenset[Symbol],
    excluded: dict[Symbol, str],
    events: tuple[UniverseEvent, ...],
    now_ms: int,
    policy: GovernancePolicy,
) -> UniverseDecision:
    seeding = not state.symbols
    cooldowns = dict(state.removal_cooldowns)
    for symbol in removed:
        cooldowns[symbol] = now_ms + policy.removal_cooldown_ms
    events += tuple(UniverseEvent("SYMBOL_ADDED", s) for s in sorted(added))
    events += tuple(UniverseEvent("SYMBOL_REMOVED", s, excluded[s]) for s in sorted(removed))
    state = replace(
        state,
        symbols=tuple(sorted(target)),
        removal_cooldowns=cooldowns,
        probation={s: n for s, n in state.probation.items() if s not in added},
        changes_today=state.changes_today + (0 if seeding else len(added) + len(removed)),
    )
    outcome = "SEEDED" if seeding else "UPDATED"
    return _decision(
        state,
        held,
        outcome,
        excluded,
        added=tuple(sorted(added)),
        removed=tuple(sorted(removed)),
        events=events,
    )


def _decision(
    state: UniverseState,
    held: frozenset[Symbol],
    outcome: str,
    excluded: dict[Symbol, str],
    *,
    added: tuple[Symbol, ...] = (),
    removed: tuple[Symbol, ...] = (),
    events: tuple[UniverseEvent, ...] = (),
) -> UniverseDecision:
    governed = frozenset(state.symbols)
    traded = governed | held
    for symbol in traded:
        excluded.pop(symbol, None)
    exit_only = (held - governed) | (governed & frozenset(state.reject_cooldowns))
    return UniverseDecision(
        symbols=tuple(sorted(traded)),
        state=state,
        outcome=outcome,
        added=added,
        removed=removed,
        excluded=excluded,
        exit_only=frozenset(exit_only),
        events=events,
    )


def _symbol_map_json(values: Mapping[Symbol, int]) -> dict[str, int]:
    return {str(s): values[s] for s in sorted(values)}


def _symbol_map(data: object) -> dict[Symbol, int]:
    return {parse_symbol(str(k)): int(v) for k, v in dict(data).items()}
