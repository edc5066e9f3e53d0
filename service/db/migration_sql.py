"""Run a multi-statement SQL script inside an Alembic migration.

SQLAlchemy's asyncpg dialect prepares every statement, and PostgreSQL refuses to prepare
several commands at once. This sends the script over asyncpg's simple-query path instead,
on the migration's own connection and transaction.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]  # an asyncpg connection under Alembic
    await_only(driver_connection.execute(sql))


# The tenant a transaction runs for; a missing setting matches nothing.
TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def app_role() -> str:
    """The application role's name, quoted as an identifier (from the Alembic config)."""
    config = op.get_context().config
    assert config is not None, "migrations run with an Alembic config"
    role = config.attributes["app_role"]
    return '"' + role.replace('"', '""') + '"'


def tenant_tables(*tables: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """Row-level security ENABLEd and FORCEd with the tenant-isolation policy, and the app role's grants."""
    for table in tables:
        execute_script(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT});
            """
        )
    execute_script(f"GRANT {privileges} ON {', '.join(tables)} TO {app_role()}")
