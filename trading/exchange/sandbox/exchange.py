"""The sandbox exchange core: the replay market and the accounts, behind one lock.

Everything that changes state goes through :class:`SandboxExchange` while holding
``exchange.lock`` (a re-entrant ``threading.RLock``), so HTTP handlers on the server's event loop
and a test thread stepping bars never interleave. Changes are announced to listeners **inside**
the lock (listeners must not block; the websocket hub just schedules delivery), which keeps
event order equal to state order.

Clock: manual (``speed == 0``) bars advance only through :meth:`SandboxExchange.advance`;
paced (``speed > 0``) the replay time runs ``speed`` replay seconds per wall second from an
anchor (set at start and after each manual advance) and :meth:`SandboxExchange.advance_due`
closes the bars that are due. On every step each account's resting orders are matched against
the closed bars (``SimulatedVenue.on_bar``), in bar order.

Submit: an accepted order takes liquidity at once from the market's current book
(:meth:`~trading.exchange.sandbox.market.ReplayMarket.taker_levels`, shared by all accounts
within a step); a market order only within ``MARKET_ORDER_BAND`` (5 %) of the best price at
submission, as BTCTurk (reference/btcturk_api.md 4.7). What it took is recorded so that later
orders of the same step find it gone.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from replay.domain.dataset import ReplayDataset
from trading.domain.orders import OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.sandbox import frames, wire_public
from trading.exchange.sandbox.accounts import Account
from trading.exchange.sandbox.book import BookShape
from trading.exchange.sandbox.frames import Frame, SubscriptionKey
from trading.exchange.sandbox.market import ReplayMarket
from trading.exchange.sandbox.records import AccountSpec, FeeSchedule, SubmitOutcome

FIRST_ORDER_ID = 100_000_001
FIRST_TRADE_ID = 100_000_000_001
MARKET_ORDER_BAND = Decimal("0.05")  # market orders walk the book up to 5 % from the best price


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """Public frames after a market change, keyed by subscription ``(channel, event)``."""

    frames: dict[SubscriptionKey, list[Frame]]


@dataclass(frozen=True, slots=True)
class PrivateEvent:
    """Frames for the websocket sessions logged in with ``api_key``."""

    api_key: str
    frames: tuple[Frame, ...]


Listener = Callable[[MarketEvent | PrivateEvent], None]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SandboxExchange:
    """Replay market plus one simulated venue per API key (module docstring).

    ``accounts`` must have distinct API keys; ``speed`` replay seconds per wall second
    (0 = manual); ``max_volume_share`` see :class:`~trading.exchange.sandbox.accounts.Account`.
    Raises ``ValueError`` on a duplicate key, a negative speed or bad rules.
    """

    def __init__(
        self,
        dataset: ReplayDataset,
        *,
        accounts: Sequence[AccountSpec],
        fees: FeeSchedule | None = None,
        shape: BookShape | None = None,
        trades_per_bar: int = 4,
        warmup_steps: int | None = None,
        max_volume_share: Decimal | None = None,
        speed: float = 0.0,
        wall_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.lock = threading.RLock()
        self.market = ReplayMarket(
            dataset, shape=shape, trades_per_bar=trades_per_bar, warmup_steps=warmup_steps
        )
        self.fees = fees or FeeSchedule()
        self.max_volume_share = max_volume_share
        self._wall_ms = wall_ms
        self.clock_skew_ms = 0
        self._order_ids = itertools.count(FIRST_ORDER_ID)
        self._trade_ids = itertools.count(FIRST_TRADE_ID)
        self._accounts: dict[str, Account] = {}
        self._listeners: list[Listener] = []
        self.exchange_info_symbols = [
            wire_public.symbol_entry(dataset.rules[s], self.market.pair_ids[s])
            for s in dataset.symbols
        ]
        for spec in accounts:
            self.add_account(spec)
        self.speed = 0.0
        self._anchor = (self._wall_ms(), self.market.now_ms)
        self.set_speed(speed)

    # --- accounts ---------------------------------------------------------------------------

    def add_account(self, spec: AccountSpec) -> Account:
        """Open an account (its venue starts with ``spec.balances`` free)."""
        with self.lock:
            if spec.api_key in self._accounts:
                raise ValueError("duplicate sandbox api key")
            user_id = spec.user_id or 1000 + len(self._accounts) + 1
            market = self.market
            last = {s: b.close for s in market.symbols if (b := market.last_bar(s)) is not None}
            account = Account(
                AccountSpec(spec.api_key, spec.api_secret, spec.balances, user_id),
                rules=market.dataset.rules,
                pair_ids=market.pair_ids,
                fees=self.fees,
                interval_ms=market.interval_ms,
                next_order_id=lambda: next(self._order_ids),
                next_trade_id=lambda: next(self._trade_ids),
                last_prices=last,
                max_volume_share=self.max_volume_share,
            )
            self._accounts[spec.api_key] = account
            return account

    def account(self, api_key: str) -> Account | None:
        return self._accounts.get(api_key)

    @property
    def accounts(self) -> tuple[Account, ...]:
        return tuple(self._accounts.values())

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self.lock:
            self._listeners.remove(listener)

    def _publish(self, event: MarketEvent | PrivateEvent) -> None:
        for listener in self._listeners:
            listener(event)

    # --- clock --------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """Replay time (close of the last closed bar), epoch ms."""
        return self.market.now_ms

    def wall_ms(self) -> int:
        """The exchange's own wall clock, epoch ms: ``server/time`` and the ``X-Stamp`` check
        use it. It runs ``clock_skew_ms`` ahead of (negative: behind) the host's clock, to test
        clients near BTCTurk's ±5 s stamp window; replay pacing ignores the skew."""
        return self._wall_ms() + self.clock_skew_ms

    def set_speed(self, speed: float) -> None:
        """Replay seconds per wall second (0 = manual); re-anchors the pacing."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self.lock:
            self.speed = float(speed)
            self._anchor = (self._wall_ms(), self.market.now_ms)

    def advance(self, bars: int = 1) -> int:
        """Close up to ``bars`` more timeline steps now; returns how many closed."""
        with self.lock:
            done = self._step(bars)
            self._anchor = (self._wall_ms(), self.market.now_ms)
            return done

    def advance_due(self) -> int:
        """Paced mode: close the steps due by the wall clock; 0 in manual mode."""
        with self.lock:
            if self.speed <= 0:
                return 0
            wall, replay = self._anchor
            target = replay + int((self._wall_ms() - wall) * self.speed)
            return self._step(self.market.steps_due(target))

    def _step(self, steps: int) -> int:
        market = self.market
        before = market.steps
        closed = market.advance(steps)
        if not closed:
            return market.steps - before
        for account in self._accounts.values():
            private = account.on_bars(closed)
            if private:
                self._publish(PrivateEvent(account.api_key, tuple(private)))
        updates = market.book_updates()
        if self._listeners:
            self._publish(MarketEvent(frames.step_frames(market, closed, updates)))
        return market.steps - before

    # --- orders -------------------------------------------------------------------------------

    def submit_order(
        self,
        api_key: str,
        *,
        symbol: Symbol,
        side: Side,
        method: OrderType,
        quantity: Decimal,
        price: Decimal | None,
        client_order_id: str,
    ) -> SubmitOutcome:
        """Submit to the key's venue at the replay time (it takes liquidity at once, module
        docstring); raises ``KeyError`` for an unknown key."""
        with self.lock:
            account = self._accounts[api_key]
            band = MARKET_ORDER_BAND if method is OrderType.MARKET else None
            outcome = account.submit(
                symbol=symbol,
                side=side,
                method=method,
                quantity=quantity,
                price=price,
                client_order_id=client_order_id,
                now_ms=self.now_ms,
                levels=self.market.taker_levels(symbol, side, band=band),
            )
            self.market.record_taken(symbol, side, ((t.price, t.quantity) for t in outcome.trades))
            if outcome.frames:
                self._publish(PrivateEvent(api_key, outcome.frames))
            return outcome

    def cancel_order(self, api_key: str, order_id: int) -> str | None:
        """Cancel; ``None`` when done, else the venue reject code (``ORDER_NOT_FOUND``, ...)."""
        with self.lock:
            code, private = self._accounts[api_key].cancel(order_id, now_ms=self.now_ms)
            if private:
                self._publish(PrivateEvent(api_key, private))
            return code

    def cancel_by_exchange(self, api_key: str, order_id: int) -> str | None:
        """The exchange cancels one of the key's orders on its own (maintenance, a delisting;
        the chaos campaign uses it): like :meth:`cancel_order`, the client gets the same 452
        frame and sees the order ``Canceled``."""
        return self.cancel_order(api_key, order_id)

    # --- websocket frames ---------------------------------------------------------------------

    def periodic_event(self) -> MarketEvent:
        """Tickers (401/402) and full books (431 on ``orderbook``), pushed on a timer."""
        with self.lock:
            return MarketEvent(frames.periodic_frames(self.market))

    def snapshot(self, channel: str, event: str) -> tuple[str, list[Frame], int] | None:
        """A new subscriber's first frames (:func:`~trading.exchange.sandbox.frames.snapshot`)."""
        with self.lock:
            return frames.snapshot(self.market, channel, event)
