"""Order state changes as compare-and-set updates (DESIGN.md section 5, STYLE.md rule 5)."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils import timezone

from trading.domain.orders import OrderStatus, order_transition
from trading.models import Order

_PROTECTED_FIELDS = frozenset({"id", "pk", "status", "client_order_id", "created_at"})


def order_transition_apply(
    *,
    order_id: int,
    old: OrderStatus,
    new: OrderStatus,
    changes: Mapping[str, object] | None = None,
) -> bool:
    """Move order ``order_id`` from ``old`` to ``new`` if, and only if, it is still in ``old``.

    One ``UPDATE ... WHERE id = order_id AND status = old``; ``changes`` (e.g.
    ``{"exchange_order_id": "123", "filled_quantity": Decimal("0.5")}``) are written in the
    same statement, and ``updated_at`` is set to now (UTC). Returns ``True`` if exactly one
    row changed, ``False`` if the order is missing or no longer in ``old`` (someone else moved
    it: act only on ``True``). Raises ``trading.domain.orders.InvalidTransition`` if the state
    machine does not allow ``old -> new``, and ``ValueError`` if ``changes`` names ``status``
    or an identity field.
    """
    order_transition(OrderStatus(old), OrderStatus(new))
    extra = dict(changes or {})
    protected = _PROTECTED_FIELDS.intersection(extra)
    if protected:
        raise ValueError(f"changes may not set {', '.join(sorted(protected))}")
    updated = Order.objects.filter(id=order_id, status=OrderStatus(old).value).update(
        status=OrderStatus(new).value, updated_at=timezone.now(), **extra
    )
    return updated == 1
