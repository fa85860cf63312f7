"""Identifiers: a prefix and 36 hex digits, time-ordered so that new rows land at the
end of their index (as UUIDv7 does), with 80 random bits so that they neither collide
nor can be guessed (an order id is a capability for its status page), and increasing
within a process, so that rows made in the same millisecond (the audit lines of one
transaction) keep their order."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # millisecond, sequence within it


def new_id(prefix: str) -> str:
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last[0]:
            millis, sequence = _last[0], _last[1] + 1
        else:
            sequence = 0
        _last[0], _last[1] = millis, sequence
    return f"{prefix}_{millis:012x}{sequence & 0xFFFF:04x}{os.urandom(10).hex()}"
