"""Alembic environment: runs on the connection ``simrenew.db.migrate`` hands it."""

from __future__ import annotations

from alembic import context

from simrenew.db.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through simrenew.db.migrate
    raise RuntimeError("run migrations with `simrenew db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
