"""JSON log lines on stderr with secret redaction.

Values of keys that look like secrets (``secret``, ``signature``, ``password``, ``api_key``,
``token``) and the configured BTCTurk credentials are replaced by ``***`` before a line is
written, so credentials never reach the logs (DESIGN.md section 4).
"""

from __future__ import annotations

import json
import logging
import re

SECRET_KEY_PATTERN = re.compile(r"(secret|signature|password|api_key|apikey|token|x-pck)", re.I)
REDACTED = "***"


def _secrets() -> list[str]:
    try:
        from django.conf import settings

        values = [settings.BTCTURK_API_KEY, settings.BTCTURK_API_SECRET]
    except Exception:  # settings not configured (e.g. a plain script)
        return []
    return [v for v in values if v]


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
        payload.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload, secrets), default=str)
