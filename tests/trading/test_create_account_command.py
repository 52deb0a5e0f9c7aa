from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from pytest_django.fixtures import Settings

from trading.models import Account, AuditEvent

pytestmark = pytest.mark.django_db

PAPER = [
    "demo",
    "--mode",
    "paper",
    "--strategy",
    "mean_reversion",
    "--symbols",
    "BTC_TRY,ETH_TRY",
    "--balance",
    "TRY=100000",
    "--balance",
    "BTC=0.5",
]


@pytest.fixture(autouse=True)
def no_api_key(settings: Settings) -> Settings:
    settings.BTCTURK_API_KEY = ""
    settings.BACKTEST_FEE_MAKER_BPS = Decimal("10")
    settings.BACKTEST_FEE_TAKER_BPS = Decimal("20")
    return settings


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_account", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_paper_account_and_says_so_in_one_line() -> None:
    output = run(*PAPER, "--params", '{"window": 30}', "--interval-s", "30")

    assert output.count("\n") == 1
    assert output.startswith("created paper account demo: mean_reversion on BTC_TRY,ETH_TRY")
    assert "every 30 s" in output and "TRY=100000" in output and "disabled" in output
    account = Account.objects.get(name="demo")
    assert (account.params["window"], account.cycle_interval_s) == (30, 30)
    assert account.initial_balances == {"TRY": "100000", "BTC": "0.5"}
    event = AuditEvent.objects.get()
    assert (event.action, event.actor) == ("account.create", "command:create_account")


def test_enable_creates_the_beat_entries_and_json_prints_the_account() -> None:
    output = run(*PAPER, "--enable", "--json", "--fee-maker-bps", "5", "--bar-interval-s", "300")

    data = json.loads(output)
    assert (data["result"], data["name"], data["enabled"]) == ("created", "demo", True)
    assert (data["fee_maker_bps"], data["fee_taker_bps"], data["bar_interval_s"]) == (
        "5",
        "20",
        300,
    )
    assert PeriodicTask.objects.filter(name__startswith="account:demo:").count() == 3


def test_update_changes_only_the_flags_given_and_can_enable() -> None:
    run(*PAPER)

    output = run("demo", "--update", "--interval-s", "120", "--enable", "--reason", "go")

    assert output.startswith("updated paper account demo")
    account = Account.objects.get()
    assert (account.cycle_interval_s, account.enabled, account.strategy) == (
        120,
        True,
        "mean_reversion",
    )
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "reason"))
    assert actions == [("account.create", ""), ("account.update", "go"), ("account.enable", "go")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*PAPER, "--params", "{window: 3}"), "--params: not valid JSON"),
        ((*PAPER, "--params", "[1]"), "--params: must be a JSON object"),
        ((*PAPER, "--risk", "{"), "--risk: not valid JSON"),
        ((*PAPER, "--balance", "XRP"), "--balance: 'XRP' is not ASSET=AMOUNT"),
        ((*PAPER, "--balance", "ETH=lots"), "--balance: 'ETH=lots' is not a number"),
        ((*PAPER, "--balance", "TRY=5"), "--balance: TRY given twice"),
        ((*PAPER[:4], "nope", *PAPER[5:]), "--strategy: unknown strategy 'nope'"),
        ((*PAPER, "--params", '{"window": 1}'), "--params: mean_reversion parameter 'window'"),
        ((*PAPER, "--risk", '{"max_order_pct": 3}'), "--risk: max_order_pct=3"),
        ((*PAPER, "--interval-s", "0"), "--interval-s: 0 must be between 1"),
        ((*PAPER, "--fee-taker-bps", "x"), "--fee-taker-bps: 'x' is not a number"),
        (("demo", "--strategy", "sma_cross", "--symbols", "BTC_TRY"), "--mode is required"),
        (("demo", "--mode", "paper", "--symbols", "BTC_TRY"), "--strategy is required"),
        (("demo", "--mode", "paper", "--strategy", "sma_cross"), "--symbols is required"),
        (
            ("demo", "--mode", "paper", "--strategy", "sma_cross", "--symbols", "BTC_TRY,ETH_USDT"),
            "--symbols: all pairs must share one quote asset",
        ),
        (
            ("demo", "--mode", "paper", "--strategy", "sma_cross", "--symbols", "BTC_TRY"),
            "--balance",
        ),
        (("demo", "--update", "--interval-s", "5"), "NAME: no account named 'demo'"),
        (("Bad Name", *PAPER[1:]), "NAME: 'Bad Name' must be a slug"),
    ],
)
def test_bad_input_is_a_command_error_naming_the_flag(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError) as raised:
        run(*args)

    assert message in str(raised.value)
    assert Account.objects.exists() is False


def test_a_live_account_cannot_be_enabled_without_an_api_key() -> None:
    args = ("main", "--mode", "live", "--strategy", "sma_cross", "--symbols", "BTC_TRY")

    with pytest.raises(CommandError, match="^--enable: a live account cannot be enabled"):
        run(*args, "--enable")
    assert Account.objects.exists() is False

    assert "created live account main" in run(*args)


def test_the_mode_of_an_existing_account_never_changes() -> None:
    run(*PAPER)

    with pytest.raises(CommandError, match="^--mode: is immutable"):
        run("demo", "--update", "--mode", "live")
