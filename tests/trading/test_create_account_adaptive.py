"""``create_account --universe/--adaptation``: issue 11 settings from the command line,
validated like the admin form, errors naming the flag and key."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from trading.models import Account

pytestmark = pytest.mark.django_db
BASE = ["gov", "--mode", "paper", "--strategy", "sma_cross", "--symbols", "BTC_TRY,ETH_TRY",
        "--balance", "TRY=1000"]  # fmt: skip


def test_it_creates_and_updates_an_account_with_governance_and_adaptation() -> None:
    out = StringIO()
    call_command("create_account", *BASE, "--universe", '{"enabled": true, "size": 1}',
                 "--json", stdout=out)  # fmt: skip
    call_command("create_account", "gov", "--update", "--adaptation", '{"enabled": true}',
                 "--reason", "adapt", stdout=StringIO())  # fmt: skip

    assert json.loads(out.getvalue())["universe"] == {"enabled": True, "size": 1}
    account = Account.objects.get(name="gov")
    assert account.adaptation == {"enabled": True}


def test_a_bad_setting_names_the_flag_and_key() -> None:
    with pytest.raises(
        CommandError, match=r"--universe: weights.volume: -1 must be between 0 and 1000"
    ):
        call_command("create_account", *BASE, "--universe", '{"weights": {"volume": -1}}')
