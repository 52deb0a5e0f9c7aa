"""Summaries of cycles and accounts for commands and tasks (reads only)."""

from __future__ import annotations

from trading.domain.decimals import decimal_trim
from trading.models import Account, Cycle
from trading.services.cycle_ports import account_ports


def cycle_summary(cycle: Cycle) -> dict[str, object]:
    """``{cycle_id, status, orders, fills, equity, mode, reason}``: ``orders`` orders sent this
    cycle, ``fills`` fills recorded, ``equity`` quote units as a string (``None`` when the
    cycle did not complete), ``mode`` the risk mode after it, ``reason`` why no order was
    placed or the error of a failed cycle."""
    counts = cycle.counts or {}
    return {
        "cycle_id": cycle.pk,
        "status": cycle.status,
        "orders": counts.get("submitted", 0),
        "fills": counts.get("fills", 0),
        "equity": None if cycle.equity is None else str(decimal_trim(cycle.equity)),
        "mode": cycle.risk_mode,
        "reason": cycle.error or cycle.no_trade_reason,
    }


def account_balances(account: Account) -> dict[str, str]:
    """Asset -> total (free + locked) as the account's venue reports it now (strings)."""
    ports = account_ports(account)
    try:
        return {
            asset: str(decimal_trim(b.total))
            for asset, b in sorted(ports.orders.balances().items())
        }
    finally:
        ports.close()
