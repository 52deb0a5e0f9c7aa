"""Fresh top of book from the BTCTurk websocket for paper and live cycles (DESIGN.md section 6).

**Registry.** A process keeps one public websocket feed per URL (:class:`MarketFeeds`, one
instance per process behind :func:`quotes_fresh`): a
:class:`~trading.exchange.btcturk.ws_thread.FeedThread` subscribed to the ``obdiff`` and
``ticker`` channels (reference/btcturk_api.md section 6) of every symbol asked for so far. It
starts on first use and never blocks a cycle: a cycle asking before the feed has its first
snapshot simply gets no fresh quote, and REST answers. A symbol not yet subscribed replaces
the feed with one for the union (that cycle, too, uses REST). A dead feed (its thread ended,
e.g. a refused subscription) is started again, for the symbols then asked for, once
:data:`RESTART_AFTER_S` have passed since its start. A forked child (a Celery prefork worker)
starts its own feed; :func:`market_feeds_stop` stops them all (tests, process exit).

**Freshness.** A symbol's quote is fresh when the feed is connected and its order book (in
sync) or its 402 ticker was received within ``MARKET_WS_MAX_AGE_SECONDS``; otherwise it is
left out and :func:`~trading.services.market.quotes_fetch` asks REST ``tickers`` (reference
2.2) for it. Bid and ask come from the in-sync book, else from the ticker; ``last`` from the
ticker. Ages are measured on this host's wall clock from the frame's *receipt*: BTCTurk's
431/432 books and 401/402 tickers carry no exchange time (reference 6), and the sandbox
exchange stamps its market data with **replay** time, so a payload time would make every
sandbox quote look years old (or a replayed future one look fresh).

**``Quote.ts_ms``** is expressed in the cycle clock's frame, like a REST ticker's ``timestamp``
(the venue's time), so that ``now_ms - quote.ts_ms`` is the quote's real age for either
source and either clock:

- ``TRADING_CLOCK=wall``: the receive time. The cycle clock is this host's, and BTCTurk's
  REST ticker time is the exchange's, equal to it within the server clock offset.
- ``TRADING_CLOCK=exchange``: the cycle clock ``now_ms`` is the venue's newest ticker time
  (replay time on the sandbox), so a wall receive time would lie years in its future and
  never look stale. The quote is stamped ``now_ms - age`` instead (``age`` on the wall clock,
  at most the limit).

The risk step's data age (``MarketSnapshot.age_ms``, used by ``trading.domain.universe`` for
``STALE_DATA`` exclusions and by ``trading.domain.risk`` for ``OBSERVE_ONLY`` when every
symbol is stale) is today the age of the last closed bar (``market.snapshot_build``); a stale
websocket quote never reaches the cycle because it is replaced by REST here. ``Cycle.market``
records each symbol's ``quote_source`` (``ws`` or ``ticker``) and ``quote_ts``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from trading.domain.symbols import Symbol
from trading.exchange.btcturk.ws_feed import BtcturkFeed
from trading.exchange.btcturk.ws_thread import FeedThread
from trading.exchange.errors import ConfigurationError
from trading.exchange.telemetry import ws_quotes_used
from trading.services.market import Quote

logger = logging.getLogger(__name__)

CHANNELS = ("obdiff", "ticker")
# A feed whose thread ended is not started again sooner than this after its start (a refused
# subscription ends it at once; the connect budget is 15 per minute, reference 5).
RESTART_AFTER_S = 30.0
STOP_TIMEOUT_S = 5.0
THREAD_NAME = "market-feed"
SOURCE = "ws"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class MarketFeedStatus:
    """One registered feed: its URL, the symbols it subscribes, whether its thread runs and
    whether it is connected."""

    url: str
    symbols: tuple[Symbol, ...]
    alive: bool
    connected: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    thread: FeedThread
    symbols: frozenset[Symbol]
    started_s: float  # monotonic


class MarketFeeds:
    """Public websocket feeds of this process, one per URL (module docstring). Thread-safe.

    ``options`` go to every :class:`BtcturkFeed` (backoff, silence limits); the feeds' clock
    is the wall clock (epoch ms), which :func:`quotes_from_feed` compares against.
    """

    def __init__(
        self, *, restart_after_s: float = RESTART_AFTER_S, options: dict[str, Any] | None = None
    ) -> None:
        self._restart_after_s = restart_after_s
        self._options = {"channels": CHANNELS, "clock": _wall_ms, **(options or {})}
        self._lock = threading.Lock()
        self._feeds: dict[str, _Entry] = {}
        self._retired: list[FeedThread] = []  # replaced feeds still closing

    def feed(self, url: str, symbols: Iterable[Symbol]) -> FeedThread | None:
        """The running feed on ``url`` subscribed to at least ``symbols``, starting (or
        replacing) it when needed without waiting for it to connect; ``None`` while a dead
        feed waits to be restarted. Raises ``ConfigurationError`` for a URL that is not a
        websocket URL and ``ValueError`` for a pair that does not split back into its symbol.
        """
        wanted = frozenset(symbols)
        with self._lock:
            self._retired = [thread for thread in self._retired if thread.alive]
            entry = self._feeds.get(url)
            if entry is not None and entry.thread.alive:
                if wanted <= entry.symbols:
                    return entry.thread
                wanted |= entry.symbols
                entry.thread.stop(timeout_s=0)  # asks it to close; its thread ends by itself
                self._retired.append(entry.thread)
            elif entry is not None and time.monotonic() - entry.started_s < self._restart_after_s:
                return None
            elif entry is not None:
                logger.warning("market websocket feed on %s ended; starting it again", url)
            thread = FeedThread(
                BtcturkFeed(url, sorted(wanted), **self._options), name=f"{THREAD_NAME} {url}"
            )
            thread.start()
            self._feeds[url] = _Entry(thread, wanted, time.monotonic())
            return thread

    def status(self) -> list[MarketFeedStatus]:
        """The registered feeds, by URL."""
        with self._lock:
            entries = sorted(self._feeds.items())
        return [
            MarketFeedStatus(
                url=url,
                symbols=tuple(sorted(entry.symbols)),
                alive=entry.thread.alive,
                connected=entry.thread.alive and entry.thread.status().connected,
            )
            for url, entry in entries
        ]

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every feed, replaced ones included, waiting up to ``timeout_s`` in all."""
        with self._lock:
            threads = [entry.thread for entry in self._feeds.values()] + self._retired
            self._feeds, self._retired = {}, []
        for thread in threads:
            thread.stop(timeout_s=0)
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.stop(timeout_s=max(0.0, deadline - time.monotonic()))

    def forget(self) -> None:
        """Drop every feed without stopping it: in a forked child, whose copy of the parent's
        threads does not run (and whose lock may have been held at the fork)."""
        self._lock = threading.Lock()
        self._feeds, self._retired = {}, []


def quotes_from_feed(
    feed: FeedThread,
    symbols: Sequence[Symbol],
    *,
    wall_ms: int,
    max_age_ms: int,
    now_ms: int | None = None,
) -> dict[Symbol, Quote]:
    """The fresh quotes of ``symbols`` in ``feed`` at wall time ``wall_ms`` (epoch ms), source
    ``ws`` (module docstring). ``now_ms`` is the cycle clock when it is not the wall clock
    (``TRADING_CLOCK=exchange``): the quotes are then stamped ``now_ms - age``; with ``None``
    they carry their wall receive time. Empty when the feed is not connected."""
    if not feed.alive or not feed.status().connected:
        return {}
    quotes = {}
    for symbol in symbols:
        book = feed.order_book(symbol, depth=1)
        ticker = feed.ticker(symbol)
        received = max(book.ts_ms if book else 0, ticker.ts_ms if ticker else 0)
        age = max(0, wall_ms - received)
        if not received or age > max_age_ms:
            continue
        bid, ask = (book.best_bid, book.best_ask) if book else (ticker.bid, ticker.ask)
        ts = received if now_ms is None else now_ms - age
        quotes[symbol] = Quote(symbol, bid, ask, ticker.last if ticker else None, ts, SOURCE)
    return quotes


_FEEDS = MarketFeeds()


def quotes_fresh(*, symbols: Sequence[Symbol], now_ms: int) -> dict[Symbol, Quote]:
    """Fresh websocket quotes of ``symbols`` for the cycle at ``now_ms`` (cycle clock, epoch ms
    UTC), from the feed on ``BTCTURK_WS_URL``; empty when ``MARKET_WS_ENABLED`` is off.
    Symbols left out (not fresh, feed still connecting, down or misconfigured) are for REST to
    answer. Never raises for the feed's sake and never waits for it (module docstring)."""
    if not settings.MARKET_WS_ENABLED or not symbols:
        return {}
    try:
        feed = _FEEDS.feed(settings.BTCTURK_WS_URL, symbols)
    except (ConfigurationError, ValueError, RuntimeError) as exc:
        logger.warning("market websocket feed unavailable, using REST: %s", exc)
        return {}
    if feed is None:
        return {}
    max_age_ms = int(settings.MARKET_WS_MAX_AGE_SECONDS * 1000)
    exchange_clock = settings.TRADING_CLOCK == "exchange"
    wall_ms = _wall_ms()
    quotes = quotes_from_feed(
        feed,
        symbols,
        wall_ms=wall_ms,
        max_age_ms=max_age_ms,
        now_ms=now_ms if exchange_clock else None,
    )
    reference = now_ms if exchange_clock else wall_ms  # the frame the quotes are stamped in
    ws_quotes_used(max(0, reference - q.ts_ms) / 1000 for q in quotes.values())
    return quotes


def market_feeds_status() -> list[MarketFeedStatus]:
    """This process's websocket feeds (for diagnostics and tests)."""
    return _FEEDS.status()


def market_feeds_stop(timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop this process's websocket feeds (tests; process exit). The next
    :func:`quotes_fresh` starts a new one."""
    _FEEDS.stop(timeout_s)


atexit.register(market_feeds_stop, 2.0)
os.register_at_fork(after_in_child=_FEEDS.forget)
