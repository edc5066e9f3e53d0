"""Migrations go up, down and up again on a real database, and leave RLS forced everywhere."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from service.db import migrate
from service.db.urls import with_database
from tests.conftest import APP_ROLE


@pytest.fixture
async def empty_db(server_url: str):
    name = f"assess_m_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(with_database(server_url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade(empty_db: str):
    await migrate.ensure_app_role(empty_db, APP_ROLE, None)
    await asyncio.to_thread(migrate.upgrade, empty_db, APP_ROLE)
    assert {"tenants", "trusted_issuers", "org_units", "people", "alembic_version"} <= await _tables(empty_db)
    await asyncio.to_thread(migrate.downgrade, empty_db, APP_ROLE, "base")
    assert await _tables(empty_db) == {"alembic_version"}
    await asyncio.to_thread(migrate.upgrade, empty_db, APP_ROLE)
    conn = await asyncpg.connect(empty_db)
    try:
        assert await migrate.current_revision(conn) == migrate.head_revision()
    finally:
        await conn.close()


async def test_every_table_forces_rls_and_the_app_role_owns_nothing(owner_url: str):
    conn = await asyncpg.connect(owner_url)
    try:
        tables = await conn.fetch(
            """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"""
        )
        for table in tables:
            assert table["owner"] != APP_ROLE, table["relname"]
            if table["relname"] != "alembic_version":
                assert table["relrowsecurity"] and table["relforcerowsecurity"], table["relname"]
        role = await conn.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE)
        assert role == (False, False)
        functions = await conn.fetchval(
            """SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public' AND p.prosecdef"""
        )
        assert functions == 0, "a SECURITY DEFINER function would run past row-level security"
    finally:
        await conn.close()


async def test_app_refuses_a_schema_that_is_behind(empty_db: str, keys_file):
    from service.api.app import create_app
    from service.config import Settings
    from tests.conftest import running

    await migrate.ensure_app_role(empty_db, APP_ROLE, None)
    owner = await asyncpg.connect(empty_db)
    await owner.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    await owner.close()
    settings = Settings.from_env({"DATABASE_URL": empty_db, "SERVICE_KEYS_FILE": str(keys_file)})
    with pytest.raises(BaseException) as raised:
        async with running(create_app(settings)):
            pass
    errors = raised.value.exceptions if isinstance(raised.value, BaseExceptionGroup) else (raised.value,)
    assert any(isinstance(e, migrate.SchemaBehind) and "assess db upgrade" in str(e) for e in errors)


async def test_jobs_left_running_before_0012_are_taken_over_after_it(client, service_keys, owner, owner_url):
    """Rows of the four job kinds left running by a worker that died before the job mechanism existed get
    a `jobs` row with a lapsed lease, so the first worker to poll takes them over."""
    from tests.delivery_setup import delivery_tenant

    tenant = await delivery_tenant(client, service_keys, slug="pre-jobs")
    tenant_id = uuid.UUID(tenant["id"])
    assessment = await owner.fetchval("SELECT id FROM assessments WHERE tenant_id = $1", tenant_id)
    await asyncio.to_thread(migrate.downgrade, owner_url, APP_ROLE, "0011")
    frozen = await owner.fetchval(
        "INSERT INTO statistics_runs (tenant_id, assessment_id, requested_by) VALUES ($1, $2, 'x') RETURNING id",
        tenant_id,
        assessment,
    )
    finished = await owner.fetchval(
        "INSERT INTO statistics_runs (tenant_id, assessment_id, requested_by, status) VALUES ($1, $2, 'x', 'done') "
        "RETURNING id",
        tenant_id,
        assessment,
    )
    await asyncio.to_thread(migrate.upgrade, owner_url, APP_ROLE)
    rows = await owner.fetch(
        "SELECT tenant_id, id, kind, state, lease_expires_at <= now() AS lapsed FROM jobs"
    )
    assert [tuple(r) for r in rows] == [(tenant_id, frozen, "item_statistics", "running", True)]
    assert finished != frozen
