"""The paper and live cycle against the sandbox exchange over real sockets (no Celery).

The sandbox replays the bundled TRY sample on loopback with a manual clock; each test closes
one bar, then runs ``cycle_run`` (the service the beat task and ``run_cycle`` call). The clock
is the exchange's (``TRADING_CLOCK=exchange``), so every cycle sees exactly one new bar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from ledger.models import EquitySnapshot, LedgerFill
from meva.locks import single_flight
from replay.domain.dataset import load_dataset
from replay.domain.engine import BacktestConfig, run_backtest
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.strategies.registry import build_strategy
from trading.domain.symbols import parse_symbol
from trading.domain.venue import FillModel
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.exchange.simulated import SimulatedExchange
from trading.models import (
    Account,
    Alert,
    AuditEvent,
    Cycle,
    CycleDecision,
    Order,
    PaperBalance,
    PaperTrade,
    PaperVenue,
)
from trading.services.accounts import account_create
from trading.services.control import control_arm, kill_switch_engage, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.execution import plan_execute
from trading.services.export import dataset_export
from trading.services.paper import paper_cache_forget
from trading.services.reconcile import balances_check, orders_reconcile
from trading.services.risk import risk_limits_from_settings

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}
ACTOR = "command:test"
CASH = Decimal(100_000)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox(
        load_dataset(SAMPLE),
        balances={"TRY": CASH},
        warmup_steps=40,
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


@pytest.fixture
def exchange(sandbox: SandboxServer, operator) -> Iterator[SandboxServer]:
    """The sandbox's settings for this test, the gate fully armed (loopback only)."""
    overrides = {
        "BTCTURK_BASE_URL": sandbox.base_url,
        "BTCTURK_GRAPH_URL": sandbox.graph_url,
        "BTCTURK_API_KEY": sandbox.api_key,
        "BTCTURK_API_SECRET": sandbox.api_secret,
        "BTCTURK_API_PERMISSIONS": ["trade"],
        "TRADING_CLOCK": "exchange",
        "DRY_RUN": False,
        "KILL_SWITCH": False,
        "LIVE_TRADING": True,
        "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
    }
    reconciled_accounts_forget()
    with override_settings(**overrides):
        kill_switch_release(user=operator, reason="test")
        control_arm(user=operator, reason="test", acknowledgement=LIVE_TRADING_ACK_PHRASE)
        yield sandbox
    sandbox.faults.clear()
    reconciled_accounts_forget()


def _account(name: str, mode: str) -> None:
    balances = {"TRY": CASH} if mode == "paper" else None
    account_create(
        name=name,
        mode=mode,
        strategy="mean_reversion",
        params=PARAMS,
        symbols=["BTC_TRY", "ETH_TRY"],
        balances=balances,
        actor=ACTOR,
    )


def _cycles(sandbox: SandboxServer, names: list[str], bars: int) -> list[Cycle]:
    out = []
    for _ in range(bars):
        sandbox.advance(1)
        out += [cycle_run(account_name=name, actor=ACTOR) for name in names]
    return out


def test_a_paper_session_records_cycles_decisions_orders_fills_and_equity(exchange) -> None:
    _account("paper", "paper")

    cycles = _cycles(exchange, ["paper"], 30)

    assert [c.status for c in cycles] == ["completed"] * 30
    assert Order.objects.filter(account="paper").count() >= 2
    assert LedgerFill.objects.filter(account="paper").count() >= 2
    assert EquitySnapshot.objects.filter(account="paper").count() == 30
    assert CycleDecision.objects.filter(cycle__account="paper", kind="order").exists()
    assert all(set(c.timings_ms) >= {"snapshot", "plan", "execute", "record"} for c in cycles)
    assert balances_check(account_name="paper", actor=ACTOR).drift == []


def test_a_restored_paper_venue_continues_exactly_like_an_uninterrupted_one(exchange) -> None:
    # The steady account's process keeps its venue's orders and fills between cycles; a
    # second account whose worker "restarts" (reconciled set and kept history forgotten)
    # before every cycle restores everything from its rows and must trade exactly alike.
    _account("steady", "paper")
    _account("restarted", "paper")
    for _ in range(25):
        exchange.advance(1)
        cycle_run(account_name="steady", actor=ACTOR)
        reconciled_accounts_forget()
        paper_cache_forget(account="restarted")
        cycle_run(account_name="restarted", actor=ACTOR)

    def fills(name: str) -> list[tuple]:
        rows = LedgerFill.objects.filter(account=name).order_by("ts", "id")
        return [(f.symbol, f.side, f.price, f.quantity, f.fee) for f in rows]

    assert fills("steady")
    assert fills("steady") == fills("restarted")


def test_a_paper_cycle_reads_only_the_venue_rows_it_wrote_since_its_last_save(exchange) -> None:
    _account("kept", "paper")
    _cycles(exchange, ["kept"], 20)
    assert PaperTrade.objects.filter(account="kept").count() >= 2  # history to not re-read

    with CaptureQueriesContext(connection) as queries:
        _cycles(exchange, ["kept"], 1)
    history_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT")
        and ("trading_papertrade" in q["sql"] or "trading_paperorder" in q["sql"])
    ]
    # only read-backs of rows this cycle wrote: fills after a seq, orders by id
    assert all('"seq" >' in sql or '"order_id" IN' in sql for sql in history_reads)

    # another process's save (a new revision) makes the next load read every row again
    PaperVenue.objects.filter(account="kept").update(revision="elsewhere")
    with CaptureQueriesContext(connection) as queries:
        cycle = _cycles(exchange, ["kept"], 1)[0]
    assert cycle.status == "completed"
    assert any(
        "trading_papertrade" in q["sql"] and '"seq" >' not in q["sql"]
        for q in queries.captured_queries
    )


def test_a_cycle_whose_clock_cannot_be_read_is_a_failed_row_with_an_alert(exchange) -> None:
    _account("no-clock", "paper")
    _cycles(exchange, ["no-clock"], 1)
    exchange.advance(1)
    exchange.faults.force("http5xx", count=50, method="GET", path="/api/v2/ticker")

    cycle = cycle_run(account_name="no-clock", actor=ACTOR)
    exchange.faults.clear()

    assert cycle.status == "failed"
    assert cycle.no_trade_reason == "CLOCK_FAILED"
    assert cycle.error.startswith("CLOCK_FAILED: ")
    assert Alert.objects.filter(account="no-clock", kind="CYCLE_FAILED").exists()
    assert _cycles(exchange, ["no-clock"], 1)[0].status == "completed"


def test_a_live_account_ledger_equals_the_sandbox_balances_after_every_cycle(exchange) -> None:
    _account("live", "live")
    for _ in range(30):
        exchange.advance(1)
        cycle = cycle_run(account_name="live", actor=ACTOR)
        assert cycle.status == "completed", cycle.error
        assert balances_check(account_name="live", actor=ACTOR).drift == []
    assert Order.objects.filter(account="live", status="FILLED").exists()
    assert LedgerFill.objects.filter(account="live").exists()


def test_the_kill_switch_blocks_every_submit_and_audits_each_attempt(exchange, operator) -> None:
    _account("killed", "live")
    kill_switch_engage(user=operator, reason="test")

    _cycles(exchange, ["killed"], 30)

    blocked = CycleDecision.objects.filter(cycle__account="killed", code="GATE_BLOCKED")
    assert blocked.exists()
    assert (
        AuditEvent.objects.filter(account="killed", action="gate.blocked").count()
        == blocked.count()
    )
    assert not Order.objects.filter(account="killed").exists()


def test_a_second_cycle_while_the_lock_is_held_is_skipped(exchange) -> None:
    _account("busy", "paper")
    with single_flight("cycle_run:{account}", account="busy") as lease:
        assert lease
        cycle = cycle_run(account_name="busy", actor=ACTOR)

    assert cycle.status == "skipped"
    assert cycle.no_trade_reason.startswith("LOCK_BUSY")


def _lock_take_over(key: str, *, release: bool = False) -> None:
    """Another worker takes ``key`` (or lets it go), on the backend this run uses: Redis when
    ``REDIS_URL`` is set (CI), the in-process locks otherwise."""
    import meva.locks

    if settings.REDIS_URL:
        client = meva.locks._redis_client(settings.REDIS_URL)
        if release:
            client.delete(key)
        else:
            client.set(key, b"another-worker", ex=60)
    elif release:
        meva.locks._memory_locks.pop(key, None)
    else:
        meva.locks._memory_locks[key] = ("another-worker", meva.locks._clock() + 60)


def test_a_cycle_that_lost_its_lock_before_recording_fails_and_records_nothing(
    exchange, monkeypatch
) -> None:
    # As after a Redis restart: another holder takes the account's lock while this cycle
    # executes its orders. Recording would move the account's cursors and paper venue from
    # under the new holder, so the cycle fails with LOCK_LOST instead.
    import meva.locks
    from trading.services import cycle as cycle_service

    _account("taken", "live")
    key = meva.locks.lock_key("cycle_run:{account}", account="taken")
    original = cycle_service.plan_execute
    taken: list[int] = []

    def execute_then_lose_the_lock(plan, **kwargs):
        result = original(plan, **kwargs)
        if plan.orders and not taken:
            _lock_take_over(key)
            taken.append(len(result.acks))
        return result

    monkeypatch.setattr(cycle_service, "plan_execute", execute_then_lose_the_lock)
    cycles = []
    while not taken and len(cycles) < 60:
        exchange.advance(1)
        cycles.append(cycle_run(account_name="taken", actor=ACTOR))
    before = Account.objects.get(name="taken").last_cycle_ms

    lost = cycles[-1]
    assert taken and taken[0] >= 1, "the lost cycle should have sent an order"
    assert lost.status == "failed" and "LOCK_LOST: the cycle lost its lock" in lost.error
    assert before == cycles[-2].now_ms  # the account did not advance to the lost cycle
    assert EquitySnapshot.objects.filter(account="taken").count() == len(cycles) - 1
    assert Alert.objects.filter(account="taken", kind="LOCK_LOST").exists()
    assert Order.objects.filter(account="taken", cycle=lost).count() == taken[0]

    _lock_take_over(key, release=True)
    later = _cycles(exchange, ["taken"], 3)
    assert [c.status for c in later] == ["completed"] * 3
    # the lost cycle's orders and fills were recovered: the ledger equals the exchange
    assert balances_check(account_name="taken", actor=ACTOR).drift == []


def test_an_order_whose_answer_is_lost_becomes_unknown_and_is_resolved_by_client_id(
    exchange,
) -> None:
    _account("timeout", "live")
    exchange.faults.force("order_timeout", count=1, arg="drop", method="POST", path="/api/v1/order")
    for _ in range(30):
        exchange.advance(1)
        cycle_run(account_name="timeout", actor=ACTOR)
        if Order.objects.filter(account="timeout").exists():
            break
    order = Order.objects.get(account="timeout")
    went_unknown = AuditEvent.objects.filter(
        action="order.status", object_id=order.client_order_id, after__status="UNKNOWN"
    )
    # the cycle's own reconciliation (after its record) already found it by client order id
    assert went_unknown.exists()
    assert order.status in {"OPEN", "PARTIALLY_FILLED", "FILLED"}
    assert order.exchange_order_id
    assert AuditEvent.objects.filter(
        action="reconcile.adopt", object_id=order.client_order_id
    ).exists()
    orders_reconcile(account_name="timeout", actor=ACTOR)
    with btcturk_client_from_settings() as client:
        on_exchange = client.all_orders(parse_symbol(order.symbol))
    assert [o.client_order_id for o in on_exchange].count(order.client_order_id) == 1
    assert Order.objects.filter(account="timeout").count() == 1


def test_run_cycle_prints_the_gate_first_and_ends_with_a_json_summary(exchange) -> None:
    _account("cli", "paper")
    out = StringIO()
    exchange.advance(1)

    call_command("run_cycle", account="cli", cycles=2, interval=0, json=True, stdout=out)

    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("safety gate:")
    summary = json.loads(lines[-1])
    assert summary["account"] == "cli"
    assert [c["status"] for c in summary["cycles"]] == ["completed", "skipped"]
    assert set(summary["cycles"][0]) >= {"cycle_id", "status", "orders", "fills", "equity", "mode"}
    assert summary["balances"]["TRY"] == "100000"
    assert Decimal(summary["equity"]) == Decimal(summary["cycles"][0]["equity"]) > 0


def test_an_order_unknown_past_the_probe_bound_alerts_and_puts_the_account_in_observe_only(
    exchange,
) -> None:
    _account("lost", "live")
    _cycles(exchange, ["lost"], 1)
    Order.objects.create(
        account="lost",
        client_order_id="mv-never-reached-the-exchange",
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=Decimal(300_000),
        quantity=Decimal("0.001"),
        status="UNKNOWN",
    )
    with override_settings(RECONCILE_MAX_PROBES=3):
        results = [orders_reconcile(account_name="lost", actor=ACTOR) for _ in range(3)]
        cycle = _cycles(exchange, ["lost"], 1)[0]

    assert [r.escalated for r in results] == [[], [], ["mv-never-reached-the-exchange"]]
    assert Alert.objects.filter(account="lost", kind="UNKNOWN_ORDER_UNRESOLVED").count() == 1
    assert cycle.risk_mode == "OBSERVE_ONLY"
    assert "UNKNOWN_ORDERS" in cycle.mode_reasons


def test_balance_drift_alerts_and_the_next_cycles_only_reduce_exposure(exchange) -> None:
    _account("drifting", "paper")
    _cycles(exchange, ["drifting"], 1)
    PaperBalance.objects.filter(account="drifting", asset="TRY").update(free=CASH + 5)

    check = balances_check(account_name="drifting", actor=ACTOR)
    cycle = _cycles(exchange, ["drifting"], 1)[0]

    assert check.drift == ["TRY"]
    assert check.rows["TRY"] == ("100000", "100005", "5")
    assert Alert.objects.filter(account="drifting", kind="BALANCE_DRIFT", key="TRY").exists()
    assert cycle.risk_mode == "REDUCE_RISK_ONLY"
    assert "BALANCE_DRIFT" in cycle.mode_reasons


def test_an_order_placed_outside_meva_is_reported_and_never_touched(exchange) -> None:
    _account("shared-key", "live")
    _cycles(exchange, ["shared-key"], 1)
    with btcturk_client_from_settings() as client:
        ack = client.submit_order(
            OrderRequest(
                "by-hand-1",
                parse_symbol("BTC_TRY"),
                Side.BUY,
                OrderType.LIMIT,
                Decimal("0.001"),
                price=Decimal(200_000),
            )
        )

    result = orders_reconcile(account_name="shared-key", actor=ACTOR)

    assert result.foreign == [ack.order_id]
    assert Alert.objects.filter(
        account="shared-key", kind="FOREIGN_ORDER", key=ack.order_id
    ).exists()
    with btcturk_client_from_settings() as client:
        assert [o.order_id for o in client.open_orders()] == [ack.order_id]
    assert not Order.objects.filter(exchange_order_id=ack.order_id).exists()


def test_a_paper_session_exported_and_backtested_makes_the_same_decisions(
    exchange, tmp_path
) -> None:
    _account("parity", "paper")
    cycles = _cycles(exchange, ["parity"], 40)
    assert all(c.status == "completed" for c in cycles)
    account = Account.objects.get(name="parity")

    export = dataset_export(account=account, out=tmp_path / "export")
    dataset = load_dataset(export.out)
    config = BacktestConfig(
        strategy=build_strategy(account.strategy, account.params),
        limits=risk_limits_from_settings(account.risk),
        fee_maker_bps=account.fee_maker_bps,
        fee_taker_bps=account.fee_taker_bps,
        initial_cash=CASH,
        fill_model=FillModel(account.fill_model),
        max_volume_share=settings.BACKTEST_MAX_VOLUME_SHARE,
        start_ms=export.first_cycle_ms - dataset.interval_ms,
        account=account.name,
    )
    backtest = run_backtest(dataset, config, execute=plan_execute, port=SimulatedExchange)

    def paper(kind: str) -> list[tuple]:
        rows = CycleDecision.objects.filter(cycle__account="parity", kind=kind).order_by(
            "cycle__now_ms", "seq"
        )
        return [
            (r.cycle.now_ms, r.symbol, r.side, r.client_order_id, r.payload.get("quantity"))
            for r in rows
        ]

    replayed_orders = [
        (r.now_ms, o.symbol.pair_normalized, o.side.value, o.client_order_id, str(o.quantity))
        for r in backtest.cycles
        for o in r.orders
    ]
    replayed_modes = [(r.now_ms, r.mode) for r in backtest.cycles]
    assert [c.now_ms for c in cycles] == [now for now, _ in replayed_modes]
    assert [(c.now_ms, c.risk_mode) for c in cycles] == replayed_modes
    assert paper("order")
    assert paper("order") == replayed_orders
    paper_fills = [
        (f.symbol, f.side, f.price, f.quantity)
        for f in LedgerFill.objects.filter(account="parity").order_by("ts", "id")
    ]
    assert paper_fills == [
        (f.symbol.pair_normalized, f.side.value, f.price, f.quantity) for f in backtest.fills
    ]


def test_a_live_account_whose_market_orders_fill_on_submit_keeps_ledger_equal_to_the_sandbox(
    exchange,
) -> None:
    # sma_cross sends market orders: the sandbox fills them at once against its book, inside
    # the cycle that submits them; the cycle's own reconciliation must book those fills.
    account_create(
        name="taker",
        mode="live",
        strategy="sma_cross",
        params={"fast": 3, "slow": 8},
        symbols=["BTC_TRY", "ETH_TRY"],
        actor=ACTOR,
    )
    for _ in range(40):
        exchange.advance(1)
        cycle = cycle_run(account_name="taker", actor=ACTOR)
        assert cycle.status == "completed", cycle.error
        assert balances_check(account_name="taker", actor=ACTOR).drift == []

    venue = exchange.exchange.account(exchange.api_key)
    immediate = [t for t in venue.trades if t.ts_ms == venue.orders[t.order_id].created_ms]
    assert immediate, "no order filled on submit"
    assert LedgerFill.objects.filter(account="taker").count() == len(venue.trades)
    assert set(LedgerFill.objects.filter(account="taker").values_list("trade_id", flat=True)) == {
        str(t.trade_id) for t in venue.trades
    }
