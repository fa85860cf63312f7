"""The catalogue: zone sets, product lines, versioned offers, promotions and their use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from simrenew.db import tables as t
from simrenew.db.serialization import (
    offer_body,
    offer_from_row,
    product_line_from_row,
    product_line_values,
    promotion_body,
    promotion_from_row,
)
from simrenew.domain.catalog import Catalog, Offer, ProductLine, ZoneMap
from simrenew.domain.errors import NotFound, OfferNotFound
from simrenew.domain.promotions import Promotion

_OFFER_COLUMNS = (
    t.offer_versions.c.code,
    t.offer_versions.c.version,
    t.offer_versions.c.product_line,
    t.offer_versions.c.kind,
    t.offer_versions.c.price_minor,
    t.offer_versions.c.currency,
    t.offer_versions.c.body,
)


def _offer(row: Any) -> Offer:
    return offer_from_row(
        row.code, row.version, row.product_line, row.kind, row.price_minor, row.currency, row.body
    )


class SqlCatalogRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def zones(self) -> ZoneMap:
        rows = self._connection.execute(select(t.zone_sets.c.name, t.zone_sets.c.zones))
        return ZoneMap({name: frozenset(zones) for name, zones in rows})

    def product_line(self, code: str) -> ProductLine:
        row = self._connection.execute(
            select(t.product_lines).where(t.product_lines.c.code == code)
        ).first()
        if row is None:
            raise NotFound(what="product line", key=code)
        return product_line_from_row(row)

    def product_lines(self) -> list[ProductLine]:
        rows = self._connection.execute(select(t.product_lines).order_by(t.product_lines.c.code))
        return [product_line_from_row(r) for r in rows]

    def offer(self, code: str, version: int | None = None) -> Offer:
        """The current version of ``code``, or the given one (what an order was sold at)."""
        query = select(*_OFFER_COLUMNS).where(t.offer_versions.c.code == code)
        if version is None:
            query = query.join(
                t.offers,
                (t.offers.c.code == t.offer_versions.c.code)
                & (t.offers.c.current_version == t.offer_versions.c.version),
            )
        else:
            query = query.where(t.offer_versions.c.version == version)
        row = self._connection.execute(query).first()
        if row is None:
            raise OfferNotFound(key=code if version is None else f"{code} v{version}")
        return _offer(row)

    def offers_for(self, product_line: str) -> list[Offer]:
        rows = self._connection.execute(
            select(*_OFFER_COLUMNS)
            .join(
                t.offers,
                (t.offers.c.code == t.offer_versions.c.code)
                & (t.offers.c.current_version == t.offer_versions.c.version),
            )
            .where(t.offers.c.product_line == product_line, t.offers.c.active.is_(True))
        )
        return sorted((_offer(r) for r in rows), key=lambda o: (o.sort_order, o.code))

    def promotions(self) -> list[Promotion]:
        rows = self._connection.execute(
            select(t.promotions.c.code, t.promotions.c.body, t.promotions.c.global_limit)
        )
        return [promotion_from_row(r.code, r.body, r.global_limit) for r in rows]

    def global_redemptions(self, codes: Iterable[str]) -> dict[str, int]:
        wanted = list(codes)
        if not wanted:
            return {}
        rows = self._connection.execute(
            select(t.promotions.c.code, t.promotions.c.redeemed).where(
                t.promotions.c.code.in_(wanted)
            )
        )
        return dict(rows.tuples().all())

    def reserve_redemption(
        self, promotion: Promotion, card_id: str, order_id: str, at: datetime
    ) -> bool:
        """Count one use of ``promotion``; False if its global limit is already reached.

        The conditional UPDATE is the guard: two buyers racing for the last redemption
        cannot both get it, whatever the isolation level.
        """
        result = self._connection.execute(
            update(t.promotions)
            .where(
                t.promotions.c.code == promotion.code,
                (t.promotions.c.global_limit.is_(None))
                | (t.promotions.c.redeemed < t.promotions.c.global_limit),
            )
            .values(redeemed=t.promotions.c.redeemed + 1)
        )
        if result.rowcount != 1:
            return False
        self._connection.execute(
            insert(t.promotion_redemptions).values(
                promotion_code=promotion.code, order_id=order_id, card_id=card_id, at=at
            )
        )
        return True

    def release_redemptions(self, order_id: str) -> None:
        """Give back the promotion uses of an order that will never be paid."""
        codes = list(
            self._connection.scalars(
                select(t.promotion_redemptions.c.promotion_code).where(
                    t.promotion_redemptions.c.order_id == order_id
                )
            )
        )
        if not codes:
            return
        self._connection.execute(
            delete(t.promotion_redemptions).where(t.promotion_redemptions.c.order_id == order_id)
        )
        self._connection.execute(
            update(t.promotions)
            .where(t.promotions.c.code.in_(codes))
            .values(redeemed=t.promotions.c.redeemed - 1)
        )

    def replace(self, catalog: Catalog, *, at: datetime) -> dict[str, int]:
        """Make the stored catalogue equal to ``catalog``.

        Offers whose content changed get a new version (orders keep theirs); offers
        missing from the file are deactivated, never deleted. Promotions missing from
        the file end now. Returns counts for the operator.
        """
        summary = {
            "product_lines": 0,
            "offers_new": 0,
            "offers_new_version": 0,
            "offers_unchanged": 0,
            "offers_deactivated": 0,
            "promotions": 0,
            "promotions_ended": 0,
        }
        conn = self._connection
        conn.execute(delete(t.zone_sets))
        if catalog.zones.sets:
            conn.execute(
                insert(t.zone_sets),
                [{"name": n, "zones": sorted(z)} for n, z in catalog.zones.sets.items()],
            )

        existing_lines = set(conn.scalars(select(t.product_lines.c.code)))
        for line in catalog.product_lines.values():
            values = {**product_line_values(line), "updated_at": at}
            if line.code in existing_lines:
                conn.execute(
                    update(t.product_lines)
                    .where(t.product_lines.c.code == line.code)
                    .values(values)
                )
            else:
                conn.execute(insert(t.product_lines).values(values))
            summary["product_lines"] += 1

        current = {
            r.code: r
            for r in conn.execute(
                select(t.offers.c.code, t.offers.c.current_version, t.offers.c.active)
            )
        }
        for offer in catalog.offers.values():
            if offer.code in current:
                stored = self.offer(offer.code)
                if stored.content_key() == offer.content_key():
                    summary["offers_unchanged"] += 1
                    continue
                version = current[offer.code].current_version + 1
                self._insert_version(offer, version, at)
                conn.execute(
                    update(t.offers)
                    .where(t.offers.c.code == offer.code)
                    .values(
                        current_version=version,
                        active=offer.active,
                        product_line=offer.product_line,
                    )
                )
                summary["offers_new_version"] += 1
            else:
                conn.execute(
                    insert(t.offers).values(
                        code=offer.code,
                        current_version=1,
                        product_line=offer.product_line,
                        active=offer.active,
                    )
                )
                self._insert_version(offer, 1, at)
                summary["offers_new"] += 1
        gone = [code for code, row in current.items() if code not in catalog.offers and row.active]
        if gone:
            conn.execute(update(t.offers).where(t.offers.c.code.in_(gone)).values(active=False))
            summary["offers_deactivated"] = len(gone)

        stored_promotions = {p.code: p for p in self.promotions()}
        for promotion in catalog.promotions:
            values = {
                "body": promotion_body(promotion),
                "global_limit": promotion.global_limit,
                "updated_at": at,
            }
            if promotion.code in stored_promotions:
                conn.execute(
                    update(t.promotions).where(t.promotions.c.code == promotion.code).values(values)
                )
            else:
                conn.execute(insert(t.promotions).values(code=promotion.code, redeemed=0, **values))
            summary["promotions"] += 1
        in_file = {p.code for p in catalog.promotions}
        for code, promotion in stored_promotions.items():
            if code not in in_file and promotion.ends_at > at:
                body = promotion_body(promotion)
                body["ends_at"] = at.isoformat()
                conn.execute(
                    update(t.promotions)
                    .where(t.promotions.c.code == code)
                    .values(body=body, updated_at=at)
                )
                summary["promotions_ended"] += 1
        return summary

    def _insert_version(self, offer: Offer, version: int, at: datetime) -> None:
        self._connection.execute(
            insert(t.offer_versions).values(
                code=offer.code,
                version=version,
                product_line=offer.product_line,
                kind=offer.kind.value,
                price_minor=offer.price.amount_minor,
                currency=offer.price.currency,
                body=offer_body(offer),
                created_at=at,
            )
        )

    def count_offers(self) -> int:
        return int(self._connection.scalar(select(func.count()).select_from(t.offers)) or 0)
