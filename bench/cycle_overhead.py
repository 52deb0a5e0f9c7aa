"""Cycle overhead benchmark (not a test): what one paper/live cycle costs.

1. **internal** (floor: p99 < 20 ms): the cycle's own work for 20 symbols with the network
   excluded: ``cycle_inputs_build`` + ``plan_cycle`` + ``plan_execute`` over an in-memory
   port (a ``SimulatedExchange``), with 200 closed bars per symbol and a strategy that emits
   intents on every symbol (mean reversion with a zero entry threshold), so every cycle plans,
   sizes and submits.
2. **full** (floor: p99 < 150 ms): ``cycle_run`` of a paper account and of a live-mode account
   against the sandbox exchange on loopback (``TRADING_CLOCK=exchange``), database included
   (SQLite file in a temporary directory, unless ``DATABASE_URL`` is set; Redis locks and rate
   budget when ``REDIS_URL`` is set), one bar closed per cycle.

   Time is compressed: a 60 s bar closes every few hundred milliseconds, so the deployment's
   client-side rate budget (BTCTurk's per-minute limits, e.g. one graph ``klines`` call per
   symbol and bar) would run dry after a few dozen bars and every later cycle would sleep for
   tokens (seconds per cycle): a bench artefact, not cycle overhead, since at one bar per
   minute the same calls use under a tenth of the budget. The bench therefore runs the
   deployment's limiter class over the same limits with every period divided by
   ``--time-scale`` (default 120: as if a bar closed every 0.5 s) and prints the time spent
   waiting for tokens; ``--time-scale 1`` measures with the real budget.

Usage: ``.venv/bin/python bench/cycle_overhead.py [--cycles 200] [--full-cycles 60] [--time-scale 120]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from array import array
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, n={len(ordered)}"


def internal(cycles: int) -> list[float]:
    from ledger.domain.portfolio import Portfolio
    from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build
    from trading.domain.market import BarWindow, MarketSnapshot
    from trading.domain.planner import plan_cycle
    from trading.domain.risk import RiskLimits, RiskState
    from trading.domain.rules import ExchangeRules
    from trading.domain.strategies.registry import build_strategy
    from trading.domain.symbols import Symbol
    from trading.domain.venue import SimulatedVenue
    from trading.exchange.simulated import SimulatedExchange
    from trading.services.execution import plan_execute

    symbols = [Symbol(f"C{i:02d}", "TRY") for i in range(20)]
    rules = {
        s: ExchangeRules(s, Decimal("0.01"), Decimal("0.00000001"), Decimal(10)) for s in symbols
    }
    strategy = build_strategy("mean_reversion", {"window": 20, "entry_bps": 0, "exit_bps": 0})
    setup = CycleSetup(
        "bench",
        (strategy,),
        RiskLimits(max_orders_per_cycle=20, cooldown_ms=0),
        Decimal(10),
        Decimal(20),
    )
    samples = []
    for k in range(cycles):
        venue = SimulatedVenue(
            rules=rules,
            balances={"TRY": Decimal(1_000_000)},
            fee_maker_bps=Decimal(10),
            fee_taker_bps=Decimal(20),
        )
        now = 1_700_000_000_000 + k * 60_000
        market = {}
        for i, s in enumerate(symbols):
            closes = array("d", (100.0 + i + ((j * 7 + k) % 13) * 0.1 for j in range(200)))
            closes[-1] = 90.0  # far below the mean: every symbol signals a buy
            window = BarWindow(
                array("q", range(200)),
                closes,
                closes,
                closes,
                closes,
                array("d", [1e6] * 200),
                200,
                60_000,
            )
            market[s] = MarketSnapshot(
                s, window, Decimal("90"), 0, Decimal("89.99"), Decimal("90.01")
            )
        port = SimulatedExchange(venue, clock=lambda now=now: now)
        started = time.perf_counter()
        inputs = cycle_inputs_build(
            now_ms=now,
            setup=setup,
            venue=VenueSnapshot(venue.balances(), venue.open_orders(), []),
            market=market,
            rules=rules,
            portfolio=Portfolio("TRY", Decimal(1_000_000)),
            risk_state=RiskState(),
            trading_day=date(2024, 1, 1),
        )
        plan = plan_cycle(inputs)
        result = plan_execute(plan, port=port, now_ms=now)
        samples.append((time.perf_counter() - started) * 1000)
        assert result.acks, "the benchmark must submit orders"
    return samples


def _scaled_rate_limiter(time_scale: float) -> dict[str, float]:
    """Make every client of this process use the deployment's limiter class over the
    window-safe limits with periods divided by ``time_scale``; returns the seconds waited
    for tokens per rule (filled as the bench runs)."""
    from trading.exchange import ratelimit
    from trading.exchange.btcturk.urls import RateLimit

    limits = {
        rule: tuple(RateLimit(limit.count, limit.period_s / time_scale) for limit in rule_limits)
        for rule, rule_limits in ratelimit.WINDOW_SAFE_LIMITS.items()
    }
    waited: dict[str, float] = {}

    def sleep(seconds: float, rule: list[str]) -> None:
        waited[rule[0]] = waited.get(rule[0], 0.0) + seconds
        time.sleep(seconds)

    def make(*, max_wait_s: float = ratelimit.DEFAULT_MAX_WAIT_S):
        from django.conf import settings

        rule: list[str] = [""]
        if settings.REDIS_URL:
            limiter = ratelimit.RedisRateLimiter(
                ratelimit._redis_client(settings.REDIS_URL),
                limits=limits,
                max_wait_s=max_wait_s,
                sleep=lambda s: sleep(s, rule),
            )
        else:
            limiter = ratelimit.InProcessRateLimiter(
                limits=limits, max_wait_s=max_wait_s, sleep=lambda s: sleep(s, rule)
            )
        acquire = limiter.acquire

        def acquire_named(name: str, *, identity: str) -> None:
            rule[0] = name
            acquire(name, identity=identity)

        limiter.acquire = acquire_named
        return limiter

    ratelimit.rate_limiter_from_settings = make
    return waited


def full(cycles: int, time_scale: float = 120.0) -> dict[str, list[float]]:
    tmp = tempfile.mkdtemp(prefix="meva-cycle-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    import django

    django.setup()
    waited = _scaled_rate_limiter(time_scale)
    from django.core.management import call_command
    from django.test import override_settings

    from replay.domain.dataset import load_dataset
    from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
    from trading.exchange.sandbox import start_sandbox
    from trading.management.commands.paper_demo import _sandbox_settings
    from trading.models import Cycle
    from trading.services.accounts import account_create
    from trading.services.control import control_arm, kill_switch_release
    from trading.services.cycle import cycle_run

    call_command("migrate", verbosity=0)
    sandbox = start_sandbox(
        load_dataset(ROOT / "data/sample/try-1m"),
        balances={"TRY": Decimal(100000)},
        warmup_steps=40,
        publish_interval_s=3600.0,
    )
    samples: dict[str, list[float]] = {"paper": [], "live": []}
    try:
        with override_settings(**_sandbox_settings(sandbox)):
            from django.contrib.auth import get_user_model

            user, _ = get_user_model().objects.get_or_create(username="bench")
            kill_switch_release(user=user, reason="bench")
            control_arm(user=user, reason="bench", acknowledgement=LIVE_TRADING_ACK_PHRASE)
            params = {"window": 10, "entry_bps": 15, "exit_bps": 5}
            # A reused DATABASE_URL keeps earlier runs' accounts: names are new per run.
            run = uuid.uuid4().hex[:6]
            names = {"paper": f"bench-paper-{run}", "live": f"bench-live-{run}"}
            for key, mode in (("paper", "paper"), ("live", "live")):
                name = names[key]
                account_create(
                    name=name,
                    mode=mode,
                    strategy="mean_reversion",
                    params=params,
                    symbols=["BTC_TRY", "ETH_TRY", "AVAX_TRY", "USDT_TRY"],
                    balances={"TRY": 100000} if mode == "paper" else None,
                    actor="command:bench",
                )
            for step in range(cycles + 1):
                sandbox.advance(1)
                for key, name in names.items():
                    started = time.perf_counter()
                    cycle = cycle_run(account_name=name, actor="command:bench")
                    if (
                        step
                    ):  # the first cycle also runs the startup reconciliation and history fetch
                        samples[key].append((time.perf_counter() - started) * 1000)
                    assert cycle.status == "completed", cycle.error
            orders = {
                k: Cycle.objects.filter(account=names[k]).values_list("counts", flat=True)
                for k in samples
            }
            for key, counts in orders.items():
                print(
                    f"  {key}: {sum(c.get('submitted', 0) for c in counts)} orders, {sum(c.get('fills', 0) for c in counts)} fills over the run"
                )
            print(
                f"  rate budget periods / {time_scale:g}; waited for tokens: "
                + (", ".join(f"{r} {s:.2f} s" for r, s in sorted(waited.items())) or "never")
            )
    finally:
        sandbox.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--full-cycles", type=int, default=60)
    parser.add_argument("--time-scale", type=float, default=120.0)
    args = parser.parse_args()
    inner = internal(args.cycles)
    print(
        f"internal cycle, 20 symbols, in-memory port: {_percentiles(inner)} (floor p99 < 20 ms: {'MET' if sorted(inner)[int(len(inner) * 0.99) - 1] < 20 else 'NOT MET'})"
    )
    for key, samples in full(args.full_cycles, args.time_scale).items():
        p99 = sorted(samples)[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(
            f"full {key} cycle against the sandbox (loopback, database): {_percentiles(samples)} (floor p99 < 150 ms: {'MET' if p99 < 150 else 'NOT MET'})"
        )


if __name__ == "__main__":
    main()
