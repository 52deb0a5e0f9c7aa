"""BTCTurk request signing ("Authentication V1") and the server clock offset.

``X-Signature = base64(HMAC_SHA256(base64_decode(secret), utf8(api_key + stamp)))`` where the
stamp is epoch milliseconds corrected by the measured server clock offset; the websocket login
(type 114) signs ``api_key + str(nonce)`` the same way. Source: reference/btcturk_api.md
sections 3 and 6.1; checked against every vector of
``tests/fixtures/btcturk/generated_sign_vectors_ccxt.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Callable

from trading.exchange.errors import ConfigurationError

# BTCTurk accepts a stamp within +-5 s of its clock (reference 3, FAQ).
STAMP_TOLERANCE_MS = 5000
WS_LOGIN_NONCE = 3000


def decode_secret(secret: str, *, variable: str = "BTCTURK_API_SECRET") -> bytes:
    """Decode a base64 API secret to the raw HMAC key.

    Raises :class:`ConfigurationError` naming ``variable`` (never the value) when the secret
    is empty or not valid standard base64.
    """
    text = secret.strip()
    if not text:
        raise ConfigurationError(f"{variable} is empty; set the base64 secret BTCTurk issued")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{variable} is not valid base64 (BTCTurk secrets are base64 strings; check for "
            "a truncated or mistyped value)"
        ) from None
    if not key:
        raise ConfigurationError(f"{variable} decodes to zero bytes")
    return key


def signature(api_key: str, secret_key: bytes, message_suffix: str) -> str:
    """``base64(HMAC_SHA256(secret_key, api_key + message_suffix))``, padded standard base64."""
    digest = hmac.new(secret_key, f"{api_key}{message_suffix}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def auth_headers(api_key: str, secret_key: bytes, stamp_ms: int) -> dict[str, str]:
    """The four headers of a private REST call signed at ``stamp_ms`` (reference 3)."""
    stamp = str(stamp_ms)
    return {
        "X-PCK": api_key,
        "X-Stamp": stamp,
        "X-Signature": signature(api_key, secret_key, stamp),
        "Content-Type": "application/json",
    }


def ws_login_frame(
    api_key: str, secret_key: bytes, *, timestamp_ms: int, nonce: int = WS_LOGIN_NONCE
) -> list:
    """The websocket HMAC login frame ``[114, {...}]`` (reference 6.1)."""
    return [
        114,
        {
            "type": 114,
            "publicKey": api_key,
            "timestamp": timestamp_ms,
            "nonce": nonce,
            "signature": signature(api_key, secret_key, str(nonce)),
        },
    ]


def signature_valid(api_key: str, secret_key: bytes, message_suffix: str, given: str) -> bool:
    """Constant-time check of a signature a client sent (used by the sandbox exchange); any
    header text, non-ASCII included, is compared as UTF-8 bytes (a mismatch, never an error)."""
    expected = signature(api_key, secret_key, message_suffix).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape"))


class ServerClock:
    """Local clock corrected by the offset to the exchange clock, in milliseconds.

    ``offset_ms = server - local`` measured from ``GET /api/v2/server/time`` at the midpoint
    of the round trip. ``now_ms()`` is what goes into ``X-Stamp``. Thread-safe.
    """

    def __init__(self, local_ms: Callable[[], int] | None = None) -> None:
        self._local_ms = local_ms or (lambda: time.time_ns() // 1_000_000)
        self._offset_ms = 0
        self._measured = False
        self._lock = threading.Lock()

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    @property
    def measured(self) -> bool:
        return self._measured

    def local_ms(self) -> int:
        return self._local_ms()

    def now_ms(self) -> int:
        return self._local_ms() + self._offset_ms

    def record(self, *, sent_ms: int, received_ms: int, server_ms: int) -> int:
        """Store the offset from one server-time round trip and return it (ms)."""
        offset = server_ms - (sent_ms + received_ms) // 2
        with self._lock:
            self._offset_ms = offset
            self._measured = True
        return offset
