"""Shared fixtures. Nothing here is autouse; tests ask for the database explicitly."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User


@pytest.fixture
def operator(django_user_model: type[User]) -> User:
    """A saved staff user acting as the operator (needs the ``db`` fixture via django_user_model)."""
    return django_user_model.objects.create_user(
        username="operator", password="not-used", is_staff=True
    )
