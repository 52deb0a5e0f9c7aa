"""Entry points stop on a configuration error with one line naming the variable (exit 2),
and database URLs in errors never show their password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
