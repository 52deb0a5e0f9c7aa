"""The account page's governed universe and parameter versions (issue 11), and the console's
rollback and pin actions: permission, typed reason, the service, an audit row naming the user.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.console.conftest import grant
from trading.domain.adaptation import AdaptationState, ParamVersion, VersionStatus
from trading.domain.symbols import parse_symbol
from trading.domain.universe_governance import UniverseState
from trading.models import Account, AuditEvent, ParamSet

ACCOUNT = "/admin/console/accounts/alpha/"
NOW = 1_796_000_000_000
D = Decimal

pytestmark = pytest.mark.django_db


def params_url(version: int, key: str) -> str:
    return f"{ACCOUNT}params/{version}/{key}/"


@pytest.fixture
def adaptive(seeded) -> Account:
    """alpha governed (top 1) and adapting: v1 good, v2 pending and active."""
    state = AdaptationState(
        (
            ParamVersion(1, {"universe_size": D(1)}, None, VersionStatus.GOOD, NOW, "INITIAL"),
            ParamVersion(
                2, {"universe_size": D(2)}, 1, VersionStatus.PENDING, NOW, "HEALTHY_WINDOW_EXPAND"
            ),
        ),
        2,
    )
    one = ParamSet.objects.create(
        account=seeded, version=1, params={"universe_size": "1"}, status="good", reason="INITIAL"
    )
    two = ParamSet.objects.create(
        account=seeded,
        version=2,
        parent=one,
        params={"universe_size": "2"},
        status="pending",
        reason="HEALTHY_WINDOW_EXPAND",
    )
    universe = UniverseState(
        symbols=(parse_symbol("BTC_TRY"),),
        removal_cooldowns={parse_symbol("ETH_TRY"): NOW + 3_600_000},
        changes_today=2,
    )
    Account.objects.filter(pk=seeded.pk).update(
        universe={"enabled": True, "size": 1, "max_changes_per_day": 4},
        adaptation={"enabled": True},
        universe_state={**universe.as_json(), "outcome": "UPDATED"},
        adaptation_state=state.as_json(),
        active_param_set=two,
    )
    return Account.objects.get(pk=seeded.pk)


@pytest.fixture
def tuner(controller: User) -> Client:
    client = Client()
    client.force_login(grant(controller, "trading.change_paramset"))
    return client


def test_the_account_page_shows_the_universe_and_versions_with_diffs(
    adaptive, staff_client
) -> None:
    page = staff_client.get(ACCOUNT).content.decode()

    assert 'data-universe="symbols">BTC_TRY<' in page
    assert "ETH_TRY until" in page
    assert "2 of 4" in page
    assert 'data-version="2"' in page and "universe_size 1 → 2" in page
    assert "HEALTHY_WINDOW_EXPAND" in page
    assert 'data-action="params-rollback"' in page  # disabled without the permission
    assert f'href="{params_url(1, "params-rollback")}' not in page


def test_a_page_without_governance_or_versions_says_so(seeded, staff_client) -> None:
    page = staff_client.get(ACCOUNT).content.decode()

    assert "governance off" in page
    assert "No parameter versions" in page


@pytest.mark.parametrize("key", ["params-rollback", "params-pin"])
def test_the_params_actions_need_their_permission(adaptive, controller_client, key) -> None:
    assert controller_client.get(params_url(1, key)).status_code == 403
    assert controller_client.post(params_url(1, key), {"reason": "x"}).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="params.").exists()


def test_rolling_back_needs_a_reason_then_restores_the_version_and_audits_it(
    adaptive, controller, tuner
) -> None:
    assert f'href="{params_url(1, "params-rollback")}' in tuner.get(ACCOUNT).content.decode()
    refused = tuner.post(params_url(1, "params-rollback"), {"reason": " "})
    assert refused.status_code == 200
    assert not AuditEvent.objects.filter(action="params.rollback").exists()

    done = tuner.post(params_url(1, "params-rollback"), {"reason": "too many symbols"})

    assert done.status_code == 302 and done["Location"] == ACCOUNT
    adaptive.refresh_from_db()
    assert adaptive.active_param_set.version == 1
    assert ParamSet.objects.get(account=adaptive, version=2).status == "bad"
    event = AuditEvent.objects.get(action="params.rollback")
    assert event.user.username == controller.username
    assert event.reason == "MANUAL_ROLLBACK: too many symbols"


def test_rolling_back_to_a_version_that_is_not_good_is_an_error_on_the_form(
    adaptive, tuner
) -> None:
    page = tuner.post(params_url(2, "params-rollback"), {"reason": "x"})

    assert page.status_code == 200 and "is not good" in page.content.decode()


def test_pinning_keeps_a_version_and_unpinning_resumes(adaptive, tuner) -> None:
    assert tuner.post(params_url(1, "params-pin"), {"reason": "hold"}).status_code == 302
    adaptive.refresh_from_db()
    assert adaptive.params_pinned and adaptive.active_param_set.version == 1
    assert "pinned" in tuner.get(ACCOUNT).content.decode()

    unpin = f"{ACCOUNT}actions/params-unpin/"
    assert tuner.post(unpin, {"reason": "go on"}).status_code == 302
    adaptive.refresh_from_db()
    assert not adaptive.params_pinned
    assert list(
        AuditEvent.objects.filter(action__in=["params.pin", "params.unpin"])
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["params.pin", "params.unpin"]


def test_an_unknown_version_is_404(adaptive, tuner) -> None:
    assert tuner.get(params_url(9, "params-rollback")).status_code == 404
