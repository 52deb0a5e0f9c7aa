"""Helpers of the end-to-end tests: Celery processes run as subprocesses, and polling.

:class:`CeleryProcess` starts ``celery -A meva worker|beat`` in its own session with its output
in a log file, restarts it, kills it with any signal and stops it (SIGTERM, then SIGKILL after a
timeout). On Linux each child also gets SIGKILL if the test process dies, so nothing is left
running even when pytest itself is killed. :func:`wait_until` polls a predicate with a timeout.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
POLL_S = 0.05

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, what: str | Callable[[], str] = ""
) -> T:
    """Call ``predicate`` every 50 ms until it returns something truthy, and return that.

    Raises ``AssertionError`` naming ``what`` (a text, or a function giving it at that moment,
    e.g. with a log tail) or the predicate, after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described or predicate}")
        time.sleep(POLL_S)


def postgres_url(settings_dict: Mapping[str, object]) -> str:
    """A ``postgres://`` URL for a Django ``DATABASES`` entry (e.g. the pytest test database)."""
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(settings_dict['NAME']), safe='')}"


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` (``redis://host:port/N``) pointing at database number ``db`` instead."""
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL me when the process that started me exits (Linux)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class CeleryProcess:
    """One ``celery -A meva <argv>`` subprocess; every start logs to a new file in ``log_dir``.

    ``ready_line`` is a text the process writes once it is serving (waited for by
    :meth:`start`). :meth:`log` returns the text of every start so far, oldest first.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        ready_line: str,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = [str(CELERY), "-A", "meva", *argv]
        self.env = dict(env)
        self.log_dir = log_dir
        self.ready_line = ready_line
        self.start_timeout = start_timeout
        self.logs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> CeleryProcess:
        """Start the process and wait for its ready line; raises with the log tail if it dies."""
        assert not self.alive, f"{self.name} is already running"
        log_path = self.log_dir / f"{self.name}-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.log_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C goes to pytest, which stops us
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        wait_until(
            self._ready,
            self.start_timeout,
            lambda: f"{self.name} to log {self.ready_line!r}; its log ends:\n{self.log_tail()}",
        )
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (warm shutdown), then SIGKILL after ``timeout`` s; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # the leader is not reaped yet, so its process group is still ours to kill
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
        """Send ``sig`` (a crash by default) and wait for the exit; returns the exit code."""
        assert self.proc is not None and self.alive, f"{self.name} is not running"
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def restart(self) -> CeleryProcess:
        """Stop if running, then start again (logging to a new file)."""
        self.stop()
        return self.start()

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float = 10.0, count: int = 1) -> str:
        """Wait until ``text`` appears ``count`` times in the logs of this process; returns them."""

        def seen() -> str:
            log = self.log()
            return log if log.count(text) >= count else ""

        return wait_until(
            seen,
            timeout,
            lambda: f"{self.name} to log {text!r} x{count}; its log ends:\n{self.log_tail()}",
        )

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode} while starting:\n{self.log_tail()}"
            )
        return self.ready_line in self.logs[-1].read_text(errors="replace")
