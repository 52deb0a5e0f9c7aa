"""BTCTurk websocket feed: live order books, tickers, public trades and private order events.

Source: reference/btcturk_api.md section 6 (frames, subscriptions, 114 login, heartbeat) and
section 5 (15 websocket connects per minute). Frames sent, all JSON arrays:

- login (only with credentials): ``[114, {"type":114, "publicKey":..., "timestamp":<ms>,
  "nonce":3000, "signature":...}]`` from :func:`~trading.exchange.btcturk.auth.ws_login_frame`;
- per symbol and channel: ``[151, {"type":151, "channel":"obdiff"|"ticker"|"trade",
  "event":"BTCTRY", "join":true}]``, acknowledged by ``[100, {"ok":true,
  "message":"join|obdiff:BTCTRY"}]``;
- to resync one book: the same 151 with ``"join":false``, then again with ``"join":true``.

Keep-alive is the websocket protocol ping (there is no application ping, reference 6.2).

**REST stays the source of truth.** Market data here is for freshness; private events
(423, 441, 451-453, 201) are hints delivered to ``on_private_event`` and may be missing
(reference 6.1, issues #591/#615): orders, fills and balances are reconciled over REST.

Layout: :mod:`~trading.exchange.btcturk.ws_feed` (the connection),
:mod:`~trading.exchange.btcturk.ws_state` (books, tickers, trades, health),
:mod:`~trading.exchange.btcturk.ws_connection` (subscription frames, connect budget, backoff),
:mod:`~trading.exchange.btcturk.ws_thread` (:class:`FeedThread`) and the parsers in
:mod:`~trading.exchange.btcturk.ws_parse`; their public names are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from trading.domain.symbols import Symbol, parse_symbol
from trading.exchange.btcturk.auth import ServerClock, decode_secret
from trading.exchange.btcturk.ws_connection import CHANNELS as CHANNELS
from trading.exchange.btcturk.ws_connection import DEFAULT_CHANNELS as DEFAULT_CHANNELS
from trading.exchange.btcturk.ws_connection import WS_CONNECTS_PER_MINUTE as WS_CONNECTS_PER_MINUTE
from trading.exchange.btcturk.ws_connection import Backoff as Backoff
from trading.exchange.btcturk.ws_connection import ConnectLimiter as ConnectLimiter
from trading.exchange.btcturk.ws_connection import subscription_frame as subscription_frame
from trading.exchange.btcturk.ws_feed import BtcturkFeed
from trading.exchange.btcturk.ws_feed import M as M
from trading.exchange.btcturk.ws_state import RECENT_TRADES as RECENT_TRADES
from trading.exchange.btcturk.ws_state import FeedStatus as FeedStatus
from trading.exchange.btcturk.ws_thread import FeedThread as FeedThread
from trading.exchange.errors import ConfigurationError

logger = logging.getLogger(__name__)  # the feed's logger; ws_feed, ws_state and ws_thread log here


def btcturk_feed_from_settings(
    symbols: Iterable[Symbol | str], *, private: bool | None = None, **options: Any
) -> BtcturkFeed:
    """A feed on ``settings.BTCTURK_WS_URL`` for ``symbols`` (``Symbol`` or ``"BTC_TRY"``).

    Logs in with ``BTCTURK_API_KEY``/``BTCTURK_API_SECRET`` when ``private`` is true, or when
    it is ``None`` and both are set. Raises :class:`ConfigurationError` naming the setting
    when a login is asked for and a credential is missing or not base64. ``options`` go to
    :class:`BtcturkFeed` (``channels``, ``on_private_event``, ``clock``, ...).

    A login's 114 timestamp must match the exchange clock (reference 6.1), so unless a
    ``clock`` is given, a private feed's clock is a :class:`ServerClock` measured once here
    through ``GET /api/v2/server/time`` on ``BTCTURK_BASE_URL`` (read errors propagate).
    """
    from django.conf import settings  # lazily: importing this module must not need Django

    api_key, secret = settings.BTCTURK_API_KEY, settings.BTCTURK_API_SECRET
    if private is None:
        private = bool(api_key and secret)
    if private and not api_key:
        raise ConfigurationError("BTCTURK_API_KEY is empty; set it for the websocket login")
    resolved = [s if isinstance(s, Symbol) else parse_symbol(s) for s in symbols]
    if private and "clock" not in options:
        options["clock"] = _measured_server_clock().now_ms
    return BtcturkFeed(
        settings.BTCTURK_WS_URL,
        resolved,
        api_key=api_key if private else "",
        secret_key=decode_secret(secret) if private else None,
        **options,
    )


def _measured_server_clock() -> ServerClock:
    """A :class:`ServerClock` whose offset was just measured against the REST server time."""
    from trading.exchange.btcturk.client import btcturk_client_from_settings

    with btcturk_client_from_settings(api_key="", api_secret="") as client:
        client.sync_clock()
        return client.clock
