"""Fault injection for the sandbox exchange: a ``--faults`` spec parser and a seeded injector.

Grammar (comma-separated, blanks ignored, each kind at most once)::

    SPEC  := ITEM ("," ITEM)*
    ITEM  := KIND "=" RATE [":" ARG]  |  "seed=" INT
    RATE  := probability in [0, 1] (``0.05`` = 5 % of eligible requests or messages)

======================  ====================================================================
kind, ARG (default)     effect
======================  ====================================================================
``latency``, DURATION   an HTTP request waits DURATION before it is handled (``0.1``)
``http429``, SECONDS    answer 429 ``TOO_MANY_REQUESTS`` with ``Retry-After: SECONDS`` (``1``)
``http5xx``, STATUS     answer STATUS (500, 502, 503 or 504; ``503``) before handling
``order_timeout``, D    ``POST /api/v1/order`` is handled (the order is accepted and recorded)
                        and then the response waits D (``15``, past a 10 s client timeout),
                        or with ``drop`` the connection is closed without a complete response
``ws_drop`` (no ARG)    the server closes a websocket (code 1011) instead of pushing a message
``trade_dup`` (no ARG)  a user-trades answer (``/api/v1/users/transactions/trade``) repeats
                        some of its rows and comes out of order (duplicate, out-of-order reports)
======================  ====================================================================

DURATION / D: seconds (``2``, ``0.5``, ``2s``) or milliseconds (``250ms``). Example:
``latency=0.2:50ms,http429=0.05:2,http5xx=0.01,order_timeout=0.02:drop,ws_drop=0.001,seed=7``.
Faults apply to BTCTurk routes only, never to ``/sandbox/*`` control routes; 429/5xx are decided
before the request is handled (it had no effect). One ``random.Random(seed)`` draws every roll,
so the same request sequence meets the same faults.

Tests make faults deterministic with :meth:`FaultInjector.force` ("the next N matching
requests"), which takes precedence over the random rules, and :meth:`FaultInjector.clear`.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("latency", "http429", "http5xx", "order_timeout", "ws_drop", "trade_dup")
# Kinds decided by their own hook, not per HTTP request.
MESSAGE_KINDS = frozenset({"ws_drop", "trade_dup"})
HTTP_5XX = frozenset({500, 502, 503, 504})
DROP = "drop"
ORDER_PATH = "/api/v1/order"
_DEFAULTS: dict[str, float | int | str | None] = {
    "latency": 0.1,
    "http429": 1,
    "http5xx": 503,
    "order_timeout": 15.0,
    "ws_drop": None,
    "trade_dup": None,
}


class FaultSpecError(ValueError):
    """An invalid ``--faults`` spec; ``part`` is the offending item as written."""

    def __init__(self, part: str, problem: str) -> None:
        self.part = part
        super().__init__(f"--faults: {part!r}: {problem}")


@dataclass(frozen=True, slots=True)
class FaultRule:
    """``kind`` happens with probability ``rate``; ``arg`` is parsed (seconds, status, ``drop``)."""

    kind: str
    rate: float
    arg: float | int | str | None = None


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed spec: at most one rule per kind, and the seed (``None`` = keep the current one)."""

    rules: tuple[FaultRule, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class HttpFault:
    """What to do with one HTTP request.

    ``delay_s`` wait before handling; ``status`` answer with it instead of handling (429/5xx);
    ``retry_after`` seconds for a 429; ``order_delay_s`` / ``drop`` apply after an order POST
    was handled.
    """

    delay_s: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    order_delay_s: float | None = None
    drop: bool = False


NO_FAULT = HttpFault()


def parse_faults(spec: str) -> FaultSpec:
    """Parse the grammar in the module docstring; raises :class:`FaultSpecError` naming the item."""
    rules: dict[str, FaultRule] = {}
    seed = None
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not value:
            raise FaultSpecError(part, "expected kind=rate[:arg] or seed=N")
        if name == "seed":
            seed = _int(part, value, "seed")
            continue
        if name not in KINDS:
            raise FaultSpecError(part, f"unknown kind {name!r} (kinds: {', '.join(KINDS)})")
        if name in rules:
            raise FaultSpecError(part, f"{name} given twice")
        rate_text, _, arg_text = value.partition(":")
        rules[name] = FaultRule(name, _rate(part, rate_text), _arg(part, name, arg_text.strip()))
    return FaultSpec(tuple(rules.values()), seed)


def _rate(part: str, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise FaultSpecError(part, f"rate {text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(part, f"rate {rate} outside 0..1")
    return rate


def _int(part: str, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FaultSpecError(part, f"{what} {text!r} is not an integer") from None


def _duration(part: str, text: str) -> float:
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    try:
        seconds = float(text) * scale
    except ValueError:
        raise FaultSpecError(part, f"duration {text!r} is not a number of s or ms") from None
    if not 0.0 <= seconds <= 3600.0:
        raise FaultSpecError(part, f"duration {seconds} s outside 0..3600")
    return seconds


def _arg(part: str, kind: str, text: str) -> float | int | str | None:
    if not text:
        return _DEFAULTS[kind]
    if kind in MESSAGE_KINDS:
        raise FaultSpecError(part, f"{kind} takes no argument")
    if kind == "latency":
        return _duration(part, text)
    if kind == "http429":
        return round(_duration(part, text))
    if kind == "http5xx":
        status = _int(part, text, "status")
        if status not in HTTP_5XX:
            raise FaultSpecError(part, f"status {status} not one of {sorted(HTTP_5XX)}")
        return status
    return DROP if text == DROP else _duration(part, text)


@dataclass(slots=True)
class _Forced:
    kind: str
    remaining: int
    arg: float | int | str | None
    method: str | None
    path: str | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


def _eligible(kind: str, method: str, path: str) -> bool:
    if kind == "order_timeout":
        return method == "POST" and path.rstrip("/") == ORDER_PATH
    return kind not in MESSAGE_KINDS


@dataclass(slots=True)
class _Decision:
    delay: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    order_delay: float | None = None
    drop: bool = False
    decided: set[str] = field(default_factory=set)

    def open_for(self, kind: str) -> bool:
        """Whether ``kind`` can still apply (one per kind, one 429-or-5xx status)."""
        if kind in self.decided:
            return False
        return self.status is None or kind not in ("http429", "http5xx")

    def apply(self, kind: str, arg: float | int | str | None) -> None:
        self.decided.add(kind)
        if kind == "latency":
            self.delay += float(arg)
        elif kind == "http429":
            self.status, self.retry_after = 429, int(arg)
        elif kind == "http5xx":
            self.status = int(arg)
        elif kind == "order_timeout":
            self.drop = arg == DROP
            self.order_delay = None if self.drop else float(arg)


class FaultInjector:
    """Decides faults per request / pushed message (module docstring). Thread-safe.

    ``fired`` counts the faults that happened, by kind.
    """

    def __init__(self, spec: FaultSpec | str | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: dict[str, FaultRule] = {}
        self._forced: list[_Forced] = []
        self.fired: Counter[str] = Counter()
        if spec is not None:
            self.configure(spec)

    def configure(self, spec: FaultSpec | str | None) -> None:
        """Replace the random rules by ``spec`` (a parsed spec or its text; ``None`` = none).

        A spec with a seed reseeds the generator. Forced faults are kept.
        """
        parsed = parse_faults(spec) if isinstance(spec, str) else (spec or FaultSpec())
        with self._lock:
            self._rules = {rule.kind: rule for rule in parsed.rules}
            if parsed.seed is not None:
                self._rng.seed(parsed.seed)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        with self._lock:
            return tuple(self._rules.values())

    def force(
        self,
        kind: str,
        *,
        count: int = 1,
        arg: float | int | str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Make the next ``count`` eligible requests (``method`` / ``path`` prefix when given)
        or pushed websocket messages meet ``kind`` with ``arg`` (default as in the spec)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        value = _DEFAULTS[kind] if arg is None else arg
        with self._lock:
            self._forced.append(_Forced(kind, count, value, method, path))

    def clear(self) -> None:
        """Remove every random rule and forced fault (the counters stay)."""
        with self._lock:
            self._rules.clear()
            self._forced.clear()

    def for_request(self, method: str, path: str) -> HttpFault:
        """The faults for one HTTP request (forced ones first, then one roll per rule)."""
        decision = _Decision()
        with self._lock:
            for forced in self._forced:
                kind = forced.kind
                if (
                    _eligible(kind, method, path)
                    and decision.open_for(kind)
                    and forced.matches(method, path)
                ):
                    forced.remaining -= 1
                    decision.apply(forced.kind, forced.arg)
            self._forced = [f for f in self._forced if f.remaining > 0]
            for rule in self._rules.values():
                if not _eligible(rule.kind, method, path) or not decision.open_for(rule.kind):
                    continue
                if rule.rate > 0 and self._rng.random() < rule.rate:
                    decision.apply(rule.kind, rule.arg)
            for kind in decision.decided:
                self.fired[kind] += 1
        if not decision.decided:
            return NO_FAULT
        return HttpFault(
            delay_s=decision.delay,
            status=decision.status,
            retry_after=decision.retry_after,
            order_delay_s=decision.order_delay,
            drop=decision.drop,
        )

    def ws_drop(self) -> bool:
        """Whether the server drops the websocket instead of pushing the next message."""
        return self._message_fault("ws_drop")

    def trade_dup(self, rows: list) -> list:
        """``rows`` (one user-trades answer), or when ``trade_dup`` fires a seeded shuffle of
        them with about a third of them repeated (at least one): what a client must dedupe."""
        if not rows or not self._message_fault("trade_dup"):
            return rows
        with self._lock:
            repeated = [row for row in rows if self._rng.random() < 1 / 3] or [rows[0]]
            out = rows + repeated
            self._rng.shuffle(out)
        return out

    def _message_fault(self, kind: str) -> bool:
        with self._lock:
            for forced in self._forced:
                if forced.kind == kind:
                    forced.remaining -= 1
                    self._forced = [f for f in self._forced if f.remaining > 0]
                    self.fired[kind] += 1
                    return True
            rule = self._rules.get(kind)
            if rule is not None and rule.rate > 0 and self._rng.random() < rule.rate:
                self.fired[kind] += 1
                return True
        return False
