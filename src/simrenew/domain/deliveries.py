"""What became of an SMS, part by part, as the gateways' delivery receipts tell it.

Receipts arrive late, twice, and out of order (an SMSC may send "ENROUTE" after
"DELIVRD", a gateway retries a callback we already took): the transitions table
makes sure a status only ever moves forwards, so the last word is the final one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """What a channel's delivery receipt says became of a message (SMPP 3.4 message
    states). ``final`` ones end it; the others may be followed by a final one.

    ``accepted``       the gateway took it (also the status of a fresh submission)
    ``enroute``        on its way to the handset
    ``delivered``      the handset has it                               (final)
    ``expired``        its validity ran out before the handset was seen (final)
    ``deleted``        removed at the SMSC                              (final)
    ``undeliverable``  the network gave up (unknown or barred number)   (final)
    ``rejected``       the SMSC refused it                              (final)
    ``unknown``        the SMSC lost track of it; a later definite receipt may
                       still say what happened, so it gives way to the five above

    ``DeliveryStatus.advance`` applies the table: an illegal move keeps the status.
    """

    ACCEPTED = "accepted"
    ENROUTE = "enroute"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    DELETED = "deleted"
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self not in (DeliveryStatus.ACCEPTED, DeliveryStatus.ENROUTE)

    @staticmethod
    def allowed(current: DeliveryStatus, reported: DeliveryStatus) -> bool:
        return reported in DELIVERY_TRANSITIONS[current]

    @staticmethod
    def advance(current: DeliveryStatus, reported: DeliveryStatus) -> DeliveryStatus:
        """The status after a receipt says ``reported``: ``reported`` where the table
        allows the move, else ``current`` (a late, duplicated or older receipt)."""
        return reported if DeliveryStatus.allowed(current, reported) else current


_DEFINITE = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.DELETED,
        DeliveryStatus.UNDELIVERABLE,
        DeliveryStatus.REJECTED,
    }
)

DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.ACCEPTED: _DEFINITE | {DeliveryStatus.ENROUTE, DeliveryStatus.UNKNOWN},
    # "enroute" never goes back to "accepted": an older receipt overtaken by a newer one.
    DeliveryStatus.ENROUTE: _DEFINITE | {DeliveryStatus.UNKNOWN},
    DeliveryStatus.UNKNOWN: _DEFINITE,
    DeliveryStatus.DELIVERED: frozenset(),
    DeliveryStatus.EXPIRED: frozenset(),
    DeliveryStatus.DELETED: frozenset(),
    DeliveryStatus.UNDELIVERABLE: frozenset(),
    DeliveryStatus.REJECTED: frozenset(),
}


def remote_id_variants(remote_id: str) -> Iterator[str]:
    """The forms one gateway message id may take: as given, and (SMPP) the same number
    in decimal or hexadecimal, since some SMSCs answer ``submit_sm`` in one and write
    the receipt in the other. Leading zeros and case do not matter."""
    seen: set[str] = set()
    given = remote_id.strip()
    normal = given.lower().lstrip("0") or "0"
    candidates = [given, normal]
    if normal.isdigit():
        candidates.append(format(int(normal), "x"))
    if re.fullmatch(r"[0-9a-f]+", normal):
        candidates.append(str(int(normal, 16)))
    for candidate in candidates:
        if candidate not in seen:
            seen.add(candidate)
            yield candidate
