"""Fuzzing the reports API: random paths, query parameters, headers and bodies on every route
(read and control, as a reader and as a controller) never get a 500. Every answer is JSON with
a status below 500, except the HTML documentation page, which must render."""

from __future__ import annotations

import json

import pytest
from django.urls import URLPattern, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PARAM_NAMES = (
    "account",
    "symbol",
    "status",
    "since",
    "until",
    "start",
    "end",
    "period",
    "points",
    "ids",
    "mode",
    "severity",
    "asset",
    "cursor",
    "page_size",
    "include_flat",
    "time_zone",
    "mark_at",
    "is_open",
    "format",
    "x",
)
WEIRD = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "1e999999",
            "-1",
            "NaN",
            "Infinity",
            "99999999999999999999999",
            "9" * 40,
            "0",
            "",
            "9999-12-31T23:59:59Z",
            "0001-01-01",
            "2024-02-30",
            "2024-01-01T00:00:00+99:00",
            "BTC_TRY",
            "alpha",
            "paper",
            "1,2,3",
            "Europe/Istanbul",
            "Mars/Olympus",
            "day",
            "\x00",
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
SEGMENTS = st.one_of(
    st.sampled_from(["alpha", "paper", "main", "0", "-1", "9" * 25, "%00", "..", "a" * 300]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)
JSON_BODIES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FORM_BODIES = st.dictionaries(
    st.sampled_from(
        (
            "account",
            "reason",
            "enabled",
            "symbol",
            "dataset",
            "strategy",
            "params",
            "initial_cash",
            "start",
            "end",
            "fee_taker_bps",
            "max_volume_share",
            "risk",
        )
    ),
    st.one_of(WEIRD, JSON_BODIES),
    max_size=6,
)


def _routes() -> list[str]:
    """Every ``/api/v1/`` route pattern, placeholders kept (``accounts/<str:name>/``)."""
    api = next(p for p in get_resolver().url_patterns if str(p.pattern).startswith("api/"))
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                found.append(prefix + str(pattern.pattern))
            else:
                walk(pattern.url_patterns, prefix + str(pattern.pattern))

    walk(api.url_patterns, "/" + str(api.pattern))
    return sorted(found)


ROUTES = _routes()


@st.composite
def paths(draw) -> str:
    route = draw(st.sampled_from(ROUTES))
    while "<" in route:
        head, _, rest = route.partition("<")
        _, _, tail = rest.partition(">")
        route = head + draw(SEGMENTS).replace("/", "_").replace("?", "_") + tail
    return route


def _answered(response, path: str) -> None:
    where = (path, response.status_code, response.get("Content-Type"), response.content[:200])
    assert response.status_code < 500, where
    if path.endswith(("/docs/", "/schema/")):
        return  # the Swagger page (HTML) and the schema (YAML unless ?format=json)
    if response.status_code in (204, 301, 404) and not response.content.startswith(b"{"):
        return  # no body, or Django's resolver: an unknown path is not an API answer
    assert response.get("Content-Type", "").startswith("application/json"), where
    json.loads(response.content)


def test_the_route_list_covers_the_reports_and_the_controls() -> None:
    assert "/api/v1/accounts/<str:name>/pnl/" in ROUTES
    assert "/api/v1/control/kill-switch/" in ROUTES
    assert len(ROUTES) >= 25


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.django_db
@FUZZ
@given(
    path=paths(),
    params=st.dictionaries(st.sampled_from(PARAM_NAMES), WEIRD, max_size=5),
    header=st.text(max_size=20),
)
def test_random_reads_never_get_a_500(seeded, staff_client, path, params, header) -> None:
    response = staff_client.get(path, params, HTTP_X_FUZZ=header, HTTP_ACCEPT_LANGUAGE=header)

    _answered(response, path)


@pytest.mark.django_db
@FUZZ
@given(
    path=paths(),
    method=st.sampled_from(("post", "put", "patch", "delete")),
    body=st.one_of(FORM_BODIES, JSON_BODIES),
    params=st.dictionaries(st.sampled_from(PARAM_NAMES), WEIRD, max_size=3),
)
def test_random_writes_never_get_a_500(
    seeded, controller_client, path, method, body, params
) -> None:
    send = getattr(controller_client, method)
    query = "&".join(f"{k}={v}" for k, v in params.items() if "&" not in k + v and "#" not in v)
    response = send(f"{path}?{query}" if query else path, body, format="json")

    _answered(response, path)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=paths(), raw=st.binary(max_size=200), content_type=st.text(max_size=40))
def test_undecodable_bodies_and_content_types_never_get_a_500(
    seeded, controller_client, path, raw, content_type
) -> None:
    content_type = content_type.encode("ascii", "replace").decode() or "application/json"
    response = controller_client.generic("POST", path, raw, content_type=content_type)

    _answered(response, path)
