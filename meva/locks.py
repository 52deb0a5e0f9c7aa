"""Named, expiring, token-owned locks for single-flight work (STYLE.md rule 4).

Every lock name is registered in :data:`LOCK_TTL_SECONDS` with its time to live; a task that
runs under a lock must have a hard time limit below the TTL (:func:`lock_ttl` minus a margin),
so that a crashed worker's lock expires but a running one never loses it.

With ``REDIS_URL`` set the lock is a redis-py :class:`redis.lock.Lock` (a random token per
holder; release is compare-and-delete), shared by every process. With ``REDIS_URL`` empty (the
embedded default: one process, eager Celery) an in-process lock with the same semantics is used.
A busy lock is a normal outcome: logged at INFO, never an error.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings
from redis.exceptions import LockError

logger = logging.getLogger(__name__)

KEY_PREFIX = "meva:lock:"

# name pattern -> TTL in seconds. Keys are formatted with the keyword arguments of
# single_flight(), e.g. single_flight("cycle_run:{account}", account="main").
LOCK_TTL_SECONDS: dict[str, int] = {
    "cycle_run:{account}": 300,
    "orders_reconcile:{account}": 300,
    "instruments_sync": 600,
    "balances_check:{account}": 300,
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


@contextmanager
def single_flight(name: str, **fmt: object) -> Iterator[bool]:
    """Try once, without waiting, to take lock ``name`` (formatted with ``fmt``).

    Yields ``True`` if this caller holds the lock (released on exit, even on error) and
    ``False`` if another holder has it (logged at INFO as "busy"; do not do the work).
    Raises :class:`LockNameError` for an unregistered name or a missing argument, and
    ``redis.exceptions.ConnectionError`` if Redis is configured but unreachable.
    """
    key = lock_key(name, **fmt)
    ttl = lock_ttl(name)
    holder = _RedisHolder(key, ttl) if settings.REDIS_URL else _MemoryHolder(key, ttl)
    acquired = holder.acquire()
    if not acquired:
        logger.info("lock busy, skipping", extra={"lock": key})
        yield False
        return
    try:
        yield True
    finally:
        holder.release()


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class _RedisHolder:
    def __init__(self, key: str, ttl: int) -> None:
        self._lock = _redis_client(settings.REDIS_URL).lock(key, timeout=ttl, blocking=False)
        self._key = key

    def acquire(self) -> bool:
        return bool(self._lock.acquire())

    def release(self) -> None:
        try:
            self._lock.release()
        except LockError:  # expired (work outlived the TTL) and maybe taken by someone else
            logger.warning("lock expired before release", extra={"lock": self._key})


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

    def release(self) -> None:
        with _memory_guard:
            held = _memory_locks.get(self._key)
            if held is not None and held[0] == self._token:
                del _memory_locks[self._key]
                return
        logger.warning("lock expired before release", extra={"lock": self._key})
