"""``manage.py chaos --scenarios N --seed S``: the fault campaign (``trading.services.chaos``).

Runs seeded scenarios of paper and live-mode accounts against the sandbox exchange under mixed
faults, checks the invariants after every cycle, prints one line per scenario and a table of
violations by invariant, and exits 1 on any violation (2 on bad arguments or a database that
is not a throwaway one: the campaign arms the live gate there; ``make chaos`` uses
``var/chaos.sqlite3``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from meva.errors import ApplicationError
from trading.services.chaos import INVARIANTS, ScenarioResult, chaos_run


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

    def handle(self, *args, **options) -> None:
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
