"""JSON log lines on stderr with secret redaction, and the log context.

Values of keys that look like secrets (``secret``, ``signature``, ``password``, ``api_key``,
``token``) and the configured secret values (:func:`secret_values`: the BTCTurk credentials,
``METRICS_TOKEN``, the alert webhook URL and its path, passwords in ``DATABASE_URL`` and
``REDIS_URL``) are replaced by ``***`` before a line is written, tracebacks included, so
credentials never reach the logs (DESIGN.md section 4). :mod:`meva.error_reporting` does the
same for Django's error pages and reports.

**Context** (:mod:`trading.logcontext`, re-exported here). :func:`log_context` adds ``account``,
``cycle_id``, ``symbol`` and ``client_order_id`` to every line logged inside it, unless the
line sets the field itself; :func:`log_context_bind` adds fields until the enclosing
:func:`log_context` exits. The cycle and execution services set them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

# Re-exported: the context lives in a module free of Django and Celery (the execution
# service sets it and must import neither; importing the meva package starts Celery's app).
from trading.logcontext import (  # noqa: F401
    CONTEXT_FIELDS,
    log_context,
    log_context_bind,
    log_context_current,
)

SECRET_KEY_PATTERN = re.compile(r"(secret|signature|password|api_key|apikey|token|x-pck)", re.I)
REDACTED = "***"
# Shorter values are not redacted as substrings (a one-letter password would garble lines).
MIN_SECRET_LENGTH = 6


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


# A webhook path segment or query value this long is taken for a token.
WEBHOOK_TOKEN_LENGTH = 12


def _webhook_secrets(url: str) -> list[str]:
    """A webhook URL's secret parts: the URL, its path and query, its password, each path
    segment or query value of :data:`WEBHOOK_TOKEN_LENGTH` characters or more, and a Telegram
    bot token (``/bot<token>/...``) on its own."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    values = [url, parts.path, parts.query, parts.password or ""]
    for segment in parts.path.split("/"):
        if len(segment) >= WEBHOOK_TOKEN_LENGTH:
            values.append(segment)
            if segment.startswith("bot"):
                values.append(segment[3:])
    for _, value in parse_qsl(parts.query):
        if len(value) >= WEBHOOK_TOKEN_LENGTH:
            values.append(value)
    return values


def secret_values() -> list[str]:
    """The configured secret values, longest first (a value containing another is replaced
    whole): the BTCTurk key and secret, ``METRICS_TOKEN``, ``ALERT_WEBHOOK_URL`` and its token
    parts (:func:`_webhook_secrets`: ``/bot<token>/sendMessage``, ``?token=``), the database
    password and a password in ``REDIS_URL``. Values shorter than :data:`MIN_SECRET_LENGTH`
    are skipped, except the BTCTurk credentials. Empty when settings are not configured."""
    try:
        from django.conf import settings

        credentials = [settings.BTCTURK_API_KEY, settings.BTCTURK_API_SECRET]
        values = [getattr(settings, "METRICS_TOKEN", "")]
        webhook = getattr(settings, "ALERT_WEBHOOK_URL", "")
        if webhook:
            values += _webhook_secrets(webhook)
        values.append(_url_password(getattr(settings, "REDIS_URL", "")))
        values.append(settings.DATABASES.get("default", {}).get("PASSWORD") or "")
    except Exception:  # settings not configured (e.g. a plain script)
        return []
    kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    kept |= {v for v in credentials if v}
    return sorted(kept, key=len, reverse=True)


# The password of any ``scheme://user:password@host`` URL, configured or not.
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)@")


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every configured secret value, and the password of every URL with
    ``user:password@``, replaced by ``***``."""
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    return URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)


def _secrets() -> list[str]:
    return secret_values()


def redact(value: object, secrets: list[str]) -> object:
    """``value`` made safe to log, as JSON-able data: mappings of any kind (dicts, HTTP
    headers objects) with secret-named keys masked, sequences and sets item by item, bytes
    decoded, numbers and booleans kept, anything else by its ``str()``; every string through
    :func:`redact_text`."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if SECRET_KEY_PATTERN.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [redact(v, secrets) for v in items]
    if isinstance(value, bytes | bytearray | memoryview):
        return redact_text(bytes(value).decode("utf-8", "replace"), secrets)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(value if isinstance(value, str) else str(value), secrets)


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
        payload.update({k: v for k, v in log_context_current().items() if k not in vars(record)})
        payload.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload, secrets), default=str)
