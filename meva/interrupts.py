"""SIGTERM as an interruption the running work can record.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM (``kill``, a container stop,
systemd) ends the process without unwinding, so a cycle or backtest would stay ``running``.
Inside :func:`terminate_interrupts` SIGTERM raises :class:`Interrupted` (a
``KeyboardInterrupt``) in the main thread instead: the services' ``except BaseException``
paths mark their row ``failed`` with ``INTERRUPTED`` before the process exits. Celery workers
keep their own handling (a warm shutdown lets the running task finish); work killed with
SIGKILL is swept later (``trading.services.stale_work``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """The process received a termination signal; ``str()`` names it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"INTERRUPTED: received {signal.Signals(signum).name}")


@contextmanager
def terminate_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` in the main thread (elsewhere,
    and outside the block, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
