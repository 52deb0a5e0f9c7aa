"""Single-flight locks and their leases: in-process always, against real Redis when REDIS_URL is set."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack

import pytest
from pytest_django.fixtures import Settings

from meva import locks
from meva.locks import LockNameError, lock_key, lock_ttl, single_flight

CYCLE = "cycle_run:{account}"
BACKENDS = [
    "memory",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(
            not os.environ.get("REDIS_URL"), reason="REDIS_URL not set: Redis backend not available"
        ),
    ),
]

Age = Callable[[str, float], None]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Settings) -> str:
    settings.REDIS_URL = os.environ["REDIS_URL"] if request.param == "redis" else ""
    return request.param


@pytest.fixture
def account() -> str:
    # a fresh account per test, so runs sharing one Redis never see each other's keys
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def age(backend: str, monkeypatch: pytest.MonkeyPatch) -> Age:
    """``age(key, seconds)`` brings the lock at ``key`` ``seconds`` closer to its expiry.

    In-process: the lock clock moves forward. Redis: the key's real TTL is shortened by that
    much (to nothing, deleting the key, when it reaches zero), as if the time had passed.
    """
    if backend == "memory":
        now = [1000.0]
        monkeypatch.setattr(locks, "_clock", lambda: now[0])

        def advance(key: str, seconds: float) -> None:
            now[0] += seconds

        return advance
    client = locks._redis_client(os.environ["REDIS_URL"])

    def shorten(key: str, seconds: float) -> None:
        client.pexpire(key, client.pttl(key) - int(seconds * 1000))

    return shorten


def lose(key: str) -> None:
    """The lock at ``key`` vanishes (e.g. Redis restarted or an operator deleted it)."""
    locks._memory_locks.pop(key, None)
    if os.environ.get("REDIS_URL"):
        locks._redis_client(os.environ["REDIS_URL"]).delete(key)


def remaining_s(backend: str, key: str) -> float:
    if backend == "memory":
        return locks._memory_locks[key][1] - locks._clock()
    return locks._redis_client(os.environ["REDIS_URL"]).pttl(key) / 1000


def test_the_first_caller_acquires_and_a_second_gets_busy(backend: str, account: str) -> None:
    with (
        single_flight(CYCLE, account=account) as first,
        single_flight(CYCLE, account=account) as second,
    ):
        assert (bool(first), bool(second)) == (True, False)
        assert (first.owned(), second.owned()) == (True, False)


def test_the_lease_names_its_key_and_ttl(backend: str, account: str) -> None:
    with single_flight(CYCLE, account=account) as lease:
        assert lease.key == lock_key(CYCLE, account=account) == f"meva:lock:cycle_run:{account}"
        assert lease.ttl == lock_ttl(CYCLE)
        assert lease.acquired is True


def test_the_lock_is_free_again_after_release(backend: str, account: str) -> None:
    with single_flight(CYCLE, account=account) as first:
        assert first
    assert not first.owned()
    with single_flight(CYCLE, account=account) as again:
        assert again


def test_the_lock_is_released_when_the_work_raises(backend: str, account: str) -> None:
    with pytest.raises(RuntimeError), single_flight(CYCLE, account=account):
        raise RuntimeError("work failed")
    with single_flight(CYCLE, account=account) as again:
        assert again


def test_locks_for_different_accounts_do_not_block_each_other(backend: str, account: str) -> None:
    with (
        single_flight(CYCLE, account=account) as first,
        single_flight(CYCLE, account=account + "-other") as second,
        single_flight("orders_reconcile:{account}", account=account) as third,
    ):
        assert all((first, second, third))


def test_busy_is_logged_at_info_not_as_an_error(
    backend: str, account: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meva.locks")
    with (
        single_flight(CYCLE, account=account),
        single_flight(CYCLE, account=account) as second,
    ):
        assert not second

    busy = [r for r in caplog.records if "busy" in r.getMessage()]
    assert [r.levelno for r in busy] == [logging.INFO]
    assert busy[0].lock == lock_key(CYCLE, account=account)


def test_extend_resets_the_expiry_to_the_full_ttl_and_keeps_the_lock(
    backend: str, account: str, age: Age
) -> None:
    with single_flight(CYCLE, account=account) as lease:
        age(lease.key, lease.ttl - 1)
        assert lease.extend() is True
        assert lease.ttl - 1 < remaining_s(backend, lease.key) <= lease.ttl
        age(lease.key, lease.ttl - 1)  # past the original expiry
        assert lease.owned()
        with single_flight(CYCLE, account=account) as second:
            assert not second


def test_extend_by_a_given_number_of_seconds(backend: str, account: str, age: Age) -> None:
    with single_flight(CYCLE, account=account) as lease:
        assert lease.extend(30) is True
        assert 29 < remaining_s(backend, lease.key) <= 30
        with pytest.raises(ValueError):
            lease.extend(0)


def test_a_lost_lock_is_not_owned_and_cannot_be_extended(
    backend: str, account: str, caplog: pytest.LogCaptureFixture
) -> None:
    with single_flight(CYCLE, account=account) as lease:
        lose(lease.key)
        assert lease.owned() is False
        assert lease.extend() is False
        assert not lease.owned()  # extend did not take it back

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "lock not held, cannot extend",
        "lock expired before release",
    ]


def test_a_busy_lease_never_owns_nor_extends(backend: str, account: str) -> None:
    with (
        single_flight(CYCLE, account=account) as first,
        single_flight(CYCLE, account=account) as busy,
    ):
        assert (busy.owned(), busy.extend()) == (False, False)
        assert first.owned()


def test_after_expiry_another_holder_takes_it_and_the_first_no_longer_owns_it(
    backend: str, account: str, age: Age
) -> None:
    with ExitStack() as later:
        with single_flight(CYCLE, account=account) as first:
            age(first.key, first.ttl - 1)
            with single_flight(CYCLE, account=account) as before_expiry:
                assert not before_expiry
            age(first.key, 1)
            second = later.enter_context(single_flight(CYCLE, account=account))
            assert second
            assert (first.owned(), first.extend(), second.owned()) == (False, False, True)
        # the first's release on exit must not delete the second's lock (compare-and-delete)
        assert second.owned()


def test_a_heartbeat_thread_can_extend_the_lease_its_task_took(
    backend: str, account: str, age: Age
) -> None:
    results: list[bool] = []
    with single_flight(CYCLE, account=account) as lease:
        age(lease.key, lease.ttl - 1)
        heartbeat = threading.Thread(target=lambda: results.append(lease.extend()))
        heartbeat.start()
        heartbeat.join()
        assert results == [True]
        assert remaining_s(backend, lease.key) > lease.ttl - 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set")
def test_owned_is_one_redis_get(
    settings: Settings, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = os.environ["REDIS_URL"]
    client = locks._redis_client(settings.REDIS_URL)
    commands: list[str] = []
    execute = client.execute_command

    def counting(*args: object, **options: object) -> object:
        commands.append(str(args[0]))
        return execute(*args, **options)

    with single_flight(CYCLE, account=account) as lease:
        monkeypatch.setattr(client, "execute_command", counting)
        assert lease.owned()
        monkeypatch.undo()
    assert commands == ["GET"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("not_registered", {}), (CYCLE, {}), (CYCLE, {"acct": "x"})],
)
def test_an_unregistered_name_or_a_missing_argument_is_refused(name: str, fmt: dict) -> None:
    with pytest.raises(LockNameError), single_flight(name, **fmt):
        pass


def test_every_registered_lock_has_a_positive_ttl() -> None:
    assert {CYCLE, "orders_reconcile:{account}", "balances_check:{account}"} <= set(
        locks.LOCK_TTL_SECONDS
    )
    assert all(ttl > 0 for ttl in locks.LOCK_TTL_SECONDS.values())


@pytest.mark.parametrize(
    ("task_name", "lock_name"),
    [
        ("trading.cycle_run", CYCLE),
        ("trading.orders_reconcile", "orders_reconcile:{account}"),
        ("trading.balances_check", "balances_check:{account}"),
        ("trading.instruments_sync", "instruments_sync"),
    ],
)
def test_each_locked_task_is_stopped_before_its_lock_expires(
    task_name: str, lock_name: str
) -> None:
    import trading.tasks  # noqa: F401  (registers the tasks)
    from meva.celery import app

    task = app.tasks[task_name]
    assert 0 < task.soft_time_limit < task.time_limit < lock_ttl(lock_name)


def test_redis_gone_at_release_leaves_the_lock_to_expire_without_failing_the_work(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Redis restarted (or unreachable) while the work ran: releasing cannot reach it. The work
    # already happened and is recorded; the release must not turn it into a failed task.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    holder = locks._RedisHolder("meva:lock:cycle_run:gone", 10)
    holder._lock.local.token = b"our-token"  # as if acquired before Redis went away

    with caplog.at_level(logging.WARNING, logger="meva.locks"):
        holder.release()

    assert "Redis unreachable, lock left to expire" in caplog.text
