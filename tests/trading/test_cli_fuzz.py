"""Fuzzing every management command of the project with random argument lists: each ends in
a normal exit, a one-line usage error (exit 2) or a one-line ``CommandError`` (exit 1), never
a traceback.

The commands run in-process, exactly as ``manage.py`` runs them (``ManagementUtility``). Three
of them do long work once their arguments are valid (``sandbox_exchange`` serves until
stopped, ``chaos`` runs scenarios, ``paper_demo`` runs a demo); for those the work itself is
replaced by a recorder, so everything up to it (parsing, validation, loading) is fuzzed.
BTCTurk is a closed local port: a command that reaches for the exchange fails fast.
"""

from __future__ import annotations

import argparse

import pytest
from django.core.management import ManagementUtility, get_commands, load_command_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.services.chaos_kill import KillResult

OURS = sorted(name for name, app in get_commands().items() if app in ("trading", "replay"))
SKIPPED_OPTIONS = {
    "-h",
    "--help",
    "--version",
    "--settings",
    "--pythonpath",
    "--traceback",  # asks for the traceback: the one flag whose answer is a traceback
    "--skip-checks",
    "--force-color",
    "--no-color",
}
VALUES = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        max_size=12,
    ),
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "3",
            "1e999999",
            "NaN",
            "inf",
            "9" * 30,
            "0.0000000000000000000001",
            "{}",
            '{"a": ' * 50 + "1" + "}" * 50,
            "[]",
            "paper",
            "live",
            "BTC_TRY",
            "sample-try-1h",
            "9999-12-31",
            "0001-01-01T00:00:00Z",
            "2024-02-30",
            "",
        ]
    ),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
)


def _options(name: str) -> list[str]:
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    return sorted(
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
        if option not in SKIPPED_OPTIONS
    )


OPTIONS = {name: _options(name) for name in OURS}


@st.composite
def command_lines(draw) -> list[str]:
    name = draw(st.sampled_from(OURS))
    tokens = st.one_of(st.sampled_from(OPTIONS[name] or ["--x"]), VALUES)
    return [name, *draw(st.lists(tokens, max_size=6))]


@pytest.fixture
def quiet_world(monkeypatch, tmp_path, settings):
    """A working directory of its own, BTCTurk on a closed port, long work recorded."""
    monkeypatch.chdir(tmp_path)
    settings.BTCTURK_BASE_URL = "http://127.0.0.1:9"
    settings.BTCTURK_TIMEOUT_SECONDS = 1
    started: list[str] = []

    def record(what, answer=list):
        def work(*args, **kwargs):
            started.append(what)
            return answer()

        return work

    monkeypatch.setattr(
        "trading.management.commands.sandbox_exchange.serve", record("sandbox_exchange")
    )
    monkeypatch.setattr("trading.management.commands.chaos.chaos_run", record("chaos"))
    monkeypatch.setattr(
        "trading.management.commands.chaos.kill_run", record("chaos --kill", KillResult)
    )
    monkeypatch.setattr("trading.management.commands.chaos.worker_main", record("kill worker"))
    monkeypatch.setattr("trading.management.commands.paper_demo.Command._run", record("paper_demo"))
    return started


def run(argv: list[str]) -> int:
    try:
        ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def test_every_command_of_the_project_is_fuzzed() -> None:
    assert {"backtest", "chaos", "run_cycle", "sandbox_exchange", "doctor"} <= set(OURS)
    assert "--dataset" in OPTIONS["backtest"] and "--traceback" not in OPTIONS["backtest"]


@pytest.mark.parametrize("name", OURS)
def test_every_command_prints_its_help(name, capsys) -> None:
    """``--help`` is skipped by the fuzzing (it exits before any work): argparse expands
    ``%`` in help texts, so a bare one (``return %``) crashed ``backtest_sweep --help``."""
    assert run([name, "--help"]) == 0

    out, err = capsys.readouterr()
    assert out.startswith(f"usage: manage.py {name} "), out[:200]
    assert "Traceback" not in out + err


# real commits: a command may close the database connection (Django reconnects outside a
# transaction, but never inside the test transaction a plain ``django_db`` test runs in)
@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_random_arguments_never_print_a_traceback(quiet_world, capsys, argv) -> None:
    code = run(argv)

    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err[-500:])
    assert "Traceback" not in err + out, (argv, err[-2000:])
    if err.startswith("usage: "):  # argparse: usage and a one-line reason, exit 2
        assert code == 2 and f"manage.py {argv[0]}: error: " in err, (argv, err[-800:])
