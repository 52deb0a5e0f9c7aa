"""The one validator for numeric parameters (trading.domain.bounds): settings, flags, risk
overrides and account fields accept exactly the same values."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from meva.errors import ApplicationError
from trading.domain.bounds import PARAMETER_BOUNDS, BoundError, bounded, risk_limits_problems
from trading.domain.risk import RiskLimits
from trading.services.account_config import AccountConfigError, account_config_clean
from trading.services.risk import risk_limits_from_settings

ROOT = Path(__file__).resolve().parents[2]


@given(
    parameter=st.sampled_from(sorted(PARAMETER_BOUNDS)),
    value=st.one_of(
        st.integers(min_value=-(10**40), max_value=10**40),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=80),
        st.floats(),
        st.none(),
    ),
)
def test_a_value_is_either_accepted_within_bounds_or_refused_with_its_source(
    parameter: str, value: object
) -> None:
    bound = PARAMETER_BOUNDS[parameter]
    try:
        number = bounded(parameter, value, source="SOURCE")
    except BoundError as exc:
        assert str(exc).startswith("SOURCE=")
        return
    if number is None:
        assert bound.nullable
        return
    assert isinstance(number, bound.kind)
    assert bound.minimum <= number <= bound.maximum
    assert not (bound.exclusive_minimum and number == bound.minimum)


@pytest.mark.parametrize(
    ("parameter", "value", "problem"),
    [
        ("fee_taker_bps", "20000", "<= 1000"),
        ("max_volume_share", "2", "<= 1"),
        ("max_orders_per_cycle", 0, ">= 1"),
        ("initial_cash", "123456789012345678901234567890", r"<= 1E\+15"),
        ("initial_cash", "1e999999", r"<= 1E\+15"),
        ("cooldown_ms", "1.5", "not an integer"),
        ("max_order_pct", "NaN", "not a finite number"),
        ("max_order_pct", True, "not a number"),
    ],
)
def test_the_cases_that_used_to_pass_are_refused(parameter, value, problem) -> None:
    with pytest.raises(BoundError, match=problem):
        bounded(parameter, value)


def test_cross_field_rule_reduce_below_observe() -> None:
    assert risk_limits_problems(RiskLimits()) == []
    problems = risk_limits_problems(
        RiskLimits(reduce_drawdown_pct=Decimal("0.3"), observe_drawdown_pct=Decimal("0.2")),
        {"reduce_drawdown_pct": "R", "observe_drawdown_pct": "O"},
    )
    assert problems == ["R=0.3 must be below O=0.2 (risk is reduced before trading stops)"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_orders_per_cycle": 0}, "risk: max_orders_per_cycle=0"),
        ({"reduce_drawdown_pct": "0.5"}, "must be below risk: observe_drawdown_pct"),
        ({"cooldown_ms": 10**20}, "risk: cooldown_ms"),
    ],
)
def test_risk_overrides_use_the_same_validator(overrides, message) -> None:
    with pytest.raises(ApplicationError, match=message):
        risk_limits_from_settings(overrides)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKTEST_FEE_TAKER_BPS": "20000"}, "BACKTEST_FEE_TAKER_BPS='20000'"),
        ({"BACKTEST_MAX_VOLUME_SHARE": "2"}, "BACKTEST_MAX_VOLUME_SHARE='2'"),
        ({"RISK_MAX_ORDERS_PER_CYCLE": "5000"}, "RISK_MAX_ORDERS_PER_CYCLE=5000"),
        ({"RISK_REDUCE_DRAWDOWN_PCT": "0.3"}, "must be below RISK_OBSERVE_DRAWDOWN_PCT"),
    ],
)
def test_settings_refuse_what_the_flags_refuse(env: dict, message: str) -> None:
    import os

    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fee-taker-bps", "20000"], "--fee-taker-bps='20000'"),
        (["--max-volume-share", "2"], "--max-volume-share='2'"),
        (["--initial-cash", "123456789012345678901234567890"], "--initial-cash="),
        (["--risk", '{"max_orders_per_cycle": 0}'], "risk: max_orders_per_cycle=0"),
    ],
)
def test_backtest_flags_refuse_out_of_bounds_values_and_create_no_row(flags, message) -> None:
    from replay.models import BacktestRun
    from replay.services.datasets import dataset_import

    dataset_import(path=ROOT / "data" / "sample" / "usdt-5m", name="usdt")
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("backtest", "--dataset", "usdt", *flags, stdout=io.StringIO())
    assert not BacktestRun.objects.exists()


def test_account_fees_use_the_same_bounds() -> None:
    with pytest.raises(AccountConfigError, match="fee_taker_bps"):
        account_config_clean(
            {
                "name": "a",
                "mode": "paper",
                "strategy": "sma_cross",
                "symbols": ["BTC_TRY"],
                "initial_balances": {"TRY": "1000"},
                "fee_taker_bps": "20000",
            }
        )


@pytest.mark.parametrize("text", ["1e-999999", "0.000000000000000000001", "-1e-21"])
def test_more_than_twenty_decimal_places_are_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(BoundError, match=r"--fee-taker-bps=.*has more than 20 decimal places"):
        bounded("fee_taker_bps", text, source="--fee-taker-bps")


def test_trailing_zeros_do_not_count_as_decimal_places() -> None:
    assert bounded("fee_taker_bps", "0.10000000000000000000000000") == Decimal("0.1")
