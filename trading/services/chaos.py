"""The fault campaign (``manage.py chaos``): seeded scenarios of paper and live-mode accounts
trading against the sandbox exchange under mixed faults, with the platform's invariants
checked after every cycle.

A scenario (:func:`scenario_plan`, a pure function of ``(seed, index)``) is one account, a
fresh sandbox exchange over a replay dataset, and a mix drawn from:

- ``order_timeout=R:drop``: the exchange accepts an order and the answer is lost;
- ``http429=R:S``: 429 storms with ``Retry-After: S``;
- ``http5xx=R:503``: 5xx on reads and on writes (decided before the request is handled);
- ``ws_drop=R``: websocket drops (the account's cycles take quotes from the feed);
- ``trade_dup=R``: duplicate and out-of-order user-trade reports;
- partial fills: the sandbox fills resting orders up to a share of each bar's volume;
- exchange-side cancels: the exchange cancels one of the account's open orders itself;
- clock skew: the exchange's clock runs up to 4.9 s off the host's (±5 s is BTCTurk's window).

Each cycle closes one bar, maybe cancels an order on the exchange side, runs ``cycle_run``
and then ``orders_reconcile`` (as beat would), with the faults active, then checks
(:func:`invariants_check`):

``unique_client_ids``
    no two exchange orders (the sandbox's records; for paper, the paper venue's) share a
    client order id;
``trades_once``
    the ledger holds no trade twice and none the exchange does not have; once the cycle and
    its reconciliation both completed, every exchange trade is in it (exactly once);
``balances``
    the ledger's running balances equal the sum of its entries, and (when settled, as above)
    the exchange's balances per asset;
``unknown_bound``
    an ``UNKNOWN`` order past ``RECONCILE_MAX_PROBES`` probes has escalated (an open
    ``UNKNOWN_ORDER_UNRESOLVED`` alert; the next cycle is ``OBSERVE_ONLY``, see ``risk_mode``);
``risk_mode``
    the last cycle's risk mode agrees with its inputs: ``OBSERVE_ONLY`` while an escalated
    ``UNKNOWN`` order exists, at most ``REDUCE_RISK_ONLY`` while a ``BALANCE_DRIFT`` alert is
    open, and every mode but ``NORMAL`` states its reasons.

At the end of a scenario the faults stop, the exchange clock is put right, and reconciliation
runs until every lost answer is resolved (adopted, or never accepted after
``RECONCILE_ABSENT_MIN_AGE_S``, 2.5 s here with a 2 s client timeout); then every invariant must
hold in full, and no order may be ``UNKNOWN``.

The exchange's truth is read from the sandbox in process (never through the faulty wire).
The rate limiter's periods are divided by ``time_scale`` (default 60: as if each bar, which
closes every few milliseconds here, took a second), as ``bench/cycle_overhead.py`` does.

Safety: the campaign arms the live gate in the database it runs on (the exchange is the
loopback sandbox, so no real order can be placed); :func:`chaos_database_check` refuses a
database with accounts of its own (``make chaos`` uses a throwaway SQLite file).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ledger.models import LedgerFill
from ledger.selectors import ledger_balances, ledger_balances_summed
from meva.errors import ApplicationError
from replay.domain.dataset import ReplayDataset, load_dataset
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.exchange.btcturk.client import btcturk_clients_close
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import Account, Alert, Cycle, Order, PaperBalance, PaperOrder, PaperTrade
from trading.services.account_state import balances_from_json
from trading.services.accounts import account_create
from trading.services.audit import actor_for_command
from trading.services.control import control_arm, control_disarm, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.market_feed import market_feeds_stop
from trading.services.reconcile import balances_check, orders_reconcile

logger = logging.getLogger(__name__)

ACTOR = actor_for_command("chaos")
PREFIX = "chaos-"
INVARIANTS = ("unique_client_ids", "trades_once", "balances", "unknown_bound", "risk_mode")
CASH = Decimal(100_000)
SYMBOLS = ("BTC_TRY", "ETH_TRY")
# Strategies tuned to trade most bars, so faults meet orders.
STRATEGIES = (
    ("mean_reversion", {"window": 3, "entry_bps": 2, "exit_bps": 1, "order_notional": 5000}),
    ("profit_take", {"min_profit_bps": 5, "sell_fraction": "0.5", "entry_notional": 4000}),
    ("sma_cross", {"fast": 2, "slow": 4}),
)
# SQLite stores decimals as REAL: 15 significant digits survive (PostgreSQL is exact).
SQLITE_RELATIVE_PRECISION = Decimal("1e-14")
RISK_ORDER = {"NORMAL": 0, "REDUCE_RISK_ONLY": 1, "OBSERVE_ONLY": 2}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario's draw (:func:`scenario_plan`). ``faults`` is a sandbox ``--faults`` spec;
    ``cancel_rate`` the chance per cycle that the exchange cancels one open order itself;
    ``max_volume_share`` the sandbox's per-bar fill cap (partial fills; ``None`` = none)."""

    index: int
    seed: int
    mode: str
    strategy: str
    params: dict
    faults: str
    clock_skew_ms: int
    cancel_rate: float
    max_volume_share: Decimal | None
    websocket: bool
    cycles: int
    tag: str = ""  # "kill-" for the crash campaign's accounts (trading.services.chaos_kill)

    @property
    def account(self) -> str:
        return f"{PREFIX}{self.tag}{self.seed}-{self.index:04d}"

    @property
    def label(self) -> str:
        parts = [self.strategy, self.faults.rsplit(",seed=", 1)[0] or "no wire faults"]
        if self.clock_skew_ms:
            parts.append(f"skew={self.clock_skew_ms:+d}ms")
        if self.cancel_rate:
            parts.append(f"exchange_cancel={self.cancel_rate:g}")
        if self.max_volume_share is not None:
            parts.append(f"partial={self.max_volume_share}")
        return " ".join(parts)


def scenario_plan(*, seed: int, index: int, cycles: int) -> Scenario:
    """The ``index``-th scenario of campaign ``seed`` (deterministic; every fault kind is
    drawn with probability about one half, and at least one is always present)."""
    rng = random.Random(f"chaos:{seed}:{index}")
    mode = "live" if rng.random() < 0.7 else "paper"
    strategy, params = rng.choice(STRATEGIES)
    items: list[str] = []
    if mode == "live" and rng.random() < 0.5:
        items.append(f"order_timeout={rng.choice((0.1, 0.2, 0.35))}:drop")
    if rng.random() < 0.4:
        items.append(f"http429={rng.choice((0.02, 0.05, 0.1))}:{rng.choice((0, 1))}")
    if rng.random() < 0.5:
        items.append(f"http5xx={rng.choice((0.02, 0.05, 0.1))}:{rng.choice((500, 502, 503))}")
    websocket = rng.random() < 0.3
    if websocket:
        items.append(f"ws_drop={rng.choice((0.05, 0.2))}")
    if mode == "live" and rng.random() < 0.5:
        items.append(f"trade_dup={rng.choice((0.2, 0.5))}")
    skew = 0
    if rng.random() < 0.4:
        skew = rng.choice((-1, 1)) * rng.randint(3_500, 4_900)
    cancel_rate = rng.choice((0.2, 0.4)) if mode == "live" and rng.random() < 0.5 else 0.0
    share = rng.choice((Decimal("0.02"), Decimal("0.1"))) if rng.random() < 0.5 else None
    if not items and not skew and not cancel_rate and share is None:
        items.append("http5xx=0.1:503")
    items.append(f"seed={rng.randrange(1 << 30)}")
    return Scenario(
        index=index,
        seed=seed,
        mode=mode,
        strategy=strategy,
        params=params,
        faults=",".join(items),
        clock_skew_ms=skew,
        cancel_rate=cancel_rate,
        max_volume_share=share,
        websocket=websocket,
        cycles=cycles,
    )


@dataclass(frozen=True, slots=True)
class Violation:
    scenario: int
    cycle: int  # 0-based; -1 = the final check
    invariant: str
    detail: str

    def __str__(self) -> str:
        when = "final" if self.cycle < 0 else f"cycle {self.cycle + 1}"
        return f"scenario {self.scenario} {when}: {self.invariant}: {self.detail}"


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    statuses: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    fills: int = 0
    exchange_cancels: int = 0
    reconcile_errors: int = 0
    settled_checks: int = 0
    faults_fired: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(slots=True)
class _Truth:
    """What the exchange (or the paper venue) really holds for one account."""

    client_ids: list[str]
    trade_ids: list[str]
    balances: dict[str, Decimal]


def chaos_database_check() -> None:
    """Raise ``ApplicationError`` unless every account in the database is a chaos account:
    the campaign arms the live gate here."""
    others = list(
        Account.objects.exclude(name__startswith=PREFIX).values_list("name", flat=True)[:5]
    )
    if others:
        raise ApplicationError(
            "chaos arms the live gate in the database it runs on and needs a throwaway one "
            f"(make chaos uses var/chaos.sqlite3); this one has accounts: {', '.join(others)}"
        )


def chaos_run(
    *,
    scenarios: int,
    seed: int,
    cycles: int = 12,
    dataset: ReplayDataset | Path,
    warmup: int = 40,
    time_scale: float = 60.0,
    first: int = 0,
    progress: Callable[[ScenarioResult], None] | None = None,
    after_cycle: Callable[[SandboxServer, Scenario, int], None] | None = None,
) -> list[ScenarioResult]:
    """Run scenarios ``first .. first + scenarios - 1`` of campaign ``seed`` (module
    docstring) and return their results; ``progress`` gets each result as it finishes;
    ``after_cycle(sandbox, scenario, step)`` runs after each cycle's reconciliation, before
    the checks (tests plant faults the checks must catch). Raises ``ApplicationError`` when the
    database is not a throwaway one."""
    chaos_database_check()
    if not isinstance(dataset, ReplayDataset):
        dataset = load_dataset(dataset)
    operator, _ = get_user_model().objects.get_or_create(username="chaos")
    results = []
    with scaled_rate_limits(time_scale):
        for index in range(first, first + scenarios):
            plan = scenario_plan(seed=seed, index=index, cycles=cycles)
            if Account.objects.filter(name=plan.account).exists():
                raise ApplicationError(
                    f"account {plan.account} exists: campaign {seed} already ran here "
                    "(use another --seed or a fresh database)"
                )
            result = _scenario_run(plan, dataset, warmup, operator, after_cycle)
            results.append(result)
            if progress is not None:
                progress(result)
    return results


def _scenario_run(
    plan: Scenario,
    dataset: ReplayDataset,
    warmup: int,
    operator,
    after_cycle: Callable[[SandboxServer, Scenario, int], None] | None,
) -> ScenarioResult:
    started = time.perf_counter()
    result = ScenarioResult(plan)
    rng = random.Random(f"chaos-cancels:{plan.seed}:{plan.index}")
    sandbox = start_sandbox(
        dataset,
        balances={"TRY": CASH},
        warmup_steps=warmup,
        publish_interval_s=0.05 if plan.websocket else 3600.0,
        max_volume_share=plan.max_volume_share,
        seed=plan.index,
    )
    try:
        with override_settings(**_scenario_settings(sandbox, plan)):
            reconciled_accounts_forget()
            campaign_account_open(plan, operator, campaign="chaos")
            sandbox.faults.configure(plan.faults)
            sandbox.exchange.clock_skew_ms = plan.clock_skew_ms
            for step in range(plan.cycles):
                sandbox.advance(1)
                if plan.cancel_rate and rng.random() < plan.cancel_rate:
                    result.exchange_cancels += _exchange_cancel(sandbox, rng)
                cycle = cycle_run(account_name=plan.account, actor=ACTOR)
                result.statuses[cycle.status] += 1
                settled = cycle.status == "completed"
                try:
                    sync = orders_reconcile(account_name=plan.account, actor=ACTOR)
                    settled = settled and not sync.skipped
                except Exception:  # faults reach the periodic reconciliation too
                    result.reconcile_errors += 1
                    settled = False
                result.settled_checks += settled
                if after_cycle is not None:
                    after_cycle(sandbox, plan, step)
                result.violations += invariants_check(
                    sandbox, plan, step=step, settled=settled, final=False
                )
            sandbox.faults.clear()
            sandbox.exchange.clock_skew_ms = 0
            settle(plan.account)
            balances_check(account_name=plan.account, actor=ACTOR)
            result.violations += invariants_check(sandbox, plan, step=-1, settled=True, final=True)
            result.faults_fired = Counter(sandbox.faults.fired)
            result.orders = Order.objects.filter(account=plan.account).count()
            result.fills = LedgerFill.objects.filter(account=plan.account).count()
            control_disarm(user=operator, reason="chaos: scenario done")
    finally:
        market_feeds_stop()
        btcturk_clients_close()
        reconciled_accounts_forget()
        sandbox.stop(wait=False)
    result.seconds = time.perf_counter() - started
    return result


def campaign_account_open(plan: Scenario, operator, *, campaign: str) -> None:
    """Arm the gate for the loopback sandbox (kill switch released, trading armed, audited as
    ``campaign``) and create ``plan``'s account (paper with ``CASH`` TRY, or live)."""
    reason = f"{campaign}: loopback sandbox only"
    kill_switch_release(user=operator, reason=reason)
    control_arm(user=operator, reason=reason, acknowledgement=LIVE_TRADING_ACK_PHRASE)
    account_create(
        name=plan.account,
        mode=plan.mode,
        strategy=plan.strategy,
        params=plan.params,
        symbols=list(SYMBOLS),
        balances={"TRY": CASH} if plan.mode == "paper" else None,
        actor=ACTOR,
    )


def settle(account: str) -> None:
    """The faults have stopped: reconcile until every lost answer is resolved, waiting for
    ``RECONCILE_ABSENT_MIN_AGE_S`` where an order may have been never accepted (at most
    ``RECONCILE_ABSENT_PROBES + 1`` passes)."""
    for _ in range(settings.RECONCILE_ABSENT_PROBES + 1):
        pending = absent_age_wait(account)
        orders_reconcile(account_name=account, actor=ACTOR)
        if not pending:
            return


def absent_age_wait(account: str) -> bool:
    """Sleep until the newest order of ``account`` that has no exchange id yet (sent or not:
    ``NEW``, ``SUBMITTED``, ``UNKNOWN``) is ``RECONCILE_ABSENT_MIN_AGE_S`` old, when
    reconciliation may conclude that the exchange never accepted it. False if there is none."""
    pending = Order.objects.filter(
        account=account, status__in=("NEW", "UNKNOWN", "SUBMITTED"), exchange_order_id=""
    ).order_by("-id")
    newest = pending.first()
    if newest is None:
        return False
    sent = newest.submitted_at or newest.created_at
    wait = float(settings.RECONCILE_ABSENT_MIN_AGE_S) - (timezone.now() - sent).total_seconds()
    if wait > 0:
        time.sleep(wait)
    return True


def _exchange_cancel(sandbox: SandboxServer, rng: random.Random) -> int:
    """The exchange cancels one open order of the sandbox's account by itself: 1 if it did."""
    exchange = sandbox.exchange
    with exchange.lock:
        account = exchange.account(sandbox.api_key)
        open_orders = account.open_orders() if account is not None else []
        if not open_orders:
            return 0
        victim = rng.choice(open_orders)
    return int(exchange.cancel_by_exchange(sandbox.api_key, victim.exchange_id) is None)


def invariants_check(
    sandbox: SandboxServer, plan: Scenario, *, step: int, settled: bool, final: bool
) -> list[Violation]:
    """Check the invariants of the module docstring for ``plan``'s account after cycle
    ``step`` (``-1`` final). ``settled`` = the cycle and its reconciliation completed, so the
    ledger must hold everything the exchange does; ``final`` also requires no ``UNKNOWN``."""
    account = Account.objects.get(name=plan.account)
    truth = _truth(sandbox, account)
    out: list[Violation] = []

    def violation(invariant: str, detail: str) -> None:
        out.append(Violation(plan.index, step, invariant, detail))

    shared = [cid for cid, n in Counter(truth.client_ids).items() if n > 1]
    if shared:
        violation("unique_client_ids", f"client order ids sent twice: {shared[:3]}")

    ledger_ids = list(
        LedgerFill.objects.filter(account=account.name).values_list("trade_id", flat=True)
    )
    twice = [tid for tid, n in Counter(ledger_ids).items() if n > 1]
    if twice:
        violation("trades_once", f"trades booked twice: {twice[:3]}")
    phantom = set(ledger_ids) - set(truth.trade_ids)
    if phantom:
        violation("trades_once", f"ledger trades the exchange does not have: {sorted(phantom)[:3]}")
    missing = set(truth.trade_ids) - set(ledger_ids)
    if settled and missing:
        violation("trades_once", f"exchange trades missing from the ledger: {sorted(missing)[:3]}")

    opening = balances_from_json(account.initial_balances, field="initial_balances")
    running = ledger_balances(account=account.name, opening=opening)
    summed = ledger_balances_summed(account=account.name, opening=opening)
    if not _same_balances(running, summed):
        violation("balances", f"running balances {running} != summed entries {summed}")
    if settled and account.initial_balances and not _same_balances(summed, truth.balances):
        violation("balances", f"ledger {_nonzero(summed)} != exchange {_nonzero(truth.balances)}")

    bound = settings.RECONCILE_MAX_PROBES
    unknown = Order.objects.filter(account=account.name, status="UNKNOWN")
    escalated = unknown.filter(probe_count__gte=bound).count()
    if final and unknown.exists():
        ids = list(unknown.values_list("client_order_id", flat=True)[:3])
        violation("unknown_bound", f"UNKNOWN after the final reconciliation: {ids}")
    last = Cycle.objects.filter(account=account.name, status="completed").order_by("-id").first()
    alerted = Alert.objects.filter(
        account=account.name, kind="UNKNOWN_ORDER_UNRESOLVED", acknowledged_at__isnull=True
    ).count()
    if escalated > alerted:
        violation("unknown_bound", f"{escalated} UNKNOWN past {bound} probes, {alerted} alerts")
    if last is not None:
        out += [
            Violation(plan.index, step, "risk_mode", problem)
            for problem in _risk_mode_problems(account, last)
        ]
    return out


def _risk_mode_problems(account: Account, cycle: Cycle) -> list[str]:
    mode = cycle.risk_mode or "NORMAL"
    problems = []
    if mode != "NORMAL" and not cycle.mode_reasons:
        problems.append(f"cycle {cycle.pk} is {mode} without a reason")
    started = cycle.started_at
    escalated_before = Order.objects.filter(
        account=account.name,
        status="UNKNOWN",
        probe_count__gte=settings.RECONCILE_MAX_PROBES,
        last_probe_at__lt=started,
    ).exists()
    if escalated_before and mode != "OBSERVE_ONLY":
        problems.append(f"cycle {cycle.pk} is {mode} with an escalated UNKNOWN order")
    drift_open = Alert.objects.filter(
        account=account.name,
        kind="BALANCE_DRIFT",
        acknowledged_at__isnull=True,
        first_seen__lt=started,
    ).exists()
    if drift_open and RISK_ORDER.get(mode, 2) < RISK_ORDER["REDUCE_RISK_ONLY"]:
        problems.append(f"cycle {cycle.pk} is {mode} with an open BALANCE_DRIFT alert")
    return problems


def _truth(sandbox: SandboxServer, account: Account) -> _Truth:
    if account.is_live:
        exchange = sandbox.exchange
        with exchange.lock:
            venue_account = exchange.account(sandbox.api_key)
            client_ids = [r.client_order_id for r in venue_account.orders.values()]
            trade_ids = [str(t.trade_id) for t in venue_account.trades]
            balances = {a: b.total for a, b in venue_account.venue.balances().items()}
        return _Truth(client_ids, trade_ids, balances)
    client_ids = list(
        PaperOrder.objects.filter(account=account.name).values_list("client_order_id", flat=True)
    )
    trade_ids = list(
        PaperTrade.objects.filter(account=account.name).values_list("trade_id", flat=True)
    )
    balances = {
        row.asset: row.free + row.locked
        for row in PaperBalance.objects.filter(account=account.name)
    }
    return _Truth(client_ids, trade_ids, balances)


def _same_balances(ours: dict[str, Decimal], theirs: dict[str, Decimal]) -> bool:
    """Equal per asset: exactly on PostgreSQL (NUMERIC); on SQLite, which keeps decimals as
    REAL (15 significant digits), to that precision."""
    ours, theirs = _nonzero(ours), _nonzero(theirs)
    if connection.vendor != "sqlite":
        return ours == theirs
    for asset in set(ours) | set(theirs):
        a, b = ours.get(asset, Decimal(0)), theirs.get(asset, Decimal(0))
        if abs(a - b) > max(abs(a), abs(b)) * SQLITE_RELATIVE_PRECISION:
            return False
    return True


def _nonzero(balances: dict[str, Decimal]) -> dict[str, Decimal]:
    return {asset.upper(): amount for asset, amount in balances.items() if amount}


def _scenario_settings(sandbox: SandboxServer, plan: Scenario) -> dict[str, object]:
    return sandbox_settings(
        base_url=sandbox.base_url,
        graph_url=sandbox.graph_url,
        ws_url=sandbox.ws_url,
        api_key=sandbox.api_key,
        api_secret=sandbox.api_secret,
        websocket=plan.websocket,
    )


def sandbox_settings(
    *, base_url: str, graph_url: str, ws_url: str, api_key: str, api_secret: str, websocket: bool
) -> dict[str, object]:
    """A process's settings for a campaign account: every BTCTurk URL is the loopback sandbox
    at ``base_url`` (and its graph and websocket URLs), the gate armed for it, short in-cycle
    re-probes, the websocket feed only when ``websocket``."""
    return {
        "BTCTURK_BASE_URL": base_url,
        "BTCTURK_GRAPH_URL": graph_url,
        "BTCTURK_WS_URL": ws_url,
        "BTCTURK_API_KEY": api_key,
        "BTCTURK_API_SECRET": api_secret,
        "BTCTURK_API_PERMISSIONS": ["trade", "account"],
        "BTCTURK_TIMEOUT_SECONDS": Decimal(2),
        "RECONCILE_ABSENT_MIN_AGE_S": Decimal("2.5"),
        "TRADING_CLOCK": "exchange",
        "TRADING_SYMBOLS": list(SYMBOLS),
        "DRY_RUN": False,
        "KILL_SWITCH": False,
        "LIVE_TRADING": True,
        "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
        "MARKET_WS_ENABLED": websocket,
        "RECONCILE_PROBE_DELAYS_S": [Decimal("0.05"), Decimal("0.1")],
    }


@contextmanager
def scaled_rate_limits(time_scale: float) -> Iterator[None]:
    """Every client created inside uses the deployment's limiter class over the window-safe
    limits with periods divided by ``time_scale`` (bars close in milliseconds here)."""
    from trading.exchange import ratelimit
    from trading.exchange.btcturk.urls import RateLimit

    if time_scale <= 0:
        raise ApplicationError("time_scale must be > 0")
    limits = {
        rule: tuple(RateLimit(limit.count, limit.period_s / time_scale) for limit in rule_limits)
        for rule, rule_limits in ratelimit.WINDOW_SAFE_LIMITS.items()
    }
    original = ratelimit.rate_limiter_from_settings

    def scaled(*, max_wait_s: float = ratelimit.DEFAULT_MAX_WAIT_S):
        if settings.REDIS_URL:
            return ratelimit.RedisRateLimiter(
                ratelimit._redis_client(settings.REDIS_URL), limits=limits, max_wait_s=max_wait_s
            )
        return ratelimit.InProcessRateLimiter(limits=limits, max_wait_s=max_wait_s)

    ratelimit.rate_limiter_from_settings = scaled
    btcturk_clients_close()
    try:
        yield
    finally:
        ratelimit.rate_limiter_from_settings = original
        btcturk_clients_close()
