"""Sandbox exchange throughput benchmark (not a test).

Starts the sandbox exchange on the bundled ``data/sample/try-1m`` dataset (manual clock), then
``--clients`` concurrent httpx clients (one thread and one keep-alive connection each) send a
fixed mix over real loopback sockets for ``--seconds``: public ticker, public order book
(limit 100), signed balances and signed openOrders, in turn. Prints requests/s per request
kind and overall, with p50/p99 latency and error counts.

By default the server runs as ``manage.py sandbox_exchange`` in a child process, so the
clients' Python does not share a GIL with it; ``--in-process`` runs it in a thread here
instead (the test setup). Usage::

    .venv/bin/python bench/sandbox_throughput.py [--seconds 5] [--clients 8] [--in-process]
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


def start_subprocess() -> tuple[str, subprocess.Popen]:
    command = [sys.executable, "manage.py", "sandbox_exchange", "--dataset", str(DATASET)]
    command += ["--port", "0", "--speed", "0", "--api-key", API_KEY, "--api-secret", API_SECRET]
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


def report(results: dict, clients: int, where: str) -> None:
    elapsed = results["elapsed"]
    print(f"sandbox throughput: {clients} clients, {elapsed:.1f} s, server {where}")
    print(f"{'request':<22}{'ok':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    total = 0
    for name, *_ in MIX:
        values = sorted(results["latency"][name])
        total += len(values)
        p50 = statistics.median(values) * 1000 if values else 0.0
        p99 = values[int(len(values) * 0.99) - 1] * 1000 if values else 0.0
        errors = results["errors"][name]
        print(
            f"{name:<22}{len(values):>8}{len(values) / elapsed:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>8}"
        )
    errors = sum(results["errors"].values())
    print(f"{'all':<22}{total:>8}{total / elapsed:>10.0f}{'':>10}{'':>10}{errors:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--in-process", action="store_true", help="serve from a thread here")
    args = parser.parse_args()
    if args.in_process:
        base, server = start_in_process()
    else:
        base, server = start_subprocess()
    try:
        httpx.get(base + "/api/v2/server/time", timeout=5, trust_env=False).raise_for_status()
        results = run(base, args.seconds, args.clients)
    finally:
        if args.in_process:
            server.stop()
        else:
            server.terminate()
            server.wait(timeout=10)
    report(results, args.clients, "in this process" if args.in_process else "child process")


if __name__ == "__main__":
    main()
