"""Trading rows (DESIGN.md section 8a): one module per sub-domain, all re-exported here."""

from __future__ import annotations

from trading.models.accounts import Account, AccountMode
from trading.models.audit import Alert, AlertSeverity, AppendOnlyError, AuditEvent
from trading.models.control import Instrument, TradingControl
from trading.models.market import Candle
from trading.models.orders import Cycle, CycleDecision, CycleMode, CycleStatus, DecisionKind, Order
from trading.models.paper import PaperBalance, PaperOrder, PaperTrade, PaperVenue
from trading.models.params import ParamSet, ParamSetStatus

__all__ = [
    "Account",
    "AccountMode",
    "Alert",
    "AlertSeverity",
    "AppendOnlyError",
    "AuditEvent",
    "Candle",
    "Cycle",
    "CycleDecision",
    "CycleMode",
    "CycleStatus",
    "DecisionKind",
    "Instrument",
    "Order",
    "PaperBalance",
    "PaperOrder",
    "PaperTrade",
    "PaperVenue",
    "ParamSet",
    "ParamSetStatus",
    "TradingControl",
]
