"""Recording the outcome of refunds that the worker asked providers for."""

from __future__ import annotations

from simrenew.domain.orders import OrderState
from simrenew.ports import AuditRecord, RefundResult
from simrenew.services.context import Context


def record_refund(
    ctx: Context, payment_id: str, order_id: str, result: RefundResult, *, reason: str
) -> None:
    """A provider confirmed a refund: the order is ``refunded`` if the refund was for
    its own money (a duplicate payment's refund leaves the order as it is)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.audit.record(
            AuditRecord(
                "payment",
                payment_id,
                "succeeded",
                "refunded",
                f"refunded ({reason}) ref {result.provider_ref or '-'}",
                "system:refunds",
                now,
            )
        )
        order = uow.orders.get(order_id, lock=True)
        if order.state is OrderState.REFUNDING:
            done = order.move_to(OrderState.REFUNDED, now)
            uow.orders.update(
                done, order.state, reason=f"refund of {payment_id}", actor="system:refunds"
            )
        uow.commit()
