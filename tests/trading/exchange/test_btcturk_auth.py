"""BTCTurk signing: every generated vector reproduced, and bad secrets refused without leaking.

Source: reference/btcturk_api.md sections 3 and 6.1; vectors in
tests/fixtures/btcturk/generated_sign_vectors_ccxt.json (ccxt 4.5.90, cross-checked with hmac).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from trading.exchange.btcturk.auth import (
    ServerClock,
    auth_headers,
    decode_secret,
    signature,
    signature_valid,
    ws_login_frame,
)
from trading.exchange.btcturk.client import BtcturkClient
from trading.exchange.errors import ConfigurationError

VECTORS = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "fixtures"
        / "btcturk"
        / "generated_sign_vectors_ccxt.json"
    ).read_text()
)["vectors"]
PRIVATE_OUTPUTS = [
    pytest.param(vector, output["output"], id=f"{vector['apiKey'][:8]}-{output['input']['path']}")
    for vector in VECTORS
    for output in vector["ccxtSignOutputs"]
    if output["input"]["api"] == "private"
]


def test_there_are_two_keys_with_private_outputs_to_check() -> None:
    assert len(VECTORS) == 2
    assert len(PRIVATE_OUTPUTS) == 14


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["apiKey"][:8])
def test_the_secret_decodes_to_the_recorded_raw_bytes(vector: dict) -> None:
    assert decode_secret(vector["secretBase64"]).hex() == vector["secretRawHex"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["apiKey"][:8])
def test_the_rest_signature_matches_the_vector_in_base64_and_hex(vector: dict) -> None:
    secret = decode_secret(vector["secretBase64"])

    signed = signature(vector["apiKey"], secret, vector["stamp"])

    assert vector["signedMessage"] == vector["apiKey"] + vector["stamp"]
    assert signed == vector["expectedSignatureBase64"]
    assert base64.b64decode(signed).hex() == vector["expectedSignatureHex"]
    assert signature_valid(vector["apiKey"], secret, vector["stamp"], signed)
    assert not signature_valid(vector["apiKey"], secret, str(int(vector["stamp"]) + 1), signed)


@pytest.mark.parametrize(("vector", "output"), PRIVATE_OUTPUTS)
def test_auth_headers_equal_ccxt_headers_for_every_private_request(
    vector: dict, output: dict
) -> None:
    headers = auth_headers(
        vector["apiKey"], decode_secret(vector["secretBase64"]), int(vector["stamp"])
    )

    assert headers == output["headers"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["apiKey"][:8])
def test_the_websocket_login_frame_carries_the_nonce_signature(vector: dict) -> None:
    login = vector["wsLogin"]

    frame = ws_login_frame(
        vector["apiKey"],
        decode_secret(vector["secretBase64"]),
        timestamp_ms=int(vector["stamp"]),
        nonce=login["nonce"],
    )

    assert frame[1].pop("timestamp") == int(vector["stamp"])
    assert frame == login["frameWithoutTimestamp"]
    assert frame[1]["signature"] == login["signatureBase64"]


SECRET_LOOKALIKE = "c2VjcmV0LXZhbHVl!!"


@pytest.mark.parametrize("bad", [SECRET_LOOKALIKE, "abc", "ZXhhbXBsZQ", "not base64 at all", " "])
def test_an_invalid_secret_is_a_configuration_error_naming_the_variable_not_the_value(
    bad: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        decode_secret(bad)

    assert "BTCTURK_API_SECRET" in str(caught.value)
    if bad.strip():
        assert bad.strip() not in str(caught.value)


def test_the_client_refuses_a_bad_secret_at_construction_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        BtcturkClient(api_key="5fa6c0f5-key", api_secret=SECRET_LOOKALIKE)

    assert "BTCTURK_API_SECRET" in str(caught.value)
    assert SECRET_LOOKALIKE not in str(caught.value)
    assert "5fa6c0f5-key" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "secret", "missing"),
    [
        ("5fa6c0f5-key", "", "BTCTURK_API_SECRET"),
        ("", VECTORS[0]["secretBase64"], "BTCTURK_API_KEY"),
    ],
)
def test_half_configured_credentials_name_the_missing_variable(
    key: str, secret: str, missing: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BtcturkClient(api_key=key, api_secret=secret)

    assert str(caught.value).startswith(missing)
    assert VECTORS[0]["secretBase64"] not in str(caught.value)


def test_the_server_clock_offsets_the_stamp_by_the_midpoint_of_the_round_trip() -> None:
    local = iter([1_000, 1_400])
    clock = ServerClock(local_ms=lambda: 10_000)

    offset = clock.record(sent_ms=next(local), received_ms=next(local), server_ms=3_200)

    assert offset == 2_000
    assert clock.measured
    assert clock.now_ms() == 12_000


@pytest.mark.parametrize("key", ["5fa6c0f5 8d0c", "5fa6c0f5\n8d0c", "ключ-5fa6"])
def test_a_key_that_cannot_go_into_a_header_is_refused_at_construction(key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BtcturkClient(api_key=key, api_secret=VECTORS[0]["secretBase64"])

    assert "BTCTURK_API_KEY" in str(caught.value)
    assert key not in str(caught.value)
