"""Django's error pages and reports without secrets (``DEFAULT_EXCEPTION_REPORTER`` and
``DEFAULT_EXCEPTION_REPORTER_FILTER``): the configured secret values of
:func:`meva.logging.secret_values` never appear in a rendered error page or report.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from meva.logging import redact_text, secret_values


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's error pages and reports (``DEFAULT_EXCEPTION_REPORTER_FILTER``) without secrets:
    settings named like a secret, a webhook or a URL with credentials are hidden, and any other
    setting, request value or frame local that holds a configured secret value
    (:func:`secret_values`) is shown redacted."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|WEBHOOK|DATABASE_URL|REDIS_URL|BROKER",
        flags=re.I,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return redact_text(cleansed)
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        secrets = secret_values()
        out = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            try:
                text = value if isinstance(value, str) else repr(value)
            except Exception:  # a repr that fails is Django's to show
                out.append((name, value))
                continue
            if any(secret in text for secret in secrets):
                value = redact_text(text, secrets)
            out.append((name, value))
        return out


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error page and report text (``DEFAULT_EXCEPTION_REPORTER``) with every
    configured secret value redacted from the rendered result: the exception message, frame
    locals, settings and request data alike."""

    def get_traceback_html(self) -> str:
        from django.utils.safestring import mark_safe

        # Django's page is escaped HTML already; redaction only replaces secret values with a
        # fixed marker, so the result stays as safe as the page it came from.
        return mark_safe(redact_text(str(super().get_traceback_html())))  # nosec

    def get_traceback_text(self) -> str:
        return redact_text(str(super().get_traceback_text()))
