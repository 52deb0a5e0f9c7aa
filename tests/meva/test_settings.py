"""Start-up settings: malformed values stop start-up naming the variable; defaults block.

Each case starts a fresh interpreter (settings are read once per process). The safety
variables are passed explicitly (empty = default) so a developer's ``.env`` cannot leak in.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trading.domain.gate import GateInputs, GateReason, gate_evaluate

ROOT = Path(__file__).resolve().parents[2]

SETUP = (
    "import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'meva.settings'); "
    "django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'DRY_RUN', 'KILL_SWITCH', 'LIVE_TRADING', 'LIVE_TRADING_ACK', "
    "'BTCTURK_API_KEY', 'BTCTURK_API_SECRET')}))"
)

SAFETY_VARIABLES = (
    "DRY_RUN",
    "KILL_SWITCH",
    "LIVE_TRADING",
    "LIVE_TRADING_ACK",
    "BTCTURK_API_KEY",
    "BTCTURK_API_SECRET",
)


def start(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(dict.fromkeys(SAFETY_VARIABLES, ""))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIVE_TRADING", "maybe"),
        ("DRY_RUN", "nope"),
        ("KILL_SWITCH", "2"),
        ("RISK_MAX_ORDER_NOTIONAL", "-1"),
        ("RISK_MAX_ORDER_PCT", "1.5"),
        ("RISK_MAX_ORDERS_PER_CYCLE", "many"),
        ("DATABASE_URL", "garbage"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_malformed_setting_stops_start_up_with_a_message_naming_it(
    variable: str, value: str
) -> None:
    result = start(**{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert re.search(rf"\b{variable}=", result.stderr), result.stderr[-2000:]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BTCTURK_API_SECRET", "not base64 at all!"),
        ("BTCTURK_BASE_URL", "api.btcturk.com"),
        ("BTCTURK_WS_URL", "https://ws-feed-pro.btcturk.com"),
        ("BTCTURK_TIMEOUT_SECONDS", "0"),
        ("BTCTURK_API_PERMISSIONS", "trade,everything"),
        ("TRADING_SYMBOLS", "BTC_TRY,NOTAPAIR"),
    ],
)
def test_a_malformed_exchange_setting_stops_start_up_naming_it_but_never_a_secret(
    variable: str, value: str
) -> None:
    result = start(**{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert re.search(rf"\b{variable}\b", result.stderr), result.stderr[-2000:]
    if variable == "BTCTURK_API_SECRET":
        assert value not in result.stderr


def test_with_defaults_it_starts_and_every_safety_default_blocks() -> None:
    result = start()

    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "DRY_RUN": True,
        "KILL_SWITCH": True,
        "LIVE_TRADING": False,
        "LIVE_TRADING_ACK": "",
        "BTCTURK_API_KEY": "",
        "BTCTURK_API_SECRET": "",
    }
    decision = gate_evaluate(
        GateInputs(
            dry_run=loaded["DRY_RUN"],
            kill_switch_env=loaded["KILL_SWITCH"],
            live_trading=loaded["LIVE_TRADING"],
            live_trading_ack=loaded["LIVE_TRADING_ACK"],
            has_credentials=bool(loaded["BTCTURK_API_KEY"] and loaded["BTCTURK_API_SECRET"]),
            key_can_withdraw=None,
            armed=True,  # even with the operator's flag set, the environment defaults block
            db_kill_switch=False,
            unresolved_unknown_orders=0,
        )
    )
    assert decision.allowed is False
    assert set(decision.reasons) == {
        GateReason.DRY_RUN,
        GateReason.KILL_SWITCH,
        GateReason.LIVE_TRADING_OFF,
        GateReason.ACK_MISSING,
        GateReason.NO_CREDENTIALS,
    }


def settings_variables() -> set[str]:
    """Names passed as the first argument to ``env.<reader>(...)`` in meva/settings.py."""
    tree = ast.parse((ROOT / "meva" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_every_setting_is_documented_in_env_example_and_the_readme() -> None:
    variables = settings_variables()
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    in_example = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    in_readme = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))

    assert len(variables) > 20
    assert variables - in_example == set()
    assert in_example - variables == set()
    assert variables - in_readme == set()
