"""Running a BTCTurk websocket feed from synchronous code: :class:`FeedThread`.

The feed (reference/btcturk_api.md section 6) is asyncio; :class:`FeedThread` gives it its own
event loop in a daemon thread and exposes its thread-safe reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from trading.domain.reports import OrderBook, Ticker
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.ws_feed import BtcturkFeed
from trading.exchange.btcturk.ws_state import FeedStatus

# Log under the feed's public module name: the JSON logs' "logger" field stays as it was.
logger = logging.getLogger("trading.exchange.btcturk.ws")


class FeedThread:
    """Runs a :class:`BtcturkFeed` on its own event loop in a daemon thread, for sync code.

    ``start()`` returns at once; the accessors are the feed's thread-safe reads. ``error``
    holds the exception that ended :meth:`BtcturkFeed.run` (e.g. ``AuthenticationError``).
    For private events pass ``on_private_event=queue.Queue().put_nowait`` to the feed.
    """

    def __init__(self, feed: BtcturkFeed, *, name: str = "btcturk-feed") -> None:
        self.feed = feed
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._ready.set()
        try:
            loop.run_until_complete(self.feed.run())
        except Exception as exc:
            self.error = exc
            logger.error("btcturk websocket feed stopped: %s", exc)
        finally:
            loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the feed and wait up to ``timeout_s`` for the thread to end."""
        if self._loop is not None and self._thread.is_alive():
            # RuntimeError: the loop closed in between, so the feed has already ended.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.feed.stop)
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def order_book(self, symbol: Symbol, depth: int = 10) -> OrderBook | None:
        return self.feed.order_book(symbol, depth)

    def ticker(self, symbol: Symbol) -> Ticker | None:
        return self.feed.ticker(symbol)

    def stale_symbols(self, now_ms: int | None = None, max_age_ms: int = 30_000) -> list[Symbol]:
        return self.feed.stale_symbols(now_ms, max_age_ms)

    def status(self) -> FeedStatus:
        return self.feed.status()
