"""Allocation (cycle step 7) and order building (step 8).

Allocation sizes an intent against, for a BUY: the cash available above the cash reserve
(leaving room for the taker fee), the per-order cap, what is left of the per-cycle cap and
the per-symbol position cap (position value at the mark plus this order). Each cap is the
smaller of its fraction of equity and its absolute value. A SELL is sized to the intent's
quantity or the whole position, never more than is held; caps do not restrict exits.

Order building quantizes the price to the tick (buys down, sells up) and the quantity down to
the step, applies BTCTurk's market-buy convention (quote amount to spend,
reference/btcturk_api.md 4.7), sells the whole position when the remainder would fall below
the min notional (no unsellable dust), checks the exchange rules, and derives the
deterministic client order id.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from trading.domain.intents import Intent, PricePolicy
from trading.domain.orders import OrderRequest, OrderType, Side, client_order_id
from trading.domain.risk import Denial, RiskLimits
from trading.domain.rules import (
    ExchangeRules,
    QuantizationError,
    check_order,
    quantize_price,
    quantize_quantity,
)

BPS = Decimal(10000)
QUOTE_AMOUNT_STEP = Decimal("0.00000001")


class BuyBudget(NamedTuple):
    """Inputs for sizing buys in one cycle (quote currency)."""

    equity: Decimal
    available_cash: Decimal
    cycle_spent: Decimal
    fee_taker_bps: Decimal
    limits: RiskLimits


def _cap(fraction: Decimal, absolute: Decimal | None, equity: Decimal) -> Decimal:
    cap = fraction * equity
    return cap if absolute is None else min(cap, absolute)


def buy_notional(
    intent: Intent,
    budget: BuyBudget,
    position_value: Decimal,
    rules: ExchangeRules,
    *,
    mark_price: Decimal | None = None,
) -> Decimal | Denial:
    """Quote notional to spend on a BUY intent, or the :class:`Denial` of the binding cap.

    An intent sized in base units asks for ``quantity * price`` (its limit price, else
    ``mark_price``, which must then be given); an unsized one for as much as the caps allow.
    Codes: ``CASH_RESERVE`` (not enough cash above the reserve), ``ORDER_CAP``, ``CYCLE_CAP``,
    ``POSITION_CAP`` (per-symbol cap reached), ``MIN_NOTIONAL`` (the intent itself is too small).
    """
    limits = budget.limits
    reserve = limits.cash_reserve_pct * budget.equity
    fee_factor = 1 + budget.fee_taker_bps / BPS
    candidates = [
        ("CASH_RESERVE", (budget.available_cash - reserve) / fee_factor),
        ("ORDER_CAP", _cap(limits.max_order_pct, limits.max_order_notional, budget.equity)),
        (
            "CYCLE_CAP",
            _cap(limits.max_cycle_pct, limits.max_cycle_notional, budget.equity)
            - budget.cycle_spent,
        ),
        (
            "POSITION_CAP",
            _cap(limits.max_position_pct, limits.max_position_notional, budget.equity)
            - position_value,
        ),
    ]
    wanted = _wanted_notional(intent, mark_price)
    if wanted is not None:
        candidates.append(("MIN_NOTIONAL", wanted))
    code, notional = min(candidates, key=lambda item: item[1])
    if notional < rules.min_notional:
        return Denial(
            code,
            f"{notional.quantize(Decimal('0.01'))} available, min notional {rules.min_notional}",
            intent.symbol,
            intent.side,
            intent.strategy,
        )
    return notional


def _wanted_notional(intent: Intent, mark_price: Decimal | None) -> Decimal | None:
    if intent.notional is not None or intent.quantity is None:
        return intent.notional
    price = intent.limit_price or mark_price
    if price is None:
        raise ValueError(f"{intent.symbol}: a buy sized in base units needs a price")
    return intent.quantity * price


def sell_quantity(intent: Intent, held: Decimal) -> Decimal | Denial:
    """Base quantity to sell: the intent's quantity or the whole position, at most ``held``."""
    if held <= 0:
        return Denial("NO_POSITION", "nothing to sell", intent.symbol, intent.side, intent.strategy)
    if intent.quantity is not None:
        return min(intent.quantity, held)
    return held  # a notional-sized sell is resolved against the price in build_order


class OrderSpec(NamedTuple):
    """What order building needs besides the intent."""

    account: str
    cycle_ms: int
    sequence: int
    mark_price: Decimal
    rules: ExchangeRules


def build_order(
    intent: Intent, size: Decimal, held: Decimal, spec: OrderSpec
) -> OrderRequest | Denial:
    """Quantize and check one order. ``size`` is a quote notional for buys, base qty for sells.

    Returns a :class:`~trading.domain.orders.OrderRequest` or a :class:`Denial` with the rule
    violation code (``MIN_NOTIONAL``, ``PRICE_ABOVE_BAND``, ``QUANTITY_ROUNDS_TO_ZERO``...).
    """
    rules = spec.rules
    side = intent.side
    order_type = OrderType.MARKET if intent.price_policy is PricePolicy.MARKET else OrderType.LIMIT
    try:
        price = quantize_price(intent.limit_price, rules, side) if intent.limit_price else None
        reference = price or spec.mark_price
        if side is Side.BUY:
            wanted = size / reference
            if intent.quantity is not None:  # never more than asked (the price may round down)
                wanted = min(wanted, intent.quantity)
            quantity = quantize_quantity(wanted, rules)
        else:
            if intent.notional is not None:
                size = min(held, intent.notional / reference)
            quantity = quantize_quantity(size, rules)
            if (held - quantity) * reference < rules.min_notional:
                quantity = quantize_quantity(held, rules)
    except QuantizationError as exc:
        return Denial("QUANTITY_ROUNDS_TO_ZERO", str(exc), intent.symbol, side, intent.strategy)
    quote_amount = None
    if order_type is OrderType.MARKET and side is Side.BUY:
        quote_amount = size.quantize(QUOTE_AMOUNT_STEP, rounding=ROUND_DOWN)
    notional = quote_amount if quote_amount is not None else reference * quantity
    violation = check_order(
        rules, side=side, order_type=order_type, quantity=quantity, price=price, notional=notional
    )
    if violation is not None:
        return Denial(violation.code, violation.detail, intent.symbol, side, intent.strategy)
    coid = client_order_id(
        account=spec.account,
        cycle_ms=spec.cycle_ms,
        symbol=intent.symbol,
        side=side,
        key=f"{intent.strategy}:{spec.sequence}",
    )
    return OrderRequest(
        client_order_id=coid,
        symbol=intent.symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        quote_amount=quote_amount,
        strategy=intent.strategy,
        reason=intent.reason,
    )
