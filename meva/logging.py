"""JSON log lines on stderr with secret redaction, and the log context.

Values of keys that look like secrets (``secret``, ``signature``, ``password``, ``api_key``,
``token``) and the configured secret values (:func:`secret_values`: the BTCTurk credentials,
``METRICS_TOKEN``, the alert webhook URL and its path, passwords in ``DATABASE_URL`` and
``REDIS_URL``) are replaced by ``***`` before a line is written, tracebacks included, so
credentials never reach the logs (DESIGN.md section 4). :class:`ExceptionReporterFilter` does
the same for Django's error pages and reports (settings and frame locals). This module imports
no Django at import time (the execution service, which sets the context, must not).

**Context.** :func:`log_context` (a context manager over a context variable) adds ``account``,
``cycle_id``, ``symbol`` and ``client_order_id`` to every line logged inside it, unless the
line sets the field itself; :func:`log_context_bind` adds fields until the enclosing
:func:`log_context` exits. The cycle and execution services set them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

SECRET_KEY_PATTERN = re.compile(r"(secret|signature|password|api_key|apikey|token|x-pck)", re.I)
REDACTED = "***"
# The fields log_context may set (README "Observability and alerts").
CONTEXT_FIELDS = ("account", "cycle_id", "symbol", "client_order_id")
# Shorter values are not redacted as substrings (a one-letter password would garble lines).
MIN_SECRET_LENGTH = 6

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


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def secret_values() -> list[str]:
    """The configured secret values, longest first (a value containing another is replaced
    whole): the BTCTurk key and secret, ``METRICS_TOKEN``, ``ALERT_WEBHOOK_URL`` (whole, and
    its path and query, which carry tokens such as ``/bot<token>/sendMessage``), the database
    password and a password in ``REDIS_URL``. Values shorter than :data:`MIN_SECRET_LENGTH`
    are skipped, except the BTCTurk credentials. Empty when settings are not configured."""
    try:
        from django.conf import settings

        credentials = [settings.BTCTURK_API_KEY, settings.BTCTURK_API_SECRET]
        values = [getattr(settings, "METRICS_TOKEN", "")]
        webhook = getattr(settings, "ALERT_WEBHOOK_URL", "")
        if webhook:
            parts = urlsplit(webhook)
            values += [webhook, parts.path, parts.query, parts.password or ""]
        values.append(_url_password(getattr(settings, "REDIS_URL", "")))
        values.append(settings.DATABASES.get("default", {}).get("PASSWORD") or "")
    except Exception:  # settings not configured (e.g. a plain script)
        return []
    kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    kept |= {v for v in credentials if v}
    return sorted(kept, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every configured secret value replaced by ``***``."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    return text


def _secrets() -> list[str]:
    return secret_values()


def redact(value: object, secrets: list[str]) -> object:
    if isinstance(value, dict):
        return {
            k: REDACTED if SECRET_KEY_PATTERN.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the record's ``extra``."""

    RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        secrets = _secrets()
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in _fields().items() if k not in vars(record)})
        payload.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload, secrets), default=str)
