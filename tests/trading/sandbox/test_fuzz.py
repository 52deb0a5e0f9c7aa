"""Fuzzing the sandbox exchange: random paths, parameters, headers (non-ASCII included) and
bodies on every route never get a 5xx, and every answer on a BTCTurk route is BTCTurk's JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.domain.dataset import ReplayDataset
from tests.trading.sandbox.conftest import signed_headers
from trading.exchange.sandbox import SandboxServer, rest_private, rest_public, start_sandbox

PATHS = sorted(
    {route.path for route in (*rest_public.ROUTES, *rest_private.ROUTES)}
    | {"/sandbox/state", "/sandbox/faults", "/sandbox/advance", "/api/v2/nope", "/"}
)
METHODS = ("GET", "POST", "DELETE", "PUT")
PARAM_NAMES = (
    "pairSymbol",
    "symbol",
    "limit",
    "last",
    "from",
    "to",
    "resolution",
    "orderId",
    "startDate",
    "endDate",
    "type",
    "bars",
    "id",
    "x",
)
WEIRD = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["1e999999", "-1", "NaN", "99999999999999999999999", "BTCTRY", "0", ""]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
JSON_BODIES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    JSON_BODIES.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.fixed_dictionaries(
        {
            "pairSymbol": WEIRD,
            "orderMethod": WEIRD,
            "orderType": WEIRD,
            "quantity": WEIRD,
            "price": WEIRD,
            "newOrderClientId": WEIRD,
        }
    ).map(lambda d: json.dumps(d).encode()),
)
HEADER_VALUES = st.one_of(st.text(max_size=20), st.binary(max_size=20))


@pytest.fixture(scope="module")
def server(mini_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    server = start_sandbox(
        mini_dataset, balances={"TRY": Decimal(100_000)}, publish_interval_s=3600.0
    )
    yield server
    server.stop(wait=False)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(METHODS),
    path=st.one_of(st.sampled_from(PATHS), st.text(max_size=30).map(lambda t: "/api/v1/" + t)),
    params=st.dictionaries(st.sampled_from(PARAM_NAMES), WEIRD, max_size=4),
    body=BODIES,
    signed=st.booleans(),
    header=st.tuples(st.sampled_from(["X-PCK", "X-Stamp", "X-Signature"]), HEADER_VALUES),
)
def test_no_input_gets_a_server_error(server, method, path, params, body, signed, header) -> None:
    path = path.replace("{order_id}", str(params.get("id", "1")))
    headers: dict[str, str | bytes] = (
        signed_headers(server.api_key, server.api_secret) if signed else {}
    )
    name, value = header
    headers[name] = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            response = http.request(method, path, params=params, content=body, headers=headers)
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
        return  # the client refused to send it (not the server's concern)
    server.faults.clear()  # a fuzzed /sandbox/faults spec must not leak into the next example
    assert response.status_code < 500, (method, path, response.text[:200])
    if path.startswith("/api/") and response.status_code >= 400:
        body_json = response.json()
        assert body_json["success"] is False and isinstance(body_json["message"], str)
