"""A per-process copy of the catalogue, so that pricing a renewal reads no catalogue
rows.

The catalogue changes a few times a year and every change bumps
``catalog_state.revision`` in the same transaction. Each process re-reads the
revision at most once per ``ttl_ms`` and reloads when it moved, so an import reaches
every API and worker process within that time. Offer *versions* never change once
written, so they are kept for good. Orders record the version they were priced at:
a quote and its order always agree, whichever copy priced them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from simrenew.db import tables as t
from simrenew.db.serialization import (
    offer_from_row,
    product_line_from_row,
    promotion_from_row,
)
from simrenew.domain.catalog import Offer, ProductLine, ZoneMap
from simrenew.domain.promotions import Promotion

OFFER_COLUMNS = (
    t.offer_versions.c.code,
    t.offer_versions.c.version,
    t.offer_versions.c.product_line,
    t.offer_versions.c.kind,
    t.offer_versions.c.price_minor,
    t.offer_versions.c.currency,
    t.offer_versions.c.body,
)
_CURRENT_OFFERS = select(*OFFER_COLUMNS, t.offers.c.active).join(
    t.offers,
    (t.offers.c.code == t.offer_versions.c.code)
    & (t.offers.c.current_version == t.offer_versions.c.version),
)
_REVISION = select(t.catalog_state.c.revision).where(t.catalog_state.c.id == 1)


@dataclass(frozen=True)
class CatalogSnapshot:
    revision: int
    zones: ZoneMap
    product_lines: dict[str, ProductLine]
    offers: dict[str, Offer]  # current version of every offer, active or not
    listed: dict[str, list[Offer]]  # active offers per product line, in display order
    promotions: list[Promotion]


@dataclass
class CatalogCache:
    ttl_ms: int = 1000
    _snapshot: CatalogSnapshot | None = None
    _checked_at_ns: int = 0
    _versions: dict[tuple[str, int], Offer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self, connection: Connection) -> CatalogSnapshot:
        now = time.monotonic_ns()
        snapshot = self._snapshot
        if snapshot is not None and now - self._checked_at_ns < self.ttl_ms * 1_000_000:
            return snapshot
        revision = connection.scalar(_REVISION) or 0
        if snapshot is None or snapshot.revision != revision:
            snapshot = self._load(connection, revision)
        with self._lock:
            self._snapshot, self._checked_at_ns = snapshot, now
        return snapshot

    def expire(self) -> None:
        """Check the revision on the next read (after this process changed it)."""
        self._checked_at_ns = 0

    def version(self, connection: Connection, code: str, version: int) -> Offer | None:
        offer = self._versions.get((code, version))
        if offer is None:
            row = connection.execute(
                select(*OFFER_COLUMNS).where(
                    t.offer_versions.c.code == code, t.offer_versions.c.version == version
                )
            ).first()
            if row is None:
                return None
            offer = offer_from_row(row)
            self._versions[(code, version)] = offer
        return offer

    @staticmethod
    def _load(connection: Connection, revision: int) -> CatalogSnapshot:
        zones = ZoneMap(
            {
                name: frozenset(members)
                for name, members in connection.execute(
                    select(t.zone_sets.c.name, t.zone_sets.c.zones)
                )
            }
        )
        lines = {
            row.code: product_line_from_row(row)
            for row in connection.execute(select(t.product_lines))
        }
        offers: dict[str, Offer] = {}
        listed: dict[str, list[Offer]] = {}
        for row in connection.execute(_CURRENT_OFFERS):
            offer = offer_from_row(row)
            offers[offer.code] = offer
            if row.active:
                listed.setdefault(offer.product_line, []).append(offer)
        for line_offers in listed.values():
            line_offers.sort(key=lambda o: (o.sort_order, o.code))
        promotions = [
            promotion_from_row(row.code, row.body, row.global_limit)
            for row in connection.execute(
                select(t.promotions.c.code, t.promotions.c.body, t.promotions.c.global_limit)
            )
        ]
        return CatalogSnapshot(revision, zones, lines, offers, listed, promotions)
