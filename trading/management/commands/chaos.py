"""``manage.py chaos --scenarios N --seed S``: the fault campaign (``trading.services.chaos``).

Runs seeded scenarios of paper and live-mode accounts against the sandbox exchange under mixed
faults, checks the invariants after every cycle, prints one line per scenario and a table of
violations by invariant, and exits 1 on any violation (2 on bad arguments or a database that
is not a throwaway one: the campaign arms the live gate there; ``make chaos`` uses
``var/chaos.sqlite3``).

``chaos --kill [N]`` (default 100) is the crash campaign instead (``trading.services.chaos_kill``):
the worker is SIGKILLed N times at random points of a cycle (before the exchange call, after it,
inside the record transaction), restarted, and the invariants are checked after its recovery.
``--kill-worker SPEC`` is that campaign's worker process (internal).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from meva.errors import ApplicationError
from trading.services.chaos import INVARIANTS, ScenarioResult, chaos_run
from trading.services.chaos_kill import (
    KILL_POINTS,
    KillResult,
    kill_run,
    worker_main,
    worker_spec,
)


class Command(BaseCommand):
    help = (
        "Fault campaign: seeded paper/live-mode scenarios against the sandbox exchange with "
        "lost answers, 429 storms, 5xx, websocket drops, partial fills, duplicate trade "
        "reports, exchange-side cancels and clock skew; checks the invariants after every "
        "cycle; exit 1 on any violation. Needs a throwaway database (make chaos)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scenarios", type=int, default=50, help="how many (default 50)")
        parser.add_argument("--seed", type=int, default=1, help="campaign seed (default 1)")
        parser.add_argument("--first", type=int, default=0, help="first scenario index")
        parser.add_argument("--cycles", type=int, default=12, help="cycles per scenario")
        parser.add_argument("--dataset", type=Path, default=Path("data/sample/try-1m"))
        parser.add_argument("--warmup", type=int, default=40, help="bars before the first cycle")
        parser.add_argument(
            "--time-scale",
            type=float,
            default=60.0,
            help="rate-limit periods are divided by this (bars close in milliseconds here)",
        )
        parser.add_argument("--json", action="store_true", help="last line: a JSON summary")
        parser.add_argument(
            "--kill",
            type=int,
            nargs="?",
            const=100,
            metavar="N",
            help="crash campaign instead: SIGKILL the worker N times (default 100) at random "
            "points of a cycle, restart it, check the invariants after recovery",
        )
        parser.add_argument(
            "--kills-per-account",
            type=int,
            default=10,
            help="crash campaign: kills per account (default 10; accounts alternate live/paper)",
        )
        parser.add_argument("--kill-worker", help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        if options["kill_worker"] is not None:
            try:
                spec = worker_spec(options["kill_worker"])
            except ApplicationError as exc:
                raise CommandError(str(exc)) from None
            worker_main(spec)
            return
        if options["kill"] is not None:
            self._kill(options)
            return
        for name in ("scenarios", "cycles"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be >= 1")
        if options["first"] < 0 or options["warmup"] < 1 or options["time_scale"] <= 0:
            raise CommandError("--first must be >= 0, --warmup >= 1, --time-scale > 0")
        started = time.perf_counter()
        self.stdout.write(
            f"chaos: {options['scenarios']} scenarios of campaign {options['seed']}, "
            f"{options['cycles']} cycles each, on {options['dataset']}"
        )
        try:
            results = chaos_run(
                scenarios=options["scenarios"],
                seed=options["seed"],
                first=options["first"],
                cycles=options["cycles"],
                dataset=options["dataset"],
                warmup=options["warmup"],
                time_scale=options["time_scale"],
                progress=self._progress,
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        summary = self._table(results, time.perf_counter() - started)
        if options["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
        if summary["violations"]:
            raise SystemExit(1)

    def _kill(self, options: dict) -> None:
        if options["kill"] < 1 or options["kills_per_account"] < 1:
            raise CommandError("--kill and --kills-per-account must be >= 1")
        if options["warmup"] < 1 or options["time_scale"] <= 0:
            raise CommandError("--warmup must be >= 1, --time-scale > 0")
        self.stdout.write(
            f"chaos --kill: {options['kill']} SIGKILLs of the worker, campaign "
            f"{options['seed']}, {options['kills_per_account']} per account, on "
            f"{options['dataset']}"
        )
        try:
            result = kill_run(
                kills=options["kill"],
                seed=options["seed"],
                dataset_path=options["dataset"],
                kills_per_account=options["kills_per_account"],
                warmup=options["warmup"],
                time_scale=options["time_scale"],
                progress=self.stdout.write,
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        summary = self._kill_table(result)
        if options["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
        if result.violations:
            raise SystemExit(1)

    def _kill_table(self, result: KillResult) -> dict[str, object]:
        for violation in result.violations[:20]:
            self.stdout.write(f"    {violation}")
        by_invariant = Counter(v.invariant for v in result.violations)
        self.stdout.write("")
        self.stdout.write(f"{'kill point':<20} {'kills':>6} {'not reached':>12}")
        for point in KILL_POINTS:
            self.stdout.write(
                f"{point:<20} {result.kills[point]:>6} {result.not_reached[point]:>12}"
            )
        self.stdout.write(f"\n{'invariant':<20} {'violations':>10}")
        for name in (*INVARIANTS, "interrupted"):
            self.stdout.write(f"{name:<20} {by_invariant.get(name, 0):>10}")
        cycles = sum(result.statuses.values())
        self.stdout.write(
            f"\naccounts {result.accounts} · kills {result.kills.total()} · cycles {cycles} "
            f"({dict(result.statuses)}) · orders {result.orders} · fills {result.fills}"
        )
        verdict = "PASS" if not result.violations else f"FAIL ({len(result.violations)})"
        self.stdout.write(f"{verdict} in {result.seconds:.0f} s")
        return {
            "kills": dict(result.kills),
            "not_reached": dict(result.not_reached),
            "accounts": result.accounts,
            "cycles": cycles,
            "statuses": dict(result.statuses),
            "orders": result.orders,
            "fills": result.fills,
            "violations": len(result.violations),
            "by_invariant": {n: by_invariant.get(n, 0) for n in (*INVARIANTS, "interrupted")},
            "seconds": round(result.seconds, 1),
        }

    def _progress(self, result: ScenarioResult) -> None:
        plan = result.scenario
        statuses = " ".join(f"{k}={v}" for k, v in sorted(result.statuses.items()))
        verdict = "ok" if not result.violations else f"{len(result.violations)} VIOLATIONS"
        self.stdout.write(
            f"#{plan.index:<4} {plan.mode:<5} {statuses:<24} orders={result.orders:<3} "
            f"fills={result.fills:<3} fired={dict(result.faults_fired)} {plan.label} "
            f"[{result.seconds:.1f}s] {verdict}"
        )
        for violation in result.violations[:5]:
            self.stdout.write(f"    {violation}")

    def _table(self, results: list[ScenarioResult], seconds: float) -> dict[str, object]:
        by_invariant = Counter(v.invariant for r in results for v in r.violations)
        fired = Counter()
        statuses = Counter()
        for result in results:
            fired.update(result.faults_fired)
            statuses.update(result.statuses)
        cycles = sum(statuses.values())
        self.stdout.write("")
        self.stdout.write(f"{'invariant':<20} {'violations':>10}")
        for name in INVARIANTS:
            self.stdout.write(f"{name:<20} {by_invariant.get(name, 0):>10}")
        self.stdout.write(
            f"\nscenarios {len(results)} · cycles {cycles} ({dict(statuses)}) · orders "
            f"{sum(r.orders for r in results)} · fills {sum(r.fills for r in results)} · "
            f"exchange cancels {sum(r.exchange_cancels for r in results)} · reconcile errors "
            f"{sum(r.reconcile_errors for r in results)} · settled checks "
            f"{sum(r.settled_checks for r in results)}"
        )
        self.stdout.write(f"faults fired: {dict(sorted(fired.items()))}")
        failed = sum(1 for r in results if r.violations)
        verdict = "PASS" if not failed else f"FAIL ({failed} scenarios)"
        self.stdout.write(f"{verdict} in {seconds:.0f} s")
        return {
            "scenarios": len(results),
            "cycles": cycles,
            "statuses": dict(statuses),
            "violations": sum(by_invariant.values()),
            "by_invariant": {name: by_invariant.get(name, 0) for name in INVARIANTS},
            "faults_fired": dict(fired),
            "seconds": round(seconds, 1),
        }
