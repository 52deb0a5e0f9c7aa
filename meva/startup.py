"""Start-up of every entry point (``manage.py``, WSGI): a configuration error is one line.

``settings_or_exit()`` imports the settings; an ``ImproperlyConfigured`` (each names its
variable: ``meva.envconfig``) is printed as ``configuration error: <message>`` on stderr and
the process exits with status 2, instead of a long traceback that buries the variable's name.
"""

from __future__ import annotations

import os
import sys

EXIT_CONFIGURATION = 2


def settings_or_exit() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports and validates the settings module
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIGURATION) from None
