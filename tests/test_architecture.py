"""Architecture rules (DESIGN.md sections 2 and 4), checked on the source with ``ast``.

1. ``*/domain/`` packages import only the standard library and other ``domain`` packages.
2. Only the execution service (and the simulated venue, its adapter and the sandbox exchange
   it serves) may call ``.submit_order(`` / ``.cancel_order(``: every other call site is a
   violation. The backtest engine executes through the same service as paper and live.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("meva", "trading", "ledger", "replay", "api")
DOMAIN_PACKAGES = ("trading/domain", "ledger/domain", "replay/domain")
FORBIDDEN_IN_DOMAIN = frozenset(
    {"django", "rest_framework", "celery", "httpx", "redis", "websockets", "psycopg"}
)

SIDE_EFFECT_METHODS = frozenset({"submit_order", "cancel_order"})
# The only modules allowed to call submit_order/cancel_order (paths relative to the root;
# a trailing "*" matches any suffix). Add to this list only with the lead's agreement.
SIDE_EFFECT_CALLERS_ALLOWED = (
    "trading/domain/venue.py",  # the simulated venue's own matching loop
    "trading/services/execution*.py",  # live and paper execution, behind the safety gate
    "trading/exchange/simulated.py",  # the ExchangeClient adapter around the simulated venue
    "trading/exchange/sandbox/*",  # the sandbox exchange serves orders from the simulated venue
)


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``, relative imports resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                source = node.module or ""
            else:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            # "from pkg import name": name may be a submodule, so judge pkg.name
            for alias in node.names:
                yield node.lineno, f"{source}.{alias.name}"


def domain_import_violation(name: str) -> str | None:
    """Why importing ``name`` from a domain module is forbidden, or ``None`` if it is allowed."""
    top = name.split(".")[0]
    if top in FORBIDDEN_IN_DOMAIN:
        return f"imports {name} (framework / I/O library)"
    if top in PROJECT_PACKAGES:
        parts = name.split(".")
        if len(parts) >= 2 and parts[1] == "domain":
            return None
        return f"imports {name} (a non-domain project module)"
    if top in sys.stdlib_module_names:
        return None
    return f"imports {name} (not the standard library)"


def domain_violations(source: str, module: str, is_package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [
        f"line {line}: {why}"
        for line, name in imported_modules(tree, module, is_package)
        if (why := domain_import_violation(name)) is not None
    ]


def side_effect_calls(source: str) -> list[str]:
    """``line N: .submit_order(`` for each call of a side-effect method in ``source``."""
    return [
        f"line {node.lineno}: .{node.func.attr}("
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SIDE_EFFECT_METHODS
    ]


def side_effect_allowed(path: Path) -> bool:
    return any(path.relative_to(ROOT).match(pattern) for pattern in SIDE_EFFECT_CALLERS_ALLOWED)


def test_domain_packages_import_only_the_standard_library_and_other_domain_packages() -> None:
    files = list(python_files(*DOMAIN_PACKAGES))
    violations = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (
            found := domain_violations(
                path.read_text(), module_name(path), path.name == "__init__.py"
            )
        )
    }

    assert files, "no domain modules found"
    assert violations == {}


def test_only_the_execution_service_calls_submit_or_cancel_on_a_venue() -> None:
    files = list(python_files(*PROJECT_PACKAGES))
    violations = {
        str(path.relative_to(ROOT)): found
        for path in files
        if not side_effect_allowed(path) and (found := side_effect_calls(path.read_text()))
    }

    assert files
    assert violations == {}


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import django", "trading.domain.x", ["line 1: imports django (framework / I/O library)"]),
        (
            "from django.db import models",
            "trading.domain.x",
            ["line 1: imports django.db.models (framework / I/O library)"],
        ),
        (
            "import redis.lock",
            "ledger.domain.x",
            ["line 1: imports redis.lock (framework / I/O library)"],
        ),
        ("import numpy", "replay.domain.x", ["line 1: imports numpy (not the standard library)"]),
        (
            "from trading.models import Order",
            "trading.domain.x",
            ["line 1: imports trading.models.Order (a non-domain project module)"],
        ),
        (
            "from .. import services",
            "trading.domain.x",
            ["line 1: imports trading.services (a non-domain project module)"],
        ),
        (
            "from meva import locks",
            "trading.domain.x",
            ["line 1: imports meva.locks (a non-domain project module)"],
        ),
        (
            "from trading import models",
            "trading.domain.x",
            ["line 1: imports trading.models (a non-domain project module)"],
        ),
        ("from trading import domain", "ledger.domain.x", []),
        ("from . import symbols\nfrom .orders import Side", "trading.domain.x", []),
        ("from ledger.domain.positions import Position\nimport decimal", "trading.domain.x", []),
        (
            "from __future__ import annotations\nfrom dataclasses import dataclass",
            "trading.domain.x",
            [],
        ),
    ],
)
def test_the_domain_import_checker_flags_what_it_must(
    source: str, module: str, expected: list[str]
) -> None:
    assert domain_violations(source, module) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("client.submit_order(request)", ["line 1: .submit_order("]),
        ("\nself.venue.cancel_order(coid)", ["line 2: .cancel_order("]),
        ("def submit_order(self, request): ...", []),
        ("name = 'submit_order'", []),
    ],
)
def test_the_side_effect_checker_finds_calls_not_definitions(
    source: str, expected: list[str]
) -> None:
    assert side_effect_calls(source) == expected


@pytest.mark.parametrize(
    ("relative", "allowed"),
    [
        ("trading/services/execution.py", True),
        ("trading/services/execution_live.py", True),
        ("trading/domain/venue.py", True),
        ("replay/domain/engine.py", False),
        ("trading/services/cycle.py", False),
        ("trading/exchange/btcturk/client.py", False),
        ("replay/services/backtest.py", False),
    ],
)
def test_the_side_effect_allow_list_is_explicit(relative: str, allowed: bool) -> None:
    assert side_effect_allowed(ROOT / relative) is allowed
