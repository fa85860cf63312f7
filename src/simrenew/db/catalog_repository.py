"""The catalogue: zone sets, product lines, versioned offers, promotions and their use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from simrenew.db import tables as t
from simrenew.db.catalog_cache import OFFER_COLUMNS, CatalogCache, CatalogSnapshot
from simrenew.db.serialization import (
    offer_body,
    offer_from_row,
    product_line_values,
    promotion_body,
    promotion_from_row,
)
from simrenew.domain.catalog import Catalog, Offer, ProductLine, ZoneMap
from simrenew.domain.errors import NotFound, OfferNotFound
from simrenew.domain.promotions import Promotion


class SqlCatalogRepository:
    """Reads come from the process's ``CatalogCache``; ``replace`` writes and bumps the
    catalogue revision so that every process reloads."""

    def __init__(self, connection: Connection, cache: CatalogCache) -> None:
        self._connection = connection
        self._cache = cache

    def _snapshot(self) -> CatalogSnapshot:
        return self._cache.snapshot(self._connection)

    def zones(self) -> ZoneMap:
        return self._snapshot().zones

    def product_line(self, code: str) -> ProductLine:
        line = self._snapshot().product_lines.get(code)
        if line is None:
            raise NotFound(what="product line", key=code)
        return line

    def product_lines(self) -> list[ProductLine]:
        return sorted(self._snapshot().product_lines.values(), key=lambda line: line.code)

    def offer(self, code: str, version: int | None = None) -> Offer:
        """The current version of ``code``, or the given one (what an order was sold at)."""
        offer = (
            self._snapshot().offers.get(code)
            if version is None
            else self._cache.version(self._connection, code, version)
        )
        if offer is None:
            raise OfferNotFound(key=code if version is None else f"{code} v{version}")
        return offer

    def offers_for(self, product_line: str) -> list[Offer]:
        return list(self._snapshot().listed.get(product_line, ()))

    def promotions(self) -> list[Promotion]:
        return list(self._snapshot().promotions)

    def global_redemptions(self, codes: Iterable[str]) -> dict[str, int]:
        wanted = list(codes)
        if not wanted:
            return {}
        rows = self._connection.execute(
            select(t.promotions.c.code, t.promotions.c.redeemed).where(
                t.promotions.c.code.in_(wanted)
            )
        )
        return {key: value for key, value in rows}

    def reserve_redemption(
        self, promotion: Promotion, card_id: str, order_id: str, at: datetime
    ) -> bool:
        """Count one use of ``promotion``; False if its global limit is already reached.

        The conditional UPDATE is the guard: two buyers racing for the last redemption
        cannot both get it, whatever the isolation level. Promotions without a global
        limit skip it, so that they do not funnel every order through one row lock.
        """
        if promotion.global_limit is not None:
            result = self._connection.execute(
                update(t.promotions)
                .where(
                    t.promotions.c.code == promotion.code,
                    t.promotions.c.redeemed < t.promotions.c.global_limit,
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
            .where(t.promotions.c.code.in_(codes), t.promotions.c.global_limit.is_not(None))
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
                stored = self._stored_offer(offer.code, current[offer.code].current_version)
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

        stored_promotions = {
            row.code: promotion_from_row(row.code, row.body, row.global_limit)
            for row in conn.execute(
                select(t.promotions.c.code, t.promotions.c.body, t.promotions.c.global_limit)
            )
        }
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
        self._bump_revision()
        return summary

    def _stored_offer(self, code: str, version: int) -> Offer:
        row = self._connection.execute(
            select(*OFFER_COLUMNS).where(
                t.offer_versions.c.code == code, t.offer_versions.c.version == version
            )
        ).one()
        return offer_from_row(row)

    def _bump_revision(self) -> None:
        bumped = self._connection.execute(
            update(t.catalog_state)
            .where(t.catalog_state.c.id == 1)
            .values(revision=t.catalog_state.c.revision + 1)
        )
        if bumped.rowcount != 1:  # the row is made by the migration; restore it if lost
            self._connection.execute(insert(t.catalog_state).values(id=1, revision=1))
        self._cache.expire()

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
