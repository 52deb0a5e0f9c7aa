"""Fixtures for the sandbox exchange tests: datasets, running sandboxes, signed clients.

``mini`` is a tiny synthetic dataset with predictable bars (written once per session):
BTC_TRY and ETH_TRY, 1-minute bars from 2024-01-01T00:00Z. BTC_TRY bar ``i`` opens at
``100000 + 100 i``, closes 50 higher, high = close + 100, low = open - 100, volume 1.5;
ETH_TRY bar ``i`` opens at ``5000 + 10 i`` (close +5, high +15, low -10), volume 20.
``exchangeinfo.json`` gives BTC_TRY tick 10, step 1e-8, min notional 99.91 TRY and the band
10,000 .. 1,000,000; ETH_TRY gets the default rules (tick 1, step 1e-8, min notional 10).
One bar is closed at start, so the replay time is ``MINI_START_MS + 60_000``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from replay.domain.dataset import ReplayDataset, load_dataset
from trading.exchange.sandbox import SandboxServer, start_sandbox

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "btcturk"
SAMPLE = ROOT / "data" / "sample" / "try-1m"
MINI_START_MS = 1_704_067_200_000
MINI_BARS = 40
TIMEOUT = httpx.Timeout(5.0)


def fixture(name: str) -> object:
    """A recorded BTCTurk payload from ``tests/fixtures/btcturk``."""
    return json.loads((FIXTURES / name).read_text())


def btc_bar(i: int) -> tuple[int, int, int, int]:
    """(open, high, low, close) of mini BTC_TRY bar ``i``."""
    o = 100_000 + 100 * i
    return o, o + 150, o - 100, o + 50


def write_mini_dataset(root: Path, bars: int = MINI_BARS) -> Path:
    (root / "candles").mkdir(parents=True)
    btc = ["ts,open,high,low,close,volume"]
    eth = ["ts,open,high,low,close,volume"]
    for i in range(bars):
        ts = MINI_START_MS + 60_000 * i
        o, h, low, c = btc_bar(i)
        btc.append(f"{ts},{o},{h},{low},{c},1.5")
        e = 5000 + 10 * i
        eth.append(f"{ts},{e},{e + 15},{e - 10},{e + 5},20")
    (root / "candles" / "BTC_TRY.csv").write_text("\n".join(btc) + "\n")
    (root / "candles" / "ETH_TRY.csv").write_text("\n".join(eth) + "\n")
    info = fixture("rest_exchangeinfo_btctry_hummingbot_20220323.json")
    entry = info["data"]["symbols"][0]
    entry["maximumLimitOrderPrice"] = 1_000_000
    entry["minimumLimitOrderPrice"] = 10_000
    (root / "exchangeinfo.json").write_text(json.dumps(info))
    return root


@pytest.fixture(scope="session")
def mini_dataset(tmp_path_factory: pytest.TempPathFactory) -> ReplayDataset:
    return load_dataset(write_mini_dataset(tmp_path_factory.mktemp("mini")))


@pytest.fixture(scope="session")
def sample_dataset() -> ReplayDataset:
    return load_dataset(SAMPLE)


@pytest.fixture
def sandbox(mini_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    """A manual-clock sandbox over ``mini``: 100,000 TRY and 1 BTC, no timer pushes."""
    server = start_sandbox(
        mini_dataset,
        balances={"TRY": Decimal(100_000), "BTC": Decimal(1)},
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


def signed_headers(key: str, secret: str, *, stamp_ms: int | None = None) -> dict[str, str]:
    """BTCTurk auth headers computed independently of the project's signing module."""
    stamp = str(time.time_ns() // 1_000_000 if stamp_ms is None else stamp_ms)
    digest = hmac.new(base64.b64decode(secret), (key + stamp).encode(), hashlib.sha256).digest()
    return {
        "X-PCK": key,
        "X-Stamp": stamp,
        "X-Signature": base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


class Api:
    """A raw httpx client for one sandbox account: ``get``/``post``/``delete`` sign each call."""

    def __init__(self, server: SandboxServer, key: str | None = None, secret: str | None = None):
        self.http = httpx.Client(base_url=server.base_url, timeout=TIMEOUT)
        self.key = key or server.api_key
        self.secret = secret or server.api_secret

    def public(self, path: str, **params: object) -> httpx.Response:
        return self.http.get(path, params=params)

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.http.get(path, params=params, headers=signed_headers(self.key, self.secret))

    def post(self, path: str, body: dict) -> httpx.Response:
        headers = signed_headers(self.key, self.secret)
        return self.http.post(path, content=json.dumps(body), headers=headers)

    def delete(self, path: str, **params: object) -> httpx.Response:
        return self.http.delete(path, params=params, headers=signed_headers(self.key, self.secret))

    def order(self, **fields: str) -> httpx.Response:
        body = {"pairSymbol": "BTCTRY", "orderMethod": "limit", "orderType": "buy", **fields}
        return self.post("/api/v1/order", body)

    def balances(self) -> dict[str, dict]:
        rows = self.get("/api/v1/users/balances").json()["data"]
        return {row["asset"]: row for row in rows}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[Api]:
    client = Api(sandbox)
    yield client
    client.close()


def assert_same_shape(actual: object, recorded: object, path: str = "$", ignore=()) -> None:
    """``actual`` has every key of ``recorded`` with the same JSON type (recursively).

    Numbers match numbers (int or float), strings strings, booleans booleans; a recorded
    ``null`` matches anything; lists compare every actual item with the first recorded one,
    except websocket frames ``[type, payload]``, compared position by position.
    ``ignore`` lists key names whose types are not compared (documented differences).
    """
    if recorded is None:
        return
    if isinstance(recorded, bool):
        assert isinstance(actual, bool), f"{path}: {actual!r} is not a boolean"
    elif isinstance(recorded, int | float):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        assert ok, f"{path}: {actual!r} is not a number"
    elif isinstance(recorded, str):
        assert isinstance(actual, str), f"{path}: {actual!r} is not a string"
    elif isinstance(recorded, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        missing = set(recorded) - set(actual)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        for key, value in recorded.items():
            if key not in ignore:
                assert_same_shape(actual[key], value, f"{path}.{key}", ignore)
    elif isinstance(recorded, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not an array"
        if len(recorded) == 2 and isinstance(recorded[0], int) and isinstance(recorded[1], dict):
            assert len(actual) == 2 and actual[0] == recorded[0], f"{path}: not a {recorded[0]}"
            assert_same_shape(actual[1], recorded[1], f"{path}[1]", ignore)  # websocket frame
        elif recorded:
            for i, item in enumerate(actual):
                assert_same_shape(item, recorded[0], f"{path}[{i}]", ignore)
