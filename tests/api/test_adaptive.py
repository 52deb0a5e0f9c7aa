"""The API's parameter versions and governed universe per account (issue 11): staff reads,
in the OpenAPI schema, 404 for an unknown account."""

from __future__ import annotations

import pytest

from trading.domain.symbols import parse_symbol
from trading.domain.universe_governance import UniverseState
from trading.models import Account, ParamSet

pytestmark = pytest.mark.django_db

NOW = 1_796_000_000_000


@pytest.fixture
def adaptive(seeded) -> Account:
    one = ParamSet.objects.create(
        account=seeded,
        version=1,
        params={"universe_size": "1", "turnover_cap": "2000"},
        status="good",
        reason="INITIAL",
        created_ms=NOW,
    )
    two = ParamSet.objects.create(
        account=seeded,
        version=2,
        parent=one,
        params={"universe_size": "2", "turnover_cap": "2000"},
        status="bad",
        reason="HEALTHY_WINDOW_EXPAND",
        outcome="DRAWDOWN_BREACH",
        created_ms=NOW + 60_000,
    )
    assert two.pk
    state = UniverseState(
        symbols=(parse_symbol("BTC_TRY"),),
        reject_cooldowns={parse_symbol("ETH_TRY"): NOW},
        probation={parse_symbol("ETH_TRY"): 1},
    )
    Account.objects.filter(pk=seeded.pk).update(
        active_param_set=one,
        adaptation={"enabled": True},
        universe={"enabled": True, "size": 1},
        universe_state={**state.as_json(), "outcome": "UPDATED"},
    )
    return seeded


def test_parameter_versions_are_listed_newest_first_with_diffs(adaptive, staff_client) -> None:
    body = staff_client.get("/api/v1/accounts/alpha/params/").json()

    assert body["adaptation_enabled"] is True and body["pinned"] is False
    assert body["active_version"] == 1
    newest, first = body["versions"]
    assert (newest["version"], newest["status"], newest["parent"]) == (2, "bad", 1)
    assert newest["outcome"] == "DRAWDOWN_BREACH"
    assert newest["diff"] == [{"name": "universe_size", "before": "1", "after": "2"}]
    assert (first["active"], first["diff"], first["params"]["turnover_cap"]) == (True, [], "2000")


def test_the_universe_state_is_served(adaptive, staff_client) -> None:
    body = staff_client.get("/api/v1/accounts/alpha/universe/").json()

    assert body["enabled"] is True and body["size"] == 1
    assert body["symbols"] == ["BTC_TRY"] and body["outcome"] == "UPDATED"
    assert body["reject_cooldowns"] == [{"symbol": "ETH_TRY", "until": "2026-11-30T00:53:20Z"}]
    assert body["probation"] == {"ETH_TRY": 1}


def test_an_account_without_either_answers_empty(seeded, staff_client) -> None:
    params = staff_client.get("/api/v1/accounts/beta/params/").json()
    universe = staff_client.get("/api/v1/accounts/beta/universe/").json()

    assert params["versions"] == [] and params["active_version"] is None
    assert universe["enabled"] is False and universe["symbols"] == []


@pytest.mark.parametrize("path", ["params", "universe"])
def test_reads_need_staff_and_a_known_account(seeded, staff_client, plain_client, path) -> None:
    assert plain_client.get(f"/api/v1/accounts/alpha/{path}/").status_code == 403
    assert staff_client.get(f"/api/v1/accounts/nobody/{path}/").status_code == 404


def test_both_are_in_the_openapi_schema(staff_client) -> None:
    paths = staff_client.get("/api/v1/schema/?format=json").json()["paths"]

    assert "/api/v1/accounts/{name}/params/" in paths
    assert "/api/v1/accounts/{name}/universe/" in paths
