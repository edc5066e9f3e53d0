"""Run a multi-statement SQL script inside an Alembic migration.

SQLAlchemy's asyncpg dialect prepares every statement, and PostgreSQL refuses to prepare
several commands at once. This sends the script over asyncpg's simple-query path instead,
on the migration's own connection and transaction.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    await_only(driver_connection.execute(sql))
