"""Start-up of every entry point (``manage.py``, WSGI): a configuration error is one line.

``settings_or_exit()`` imports the settings; an ``ImproperlyConfigured`` (each names its
variable: ``meva.envconfig``) is printed as ``configuration error: <message>`` on stderr and
the process exits with status 2, instead of a long traceback that buries the variable's name.

``command_or_exit(argv)`` runs a management command the same way for the database: a database
that cannot be reached, or one whose tables are missing (``migrate`` was not run), is one line
naming the database and what to do, exit 2. ``--traceback`` keeps Django's full traceback.

``app_set_for(argv)`` names the apps a command's process loads (``MEVA_APP_SET``, read by the
settings): ``batch`` for :data:`BATCH_COMMANDS`, which use only the domain apps' models, and
``all`` for every other command.
"""

from __future__ import annotations

import gc
import os
import sys

EXIT_CONFIGURATION = 2
# Commands that run the engine or import data and never serve a page, schedule a task or
# migrate: their processes load the domain apps only (meva.settings.BATCH_APPS).
BATCH_COMMANDS = frozenset({"backtest", "backtest_sweep", "import_dataset"})


# One-shot commands: one job (a run, an import) and exit. Python's cyclic collector stays
# off for their whole process: it would scan every live object again and again while the
# modules load and the job allocates, and then spend about a tenth of a second freeing the
# finished run's object graph just before the process ends anyway. What it would have freed
# goes back to the system at exit; peak memory does not grow (the run's graph is alive until
# its results are stored). Not the sweeps: their workers run many jobs in one process.
ONE_SHOT_COMMANDS = frozenset({"backtest", "import_dataset"})


def collector_for(argv: list[str]) -> None:
    """Turn the cyclic garbage collector off for the life of a process that runs one of
    :data:`ONE_SHOT_COMMANDS` (``argv`` is ``sys.argv`` of ``manage.py``); others keep it."""
    if len(argv) > 1 and argv[1] in ONE_SHOT_COMMANDS:
        gc.disable()


def app_set_for(argv: list[str]) -> str:
    """``"batch"`` when ``argv`` (``sys.argv`` of ``manage.py``) runs one of
    :data:`BATCH_COMMANDS`, else ``"all"``."""
    return "batch" if len(argv) > 1 and argv[1] in BATCH_COMMANDS else "all"


def settings_or_exit() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meva.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports and validates the settings module
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(EXIT_CONFIGURATION) from None


_MISSING_TABLE = ("no such table", "does not exist")


def command_or_exit(argv: list[str]) -> None:
    """Run the management command of ``argv``; a database error is one line (module
    docstring). When the command returns, the objects left are frozen out of the cyclic
    collector (``gc.freeze``): the process is about to exit, and its shutdown would otherwise
    rescan every module's objects several times (about 0.07 s of every command here).
    Finalizers and ``atexit`` handlers still run."""
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError, connection

    try:
        execute_from_command_line(argv)
    except DatabaseError as exc:
        if "--traceback" in argv:
            raise
        from meva.logging import redact_text

        name = connection.settings_dict.get("NAME")
        reason = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        hint = ""
        if any(marker in reason for marker in _MISSING_TABLE):
            hint = ": run `python manage.py migrate` first (make run does)"
        engine = connection.vendor
        sys.stderr.write(f"database error ({engine} {name}): {reason}{hint}\n")
        raise SystemExit(EXIT_CONFIGURATION) from None
    gc.freeze()
