"""The crash campaign (``manage.py chaos --kill N``): SIGKILL the worker at random points of a
cycle ``N`` times, restart it, and check the invariants of :mod:`trading.services.chaos`.

The worker is a separate process (``manage.py chaos --kill-worker SPEC``, started by
:class:`KillWorker`) that runs the same code a Celery worker runs for an account: ``cycle_run``
and then ``orders_reconcile``, one cycle per ``cycle`` line on its stdin. Before each kill the
campaign arms one of three points (:data:`KILL_POINTS`), drawn from the campaign's seed:

``before_exchange``
    the order's intent is recorded, the request to the exchange (submit or cancel) not yet sent;
``after_exchange``
    the exchange has answered (the order is accepted, or canceled) and nothing of the answer is
    recorded yet;
``in_record``
    inside the cycle's record transaction, after its fills and decisions are written and before
    it commits.

The worker stops at the armed point (skipping it 0-2 times first, so kills land in different
cycles), says so on stdout, and the campaign SIGKILLs it: a crash from outside, with no
``finally`` or signal handler run. Then a new worker starts, as the supervisor would restart a
Celery worker, and runs the next cycle; its recovery is the platform's own: the cycle marks the
killed cycle ``failed`` (``INTERRUPTED``) and the new process reconciles the account with the
exchange before it trades. (Before that cycle the campaign waits, if the kill left an order
with no exchange id, until it is ``RECONCILE_ABSENT_MIN_AGE_S`` old: a real restart and the
next beat take that long, and only then may reconciliation conclude it was never accepted.)
After that cycle the campaign checks:

- every invariant of :func:`~trading.services.chaos.invariants_check`;
- ``interrupted``: no cycle of the account is left ``running``, and every kill left exactly
  one cycle marked ``INTERRUPTED`` (the killed transaction wrote nothing else).

At the end of each account the worker stops cleanly, the campaign reconciles until every lost
answer is resolved and checks every invariant in full (no ``UNKNOWN`` order left).

Accounts are live (the loopback sandbox exchange, gate armed as in the fault campaign) and
paper, ``kills_per_account`` kills each. The wire has no injected faults here: the crash is the
fault. Workers run without Redis (in-process cycle locks): under Redis a killed worker's lock
holds the account until its TTL (``meva.locks``, 300 s for a cycle) expires, which is the safe
behaviour and would only make the campaign slow.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess  # nosec B404: the worker is this project's own manage.py
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import environ
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings

from ledger.models import LedgerFill
from meva.errors import ApplicationError
from replay.domain.dataset import ReplayDataset, load_dataset
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import Account, Cycle, CycleStatus, Order
from trading.services.chaos import (
    ACTOR,
    CASH,
    Scenario,
    Violation,
    absent_age_wait,
    campaign_account_open,
    chaos_database_check,
    invariants_check,
    sandbox_settings,
    scaled_rate_limits,
    scenario_plan,
    settle,
)
from trading.services.control import control_disarm
from trading.services.reconcile import balances_check

KILL_POINTS = ("before_exchange", "after_exchange", "in_record")
MESSAGE = "@chaos "  # the worker's protocol lines on stdout start with this
ANSWER_TIMEOUT_S = 120.0
# cycles a worker may run without reaching the armed point before that draw is given up (an
# account that holds and does not trade); a given-up draw does not count as a kill, the next
# draw or the next account makes up for it
MAX_CYCLES_PER_KILL = 15
MAX_ACCOUNTS_PER_KILL = 1  # at most this many accounts per kill asked for before giving up
INTERRUPTED = "INTERRUPTED"


@dataclass(slots=True)
class KillResult:
    """One crash campaign's outcome: kills by point, points never reached, cycle statuses."""

    kills: Counter[str] = field(default_factory=Counter)
    not_reached: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    accounts: int = 0
    orders: int = 0
    fills: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0


def kill_run(
    *,
    kills: int,
    seed: int,
    dataset_path: Path,
    kills_per_account: int = 10,
    warmup: int = 40,
    time_scale: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> KillResult:
    """Run the crash campaign (module docstring) on the replay dataset at ``dataset_path``:
    ``kills`` kills, ``kills_per_account`` per account, points drawn from ``seed``. Returns the
    result; ``progress`` gets one line per kill. Raises ``ApplicationError`` for a database that is not a throwaway one or that the
    worker processes cannot share (SQLite in memory)."""
    if kills < 1 or kills_per_account < 1:
        raise ApplicationError("kills and kills_per_account must be >= 1")
    chaos_database_check()
    _shared_database_check()
    dataset = load_dataset(dataset_path)
    started = time.perf_counter()
    operator, _ = get_user_model().objects.get_or_create(username="chaos")
    result = KillResult()
    say = progress or (lambda line: None)
    with scaled_rate_limits(time_scale):
        index = 0
        while result.kills.total() < kills:
            if index >= MAX_ACCOUNTS_PER_KILL * kills:
                raise ApplicationError(
                    f"chaos --kill: only {result.kills.total()} of {kills} kills reached in "
                    f"{index} accounts (the strategies did not trade)"
                )
            left = kills - result.kills.total()
            plan = _kill_plan(seed=seed, index=index)
            if Account.objects.filter(name=plan.account).exists():
                raise ApplicationError(
                    f"account {plan.account} exists: campaign {seed} already ran here "
                    "(use another --seed or a fresh database)"
                )
            _account_run(
                plan, dataset, min(left, kills_per_account), warmup, time_scale, operator,
                result, say,
            )  # fmt: skip
            index += 1
    result.accounts = index
    result.seconds = time.perf_counter() - started
    return result


def _kill_plan(*, seed: int, index: int) -> Scenario:
    """Account ``index`` of crash campaign ``seed``: even indexes live, odd paper; a strategy
    from the fault campaign's draw, no wire faults, no skew, no exchange-side cancels."""
    drawn = scenario_plan(seed=seed, index=index, cycles=0)
    return replace(
        drawn,
        tag="kill-",
        mode="live" if index % 2 == 0 else "paper",
        faults="",
        clock_skew_ms=0,
        cancel_rate=0.0,
        websocket=False,
    )


def _shared_database_check() -> None:
    """The worker processes read ``DATABASE_URL`` from the environment: it must name the
    database this process uses (not a test database's rename), and not one in memory."""
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor == "sqlite" and (not name or ":memory:" in name or "mode=memory" in name):
        raise ApplicationError(
            "chaos --kill runs the worker in other processes, which cannot share an in-memory "
            "SQLite database: set DATABASE_URL to a file or a server (make chaos does)"
        )
    theirs = environ.Env().db_url("DATABASE_URL", settings.DEFAULT_SQLITE).get("NAME")
    if str(theirs) != name:
        raise ApplicationError(
            f"chaos --kill: this process uses database {name!r} but its worker processes "
            f"would use {theirs!r} (DATABASE_URL); run it from manage.py with DATABASE_URL set"
        )


def _account_run(
    plan: Scenario,
    dataset: ReplayDataset,
    kills: int,
    warmup: int,
    time_scale: float,
    operator,
    result: KillResult,
    say: Callable[[str], None],
) -> None:
    rng = random.Random(f"chaos-kill:{plan.seed}:{plan.index}")
    sandbox = start_sandbox(
        dataset,
        balances={"TRY": CASH},
        warmup_steps=warmup,
        publish_interval_s=3600.0,
        max_volume_share=plan.max_volume_share,
        seed=plan.index,
    )
    worker: KillWorker | None = None
    spec = {
        "account": plan.account,
        "time_scale": time_scale,
        "sandbox": _sandbox_spec(sandbox),
    }
    step = 0
    killed = 0  # this account's kills
    try:
        with override_settings(**sandbox_settings(**spec["sandbox"], websocket=False)):
            campaign_account_open(plan, operator, campaign="chaos --kill")
            worker = KillWorker(spec)
            attempts = 0
            while killed < kills and attempts < 2 * kills:
                attempts += 1
                point, skip = rng.choice(KILL_POINTS), rng.randint(0, 2)
                worker.arm(point, skip)
                for _ in range(MAX_CYCLES_PER_KILL):
                    sandbox.advance(1)
                    answer = worker.cycle()
                    if answer.get("killpoint"):
                        worker.kill()
                        killed += 1
                        result.kills[point] += 1
                        say(
                            f"{plan.account} {plan.mode:<5} kill #{sum(result.kills.values())}"
                            f" at {point} (cycle {answer.get('cycle')})"
                        )
                        worker = KillWorker(spec)
                        break
                    result.statuses[answer["status"]] += 1
                    result.violations += invariants_check(
                        sandbox, plan, step=step, settled=answer["settled"], final=False
                    )
                    step += 1
                else:
                    result.not_reached[point] += 1
                    say(f"{plan.account} {point} not reached in {MAX_CYCLES_PER_KILL} cycles")
                    worker.arm("", 0)
                    continue
                # recovery: the restarted worker's first cycle, then the checks. A real restart
                # and the next beat take seconds at least: an order the kill left unsent is then
                # old enough for reconciliation to find it never accepted.
                absent_age_wait(plan.account)
                sandbox.advance(1)
                answer = worker.cycle()
                result.statuses[answer["status"]] += 1
                result.violations += invariants_check(
                    sandbox, plan, step=step, settled=answer["settled"], final=False
                )
                result.violations += _interrupted_problems(plan, step, killed)
                step += 1
            worker.stop()
            worker = None
            settle(plan.account)
            balances_check(account_name=plan.account, actor=ACTOR)
            result.violations += invariants_check(sandbox, plan, step=-1, settled=True, final=True)
            result.orders += Order.objects.filter(account=plan.account).count()
            result.fills += LedgerFill.objects.filter(account=plan.account).count()
            control_disarm(user=operator, reason="chaos --kill: account done")
    finally:
        if worker is not None:
            worker.kill()
        sandbox.stop(wait=False)


def _interrupted_problems(plan: Scenario, step: int, killed: int) -> list[Violation]:
    """The ``interrupted`` check (module docstring) after a restarted worker's first cycle;
    ``killed`` = the kills of this account so far."""
    cycles = Cycle.objects.filter(account=plan.account)
    running = list(cycles.filter(status=CycleStatus.RUNNING).values_list("pk", flat=True))
    out = []
    if running:
        out.append(Violation(plan.index, step, "interrupted", f"cycles left running: {running}"))
    marked = cycles.filter(status=CycleStatus.FAILED, error__startswith=INTERRUPTED).count()
    if marked != killed:
        out.append(
            Violation(
                plan.index,
                step,
                "interrupted",
                f"{marked} cycles marked {INTERRUPTED}, {killed} kills",
            )
        )
    return out


def _sandbox_spec(sandbox: SandboxServer) -> dict[str, str]:
    return {
        "base_url": sandbox.base_url,
        "graph_url": sandbox.graph_url,
        "ws_url": sandbox.ws_url,
        "api_key": sandbox.api_key,
        "api_secret": sandbox.api_secret,
    }


class KillWorker:
    """A worker process (``manage.py chaos --kill-worker``) driven line by line on its stdin;
    :meth:`kill` is a SIGKILL."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        env = dict(os.environ, REDIS_URL="", MARKET_WS_ENABLED="false")
        self.process = subprocess.Popen(  # nosec B603: our own manage.py, no shell
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "chaos",
             "--kill-worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        self._answers: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(MESSAGE):
                self._answers.put(json.loads(line[len(MESSAGE) :]))
        self._answers.put(None)

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def arm(self, point: str, skip: int) -> None:
        """Stop at ``point`` (one of :data:`KILL_POINTS`; empty = never) after passing it
        ``skip`` times."""
        self._send(f"arm {point or '-'} {skip}")

    def cycle(self) -> dict:
        """Run one cycle and its reconciliation; the worker's answer: ``{"status", "settled"}``,
        or ``{"killpoint": point, "cycle": id}`` when it stopped at the armed point."""
        self._send("cycle")
        try:
            answer = self._answers.get(timeout=ANSWER_TIMEOUT_S)
        except queue.Empty:
            raise ApplicationError(
                f"the worker did not answer in {ANSWER_TIMEOUT_S:.0f} s"
            ) from None
        if answer is None:
            raise ApplicationError(
                f"the worker exited (code {self.process.wait()}) without answering"
            )
        return answer

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.wait()

    def stop(self) -> None:
        self._send("quit")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


# --- the worker process -------------------------------------------------------------------


class _Armed:
    point = ""
    skip = 0


WORKER_SPEC_KEYS = {"account": str, "time_scale": float, "sandbox": dict}
SANDBOX_SPEC_KEYS = ("base_url", "graph_url", "ws_url", "api_key", "api_secret")


def worker_spec(text: str) -> dict:
    """Parse and check a worker's ``--kill-worker`` JSON (what :class:`KillWorker` passes);
    raises ``ApplicationError`` naming the problem."""
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise ApplicationError(f"--kill-worker: not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ApplicationError("--kill-worker: expected a JSON object")
    for key, kind in WORKER_SPEC_KEYS.items():
        value = spec.get(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = spec[key] = float(value)
        if not isinstance(value, kind):
            raise ApplicationError(f"--kill-worker: {key!r} must be a {kind.__name__}")
    sandbox = spec["sandbox"]
    if set(sandbox) != set(SANDBOX_SPEC_KEYS) or not all(
        isinstance(v, str) for v in sandbox.values()
    ):
        raise ApplicationError(f"--kill-worker: 'sandbox' needs exactly {SANDBOX_SPEC_KEYS}")
    if not spec["time_scale"] > 0:
        raise ApplicationError("--kill-worker: 'time_scale' must be > 0")
    return spec


def worker_main(spec: dict, *, stdin=None, stdout=None) -> None:
    """The worker process's loop (module docstring): ``arm POINT SKIP``, ``cycle`` and ``quit``
    lines on ``stdin``; answers on ``stdout`` as :data:`MESSAGE` + JSON. ``spec`` is
    :func:`worker_spec`'s answer."""
    from trading.services.cycle import cycle_run
    from trading.services.reconcile import orders_reconcile

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    armed = _Armed()

    def say(message: dict) -> None:
        stdout.write(MESSAGE + json.dumps(message) + "\n")
        stdout.flush()

    def reached(point: str) -> None:
        if armed.point != point:
            return
        if armed.skip > 0:
            armed.skip -= 1
            return
        running = Cycle.objects.filter(account=spec["account"], status=CycleStatus.RUNNING)
        say({"killpoint": point, "cycle": running.values_list("pk", flat=True).first()})
        time.sleep(3600)  # the campaign SIGKILLs this process now

    with (
        scaled_rate_limits(spec["time_scale"]),
        override_settings(**sandbox_settings(**spec["sandbox"], websocket=False)),
        _kill_points(reached),
    ):
        for line in stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "arm":
                armed.point = "" if words[1] == "-" else words[1]
                armed.skip = int(words[2])
            elif words[0] == "cycle":
                cycle = cycle_run(account_name=spec["account"], actor=ACTOR)
                settled = cycle.status == CycleStatus.COMPLETED
                try:
                    sync = orders_reconcile(account_name=spec["account"], actor=ACTOR)
                    settled = settled and not sync.skipped
                except Exception:
                    settled = False
                say({"status": cycle.status, "settled": settled})
            elif words[0] == "quit":
                return


@contextmanager
def _kill_points(reached: Callable[[str], None]) -> Iterator[None]:
    """Patch the three points of :data:`KILL_POINTS` into this process: the exchange ports'
    submit and cancel (live: the BTCTurk client; paper: the paper venue) and the cycle record's
    transaction (after the fills, decisions and equity are written)."""
    from trading.exchange.btcturk.client import BtcturkClient
    from trading.exchange.simulated import SimulatedExchange
    from trading.services import cycle_record

    saved: list[tuple[object, str, object]] = []

    def patch(owner: object, name: str, make) -> None:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def exchange_call(original):
        def call(self, *args, **kwargs):
            reached("before_exchange")
            answer = original(self, *args, **kwargs)
            reached("after_exchange")
            return answer

        return call

    def recording(original):
        def write(account, plan):
            original(account, plan)
            reached("in_record")

        return write

    for owner in (BtcturkClient, SimulatedExchange):
        patch(owner, "submit_order", exchange_call)
        patch(owner, "cancel_order", exchange_call)
    patch(cycle_record, "_equity_write", recording)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
