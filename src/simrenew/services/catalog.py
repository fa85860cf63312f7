"""Importing the catalogue from its YAML file: validated whole, applied whole."""

from __future__ import annotations

from simrenew.services.catalog_file import parse_catalog
from simrenew.services.context import Context


def import_catalog(ctx: Context, text: str) -> dict[str, int]:
    """Replace the catalogue with the one in ``text``; returns what changed.

    Raises ``CatalogInvalid`` listing every problem with its line; then nothing is
    written. Changed offers get a new version; orders keep the version they were sold at.
    """
    catalog = parse_catalog(text)
    with ctx.uow() as uow:
        summary = uow.catalog.replace(catalog, at=ctx.clock.now())
        uow.commit()
    return summary
