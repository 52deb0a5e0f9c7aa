"""One symbol, whole processes: ``manage.py backtest`` against backtesting.py (issue 10).

Builds (cached under ``var/bench/``, as ``bench/backtest_scale.py`` does) one pair of ``--bars``
1-minute candles chained from the real segments of ``--data``, imports it into a fresh SQLite
database, then times side by side, each as a fresh process:

- **meva**: ``manage.py backtest --strategy sma_cross --params {"fast": 50, "slow": 200}``
  all-in (every risk cap at 100 %), ``--fill-model next_open``, no volume cap
  (``--max-volume-share 0``: backtesting.py fills a whole order at the next open), fee 0;
  whole process wall time and the engine's own ``elapsed_s``;
- **backtesting.py**: a Python process that reads the same CSV with pandas and runs
  ``FractionalBacktest`` with the same SMA cross (buy on the fast crossing above, close on the
  cross back); whole process wall time and ``Backtest.run()`` alone.

Both sides start from bytecode caches: the project's modules are compiled first
(``compile_project``, as ``make run`` does), pip compiled backtesting.py's and pandas' at install.

Floors (the issue): whole process at least 2x faster than backtesting.py's, engine at least
3x faster. Usage::

    .venv/bin/python bench/backtest_single.py [--bars 500000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backtest_scale import PY, ROOT, _measured, build, compile_project  # noqa: E402

ALL_IN = {
    "cash_reserve_pct": "0", "max_order_pct": "1", "max_cycle_pct": "1",
    "max_position_pct": "1", "reduce_drawdown_pct": "1", "observe_drawdown_pct": "1",
    "daily_loss_pct": "1", "cooldown_ms": 0,
}  # fmt: skip
FAST, SLOW = 50, 200

THEIRS = """
import json, sys, time
import pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from backtesting.test import SMA

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, %(fast)d)
        self.slow = self.I(SMA, self.data.Close, %(slow)d)

    def next(self):
        if crossover(self.fast, self.slow) and not self.position:
            self.buy()
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()

frame = pd.read_csv(sys.argv[1])
frame.index = pd.to_datetime(frame.pop("ts"), unit="ms")
frame.columns = ["Open", "High", "Low", "Close", "Volume"]
started = time.perf_counter()
stats = FractionalBacktest(frame, SmaCross, cash=100000, commission=0.0,
                           finalize_trades=True).run()
print(json.dumps({"engine_s": time.perf_counter() - started, "trades": int(stats["# Trades"])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "market")
    parser.add_argument("--bars", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each side")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    out = build(args.data, ROOT / "var" / "bench" / f"chained-1x{args.bars}-1m", 1, args.bars)
    csv_path = next((out / "candles").glob("*.csv"))
    compile_project()
    db = ROOT / "var" / "bench" / "single.sqlite3"
    db.unlink(missing_ok=True)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}", REDIS_URL="", LOG_LEVEL="WARNING")
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [PY, "manage.py", "import_dataset", str(out), "--name", "single"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    ours_argv = [
        PY, "manage.py", "backtest", "--dataset", "single", "--strategy", "sma_cross",
        "--params", json.dumps({"fast": FAST, "slow": SLOW}), "--risk", json.dumps(ALL_IN),
        "--fill-model", "next_open", "--max-volume-share", "0",
        "--fee-maker-bps", "0", "--fee-taker-bps", "0", "--json",
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(THEIRS % {"fast": FAST, "slow": SLOW})
    try:
        ours, theirs = [], []
        for _ in range(args.repeat):
            wall, rss, stdout, _ = _measured(ours_argv, env)
            summary = json.loads(stdout.strip().splitlines()[-1])
            ours.append((wall, summary["elapsed_s"], rss, summary["trades"]))
            wall, rss, stdout, _ = _measured([PY, script.name, str(csv_path)], env)
            answer = json.loads(stdout.strip().splitlines()[-1])
            theirs.append((wall, answer["engine_s"], rss, answer["trades"]))
    finally:
        os.unlink(script.name)
    o_wall, o_engine = min(r[0] for r in ours), min(r[1] for r in ours)
    t_wall, t_engine = min(r[0] for r in theirs), min(r[1] for r in theirs)
    print(f"{args.bars} bars, sma_cross {FAST}/{SLOW} all-in, best of {args.repeat}:")
    print(
        f"  meva            whole {o_wall:6.2f} s  engine {o_engine:6.2f} s  "
        f"peak RSS {max(r[2] for r in ours) / 2**20:5.0f} MB  round trips {ours[0][3]}"
    )
    print(
        f"  backtesting.py  whole {t_wall:6.2f} s  engine {t_engine:6.2f} s  "
        f"peak RSS {max(r[2] for r in theirs) / 2**20:5.0f} MB  trades {theirs[0][3]}"
    )
    print(
        f"  meva is {t_wall / o_wall:.2f}x faster whole (floor 2x), "
        f"{t_engine / o_engine:.2f}x faster in the engine (floor 3x)"
    )
    if args.json:
        print(json.dumps({
            "bars": args.bars, "meva_whole_s": round(o_wall, 2), "meva_engine_s": round(o_engine, 2),
            "bt_whole_s": round(t_wall, 2), "bt_engine_s": round(t_engine, 2),
            "whole_ratio": round(t_wall / o_wall, 2), "engine_ratio": round(t_engine / o_engine, 2),
        }))  # fmt: skip


if __name__ == "__main__":
    main()
