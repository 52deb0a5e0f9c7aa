"""Sandbox exchange throughput benchmark (not a test).

Starts the sandbox exchange on the bundled ``data/sample/try-1m`` dataset (manual clock), then
``--clients`` concurrent httpx clients (one thread and one keep-alive connection each) send a
fixed mix over real loopback sockets for ``--seconds``: public ticker, public order book
(limit 100), signed balances and signed openOrders, in turn. Prints requests/s per request
kind and overall, with p50/p99 latency and error counts, and whether the floor was met:
at least 1,000 req/s overall and p50 under 10 ms with 8 clients (the floor applies to 8
clients; other counts are reported without a verdict).

By default the server runs as ``manage.py sandbox_exchange`` in a child process, so the
clients' Python does not share a GIL with it; ``--in-process`` runs it in a thread here
instead (the test setup). ``--no-uvloop`` hides uvloop from the server so uvicorn serves on
the stdlib asyncio loop, as in the Docker image (uvloop is only in the dev venv, through
ccxt): the setup where missing TCP_NODELAY on accepted sockets cost ~40 ms per keep-alive
request. Usage::

    .venv/bin/python bench/sandbox_throughput.py [--seconds 5] [--clients 8] [--in-process]
        [--no-uvloop]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATASET = ROOT / "data" / "sample" / "try-1m"
API_KEY = "bench-key"
API_SECRET = base64.b64encode(b"bench-secret-bytes-0123456789abc").decode()
MIX = (
    ("ticker", False, "/api/v2/ticker", {"pairSymbol": "BTCTRY"}),
    ("orderbook", False, "/api/v2/orderbook", {"pairSymbol": "BTCTRY", "limit": 100}),
    ("balances (signed)", True, "/api/v1/users/balances", {}),
    ("openOrders (signed)", True, "/api/v1/openOrders", {"pairSymbol": "BTCTRY"}),
)


def signed_headers() -> dict[str, str]:
    stamp = str(time.time_ns() // 1_000_000)
    digest = hmac.new(base64.b64decode(API_SECRET), (API_KEY + stamp).encode(), hashlib.sha256)
    return {
        "X-PCK": API_KEY,
        "X-Stamp": stamp,
        "X-Signature": base64.b64encode(digest.digest()).decode(),
        "Content-Type": "application/json",
    }


FLOOR_CLIENTS, FLOOR_RPS, FLOOR_P50_MS = 8, 1000, 10.0
# Makes ``import uvloop`` fail, so uvicorn's "auto" loop is the stdlib asyncio one.
NO_UVLOOP = "import sys; sys.modules['uvloop'] = None; "


def start_subprocess(no_uvloop: bool = False) -> tuple[str, subprocess.Popen]:
    args = ["sandbox_exchange", "--dataset", str(DATASET), "--port", "0", "--speed", "0"]
    args += ["--api-key", API_KEY, "--api-secret", API_SECRET]
    command = [sys.executable, "manage.py", *args]
    if no_uvloop:
        run = "import runpy; runpy.run_path('manage.py', run_name='__main__')"
        command = [sys.executable, "-c", NO_UVLOOP + f"sys.argv = {['manage.py', *args]!r}; " + run]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    line = process.stdout.readline()
    match = re.search(r"BTCTURK_BASE_URL=(\S+)", line)
    if match is None:
        process.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return match.group(1), process


def start_in_process():
    from decimal import Decimal

    from trading.exchange.sandbox import AccountSpec, start_sandbox

    account = AccountSpec(API_KEY, API_SECRET, {"TRY": Decimal(100_000)})
    server = start_sandbox(DATASET, accounts=[account], publish_interval_s=3600.0)
    return server.base_url, server


def worker(base: str, stop_at: float, offset: int, results: dict, lock: threading.Lock) -> None:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
        i = offset
        while time.perf_counter() < stop_at:
            name, private, path, params = MIX[i % len(MIX)]
            i += 1
            started = time.perf_counter()
            try:
                response = client.get(
                    path, params=params, headers=signed_headers() if private else None
                )
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies[name].append(time.perf_counter() - started)
            else:
                errors[name] += 1
    with lock:
        for name, values in latencies.items():
            results["latency"][name].extend(values)
        for name, count in errors.items():
            results["errors"][name] += count


def run(base: str, seconds: float, clients: int) -> dict:
    results = {"latency": defaultdict(list), "errors": defaultdict(int)}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=worker, args=(base, stop_at, n, results, lock))
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results["elapsed"] = time.perf_counter() - started
    return results


def percentiles_ms(values: list[float]) -> tuple[float, float]:
    """(p50, p99) of ``values`` (seconds) in milliseconds; zeros when empty."""
    if not values:
        return 0.0, 0.0
    values = sorted(values)
    return statistics.median(values) * 1000, values[max(int(len(values) * 0.99) - 1, 0)] * 1000


def report(results: dict, clients: int, where: str) -> bool | None:
    """Print the table and the floor verdict; returns whether the floor was met (None: not
    applicable, the floor is for 8 clients)."""
    elapsed = results["elapsed"]
    print(f"sandbox throughput: {clients} clients, {elapsed:.1f} s, server {where}")
    print(f"{'request':<22}{'ok':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    rows = [(name, results["latency"][name], results["errors"][name]) for name, *_ in MIX]
    every = [value for _, values, _ in rows for value in values]
    rows.append(("all", every, sum(results["errors"].values())))
    for name, values, errors in rows:
        p50, p99 = percentiles_ms(values)
        rate = len(values) / elapsed
        print(f"{name:<22}{len(values):>8}{rate:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>8}")
    rate, (p50, p99) = len(every) / elapsed, percentiles_ms(every)
    errors = rows[-1][2]
    print(f"overall: {rate:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {errors} errors")
    floor = f">= {FLOOR_RPS} req/s and p50 < {FLOOR_P50_MS:g} ms with {FLOOR_CLIENTS} clients"
    if clients != FLOOR_CLIENTS:
        print(f"floor: {floor} (not applicable to {clients} clients)")
        return None
    met = rate >= FLOOR_RPS and p50 < FLOOR_P50_MS
    print(f"floor: {floor}: {'MET' if met else 'NOT MET'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--in-process", action="store_true", help="serve from a thread here")
    parser.add_argument(
        "--no-uvloop",
        action="store_true",
        help="serve on the stdlib asyncio loop (as the Docker image does: no uvloop)",
    )
    args = parser.parse_args()
    if args.in_process:
        if args.no_uvloop:
            sys.modules["uvloop"] = None
        base, server = start_in_process()
    else:
        base, server = start_subprocess(args.no_uvloop)
    try:
        httpx.get(base + "/api/v2/server/time", timeout=5, trust_env=False).raise_for_status()
        results = run(base, args.seconds, args.clients)
    finally:
        if args.in_process:
            server.stop()
        else:
            server.terminate()
            server.wait(timeout=10)
    where = "in this process" if args.in_process else "child process"
    loop = "asyncio loop (uvloop hidden)" if args.no_uvloop else "uvicorn's auto loop"
    met = report(results, args.clients, f"{where}, {loop}")
    sys.exit(1 if met is False else 0)


if __name__ == "__main__":
    main()
