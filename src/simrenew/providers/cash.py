"""The ``cash`` payment method: cash handed over at a shop or airport counter.

There is no remote provider: an agent records the cash with
``services/cash.record_cash_payment``, which stores the payment as ``succeeded`` with
a receipt in one transaction. This module is the port's view of that, so that the
generic paths (checkout, the janitor's re-check, refunds, callbacks) treat cash
payments like any other:

- ``create_payment``: ``pending`` with no checkout URL ("pay at the counter");
- ``fetch_status``: what our ``cash_receipts`` table says: ``succeeded`` when cash
  was taken for this payment, else ``cancelled`` (the counter makes a new payment
  when the buyer turns up, so cancelling an abandoned one loses nothing);
- ``refund``: refused with ``manual_refund_required``: cash goes back over a
  counter, by a person, not by an API call;
- ``parse_callback``: refused; nobody calls us back about cash.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from simrenew.db import tables as t
from simrenew.providers.in_house import InHouseProvider

NAME = "cash"


class CashProvider(InHouseProvider):
    name = NAME
    not_settled_code = "no_cash_taken"

    def settled_reference(self, payment_id: str) -> Select[str]:
        return select(t.cash_receipts.c.id).where(t.cash_receipts.c.payment_id == payment_id)
