"""The OpenAPI schema, the offline Swagger UI, and a schemathesis run against the schema.

Schemathesis drives the WSGI application in-process (no server, no network) with a staff
token, over seeded rows: every operation gets a bounded number of generated requests
(derandomized, so every run sends the same ones), and every answer must be a documented,
schema-conformant one and never a 5xx. The staff persona holds no console permission, so
control endpoints answer 403 and nothing is armed, halted or sent; it may create backtests,
whose queueing is replaced (no task runs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from meva.wsgi import application
from replay.models import BacktestRun, Dataset
from replay.tasks import backtest_run_task
from tests.api.conftest import grant, token_client
from trading.models import Cycle

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_schema_lists_every_endpoint_and_the_token_scheme(staff_client) -> None:
    schema = staff_client.get("/api/v1/schema/?format=json").json()

    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {
        "/api/v1/health/",
        "/api/v1/status/",
        "/api/v1/orders/",
        "/api/v1/fills/",
        "/api/v1/cycles/{id}/",
        "/api/v1/accounts/{name}/pnl/",
        "/api/v1/accounts/{name}/equity/",
        "/api/v1/backtests/compare/",
        "/api/v1/control/force-exit/",
    } <= paths
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert schema["paths"]["/api/v1/health/"]["get"].get("security", [{}]) == [{}]
    assert schema["paths"]["/api/v1/orders/"]["get"]["security"] == [
        {"tokenAuth": []},
        {"cookieAuth": []},
    ]


def test_swagger_ui_is_served_from_this_host(staff_client) -> None:
    page = staff_client.get("/api/v1/docs/").content.decode()

    assert "swagger-ui" in page
    assert 'src="http' not in page and 'href="http' not in page  # nothing from another host
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page


def test_schemathesis_finds_no_server_error_and_no_schema_violation(seeded, staff) -> None:
    staff = grant(staff, "replay.add_backtestrun")
    key = token_client(staff)._credentials["HTTP_AUTHORIZATION"]
    headers = {"Authorization": key}
    run = _pending_run()
    # Path parameters that exist, so the found answers are exercised beside the 404s.
    known = {
        "name": "alpha",
        "id": run.pk,
        "/api/v1/cycles/{id}/": Cycle.objects.filter(account="alpha").first().pk,
    }
    started = time.monotonic()

    with _connections_kept(), mock.patch.object(backtest_run_task, "delay"):
        schema = schemathesis.openapi.from_wsgi(
            "/api/v1/schema/?format=json", application, headers=headers
        )
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            _fuzz(operation, headers, known, {"ids": str(run.pk)})

    assert len(operations) >= 25
    assert time.monotonic() - started < 60


@contextmanager
def _connections_kept() -> Iterator[None]:
    """Keep the test's database connection (and its transaction) across WSGI requests, as
    Django's test client does: a real request closes it when it finishes."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _pending_run() -> BacktestRun:
    return BacktestRun.objects.create(
        dataset=Dataset.objects.get(name="sample"),
        dataset_fingerprint="f" * 64,
        strategy="mean_reversion",
        fill_model="bar",
        fee_maker_bps=Decimal(10),
        fee_taker_bps=Decimal(20),
        initial_cash=Decimal(100_000),
    )


def _fuzz(operation, headers: dict[str, str], known: dict, compare: dict) -> None:
    path = operation.path
    names = [p for p in ("name", "id") if "{" + p + "}" in path]
    params = {p: known.get(path, known[p]) for p in names} or None
    query = compare if path.endswith("/compare/") else None

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=params, query=query))
    def run(case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
