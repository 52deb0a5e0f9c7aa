"""Parameter sweep speed-up benchmark (not a test): the same ``backtest_sweep`` with
``--workers 1`` and ``--workers 2``, each a fresh ``manage.py`` process, timed wall to wall;
``--pairs`` such pairs (default 3) one after the other, in alternating order (1 then 2
workers, then 2 then 1...), each pair's speed-up printed and the verdict given on their median
(this machine's speed drifts by 10-20 % from one minute to the next: the same 1-worker sweep
took 13.9-16.8 s in four runs in a row, so a single pair can land on either side of the floor).

Issue floors (2-core machine): 2 workers at least 1.8x faster than 1, and peak RSS per worker
process under 1 GB. Both sweeps must give the same fingerprint for every combination (the bench
exits 1 otherwise).

Data: the bundled ``data/sample/usdt-5m`` (4 USDT pairs, 3 months of 5-minute bars, 26,208
cycles a run), imported into a throwaway database: a SQLite file in a temporary directory unless
``--database-url`` names another (it must be empty or migrated). SQLite has one writer: the
workers wait for each other's result writes (30 s at most, then "database is locked"); with
PostgreSQL (``--database-url postgres://...``) the database server shares the machine's cores
instead. Both limit the speed-up; the README has both measured. The default grid is 20 ``sma_cross`` combinations: 12 s with one worker on the machine of 2026-12-06
evening, 27-42 s on earlier ones (the fixed cost of a process start, about 0.6 s, and the last
run's tail are then a small part; ``--grid`` takes a longer sweep).

Peak RSS per process is read from ``/proc/<pid>/status`` (``VmHWM``) of the command and its
worker processes, polled every 0.1 s; the largest of the whole tree is also read from
``getrusage(RUSAGE_CHILDREN)``, as is the CPU time the command and its workers used (the
process tree is rescanned once a second after the first two: scanning ``/proc`` takes 2 ms). The load
average before, during and after is printed: other work on the machine (and the database
server's own CPU) lowers the speed-up. Usage::

    .venv/bin/python bench/sweep_speedup.py [--grid JSON] [--strategy sma_cross] [--params JSON]
        [--database-url URL] [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backtest_scale import compile_project  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SAMPLE = ROOT / "data" / "sample" / "usdt-5m"
DATASET = "bench-sweep-usdt-5m"
GRID = '{"fast": [5, 8, 10, 12, 15, 20, 25, 30, 35, 40], "slow": [50, 80]}'
SPEEDUP_FLOOR = 1.8
RSS_FLOOR_MB = 1024.0
POLL_S = 0.1
PAIRS = 3
RESCAN_POLLS = 10


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True)


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (from ``/proc/*/stat``: about 2 ms a scan here)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = entry.joinpath("stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.update(children)
        frontier.extend(children)
    return found


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sweep(env: dict[str, str], workers: int, options: argparse.Namespace) -> dict[str, object]:
    """One ``backtest_sweep`` process: wall seconds, its JSON, peak RSS per process (MB)."""
    command = [
        str(PYTHON),
        "manage.py",
        "backtest_sweep",
        "--dataset",
        DATASET,
        "--strategy",
        options.strategy,
        "--params",
        options.params,
        "--grid",
        options.grid,
        "--workers",
        str(workers),
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}
    loads: list[float] = []
    ended = threading.Event()

    def poll() -> None:
        tree: set[int] = set()
        polls = 0
        while not ended.is_set():
            # the process tree is scanned every poll for the first 2 s (the workers start),
            # then every RESCAN_POLLS-th: the scan of /proc is the poller's only real CPU cost
            if polls < 20 or polls % RESCAN_POLLS == 0:
                tree = descendants(process.pid)
            polls += 1
            for pid in tree:
                rss = peak_rss_mb(pid)
                if rss is not None:
                    peaks[pid] = max(rss, peaks.get(pid, 0.0))
            loads.append(os.getloadavg()[0])
            ended.wait(POLL_S)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    output, _ = process.communicate()  # the wall time ends when the process does, not at a poll
    wall = time.perf_counter() - started
    ended.set()
    poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise SystemExit(f"backtest_sweep --workers {workers} exited {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    command_peak = peaks.pop(process.pid, 0.0)
    return {
        "wall": wall,
        "cpu": cpu,
        "load": sum(loads) / max(len(loads), 1),
        "result": result,
        "command_mb": command_peak,
        "workers_mb": peaks,
    }


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default=GRID)
    parser.add_argument("--strategy", default="sma_cross")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument(
        "--pairs",
        type=int,
        default=PAIRS,
        help=f"pairs of sweeps (1 and 2 workers, in alternating order; default {PAIRS})",
    )
    options = parser.parse_args()
    if options.pairs < 1:
        parser.error("--pairs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        url = options.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
        compile_project()  # as make run does: no process compiles the project's modules
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "import_dataset", str(SAMPLE), "--name", DATASET, "--replace")
        print(f"machine: {os.cpu_count()} CPUs; load average before: {load()}")
        print(f"database: {url.split('@')[-1]}; grid {options.grid} ({options.strategy})")
        pairs = []
        for number in range(1, options.pairs + 1):
            # the order alternates, so a machine that speeds up or slows down over the
            # minutes favours neither side
            if number % 2:
                one = sweep(env, 1, options)
                two = sweep(env, 2, options)
            else:
                two = sweep(env, 2, options)
                one = sweep(env, 1, options)
            pairs.append((one, two))
            print(f"pair {number} ({'1 then 2' if number % 2 else '2 then 1'} workers):")
            code = report(one, two)
            if code:
                return code
        print(f"load average after: {load()}")
    return summary(pairs)


def summary(pairs: list[tuple[dict, dict]]) -> int:
    """The verdict over every pair: the median of the pairs' speed-ups (the machine's speed
    drifts between one sweep and the next; a slow spell lowers one pair or raises it).

    Each speed-up is the product of two factors, both printed: how many cores the sweep's
    own processes kept busy with 2 workers against 1 (CPU seconds over wall seconds: the
    machine's speed drift barely moves it, the database server's share of the cores does),
    and the CPU seconds of the 1-worker sweep over the 2-worker one (1.0 when the same work
    costs the same; this is where the drift shows)."""
    speedups = sorted(one["wall"] / two["wall"] for one, two in pairs)
    busy = [(two["cpu"] / two["wall"]) / (one["cpu"] / one["wall"]) for one, two in pairs]
    cost = [one["cpu"] / two["cpu"] for one, two in pairs]
    median = statistics.median(speedups)
    listed = ", ".join(f"{s:.2f}x" for s in speedups)
    print(
        f"speed-up over {len(pairs)} pair(s): median {median:.2f}x (each: {listed}; "
        f"floor {SPEEDUP_FLOOR}x): {verdict(median >= SPEEDUP_FLOOR)}"
    )
    print(
        f"  factors (medians): cores kept busy, 2 workers against 1: "
        f"{statistics.median(busy):.2f}x; CPU seconds, 1 worker over 2: "
        f"{statistics.median(cost):.2f}"
    )
    return 0


def report(one: dict, two: dict) -> int:
    runs = one["result"]["total"]
    for label, item in (("--workers 1", one), ("--workers 2", two)):
        workers = ", ".join(f"{mb:.0f}" for mb in sorted(item["workers_mb"].values())) or "-"
        print(
            f"  {label}: {item['wall']:6.1f} s wall, {item['cpu']:6.1f} s CPU of the command and "
            f"its workers ({item['cpu'] / item['wall']:.2f} cores busy; 1-min load average "
            f"{item['load']:.2f} during the run) for {runs} runs "
            f"({item['result']['completed']} completed); peak RSS MB: command "
            f"{item['command_mb']:.0f}, worker processes [{workers}]"
        )
    tree_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    speedup = one["wall"] / two["wall"]
    worst = max([two["command_mb"], *two["workers_mb"].values(), one["command_mb"]])
    same = fingerprints(one["result"]) == fingerprints(two["result"])
    print(
        f"  speed-up: {speedup:.2f}x (floor {SPEEDUP_FLOOR}x): {verdict(speedup >= SPEEDUP_FLOOR)}"
    )
    print(
        f"  peak RSS per process: {worst:.0f} MB (largest of the tree by getrusage: "
        f"{tree_mb:.0f} MB; floor {RSS_FLOOR_MB:.0f} MB): {verdict(worst < RSS_FLOOR_MB)}"
    )
    print(f"  same fingerprints for every combination: {verdict(same)}")
    return 0 if same else 1


def fingerprints(result: dict) -> dict[str, str]:
    return {json.dumps(r["params"], sort_keys=True): r["fingerprint"] for r in result["runs"]}


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
