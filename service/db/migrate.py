"""Alembic, driven from code: `assess db upgrade`, start-up checks and tests share it."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(owner_url: str, app_role: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["owner_url"] = owner_url
    config.attributes["app_role"] = app_role
    return config


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("", ""))
    head = script.get_current_head()
    assert head is not None, "migrations/ holds no revision"
    return head


def upgrade(owner_url: str, app_role: str, revision: str = "head") -> None:
    """Apply migrations. Blocking: call from a thread when an event loop is running."""
    command.upgrade(alembic_config(owner_url, app_role), revision)


def downgrade(owner_url: str, app_role: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(owner_url, app_role), revision)


async def ensure_app_role(owner_url: str, role: str, password: str | None) -> None:
    """Create the application role if missing: LOGIN, no superuser, no BYPASSRLS, owns nothing."""
    conn = await asyncpg.connect(owner_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        quoted = '"' + role.replace('"', '""') + '"'
        if not exists:
            await conn.execute(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
        if password:
            literal = "'" + password.replace("'", "''") + "'"
            await conn.execute(f"ALTER ROLE {quoted} PASSWORD {literal}")
    finally:
        await conn.close()


async def current_revision(conn: asyncpg.Connection) -> str | None:
    try:
        return await conn.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None


class SchemaBehind(RuntimeError):
    pass


async def check_schema(conn: asyncpg.Connection) -> None:
    """Refuse to serve on a schema that is not at this code's head revision."""
    current, head = await current_revision(conn), head_revision()
    if current != head:
        raise SchemaBehind(
            f"database schema is at {current or 'nothing (empty database)'}, this code needs {head}: "
            "run `assess db upgrade` (with DATABASE_URL set to a role that owns the tables)"
        )
