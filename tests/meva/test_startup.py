"""Entry points stop on a configuration error with one line naming the variable (exit 2),
and database URLs in errors never show their password."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meva.startup import app_set_for, collector_for

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' must be one of"),
        ({"DATABASE_URL": "foo://db/x"}, "database scheme 'foo' is not supported"),
        ({"DRY_RUN": "maybe"}, "DRY_RUN"),
    ],
)
def test_a_bad_variable_is_one_line_on_stderr_and_exit_2(env: dict, named: str) -> None:
    done = _manage("check", **env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("configuration error: ") and named in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_database_url_in_an_error_has_its_password_masked() -> None:
    done = _manage("check", DATABASE_URL="mysql://meva:hunter2-secret@db:3306/meva")
    assert done.returncode == 2
    assert "hunter2-secret" not in done.stderr
    assert "mysql://meva:***@db:3306/meva" in done.stderr


def test_a_good_configuration_runs_the_command() -> None:
    done = _manage("check", "--deploy", "--fail-level", "CRITICAL")
    assert done.returncode == 0, done.stderr


def test_a_database_without_tables_is_one_line_that_says_to_migrate(tmp_path: Path) -> None:
    done = _manage("sweep_stale", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("database error (sqlite ")
    assert "no such table" in done.stderr and "run `python manage.py migrate` first" in done.stderr


def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    url = "postgres://meva:hunter2-secret@127.0.0.1:9/meva"  # port 9: refused at once
    done = _manage("sweep_stale", DATABASE_URL=url)

    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("database error (postgresql meva): ")
    assert "hunter2-secret" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "app_set"),
    [
        (["manage.py", "backtest", "--dataset", "d"], "batch"),
        (["manage.py", "backtest_sweep"], "batch"),
        (["manage.py", "import_dataset", "x"], "batch"),
        (["manage.py", "runserver"], "all"),
        (["manage.py", "migrate"], "all"),
        (["manage.py", "help", "backtest"], "all"),
        (["manage.py"], "all"),
    ],
)
def test_the_batch_commands_and_only_they_run_with_the_domain_apps(
    argv: list[str], app_set: str
) -> None:
    assert app_set_for(argv) == app_set


@pytest.mark.parametrize(
    ("argv", "collecting"),
    [
        (["manage.py", "backtest", "--dataset", "d"], False),
        (["manage.py", "import_dataset", "x"], False),
        (["manage.py", "backtest_sweep"], True),
        (["manage.py", "runserver"], True),
        (["manage.py"], True),
    ],
)
def test_only_one_shot_commands_turn_the_cyclic_collector_off(
    argv: list[str], collecting: bool
) -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        collector_for(argv)
        assert gc.isenabled() is collecting
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_the_full_app_set_makes_mevas_celery_application_the_current_one() -> None:
    from celery import current_app

    assert current_app.main == "meva"
    current_app.loader.import_default_modules()  # as django-celery-beat's task list does
    assert "replay.sweep_run" in current_app.tasks and "trading.cycle_run" in current_app.tasks


_WEB_PACKAGES = {"celery", "django_celery_beat", "rest_framework", "drf_spectacular", "api"}


def _web(modules: set[str]) -> set[str]:
    """The admin's, the API's and Celery's modules among ``modules``."""
    return {
        m
        for m in modules
        if m.split(".")[0] in _WEB_PACKAGES or m.startswith("django.contrib.admin")
    }


# runs manage.py's main with the arguments after the first, then writes the names of the
# modules the process imported and its collector's state to the file named by the first
_PROCESS_AFTER = """
import gc, json, runpy, sys
out, sys.argv = sys.argv[1], ["manage.py", *sys.argv[2:]]
runpy.run_path("manage.py", run_name="__main__")
with open(out, "w") as modules:
    json.dump({"modules": sorted(sys.modules), "collector": gc.isenabled()}, modules)
"""


def _process_after(out: Path, *args: str, **env: str) -> dict:
    """What the process of ``manage.py *args`` imported (``modules``) and whether its cyclic
    garbage collector was on at the end (``collector``); the command must succeed."""
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_LEVEL")}
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS_AFTER, str(out), *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_batch_commands_work_without_importing_the_web_and_scheduling_apps(
    tmp_path: Path,
) -> None:
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'batch.sqlite3'}", "REDIS_URL": ""}
    assert _manage("migrate", "-v0", **database).returncode == 0
    dataset = str(ROOT / "data" / "sample" / "try-1m")
    commands = [
        ("import_dataset", dataset, "--name", "sample"),
        ("backtest", "--dataset", "sample", "--strategy", "sma_cross", "--json"),
        ("backtest_sweep", "--dataset", "sample", "--strategy", "sma_cross",
         "--grid", '{"fast": [5], "slow": [30]}', "--workers", "1"),
    ]  # fmt: skip
    for argv in commands:
        after = _process_after(tmp_path / "modules.json", *argv, **database)
        loaded = set(after["modules"])
        assert f"replay.management.commands.{argv[0]}" in loaded, argv[0]
        assert _web(loaded) == set(), (argv[0], sorted(_web(loaded))[:10])
        # one-shot jobs run without the cyclic collector; a sweep keeps it for its workers
        assert after["collector"] is (argv[0] == "backtest_sweep"), argv[0]
    assert '"trades": ' in _manage(*commands[1], **database).stdout
    # any other command loads them all, on the same database, and keeps the collector
    after = _process_after(tmp_path / "modules.json", "check", **database)
    assert {"celery", "django.contrib.admin", "rest_framework", "api.urls"} <= _web(
        set(after["modules"])
    )
    assert after["collector"] is True
