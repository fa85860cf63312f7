"""The ``voucher`` payment method: prepaid voucher cards paid for in advance at a shop.

There is no remote provider: the buyer types the PIN on our own page and
``services/vouchers.redeem_voucher`` records the payment as ``succeeded`` in the
transaction that marks the voucher used. This module is the port's view of that, so
that the generic paths (checkout, the janitor's re-check, refunds, callbacks) treat
voucher payments like any other:

- ``create_payment``: ``pending`` with no checkout URL (the PIN page is ours);
- ``fetch_status``: what our ``vouchers`` table says: ``succeeded`` when a voucher
  paid this payment, else ``cancelled`` (no PIN was entered for it; a later PIN makes
  a new payment, so cancelling an abandoned one loses nothing);
- ``refund``: refused with ``manual_refund_required``: a used PIN cannot be given
  back, and a replacement voucher or cash is an operator's decision;
- ``parse_callback``: refused; nobody calls us back about a voucher.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from simrenew.db import tables as t
from simrenew.providers.in_house import InHouseProvider

NAME = "voucher"


class VoucherProvider(InHouseProvider):
    name = NAME
    not_settled_code = "no_voucher_redeemed"

    def settled_reference(self, payment_id: str) -> Select[str]:
        return select(t.vouchers.c.serial).where(
            t.vouchers.c.payment_id == payment_id, t.vouchers.c.state == "redeemed"
        )
