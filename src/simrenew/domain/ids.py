"""Identifiers: a prefix and 32 hex digits, time-ordered so that new rows land at the
end of their index (as UUIDv7 does), random enough never to collide."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{millis:012x}{os.urandom(10).hex()}"
