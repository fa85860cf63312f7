"""Persistence: SQLAlchemy Core tables, repositories, the unit of work and the outbox."""
