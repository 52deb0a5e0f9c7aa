"""``manage.py backtest`` and the backtest service: JSON summary, determinism, stored results,
argument errors that create no run, and a run lifecycle that never stays ``running``.

The dataset is the first 600 bars (about two days) of BTC_USDT and ETH_USDT from the bundled
``data/sample/usdt-5m``, copied to a temporary directory and imported as ``usdt-slice``.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from replay.domain.series import series_texts, series_times
from replay.models import BacktestCycle, BacktestFill, BacktestRun, BacktestTrade, RunStatus

pytestmark = pytest.mark.django_db

D = Decimal
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "usdt-5m"
BARS = 600
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, the first bar
STEP = 300_000
JSON_KEYS = {
    "run_id",
    "fingerprint",
    "cycles",
    "symbols",
    "trades",
    "fills",
    "fees",
    "initial_equity",
    "final_equity",
    "return_pct",
    "max_drawdown_pct",
    "sharpe",
    "elapsed_s",
    "cycles_per_s",
}
SMA = ["--strategy", "sma_cross", "--params", '{"fast": 5, "slow": 20}']


@pytest.fixture
def slice_dir(tmp_path: Path) -> Path:
    root = tmp_path / "usdt-slice"
    (root / "candles").mkdir(parents=True)
    for pair in ("BTC_USDT", "ETH_USDT"):
        with (SAMPLE / "candles" / f"{pair}.csv").open() as source:
            head = [next(source) for _ in range(BARS + 1)]
        (root / "candles" / f"{pair}.csv").write_text("".join(head))
    return root


@pytest.fixture
def dataset(slice_dir: Path) -> Path:
    call_command("import_dataset", str(slice_dir), "--name", "usdt-slice", stdout=io.StringIO())
    return slice_dir


def backtest(*args: str) -> dict[str, object]:
    out = io.StringIO()
    call_command("backtest", "--dataset", "usdt-slice", *args, "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


# --- output --------------------------------------------------------------------------------


def test_json_prints_one_object_with_exactly_the_summary_keys_last(dataset: Path) -> None:
    out = io.StringIO()

    call_command("backtest", "--dataset", "usdt-slice", *SMA, "--json", stdout=out)

    last = out.getvalue().strip().splitlines()[-1]
    summary = json.loads(last)
    assert set(summary) == JSON_KEYS
    assert summary["cycles"] == BARS
    assert summary["symbols"] == ["BTC_USDT", "ETH_USDT"]
    assert summary["run_id"] == BacktestRun.objects.get().pk
    assert len(summary["fingerprint"]) == 64
    assert summary["fills"] > 0 and D(summary["fees"]) > 0
    assert D(summary["initial_equity"]) == D("100000")


def test_the_table_output_says_what_ran_and_its_fingerprint(dataset: Path) -> None:
    out = io.StringIO()

    call_command("backtest", "--dataset", "usdt-slice", *SMA, stdout=out)

    text = out.getvalue()
    run = BacktestRun.objects.get()
    assert f"backtest run {run.pk}: sma_cross on usdt-slice" in text
    assert run.fingerprint in text
    assert "max drawdown %" in text


def test_two_identical_commands_give_the_same_fingerprint(dataset: Path) -> None:
    first = backtest(*SMA)
    second = backtest(*SMA)
    other = backtest("--strategy", "sma_cross", "--params", '{"fast": 4, "slow": 20}')

    assert first["fingerprint"] == second["fingerprint"]
    assert first["run_id"] != second["run_id"]
    assert (first["final_equity"], first["fills"]) == (second["final_equity"], second["fills"])
    assert other["fingerprint"] != first["fingerprint"]


# --- stored results ------------------------------------------------------------------------


def test_a_completed_run_stores_its_metrics_fills_trades_decisions_and_every_cycle_series(
    dataset: Path,
) -> None:
    summary = backtest(*SMA)

    run = BacktestRun.objects.get(pk=summary["run_id"])
    assert run.status == RunStatus.COMPLETED
    assert run.error == ""
    assert run.started_at is not None and run.finished_at is not None
    assert run.elapsed_s > 0
    assert (run.cycles, run.bars, run.symbols) == (BARS, 2 * BARS, ["BTC_USDT", "ETH_USDT"])
    assert run.fingerprint == summary["fingerprint"]
    assert run.fills == summary["fills"] > 0
    assert run.trades == summary["trades"] > 0
    assert run.fees > 0 and run.max_drawdown_pct > 0
    assert run.final_equity.quantize(D("0.01")) == D(summary["final_equity"])
    assert run.return_pct.quantize(D("0.0001")) == D(summary["return_pct"])
    assert run.summary["fingerprint"] == run.fingerprint
    assert BacktestFill.objects.filter(run=run).count() == run.fills
    assert BacktestTrade.objects.filter(run=run).count() == run.trades
    # a row per cycle that decided something (every fill is in one), not per quiet cycle
    cycles = list(BacktestCycle.objects.filter(run=run).order_by("seq"))
    assert cycles[0].seq == 0 and 0 < len(cycles) < BARS
    assert sum(c.fills for c in cycles) == run.fills
    # the series holds every cycle: times, and the final equity
    series = run.series.encoded()
    assert series.points == BARS
    assert series_times(series.now_ms, BARS) == [T0 + (k + 1) * STEP for k in range(BARS)]
    equity = series_texts(series.equity, BARS)
    assert D(equity[-1]).quantize(D("0.01")) == D(summary["final_equity"])
    assert sum(f.fee for f in BacktestFill.objects.filter(run=run)).quantize(D("0.01")) == D(
        summary["fees"]
    )


def test_stored_cycles_hold_the_decisions(dataset: Path) -> None:
    run = BacktestRun.objects.get(pk=backtest(*SMA)["run_id"])

    trading = BacktestCycle.objects.filter(run=run).exclude(orders=[]).order_by("seq").first()

    assert trading is not None
    assert trading.intents and trading.intents[0]["strategy"] == "sma_cross"
    submit = trading.orders[0]
    assert submit["action"] == "submit"
    assert len(submit["client_order_id"]) <= 50
    assert submit["symbol"] in {"BTC_USDT", "ETH_USDT"}
    assert trading.universe == ["BTC_USDT", "ETH_USDT"]


def test_start_and_end_restrict_the_cycles(dataset: Path) -> None:
    summary = backtest(*SMA, "--start", "2024-01-01T10:00:00Z", "--end", "2024-01-01T12:00")

    assert summary["cycles"] == 24
    run = BacktestRun.objects.get(pk=summary["run_id"])
    first = BacktestCycle.objects.filter(run=run).order_by("seq").first()
    assert first.ts.isoformat() == "2024-01-01T10:05:00+00:00"  # bar 10:00 has closed


def test_overrides_reach_the_run_row(dataset: Path) -> None:
    summary = backtest(
        *SMA,
        "--risk",
        '{"max_order_pct": "0.05", "cooldown_ms": 0}',
        "--initial-cash",
        "50000",
        "--fee-taker-bps",
        "15",
        "--fill-model",
        "next_open",
    )

    run = BacktestRun.objects.get(pk=summary["run_id"])
    assert run.risk_limits["max_order_pct"] == "0.05"
    assert run.risk_limits["cooldown_ms"] == 0
    assert run.params == {"fast": 5, "slow": 20}
    assert (run.initial_cash, run.fee_taker_bps, run.fill_model) == (
        D("50000"),
        D("15"),
        "next_open",
    )
    assert D(summary["initial_equity"]) == D("50000")


# --- argument errors: a CommandError naming the flag or key, and no run row ---------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--params", "{fast: 5"], "--params"),
        (["--params", "[5, 20]"], "--params"),
        (["--strategy", "sma_cross", "--params", '{"fastest": 5}'], "fastest"),
        (["--strategy", "sma_cross", "--params", '{"fast": 30, "slow": 20}'], "fast"),
        (["--risk", "not json"], "--risk"),
        (["--risk", '{"max_positon_pct": 0.3}'], "max_positon_pct"),
        (["--risk", '{"max_position_pct": 3}'], "max_position_pct"),
        (["--start", "yesterday"], "--start"),
        (["--initial-cash", "lots"], "--initial-cash"),
        (["--initial-cash", "0"], "--initial-cash"),
        (["--fee-taker-bps", "-1"], "--fee-taker-bps"),
    ],
)
def test_invalid_arguments_raise_a_command_error_and_create_no_run(
    dataset: Path, args: list[str], named: str
) -> None:
    with pytest.raises(CommandError, match=named):
        call_command("backtest", "--dataset", "usdt-slice", *args, stdout=io.StringIO())

    assert not BacktestRun.objects.exists()


def test_an_unknown_dataset_raises_a_command_error_naming_the_flag(dataset: Path) -> None:
    with pytest.raises(CommandError, match="--dataset.*no-such-set"):
        call_command("backtest", "--dataset", "no-such-set", stdout=io.StringIO())

    assert not BacktestRun.objects.exists()


# --- lifecycle on failure --------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError("engine exploded"), KeyboardInterrupt()])
def test_an_engine_failure_leaves_the_run_failed_with_its_error_never_running(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("replay.services.backtests.run_backtest", explode)

    # an interruption (Ctrl-C, or SIGTERM through meva.interrupts) ends the command with a
    # one-line error, not a traceback; any other failure propagates
    expected = CommandError if isinstance(error, KeyboardInterrupt) else type(error)
    with pytest.raises(expected):
        call_command("backtest", "--dataset", "usdt-slice", *SMA, stdout=io.StringIO())

    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert type(error).__name__ in run.error
    assert str(error) in run.error
    assert run.finished_at is not None
    assert not BacktestCycle.objects.exists()


def test_a_failure_while_storing_results_leaves_no_partial_rows(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("disk full")

    monkeypatch.setattr("replay.services.backtests._trade_rows", broken)

    with pytest.raises(RuntimeError):
        call_command("backtest", "--dataset", "usdt-slice", *SMA, stdout=io.StringIO())

    run = BacktestRun.objects.get()
    assert (run.status, run.error) == (RunStatus.FAILED, "RuntimeError: disk full")
    assert not BacktestFill.objects.exists()


def test_dataset_files_changed_after_import_fail_the_run_with_a_clear_message(
    dataset: Path,
) -> None:
    candles = dataset / "candles" / "BTC_USDT.csv"
    candles.write_text(candles.read_text() + f"{T0 + BARS * STEP},42000,42001,41999,42000,1\n")

    with pytest.raises(CommandError, match="changed since import"):
        call_command("backtest", "--dataset", "usdt-slice", *SMA, stdout=io.StringIO())

    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "changed since import" in run.error
    assert "usdt-slice" in run.error


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", ["sma_cross", "mean_reversion", "profit_take"])
def test_no_fast_path_plans_every_cycle_and_gives_the_same_run(
    dataset: Path, strategy: str
) -> None:
    from replay.models import BacktestCycle

    fast = backtest("--strategy", strategy)
    full = backtest("--strategy", strategy, "--no-fast-path")

    assert fast["fingerprint"] == full["fingerprint"]
    assert (fast["fills"], fast["final_equity"]) == (full["fills"], full["final_equity"])
    # planned in full, every cycle's universe is recorded (quiet cycles leave it empty)
    rows = BacktestCycle.objects.filter(run_id=full["run_id"])
    assert not rows.filter(universe=[]).exists()
    # profit_take has quiet cycles too: its exit band (the masks' counterpart)
    assert BacktestCycle.objects.filter(run_id=fast["run_id"], universe=[]).exists()
