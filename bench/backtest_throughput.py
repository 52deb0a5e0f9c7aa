"""Backtest throughput, scaling and memory benchmark (not a test).

Measures the engine (planner + simulated venue + ledger, in memory, no database) on real
5-minute candles:

1. throughput: N symbols x M bars, reporting cycles/s and symbol-bars/s, and how time scales
   when M doubles (M, 2M, 4M);
2. ``sma_cross`` on one symbol against backtesting.py's ``SmaCross``-equivalent on the same
   bars (both timed end to end, data already in memory);
3. peak memory (ru_maxrss of a fresh subprocess) of a run over ~500,000 symbol-bars.

Data: ``--data`` points at a directory of ``binance_<SYM>USDT_5m_*.csv`` files (the shared
market data, default ``../shared/data/market``); without it the bundled ``data/sample/usdt-5m``
(3 months) is used, which limits M. Usage::

    .venv/bin/python bench/backtest_throughput.py [--data DIR] [--bars 20000] [--symbols 4]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from replay.domain.dataset import load_dataset  # noqa: E402
from replay.domain.engine import BacktestConfig, run_backtest  # noqa: E402
from replay.numpy_signals import NUMPY_SIGNALS  # noqa: E402
from trading.domain.risk import RiskLimits  # noqa: E402
from trading.domain.strategies.registry import build_strategy  # noqa: E402
from trading.domain.venue import FillModel  # noqa: E402
from trading.exchange.simulated import SimulatedExchange  # noqa: E402
from trading.services.execution import plan_execute  # noqa: E402

SYMBOLS = ("BTC", "ETH", "SOL", "AVAX")


def source_rows(data: Path | None, base: str, years: tuple[str, ...]) -> list[list[str]]:
    """Rows ``[ts, o, h, l, c, v]`` of one symbol, oldest first, from shared or sample data."""
    if data is None:
        path = ROOT / "data" / "sample" / "usdt-5m" / "candles" / f"{base}_USDT.csv"
        with path.open() as fh:
            reader = csv.reader(fh)
            next(reader)
            return [row[:6] for row in reader]
    rows: list[list[str]] = []
    for year in years:
        for path in sorted(data.glob(f"binance_{base}USDT_5m_{year}*.csv")):
            with path.open() as fh:
                reader = csv.reader(fh)
                next(reader)
                rows.extend([r[0], r[2], r[3], r[4], r[5], r[6]] for r in reader)
    return rows


def write_dataset(target: Path, per_symbol: dict[str, list[list[str]]]) -> Path:
    candles = target / "candles"
    candles.mkdir(parents=True)
    for base, rows in per_symbol.items():
        with (candles / f"{base}_USDT.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["ts", "open", "high", "low", "close", "volume"])
            writer.writerows(rows)
    return target


def run(
    path: Path,
    strategy: str,
    params: dict,
    *,
    all_in: bool = False,
    fill_model: str = "bar",
    fast_path: bool = True,
    repeat: int = 1,
) -> dict:
    """Best of ``repeat`` engine runs over the dataset at ``path`` (loaded once)."""
    t0 = time.perf_counter()
    dataset = load_dataset(path)
    load_s = time.perf_counter() - t0
    limits = RiskLimits()
    if all_in:
        limits = RiskLimits(
            cash_reserve_pct=Decimal(0),
            max_order_pct=Decimal(1),
            max_cycle_pct=Decimal(1),
            max_position_pct=Decimal(1),
            cooldown_ms=0,
            reduce_drawdown_pct=Decimal(1),
            observe_drawdown_pct=Decimal(1),
            daily_loss_pct=Decimal(1),
        )
    config = BacktestConfig(
        strategy=build_strategy(strategy, params),
        limits=limits,
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(100000),
        fill_model=FillModel(fill_model),
        max_volume_share=None if all_in else Decimal("0.1"),
        fast_path=fast_path,
        signal_kernels=NUMPY_SIGNALS,  # as the backtest services run it
    )
    runs = [
        run_backtest(dataset, config, execute=plan_execute, port=SimulatedExchange)
        for _ in range(repeat)
    ]
    result = min(runs, key=lambda r: r.elapsed_s)
    return {
        "symbols": len(result.symbols),
        "cycles": len(result.cycles),
        "symbol_bars": result.bars,
        "fills": len(result.fills),
        "elapsed_s": round(result.elapsed_s, 3),
        "load_s": round(load_s, 3),
        "cycles_per_s": round(result.cycles_per_s),
        "symbol_bars_per_s": round(result.bars / result.elapsed_s),
        "final_equity": str(result.final_equity.quantize(Decimal("0.01"))),
        "fingerprint": result.fingerprint[:12],
    }


def throughput(data: Path | None, symbols: int, bars: int, strategy: str) -> None:
    """cycles/s at M, 2M, 4M bars, with the fast path and with full planning every cycle.

    Full planning costs the same per cycle, so its time ratio shows how the engine scales;
    with the fast path the cost also follows the number of decisions (fills grow faster than
    the bars on this data), so that ratio is shown per fill too.
    """
    rows = {b: source_rows(data, b, ("2024",)) for b in SYMBOLS[:symbols]}
    available = min(len(r) for r in rows.values())
    for fast_path in (True, False):
        label = "fast path" if fast_path else "full planning every cycle"
        print(f"== throughput: {symbols} symbols, 5m bars, {strategy}, {label} (best of 3)")
        previous = None
        for m in (bars, bars * 2, bars * 4):
            if m > available:
                print(f"   M={m}: skipped (only {available} bars per symbol available)")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                path = write_dataset(Path(tmp) / "ds", {b: r[:m] for b, r in rows.items()})
                stats = run(path, strategy, {}, fast_path=fast_path, repeat=3)
            note = ""
            if previous:
                ratio = stats["elapsed_s"] / previous["elapsed_s"]
                per_fill = ratio / (stats["fills"] / previous["fills"])
                note = f"  time x{ratio:.2f} for 2x bars (x{per_fill:.2f} per fill)"
            print(f"   M={m}: {json.dumps(stats)}{note}")
            previous = stats


def oracle_speed(data: Path | None, bars: int) -> None:
    """sma_cross on one symbol: our engine against backtesting.py, best of 3 each."""
    print(f"== sma_cross on 1 symbol ({bars} bars) vs backtesting.py (best of 3 each)")
    rows = source_rows(data, "BTC", ("2024",))[:bars]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dataset(Path(tmp) / "ds", {"BTC": rows})
        ours = run(
            path,
            "sma_cross",
            {"fast": 10, "slow": 30},
            all_in=True,
            fill_model="next_open",
            repeat=3,
        )
    print(f"   meva engine:    {ours['elapsed_s']:.3f}s ({ours['fills']} fills)")
    try:
        import pandas as pd
        from backtesting import Strategy
        from backtesting.lib import FractionalBacktest, crossover
        from backtesting.test import SMA
    except ImportError:
        print("   backtesting.py not installed (pip install -r requirements-dev.txt)")
        return

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 30)

        def next(self):
            if crossover(self.fast, self.slow) and not self.position:
                self.buy()
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    frame = pd.DataFrame(
        {
            "Open": [float(r[1]) for r in rows],
            "High": [float(r[2]) for r in rows],
            "Low": [float(r[3]) for r in rows],
            "Close": [float(r[4]) for r in rows],
            "Volume": [float(r[5]) for r in rows],
        },
        index=pd.to_datetime([int(r[0]) for r in rows], unit="ms"),
    )
    elapsed = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        bt = FractionalBacktest(
            frame, SmaCross, cash=100000, commission=0.002, finalize_trades=True
        )
        stats = bt.run()
        elapsed = min(elapsed, time.perf_counter() - t0)
    print(f"   backtesting.py: {elapsed:.3f}s ({stats['# Trades']} trades)")
    print(f"   ratio: meva runs at {elapsed / ours['elapsed_s']:.2f}x the speed of backtesting.py")


def memory(data: Path | None) -> None:
    print("== peak memory (fresh subprocess)")
    if data is None:
        print("   skipped: needs --data with the 2023 and 2024 5m files")
        return
    with tempfile.TemporaryDirectory() as tmp:
        per = {b: source_rows(data, b, ("2023", "2024")) for b in SYMBOLS}
        path = write_dataset(Path(tmp) / "ds", per)
        code = (
            f"import json,resource,sys; sys.path.insert(0, {str(ROOT)!r});"
            "from bench.backtest_throughput import run;"
            f"s = run(__import__('pathlib').Path({str(path)!r}), 'mean_reversion', {{}});"
            "s['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1);"
            "print(json.dumps(s))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        print(f"   {out.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "data" / "market"
    parser.add_argument("--data", type=Path, default=default if default.exists() else None)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--bars", type=int, default=15000, help="M: runs M, 2M and 4M bars")
    parser.add_argument("--strategy", default="mean_reversion")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(
        f"data: {args.data or 'bundled sample'}; python {sys.version.split()[0]}; pid {os.getpid()}"
    )
    throughput(args.data, args.symbols, args.bars, args.strategy)
    for bars in (4 * args.bars, 100_000):
        oracle_speed(args.data, bars)
    if not args.skip_memory:
        memory(args.data)
    print(
        f"bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
