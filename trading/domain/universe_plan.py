"""Governed universe and adaptive parameters inside the one cycle (issue 11 wiring).

The planner's step 5 calls :func:`universe_plan` when the cycle carries a
:class:`UniverseGovernance` (scoring, governance, allow/deny): scores, then governance over the
carried :class:`~trading.domain.universe_governance.UniverseState`, then the traded symbols
limited to those the strategies can be asked about (a snapshot and rules). Without one the
planner keeps :func:`~trading.domain.universe.universe_select`, exactly as before.

:func:`governance_params_apply` maps an active parameter set onto the governance and the risk
limits (:func:`~trading.domain.adaptation_bounds.params_apply`); :func:`cycle_outcome` turns a
plan into the :class:`~trading.domain.adaptation.CycleOutcome` adaptation judges. Backtests,
paper and live call the same functions, so they govern and adapt alike. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from trading.domain.adaptation import CycleOutcome
from trading.domain.adaptation_bounds import Params, params_apply, params_read
from trading.domain.market import MarketSnapshot
from trading.domain.risk import Denial, Mode, RiskLimits
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.universe_governance import (
    GovernancePolicy,
    UniverseDecision,
    UniverseState,
    universe_govern,
)
from trading.domain.universe_scoring import ScoringPolicy, universe_score

if TYPE_CHECKING:  # the planner imports this module
    from trading.domain.planner import CyclePlan

HUNDRED = Decimal(100)
# Denials that mean the cycle hit its order cap: adaptation counts the cycle as throttled.
THROTTLE_CODES = frozenset({"MAX_ORDERS_PER_CYCLE"})
# Without governance the universe fields would change nothing: adaptation keeps to these.
UNGOVERNED_FIELDS = ("max_orders_per_cycle", "turnover_cap")


@dataclass(frozen=True, slots=True)
class UniverseGovernance:
    """How an account (or a backtest run) governs its universe: ``scoring`` (candidates with
    the allow and deny lists in ``scoring.candidates``, weights, thresholds) and
    ``governance`` (top N, probation, cooldowns, churn cap, freeze age)."""

    scoring: ScoringPolicy = ScoringPolicy()
    governance: GovernancePolicy = GovernancePolicy()


def governance_params_apply(
    params: Params, governance: UniverseGovernance | None, limits: RiskLimits
) -> tuple[UniverseGovernance | None, RiskLimits]:
    """``governance`` and ``limits`` with the adaptable fields of ``params`` in force
    (universe size, score weights, spread and volume thresholds, orders per cycle, turnover
    cap). Without governance only the limits change. Raises ``ValueError`` as the policies."""
    base = governance or UniverseGovernance()
    scoring, policy, limits = params_apply(
        params, scoring=base.scoring, governance=base.governance, limits=limits
    )
    return (None if governance is None else UniverseGovernance(scoring, policy)), limits


def adaptation_initial_params(
    governance: UniverseGovernance | None, limits: RiskLimits
) -> dict[str, Decimal]:
    """The first parameter version's fields: what ``governance`` (or the default policies)
    and ``limits`` hold; without governance only the fields that still act
    (:data:`UNGOVERNED_FIELDS`). Paper, live and backtests start adaptation from it."""
    base = governance or UniverseGovernance()
    params = params_read(scoring=base.scoring, governance=base.governance, limits=limits)
    if governance is None:
        params = {k: v for k, v in params.items() if k in UNGOVERNED_FIELDS}
    return params


def universe_plan(
    config: UniverseGovernance,
    state: UniverseState,
    *,
    market: Mapping[Symbol, MarketSnapshot],
    rules: Mapping[Symbol, ExchangeRules],
    held: frozenset[Symbol],
    rejects: Mapping[Symbol, int],
    now_ms: int,
    trading_day: date,
    exchange_degraded: bool,
) -> UniverseDecision:
    """Score and govern this cycle's universe. The decision's ``symbols`` keep only symbols
    with a snapshot and rules (a held symbol without either cannot be evaluated; it is
    excluded ``NO_MARKET_DATA`` or ``NO_RULES`` for this cycle, its state unchanged)."""
    scores = universe_score(market=market, rules=rules, policy=config.scoring, rejects=rejects)
    decision = universe_govern(
        state,
        scores,
        held=held,
        now_ms=now_ms,
        trading_day=trading_day,
        exchange_degraded=exchange_degraded,
        policy=config.governance,
    )
    missing = [s for s in decision.symbols if s not in market or s not in rules]
    if not missing:
        return decision
    excluded = dict(decision.excluded)
    for symbol in missing:
        excluded[symbol] = "NO_MARKET_DATA" if symbol not in market else "NO_RULES"
    symbols = tuple(s for s in decision.symbols if s not in excluded)
    return UniverseDecision(
        symbols=symbols,
        state=decision.state,
        outcome=decision.outcome,
        added=decision.added,
        removed=decision.removed,
        excluded=excluded,
        exit_only=decision.exit_only,
        events=decision.events,
    )


def exit_only_denial(symbol: Symbol, intent_side: object, strategy: str) -> Denial:
    """The denial of an entry (buy) on a symbol governance keeps for exits only."""
    return Denial(
        "UNIVERSE_EXIT_ONLY",
        f"{symbol} is traded for exits only (outside the governed set or in a reject cooldown)",
        symbol,
        intent_side,  # type: ignore[arg-type]
        strategy,
    )


def cycle_outcome(
    plan: CyclePlan,
    *,
    drawdown_pct: Decimal,
    previous_equity: Decimal | None,
    rejects: int = 0,
    rate_limited: bool = False,
) -> CycleOutcome:
    """What adaptation judges of one planned and executed cycle.

    ``drawdown_pct`` percent below the equity peak after this cycle (0..100, as the ledger's
    drawdown; converted to a fraction); ``previous_equity`` the previous cycle's equity
    (``None`` on the first: PnL 0), so ``pnl`` is the equity change, fees included;
    ``rejects`` orders the venue rejected this cycle; the cycle is ``throttled`` when it was
    ``rate_limited`` or a denial says it hit an order cap (:data:`THROTTLE_CODES`).
    """
    throttled = rate_limited or any(d.code in THROTTLE_CODES for d in plan.denials)
    pnl = Decimal(0) if previous_equity is None else plan.equity - previous_equity
    return CycleOutcome(
        ts_ms=plan.now_ms,
        mode=plan.mode if isinstance(plan.mode, Mode) else Mode(plan.mode),
        drawdown_pct=drawdown_pct / HUNDRED,
        pnl=pnl,
        rejects=rejects,
        throttled=throttled,
    )
