"""Backtests at scale (issue 10): a year of 1-minute bars x 10 pairs, whole processes measured.

Builds (once, cached under ``var/bench/``) a dataset of ``--pairs`` USDT pairs with ``--bars``
1-minute candles each (default 10 x 525,600 = one year), made by chaining the real 1-minute
segments of ``--data`` (the shared market data: BTC, ETH and AVAX months). Each pair starts at a
different segment and each appended segment is rescaled so that its first open continues the
previous close: every bar's shape (returns, range, volume) is a real one, the levels are not.

Then, per database (``--databases sqlite,postgres``; PostgreSQL at ``--pg-url`` gets a fresh
``meva_bench`` database), it migrates, times ``import_dataset`` (the first one with an empty
dataset cache, ``var/bench/dataset-cache``: it parses every CSV; later ones read the cache) and
runs ``backtest`` for each
``--strategies`` entry as a separate ``manage.py`` process, reporting for each: wall seconds,
peak RSS of that process (``wait4``), the engine and the row-writing seconds the run recorded
(``elapsed_s``, ``persist_s``) and everything else (start-up and dataset loading). The issue's
floors: wall < 60 s and peak RSS < 1 GB per backtest, import < 10 s. Usage::

    .venv/bin/python bench/backtest_scale.py [--pairs 10] [--bars 525600] \
        [--strategies mean_reversion,sma_cross] [--databases sqlite,postgres] [--json]

Results print as a table; ``--json`` adds one JSON line. Nothing is written to git-tracked
paths (``var/`` is ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
START_MS = 1_672_531_200_000  # 2023-01-01T00:00Z
MINUTE_MS = 60_000


def _segments(data: Path) -> list[list[tuple[float, float, float, float, str]]]:
    out = []
    for path in sorted(data.glob("binance_*USDT_1m_*.csv")):
        with path.open() as handle:
            rows = [
                (
                    float(r["open"]),
                    float(r["high"]),
                    float(r["low"]),
                    float(r["close"]),
                    r["volume"],
                )
                for r in csv.DictReader(handle)
            ]
        out.append(rows)
    if not out:
        raise SystemExit(f"no binance_*USDT_1m_*.csv files in {data}")
    return out


def _price(value: float) -> str:
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return text or "0"


def build(data: Path, out: Path, pairs: int, bars: int) -> Path:
    """Write the chained dataset (module docstring) to ``out`` unless it is there already."""
    done = out / ".complete"
    if done.exists():
        return out
    segments = _segments(data)
    (out / "candles").mkdir(parents=True, exist_ok=True)
    for pair in range(pairs):
        level = 100.0 * (pair + 1)  # each pair starts at its own level
        written = 0
        segment_index = pair % len(segments)
        offset = (pair * 7919) % len(segments[segment_index])  # start inside the segment
        with (out / "candles" / f"P{pair:02d}_USDT.csv").open("w", newline="") as handle:
            handle.write("ts,open,high,low,close,volume\n")
            while written < bars:
                rows = segments[segment_index][offset:]
                scale = level / rows[0][0]
                lines = []
                for o, h, low, c, v in rows[: bars - written]:
                    ts = START_MS + (written + len(lines)) * MINUTE_MS
                    lines.append(
                        f"{ts},{_price(o * scale)},{_price(h * scale)},{_price(low * scale)},"
                        f"{_price(c * scale)},{v}\n"
                    )
                handle.writelines(lines)
                written += len(lines)
                level = rows[len(lines) - 1][3] * scale
                segment_index = (segment_index + 1) % len(segments)
                offset = 0
    done.write_text(f"{pairs} pairs x {bars} bars\n")
    return out


def compile_project() -> None:
    """Compile the project's modules to bytecode first (``make bytecode``, as ``make run``
    does; pip compiled the dependencies' at install): with ``PYTHONDONTWRITEBYTECODE`` set
    (this machine sets it) no import writes bytecode, and each timed process would compile
    ~100 modules (~0.1 s)."""
    subprocess.run(["make", "-s", "bytecode"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """Run ``argv``; (wall seconds, peak RSS in bytes of that process, stdout, stderr)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own rusage
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss * 1024, stdout, stderr


def _fresh_database(kind: str, pg_url: str) -> str:
    if kind == "sqlite":
        path = ROOT / "var" / "bench" / "scale.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    with psycopg.connect(pg_url + "/postgres", autocommit=True) as conn:
        conn.execute("drop database if exists meva_bench with (force)")
        conn.execute("create database meva_bench")
    return pg_url + "/meva_bench"


def _run_stats(env: dict[str, str], run_id: int) -> dict[str, float]:
    code = (
        "import json; from replay.models import BacktestRun as R; "
        f"r = R.objects.get(pk={run_id}); "
        "print(json.dumps({'engine_s': r.elapsed_s, 'persist_s': r.persist_s, "
        "'cycle_rows': r.cycle_rows.count(), 'fills': r.fills}))"
    )
    out = subprocess.run(
        [PY, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "market")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--bars", type=int, default=525_600)
    parser.add_argument("--strategies", default="mean_reversion,sma_cross")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    out = ROOT / "var" / "bench" / f"chained-{args.pairs}x{args.bars}-1m"
    started = time.perf_counter()
    build(args.data, out, args.pairs, args.bars)
    compile_project()
    size = sum(f.stat().st_size for f in (out / "candles").iterdir())
    print(
        f"dataset {out.relative_to(ROOT)}: {args.pairs} pairs x {args.bars} bars, "
        f"{size / 1e6:.0f} MB (ready in {time.perf_counter() - started:.1f} s)"
    )
    results = []
    cache = ROOT / "var" / "bench" / "dataset-cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first import parses every CSV (cold)
    for kind in args.databases.split(","):
        env = dict(
            os.environ, DATABASE_URL=_fresh_database(kind, args.pg_url), REDIS_URL="",
            LOG_LEVEL="WARNING", DATASET_CACHE_DIR=str(cache),
        )  # fmt: skip
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        warm = cache.is_dir() and any(cache.iterdir())
        wall, rss, _, _ = _measured(
            [PY, "manage.py", "import_dataset", str(out), "--name", "year"], env
        )
        step = f"import_dataset ({'cache warm' if warm else 'cold: parses every CSV'})"
        results.append({"database": kind, "step": step, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss / 2**20)})  # fmt: skip
        print(f"{kind:<9} {step}  wall {wall:6.1f} s  peak RSS {rss / 2**20:6.0f} MB")
        for strategy in args.strategies.split(","):
            wall, rss, stdout, _ = _measured(
                [PY, "manage.py", "backtest", "--dataset", "year", "--strategy", strategy,
                 "--json"], env,
            )  # fmt: skip
            summary = json.loads(stdout.strip().splitlines()[-1])
            stats = _run_stats(env, summary["run_id"])
            other = wall - (stats["engine_s"] or 0) - (stats["persist_s"] or 0)
            row = {
                "database": kind, "step": f"backtest {strategy}", "wall_s": round(wall, 1),
                "peak_rss_mb": round(rss / 2**20), "engine_s": round(stats["engine_s"], 1),
                "persist_s": round(stats["persist_s"], 1), "other_s": round(other, 1),
                "cycles": summary["cycles"], "cycle_rows": stats["cycle_rows"],
                "fills": stats["fills"], "return_pct": summary["return_pct"],
            }  # fmt: skip
            results.append(row)
            print(
                f"{kind:<9} {strategy:<15} wall {wall:6.1f} s  peak RSS {rss / 2**20:6.0f} MB  "
                f"engine {row['engine_s']:5.1f} s  rows {row['persist_s']:5.1f} s  "
                f"other {other:5.1f} s  cycles {summary['cycles']}  rows "
                f"{stats['cycle_rows']}  fills {stats['fills']}"
            )
    if args.json:
        print(json.dumps({"pairs": args.pairs, "bars": args.bars, "results": results}))


if __name__ == "__main__":
    sys.exit(main())
