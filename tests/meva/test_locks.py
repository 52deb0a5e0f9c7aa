"""Single-flight locks: against real Redis when REDIS_URL is set (CI), always in-process too."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from pytest_django.fixtures import Settings

from meva import locks
from meva.locks import LockNameError, lock_key, single_flight

BACKENDS = [
    "memory",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(
            not os.environ.get("REDIS_URL"), reason="REDIS_URL not set: Redis backend not available"
        ),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Settings) -> str:
    settings.REDIS_URL = os.environ["REDIS_URL"] if request.param == "redis" else ""
    return request.param


@pytest.fixture
def account() -> str:
    # a fresh account per test, so runs sharing one Redis never see each other's keys
    return f"test-{uuid.uuid4().hex}"


def test_the_first_caller_acquires_and_a_second_gets_busy(backend: str, account: str) -> None:
    with (
        single_flight("cycle_run:{account}", account=account) as first,
        single_flight("cycle_run:{account}", account=account) as second,
    ):
        assert (first, second) == (True, False)


def test_the_lock_is_free_again_after_release(backend: str, account: str) -> None:
    with single_flight("cycle_run:{account}", account=account) as first:
        assert first is True
    with single_flight("cycle_run:{account}", account=account) as again:
        assert again is True


def test_the_lock_is_released_when_the_work_raises(backend: str, account: str) -> None:
    with pytest.raises(RuntimeError), single_flight("cycle_run:{account}", account=account):
        raise RuntimeError("work failed")
    with single_flight("cycle_run:{account}", account=account) as again:
        assert again is True


def test_locks_for_different_accounts_do_not_block_each_other(backend: str, account: str) -> None:
    with (
        single_flight("cycle_run:{account}", account=account) as first,
        single_flight("cycle_run:{account}", account=account + "-other") as second,
        single_flight("orders_reconcile:{account}", account=account) as third,
    ):
        assert (first, second, third) == (True, True, True)


def test_busy_is_logged_at_info_not_as_an_error(
    backend: str, account: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meva.locks")
    with (
        single_flight("cycle_run:{account}", account=account),
        single_flight("cycle_run:{account}", account=account) as second,
    ):
        assert second is False

    busy = [r for r in caplog.records if "busy" in r.getMessage()]
    assert [r.levelno for r in busy] == [logging.INFO]
    assert busy[0].lock == lock_key("cycle_run:{account}", account=account)


def test_an_expired_in_process_lock_can_be_taken_over(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    settings.REDIS_URL = ""
    now = [1000.0]
    monkeypatch.setattr(locks, "_clock", lambda: now[0])
    ttl = locks.lock_ttl("cycle_run:{account}")

    with single_flight("cycle_run:{account}", account=account) as first:
        now[0] += ttl - 1
        with single_flight("cycle_run:{account}", account=account) as before_expiry:
            pass
        now[0] += 2
        with single_flight("cycle_run:{account}", account=account) as after_expiry:
            pass
    assert (first, before_expiry, after_expiry) == (True, False, True)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("not_registered", {}), ("cycle_run:{account}", {}), ("cycle_run:{account}", {"acct": "x"})],
)
def test_an_unregistered_name_or_a_missing_argument_is_refused(name: str, fmt: dict) -> None:
    with pytest.raises(LockNameError), single_flight(name, **fmt):
        pass


def test_every_registered_lock_has_a_positive_ttl() -> None:
    assert locks.LOCK_TTL_SECONDS
    assert all(ttl > 0 for ttl in locks.LOCK_TTL_SECONDS.values())
