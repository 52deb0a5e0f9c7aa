"""Personas for the console's view tests: ``staff`` (logged in, no console permission) and
``controller`` (staff with every console permission), each with a logged-in test client."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.console.seed import seed_console
from trading.models import Account

CONSOLE_PERMISSIONS = (
    "trading.arm_trading",
    "trading.kill_switch",
    "trading.operate_orders",
    "trading.change_account",
    "trading.change_alert",
)


def grant(user: User, *perms: str) -> User:
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is per instance


@pytest.fixture
def staff(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="watcher", is_staff=True)


@pytest.fixture
def controller(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user(username="controller", is_staff=True)
    return grant(user, *CONSOLE_PERMISSIONS)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(staff: User) -> Client:
    return _client(staff)


@pytest.fixture
def controller_client(controller: User) -> Client:
    return _client(controller)


@pytest.fixture
def seeded(db) -> Account:
    return seed_console()
