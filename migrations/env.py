"""Alembic environment: hand-written SQL migrations over asyncpg (no ORM metadata).

`assess db upgrade` passes the owner URL and the application role in `config.attributes`;
plain `alembic upgrade head` falls back to the service settings (DATABASE_URL, APP_DB_USER).
"""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.config import Settings

config = context.config


def _owner_url() -> str:
    url = config.attributes.get("owner_url") or Settings.from_env().database_url
    if not url:
        raise SystemExit("set DATABASE_URL to the role that owns the tables (or use `assess db upgrade`)")
    return url


def _do_run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = _owner_url()
    engine = create_async_engine(
        "postgresql+asyncpg://", async_creator=lambda: asyncpg.connect(url), poolclass=NullPool
    )
    async with engine.connect() as connection:
        await connection.run_sync(_do_run_migrations)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run against a database")

config.attributes.setdefault("app_role", Settings.from_env().app_db_user)
asyncio.run(_run_async())
