"""``manage.py sandbox_exchange``: argument validation, dataset resolution, and a real run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from replay.services.datasets import dataset_import
from tests.trading.sandbox.conftest import ROOT, SAMPLE, TIMEOUT
from trading.exchange.sandbox import SandboxConfig, SandboxServer, is_loopback
from trading.management.commands import sandbox_exchange


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[SandboxConfig]:
    """Replace the blocking ``serve`` by one that records the config and reports ready."""
    configs: list[SandboxConfig] = []

    def fake_serve(config: SandboxConfig, *, on_ready) -> None:
        configs.append(config)
        server = SandboxServer(config)  # binds, never serves
        try:
            on_ready(server)
        finally:
            server.stop()

    monkeypatch.setattr(sandbox_exchange, "serve", fake_serve)
    return configs


def run(*args: str) -> str:
    out = StringIO()
    call_command("sandbox_exchange", "--dataset", str(SAMPLE), "--port", "0", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com"])
def test_it_refuses_a_non_loopback_host_without_allow_remote(host: str, served: list) -> None:
    with pytest.raises(CommandError, match="--allow-remote"):
        run("--host", host)
    assert served == []


def test_the_python_api_refuses_a_non_loopback_host_too(sample_dataset) -> None:
    with pytest.raises(ValueError, match="not loopback"):
        SandboxServer(SandboxConfig(dataset=sample_dataset, host="0.0.0.0"))
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")


def test_it_names_the_bad_part_of_an_invalid_faults_spec(served: list) -> None:
    with pytest.raises(CommandError, match="'bogus=1'"):
        run("--faults", "latency=0.1,bogus=1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--api-key", "k", "--api-secret", "ZGVtbw=="), "visible to every user through ps"),
        (("--api-key", "k"), "give --api-key with its secret"),
        (("--balance", "TRY=-5"), "--balance"),
        (("--speed", "-1"), "--speed"),
    ],
)
def test_it_rejects_bad_credentials_balances_and_speed(
    args: tuple[str, ...], message: str, served: list
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)


@pytest.mark.django_db
def test_an_unknown_dataset_name_is_an_error(served: list) -> None:
    with pytest.raises(CommandError, match="no imported dataset"):
        call_command("sandbox_exchange", "--dataset", "no-such-dataset", stdout=StringIO())


@pytest.mark.django_db
def test_it_serves_an_imported_dataset_by_name_and_prints_the_exports(
    served: list, tmp_path: Path
) -> None:
    secret_file = tmp_path / "sandbox.secret"
    secret_file.write_text("ZGVtby1zZWNyZXQ=\n")
    row = dataset_import(path=SAMPLE, name="sample-try").dataset
    out = StringIO()
    call_command(
        "sandbox_exchange",
        "--dataset",
        "sample-try",
        "--port",
        "0",
        "--api-key",
        "demo-key",
        "--api-secret-file",
        str(secret_file),
        "--balance",
        "try=2500",
        "--speed",
        "60",
        "--faults",
        "http5xx=0.1,seed=4",
        stdout=out,
    )
    [config] = served
    assert config.dataset.fingerprint == row.fingerprint
    assert (config.speed, config.accounts[0].api_key) == (60.0, "demo-key")
    assert config.accounts[0].balances == {"TRY": 2500}
    assert config.faults.seed == 4
    line = out.getvalue().strip()
    assert "BTCTURK_BASE_URL=http://127.0.0.1:" in line and "BTCTURK_API_KEY=demo-key" in line
    assert "BTCTURK_WS_URL=ws://127.0.0.1:" in line and "SECRET" not in line


def test_a_generated_key_and_secret_are_printed(served: list) -> None:
    line = run()
    secret = re.search(r"BTCTURK_API_SECRET=(\S+)", line).group(1)
    assert served[0].accounts == ()
    assert len(secret) == 44  # base64 of 32 bytes


def test_the_command_serves_over_http_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox_exchange", "--dataset", str(SAMPLE)]
        + ["--port", "0", "--speed", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    timer = threading.Timer(30, process.kill)  # nothing may hang the suite
    timer.start()
    try:
        line = process.stdout.readline()
        base = re.search(r"BTCTURK_BASE_URL=(\S+)", line).group(1)
        with httpx.Client(base_url=base, timeout=TIMEOUT, trust_env=False) as http:
            assert http.get("/api/v2/server/time").status_code == 200
            assert http.post("/sandbox/advance", params={"bars": 2}).json()["step"] == 5
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read().strip() == "sandbox exchange stopped"
        assert "Traceback" not in process.stderr.read()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_secret_comes_from_the_environment(served: list, monkeypatch) -> None:
    monkeypatch.setenv("SANDBOX_API_SECRET", "ZGVtby1zZWNyZXQ=")
    run("--api-key", "env-key")
    [config] = served
    [account] = config.accounts
    assert (account.api_key, account.api_secret) == ("env-key", "ZGVtby1zZWNyZXQ=")


def test_a_bad_secret_file_is_named_and_its_contents_never_echoed(
    served: list, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("SANDBOX_API_SECRET", raising=False)
    secret_file = tmp_path / "not-a-secret"
    secret_file.write_text("PRIVATE-KEY-MATERIAL!!")
    with pytest.raises(CommandError) as raised:
        run("--api-key", "k", "--api-secret-file", str(secret_file))
    assert "not valid base64" in str(raised.value)
    assert "PRIVATE-KEY-MATERIAL" not in str(raised.value)
    with pytest.raises(CommandError, match="not a regular file"):
        run("--api-key", "k", "--api-secret-file", str(tmp_path))
