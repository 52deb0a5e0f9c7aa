"""Named, expiring, token-owned locks for single-flight work (STYLE.md rule 4).

Rules for work that runs under a lock:

* **Register the name.** Every lock name is in :data:`LOCK_TTL_SECONDS` with its time to live.
* **TTL above the hard time limit.** A Celery task that runs under a lock has a hard
  ``time_limit`` below the lock's TTL, so that a crashed worker's lock expires on its own but a
  running task never outlives its lock.
* **Extend while the work runs.** Long work calls :meth:`LockLease.extend` between steps (or
  from a heartbeat thread: the lease is not bound to the thread that took it), which resets the
  expiry to the full TTL.
* **Check ownership before each side effect.** :meth:`LockLease.owned` is one Redis ``GET``;
  call it before every exchange call or write that must not happen twice, and stop if it is
  ``False`` (the lock expired and someone else may hold it now). Database constraints still
  make duplicates impossible if a lock fails; the lock keeps them from being attempted.
* **Busy is normal.** A lock held by someone else makes :func:`single_flight` yield a falsy
  lease, logged at INFO as "busy": skip the work, do not raise.

With ``REDIS_URL`` set the lock is a redis-py :class:`redis.lock.Lock` (a random token per
holder; extend and release are compare-and-set scripts), shared by every process. With
``REDIS_URL`` empty (the embedded default: one process, eager Celery) an in-process lock with
the same semantics, expiry included, is used.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings
from redis.exceptions import LockError

from meva.metrics import LOCK_LOST, LOCK_SKIPS

logger = logging.getLogger(__name__)

KEY_PREFIX = "meva:lock:"

# name pattern -> TTL in seconds. Keys are formatted with the keyword arguments of
# single_flight(), e.g. single_flight("cycle_run:{account}", account="main"). Each TTL is
# above the hard time limit of the task that takes the lock (trading.tasks).
LOCK_TTL_SECONDS: dict[str, int] = {
    "cycle_run:{account}": 300,
    "orders_reconcile:{account}": 300,
    "balances_check:{account}": 300,
    "instruments_sync": 600,
}


class LockNameError(KeyError):
    """A lock name that is not in :data:`LOCK_TTL_SECONDS`, or a missing key argument."""


def lock_ttl(name: str) -> int:
    """TTL in seconds of registered lock ``name``; raises :class:`LockNameError` if unknown."""
    try:
        return LOCK_TTL_SECONDS[name]
    except KeyError:
        raise LockNameError(f"lock {name!r} is not registered in meva.locks") from None


def lock_key(name: str, **fmt: object) -> str:
    """The storage key of lock ``name`` formatted with ``fmt``, e.g. ``meva:lock:cycle_run:main``."""
    lock_ttl(name)
    try:
        return KEY_PREFIX + name.format(**fmt)
    except KeyError as exc:
        raise LockNameError(f"lock {name!r} needs the argument {exc.args[0]!r}") from None


class _Holder(Protocol):
    def acquire(self) -> bool: ...
    def owned(self) -> bool: ...
    def extend(self, seconds: int) -> bool: ...
    def release(self) -> None: ...


class LockLease:
    """One attempt at a lock: truthy iff it was acquired.

    ``key`` is the storage key and ``ttl`` the registered TTL in seconds. A lease that was not
    acquired (busy) never owns the lock and cannot be extended. Redis errors other than a lost
    lock (e.g. ``redis.exceptions.ConnectionError``) propagate from every method.
    """

    def __init__(self, holder: _Holder, *, key: str, ttl: int, acquired: bool) -> None:
        self._holder = holder
        self.key = key
        self.ttl = ttl
        self.acquired = acquired

    def __bool__(self) -> bool:
        return self.acquired

    def __repr__(self) -> str:
        return f"<LockLease {self.key} ttl={self.ttl}s acquired={self.acquired}>"

    def owned(self) -> bool:
        """Whether this lease still holds the lock (not expired, not taken over, not released).

        One Redis ``GET`` (no call at all for a busy lease); check it before each side effect.
        """
        return self.acquired and self._holder.owned()

    def extend(self, seconds: int | None = None) -> bool:
        """Reset the lock's expiry to ``seconds`` from now (default: the full :attr:`ttl`).

        Returns ``True`` if the lock is still held and now expires in ``seconds``; ``False``
        (logged at WARNING) if it was lost, released, or never acquired: stop the work.
        """
        seconds = self.ttl if seconds is None else seconds
        if seconds <= 0:
            raise ValueError(f"extend() needs a positive number of seconds, got {seconds!r}")
        if self.acquired and self._holder.extend(seconds):
            return True
        logger.warning("lock not held, cannot extend", extra={"lock": self.key})
        if self.acquired:
            LOCK_LOST.labels(self.key.removeprefix(KEY_PREFIX)).inc()
        return False


@contextmanager
def single_flight(name: str, **fmt: object) -> Iterator[LockLease]:
    """Try once, without waiting, to take lock ``name`` (formatted with ``fmt``).

    Yields a :class:`LockLease`: truthy if this caller holds the lock (released on exit, even
    on error; a lock that expired meanwhile is left to its new holder and logged at WARNING),
    falsy if another holder has it (logged at INFO as "busy"; do not do the work).
    Raises :class:`LockNameError` for an unregistered name or a missing argument, and
    ``redis.exceptions.ConnectionError`` if Redis is configured but unreachable.
    """
    key = lock_key(name, **fmt)
    ttl = lock_ttl(name)
    holder = _RedisHolder(key, ttl) if settings.REDIS_URL else _MemoryHolder(key, ttl)
    lease = LockLease(holder, key=key, ttl=ttl, acquired=holder.acquire())
    if not lease:
        logger.info("lock busy, skipping", extra={"lock": key})
        LOCK_SKIPS.labels(key.removeprefix(KEY_PREFIX)).inc()
        yield lease
        return
    try:
        yield lease
    finally:
        holder.release()


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class _RedisHolder:
    def __init__(self, key: str, ttl: int) -> None:
        # thread_local=False: the token lives on this one-holder Lock object, so a heartbeat
        # thread can extend the lease its task took (each lease has its own Lock object).
        self._lock = _redis_client(settings.REDIS_URL).lock(
            key, timeout=ttl, blocking=False, thread_local=False
        )
        self._key = key

    def acquire(self) -> bool:
        return bool(self._lock.acquire())

    def owned(self) -> bool:
        return self._lock.owned()

    def extend(self, seconds: int) -> bool:
        try:
            return bool(self._lock.extend(seconds, replace_ttl=True))
        except LockError:  # expired, taken over or released
            return False

    def release(self) -> None:
        try:
            self._lock.release()
        except LockError:  # expired (work outlived the TTL) and maybe taken by someone else
            logger.warning("lock expired before release", extra={"lock": self._key})
        except redis.exceptions.ConnectionError:
            # Redis went away while the work ran: the work is done and recorded, and the key
            # (if Redis kept it) expires with its TTL; failing here would report finished
            # work as failed
            logger.warning("Redis unreachable, lock left to expire", extra={"lock": self._key})


# In-process fallback: key -> (token, expiry on the monotonic clock).
_memory_locks: dict[str, tuple[str, float]] = {}
_memory_guard = threading.Lock()
_clock = time.monotonic  # replaced in tests to check expiry deterministically


class _MemoryHolder:
    def __init__(self, key: str, ttl: int) -> None:
        self._key = key
        self._ttl = ttl
        self._token = uuid.uuid4().hex

    def acquire(self) -> bool:
        with _memory_guard:
            now = _clock()
            held = _memory_locks.get(self._key)
            if held is not None and held[1] > now:
                return False
            _memory_locks[self._key] = (self._token, now + self._ttl)
            return True

    def owned(self) -> bool:
        with _memory_guard:
            return self._owned(_clock())

    def extend(self, seconds: int) -> bool:
        with _memory_guard:
            now = _clock()
            if not self._owned(now):
                return False
            _memory_locks[self._key] = (self._token, now + seconds)
            return True

    def release(self) -> None:
        with _memory_guard:
            held = _memory_locks.get(self._key)
            if held is not None and held[0] == self._token:
                expired = held[1] <= _clock()
                del _memory_locks[self._key]
                if not expired:
                    return
        logger.warning("lock expired before release", extra={"lock": self._key})

    def _owned(self, now: float) -> bool:
        held = _memory_locks.get(self._key)
        return held is not None and held[0] == self._token and held[1] > now
