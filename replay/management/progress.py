"""Terminal progress bars of the replay commands (tqdm), shown on a terminal only."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm


@cache
def _tqdm() -> type[tqdm]:
    """tqdm's bar class, imported when a bar is first made (a command without one, e.g.
    ``backtest --json``, does not pay for the import)."""
    from tqdm import tqdm

    # No tqdm monitor thread: a sweep forks worker processes, which must not inherit a
    # thread's locks; the bars are redrawn as the work reports anyway.
    tqdm.monitor_interval = 0
    return tqdm


def progress_wanted(stream: TextIO, *, quiet: bool = False) -> bool:
    """Whether to draw a bar on ``stream``: a terminal, and no ``--json`` (``quiet``)."""
    return not quiet and stream.isatty()


class CycleBar:
    """The engine's ``progress(done, total)`` callback as a tqdm bar of cycles (with rate and
    ETA) on ``stream``; the bar opens on the first report and closes at the last cycle."""

    def __init__(self, stream: TextIO, *, description: str = "backtest") -> None:
        self.stream = stream
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = _tqdm()(
                total=total, desc=self.description, unit="cycle", file=self.stream, leave=True
            )
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def runs_bar(stream: TextIO, total: int, *, description: str, disable: bool = False) -> tqdm:
    """A tqdm bar of ``total`` runs on ``stream`` (a sweep's combinations); a disabled bar
    draws nothing but still counts (``bar.n``)."""
    return _tqdm()(
        total=total, desc=description, unit="run", file=stream, leave=True, disable=disable
    )
