"""The log context: fields every log line inside a block carries (README "Observability and
alerts"). Standard library only, so that the execution service (which must import no Django)
can set it; :class:`meva.logging.JsonFormatter` writes it.

:func:`log_context` (a context manager over a context variable, so per thread and per task)
adds ``account``, ``cycle_id``, ``symbol`` and ``client_order_id`` to every line logged inside
it, unless the line sets the field itself; :func:`log_context_bind` adds fields until the
enclosing :func:`log_context` exits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The fields log_context may set (README "Observability and alerts").
CONTEXT_FIELDS = ("account", "cycle_id", "symbol", "client_order_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("meva_log_context", default=None)


def _fields() -> dict[str, Any]:
    return _context.get() or {}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (names from :data:`CONTEXT_FIELDS`) to every log line inside the block;
    ``None`` values are left out. Nested blocks add to (and override) outer ones."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"log_context: unknown fields {sorted(unknown)}")
    token = _context.set(_fields() | {k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def log_context_bind(**fields: Any) -> None:
    """Add ``fields`` to the current context until the enclosing :func:`log_context` exits
    (e.g. the cycle id, once the cycle row exists)."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"log_context_bind: unknown fields {sorted(unknown)}")
    _context.set(_fields() | {k: v for k, v in fields.items() if v is not None})


def log_context_current() -> dict[str, Any]:
    """The fields :func:`log_context` set here (a copy)."""
    return dict(_fields())
