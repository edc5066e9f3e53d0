"""Adversarial tenant isolation at the database layer: row-level security as the application role.

Everything here connects as `assess_app` (the role the service runs as) through the service's own
pool helpers, and tries to see or touch another tenant's rows: with the other tenant's context,
with no context, with the operator's or the auth lookup's context, across a reused pooled
connection, and by trying to switch row-level security off. The owner connection (a superuser)
is only used to look at the ground truth.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from service.db.pool import (
    auth_lookup_transaction,
    create_pool,
    dispatcher_transaction,
    operator_transaction,
    tenant_transaction,
)

APP_ROLE = "assess_app"
TABLES = ("tenants", "trusted_issuers", "org_units", "people")
TENANT_DATA = ("org_units", "people")


@dataclass
class Seeded:
    id: uuid.UUID
    slug: str
    units: dict[str, uuid.UUID] = field(default_factory=dict)  # code -> id
    people: dict[str, uuid.UUID] = field(default_factory=dict)  # external_id -> id
    issuer_id: uuid.UUID | None = None


@dataclass
class World:
    a: Seeded
    b: Seeded


@pytest.fixture
async def pool(app_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(app_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _seed_tenant(pool: asyncpg.Pool, tenant_id: uuid.UUID, slug: str, prefix: str) -> Seeded:
    """As the app role in the tenant's own context, the way the service writes."""
    seeded = Seeded(tenant_id, slug)
    root, city, hq = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.executemany(
            "INSERT INTO org_units (id, code, name, level, parent_id, path, depth) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (root, f"{prefix}-ROOT", f"{prefix} province", "province", None, f"/{root}/", 0),
                (city, f"{prefix}-CITY", f"{prefix} city", "city", root, f"/{root}/{city}/", 1),
                # The same code in both tenants: codes are per tenant, and must never resolve across.
                (hq, "HQ", f"{prefix} headquarters", None, None, f"/{hq}/", 0),
            ],
        )
        seeded.units = {f"{prefix}-ROOT": root, f"{prefix}-CITY": city, "HQ": hq}
        for external_id, unit in (
            (f"{prefix.lower()}-1", root),
            (f"{prefix.lower()}-2", city),
            ("shared-1", hq),
        ):
            seeded.people[external_id] = await conn.fetchval(
                "INSERT INTO people (external_id, org_unit_id, display_name) "
                "VALUES ($1, $2, $3) RETURNING id",
                external_id,
                unit,
                f"{prefix} {external_id}",
            )
        seeded.issuer_id = await conn.fetchval(
            "INSERT INTO trusted_issuers (issuer, audience, jwks) VALUES ($1, $2, $3) RETURNING id",
            f"https://idp.{slug}.example",
            f"{slug}-app",
            {"keys": []},
        )
    return seeded


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    async with operator_transaction(pool) as conn:
        a_id = await conn.fetchval("INSERT INTO tenants (slug, name) VALUES ('iso-a', 'A') RETURNING id")
        b_id = await conn.fetchval("INSERT INTO tenants (slug, name) VALUES ('iso-b', 'B') RETURNING id")
    return World(await _seed_tenant(pool, a_id, "iso-a", "A"), await _seed_tenant(pool, b_id, "iso-b", "B"))


async def _snapshot(owner: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as the superuser owner sees them (row-level security does not apply)."""
    order = {
        "tenants": "id",
        "trusted_issuers": "tenant_id, id",
        "org_units": "tenant_id, id",
        "people": "tenant_id, id",
    }
    return {t: [dict(r) for r in await owner.fetch(f"SELECT * FROM {t} ORDER BY {order[t]}")] for t in TABLES}


async def _count(conn: asyncpg.Connection, table: str) -> int:
    return len(await conn.fetch(f"SELECT * FROM {table}"))


def _affected(status: str) -> int:
    """'UPDATE 3' / 'DELETE 0' -> the row count."""
    return int(status.split()[-1])


# --------------------------------------------------------------------------- reading


async def test_owner_sees_both_tenants_so_the_filtering_below_is_real(
    world: World, owner: asyncpg.Connection
):
    snap = await _snapshot(owner)
    assert len(snap["tenants"]) == 2
    assert len(snap["trusted_issuers"]) == 2
    assert len(snap["org_units"]) == 6
    assert len(snap["people"]) == 6


@pytest.mark.parametrize("who", ["a", "b"])
async def test_tenant_context_unfiltered_selects_return_only_own_rows(
    pool: asyncpg.Pool, world: World, who: str
):
    me, other = (world.a, world.b) if who == "a" else (world.b, world.a)
    async with tenant_transaction(pool, me.id) as conn:
        people = await conn.fetch("SELECT * FROM people")
        units = await conn.fetch("SELECT * FROM org_units")
        issuers = await conn.fetch("SELECT * FROM trusted_issuers")
        tenants = await conn.fetch("SELECT * FROM tenants")
        # Asking for the other tenant's rows by their keys finds nothing either.
        by_id = await conn.fetch(
            "SELECT id FROM people WHERE id = ANY($1::uuid[])", list(other.people.values())
        )
        by_tenant = await conn.fetch("SELECT id FROM org_units WHERE tenant_id = $1", other.id)
        shared = await conn.fetch("SELECT id FROM org_units WHERE code = 'HQ'")
        counted = await conn.fetchval("SELECT count(*) FROM people")
    assert {r["id"] for r in people} == set(me.people.values())
    assert {r["tenant_id"] for r in people} == {me.id}
    assert {r["id"] for r in units} == set(me.units.values())
    assert {r["tenant_id"] for r in units} == {me.id}
    assert [r["id"] for r in issuers] == [me.issuer_id]
    assert [r["id"] for r in tenants] == [me.id]
    assert by_id == [] and by_tenant == []
    assert [r["id"] for r in shared] == [me.units["HQ"]]
    assert counted == 3


async def test_joins_and_subqueries_do_not_reach_the_other_tenant(pool: asyncpg.Pool, world: World):
    async with tenant_transaction(pool, world.a.id) as conn:
        joined = await conn.fetch(
            "SELECT p.external_id, u.code FROM people p JOIN org_units u ON u.id = p.org_unit_id"
        )
        cross = await conn.fetchval(
            "SELECT count(*) FROM people p "
            "WHERE EXISTS (SELECT 1 FROM org_units u WHERE u.tenant_id <> p.tenant_id)"
        )
        # A B unit id smuggled in as a literal still resolves to nothing.
        b_city = await conn.fetchval("SELECT code FROM org_units WHERE id = $1", world.b.units["B-CITY"])
    assert {r["external_id"] for r in joined} == set(world.a.people)
    assert cross == 0
    assert b_city is None


async def test_leaky_function_cannot_observe_other_tenants_rows(pool: asyncpg.Pool, world: World):
    """A user function in the WHERE clause runs after the policy's quals, so it never sees B's rows."""
    seen: list[str] = []
    async with pool.acquire() as conn:

        def listener(_conn: Any, message: asyncpg.PostgresLogMessage) -> None:
            seen.append(message.message)

        conn.add_log_listener(listener)
        try:
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(world.a.id))
                await conn.execute(
                    """CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
                       $$ BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$"""
                )
                rows = await conn.fetch("SELECT external_id FROM people WHERE pg_temp.leak(external_id)")
                await conn.fetch("SELECT code FROM org_units WHERE pg_temp.leak(code)")
        finally:
            conn.remove_log_listener(listener)
    assert {r["external_id"] for r in rows} == set(world.a.people)
    b_only = {*world.b.people, *world.b.units} - {*world.a.people, *world.a.units}
    assert [m for m in seen if m.removeprefix("saw ") in b_only] == []
    assert any(m == "saw a-1" for m in seen)  # the listener did work


# --------------------------------------------------------------------------- writing across


async def _fails_in_tenant(
    pool: asyncpg.Pool,
    tenant_id: uuid.UUID,
    sql: str,
    *args: Any,
    error: type[asyncpg.PostgresError] = asyncpg.InsufficientPrivilegeError,
) -> None:
    with pytest.raises(error):
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(sql, *args)


async def _affected_in_tenant(pool: asyncpg.Pool, tenant_id: uuid.UUID, sql: str, *args: Any) -> int:
    async with tenant_transaction(pool, tenant_id) as conn:
        return _affected(await conn.execute(sql, *args))


async def test_insert_with_other_tenants_id_is_refused(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    a, b = world.a, world.b
    new = uuid.uuid4()
    await _fails_in_tenant(
        pool,
        a.id,
        "INSERT INTO org_units (tenant_id, id, code, name, path, depth) "
        "VALUES ($1, $2, 'EVIL', 'evil', $3, 0)",
        b.id,
        new,
        f"/{new}/",
    )
    await _fails_in_tenant(
        pool, a.id, "INSERT INTO people (tenant_id, external_id) VALUES ($1, 'evil-1')", b.id
    )
    # Into B's tree: with B's unit as the parent / org unit (the FK would accept it, the policy must not).
    await _fails_in_tenant(
        pool,
        a.id,
        "INSERT INTO org_units (tenant_id, id, code, name, parent_id, path, depth) "
        "VALUES ($1, $2, 'EVIL2', 'evil', $3, $4, 1)",
        b.id,
        new,
        b.units["B-ROOT"],
        f"/{b.units['B-ROOT']}/{new}/",
    )
    await _fails_in_tenant(
        pool,
        a.id,
        "INSERT INTO people (tenant_id, external_id, org_unit_id) VALUES ($1, 'evil-2', $2)",
        b.id,
        b.units["B-CITY"],
    )
    await _fails_in_tenant(
        pool,
        a.id,
        "INSERT INTO trusted_issuers (tenant_id, issuer, audience, jwks_url) "
        "VALUES ($1, 'https://evil.example', 'evil', 'https://evil.example/jwks')",
        b.id,
    )
    # Upsert onto B's existing key: the INSERT is checked first and refused.
    await _fails_in_tenant(
        pool,
        a.id,
        "INSERT INTO people (tenant_id, external_id) VALUES ($1, 'b-1') "
        "ON CONFLICT (tenant_id, external_id) DO UPDATE SET display_name = 'pwned'",
        b.id,
    )
    # Tenants: only the operator may create them.
    await _fails_in_tenant(pool, a.id, "INSERT INTO tenants (slug, name) VALUES ('evil-tenant', 'Evil')")
    assert await _snapshot(owner) == before


async def test_update_and_delete_of_other_tenants_rows_affect_nothing(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    a, b = world.a, world.b
    statements = [
        ("UPDATE org_units SET name = 'pwned', updated_at = now() WHERE tenant_id = $1", b.id),
        ("UPDATE org_units SET name = 'pwned' WHERE id = ANY($1::uuid[])", list(b.units.values())),
        ("UPDATE people SET display_name = 'pwned', active = false WHERE tenant_id = $1", b.id),
        ("UPDATE people SET display_name = 'pwned' WHERE id = ANY($1::uuid[])", list(b.people.values())),
        ("UPDATE trusted_issuers SET audience = 'pwned' WHERE tenant_id = $1", b.id),
        ("UPDATE tenants SET status = 'suspended' WHERE id = $1", b.id),
        ("DELETE FROM people WHERE tenant_id = $1", b.id),
        ("DELETE FROM people WHERE id = ANY($1::uuid[])", list(b.people.values())),
        ("DELETE FROM org_units WHERE id = ANY($1::uuid[])", list(b.units.values())),
        ("DELETE FROM trusted_issuers WHERE id = $1", b.issuer_id),
        ("DELETE FROM tenants WHERE id = $1", b.id),
    ]
    for sql, arg in statements:
        assert await _affected_in_tenant(pool, a.id, sql, arg) == 0, sql
    # No WHERE at all: only A's own rows could be touched (checked, then rolled back).
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
        assert _affected(await conn.execute("UPDATE people SET display_name = 'mass'")) == 3
        assert _affected(await conn.execute("DELETE FROM people")) == 3
        await tx.rollback()
    assert await _snapshot(owner) == before


async def test_a_tenant_cannot_modify_even_its_own_tenant_row(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """tenants is read-only for a tenant: it cannot reactivate itself once suspended, nor rename itself."""
    await owner.execute("UPDATE tenants SET status = 'suspended' WHERE id = $1", world.a.id)
    before = await _snapshot(owner)
    assert await _affected_in_tenant(pool, world.a.id, "UPDATE tenants SET status = 'active'") == 0
    assert (
        await _affected_in_tenant(
            pool, world.a.id, "UPDATE tenants SET name = 'Renamed' WHERE id = $1", world.a.id
        )
        == 0
    )
    assert await _affected_in_tenant(pool, world.a.id, "DELETE FROM tenants") == 0
    assert await _snapshot(owner) == before


async def test_moving_own_rows_into_the_other_tenant_is_refused(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    a, b = world.a, world.b
    await _fails_in_tenant(
        pool, a.id, "UPDATE org_units SET tenant_id = $1 WHERE id = $2", b.id, a.units["HQ"]
    )
    await _fails_in_tenant(
        pool, a.id, "UPDATE people SET tenant_id = $1 WHERE id = $2", b.id, a.people["a-1"]
    )
    await _fails_in_tenant(pool, a.id, "UPDATE people SET tenant_id = $1", b.id)
    await _fails_in_tenant(pool, a.id, "UPDATE trusted_issuers SET tenant_id = $1", b.id)
    # Re-parenting A's unit under B's unit (same tenant_id, foreign parent) cannot even find the parent.
    await _fails_in_tenant(
        pool,
        a.id,
        "UPDATE org_units SET parent_id = $1 WHERE id = $2",
        b.units["B-ROOT"],
        a.units["HQ"],
        error=asyncpg.ForeignKeyViolationError,
    )
    await _fails_in_tenant(
        pool,
        a.id,
        "UPDATE people SET org_unit_id = $1 WHERE id = $2",
        b.units["B-CITY"],
        a.people["a-1"],
        error=asyncpg.ForeignKeyViolationError,
    )
    assert await _snapshot(owner) == before


# --------------------------------------------------------------------------- other contexts


async def test_no_context_sees_nothing_and_writes_nothing(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    async with pool.acquire() as conn, conn.transaction():
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
        for table in TABLES:
            assert await _count(conn, table) == 0, table
        for table in TABLES:
            assert _affected(await conn.execute(f"UPDATE {table} SET created_at = created_at")) == 0, table
            assert _affected(await conn.execute(f"DELETE FROM {table}")) == 0, table
    inserts = [
        ("INSERT INTO org_units (code, name, path, depth) VALUES ('X', 'x', '/x/', 0)", ()),
        (
            "INSERT INTO org_units (tenant_id, code, name, path, depth) VALUES ($1, 'X', 'x', '/x/', 0)",
            (world.a.id,),
        ),
        ("INSERT INTO people (external_id) VALUES ('x-1')", ()),
        ("INSERT INTO people (tenant_id, external_id) VALUES ($1, 'x-1')", (world.a.id,)),
        (
            (
                "INSERT INTO trusted_issuers (tenant_id, issuer, audience, jwks_url) "
                "VALUES ($1, 'https://x.example', 'x', 'https://x.example/jwks')"
            ),
            (world.a.id,),
        ),
        ("INSERT INTO tenants (slug, name) VALUES ('no-context', 'X')", ()),
    ]
    for sql, args in inserts:
        with pytest.raises(asyncpg.PostgresError):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(sql, *args)
    assert await _snapshot(owner) == before


@pytest.mark.parametrize(
    "value", ["", "00000000-0000-0000-0000-000000000000", "random"], ids=["empty", "nil-uuid", "random-uuid"]
)
async def test_empty_or_unknown_tenant_context_sees_nothing(pool: asyncpg.Pool, world: World, value: str):
    setting = str(uuid.uuid4()) if value == "random" else value
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", setting)
        for table in TABLES:
            assert await _count(conn, table) == 0, table


async def test_malformed_tenant_context_is_an_error_not_a_wildcard(pool: asyncpg.Pool, world: World):
    for setting in ("not-a-uuid", "%", "' OR true --"):
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", setting)
                await conn.fetch("SELECT * FROM people")


async def test_operator_context_sees_tenants_but_no_tenant_data(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    async with operator_transaction(pool) as conn:
        assert {r["id"] for r in await conn.fetch("SELECT * FROM tenants")} == {world.a.id, world.b.id}
        assert {r["id"] for r in await conn.fetch("SELECT * FROM trusted_issuers")} == {
            world.a.issuer_id,
            world.b.issuer_id,
        }
        for table in TENANT_DATA:
            assert await _count(conn, table) == 0, table
            assert _affected(await conn.execute(f"UPDATE {table} SET created_at = now()")) == 0
            assert _affected(await conn.execute(f"DELETE FROM {table}")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with operator_transaction(pool) as conn:
            await conn.execute("INSERT INTO people (tenant_id, external_id) VALUES ($1, 'op-1')", world.a.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with operator_transaction(pool) as conn:
            await conn.execute(
                "INSERT INTO org_units (tenant_id, code, name, path, depth) "
                "VALUES ($1, 'OP', 'op', '/op/', 0)",
                world.a.id,
            )
    assert await _snapshot(owner) == before


async def test_auth_lookup_context_reads_tenants_and_issuers_only_and_writes_nothing(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    async with auth_lookup_transaction(pool) as conn:
        assert await _count(conn, "tenants") == 2
        assert await _count(conn, "trusted_issuers") == 2
        for table in TENANT_DATA:
            assert await _count(conn, table) == 0, table
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with auth_lookup_transaction(pool) as conn:
            await conn.execute("UPDATE tenants SET status = 'active'")
    # The policies themselves are SELECT-only: even in a read-write transaction the flag writes nothing.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.auth_lookup', 'on', true)")
        assert _affected(await conn.execute("UPDATE tenants SET status = 'active'")) == 0
        assert _affected(await conn.execute("UPDATE trusted_issuers SET audience = 'x'")) == 0
        assert _affected(await conn.execute("DELETE FROM trusted_issuers")) == 0
        assert _affected(await conn.execute("DELETE FROM tenants")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.auth_lookup', 'on', true)")
            await conn.execute(
                "INSERT INTO trusted_issuers (tenant_id, issuer, audience, jwks_url) "
                "VALUES ($1, 'https://x.example', 'x', 'https://x.example/j')",
                world.a.id,
            )
    assert await _snapshot(owner) == before


# --------------------------------------------------------------------------- no leaking through the pool


async def test_context_does_not_survive_on_the_pooled_connection(app_url: str, world: World):
    one = await create_pool(app_url, min_size=1, max_size=1)
    try:
        async with tenant_transaction(one, world.a.id) as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            assert await _count(conn, "people") == 3
        async with one.acquire() as conn, conn.transaction():
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # really the same connection
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
            for table in TABLES:
                assert await _count(conn, table) == 0, table
        async with one.acquire() as conn:  # outside any explicit transaction too
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
            assert await _count(conn, "people") == 0

        # After a failed (rolled back) tenant transaction.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(one, world.a.id) as conn:
                await conn.execute("INSERT INTO people (tenant_id, external_id) VALUES ($1, 'x')", world.b.id)
        async with one.acquire() as conn, conn.transaction():
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
            assert await _count(conn, "people") == 0

        # After an operator transaction and an auth lookup.
        async with operator_transaction(one) as conn:
            assert await _count(conn, "tenants") == 2
        async with auth_lookup_transaction(one) as conn:
            assert await _count(conn, "trusted_issuers") == 2
        async with one.acquire() as conn, conn.transaction():
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SELECT current_setting('app.operator', true)") == ""
            assert await conn.fetchval("SELECT current_setting('app.auth_lookup', true)") == ""
            for table in TABLES:
                assert await _count(conn, table) == 0, table

        # Switching tenants on the same connection: B's transaction sees B only.
        async with tenant_transaction(one, world.b.id) as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert {r["id"] for r in await conn.fetch("SELECT id FROM people")} == set(
                world.b.people.values()
            )

        # Defence in depth: even session-level settings (which the service never makes) reach none of
        # the service's transactions: each sets every context setting in its first statement.
        async with one.acquire() as conn:
            await conn.execute(
                "SELECT set_config('app.tenant_id', $1, false), set_config('app.operator', 'on', false), "
                "set_config('app.auth_lookup', 'on', false), set_config('app.dispatcher', 'on', false)",
                str(world.a.id),
            )
        async with tenant_transaction(one, world.b.id) as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert {r["id"] for r in await conn.fetch("SELECT id FROM people")} == set(
                world.b.people.values()
            )
            assert await _count(conn, "tenants") == 1  # its own row, not the operator's view
            assert await _count(conn, "trusted_issuers") == 1
        async with operator_transaction(one) as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            for table in TABLES:
                if table not in ("tenants", "trusted_issuers"):
                    assert await _count(conn, table) == 0, table
        for transaction in (auth_lookup_transaction, dispatcher_transaction):
            async with transaction(one) as conn:
                for table in TABLES:
                    if table not in ("tenants", "trusted_issuers"):
                        assert await _count(conn, table) == 0, (transaction.__name__, table)
    finally:
        await one.close()


# --------------------------------------------------------------------------- no bypass for the app role


async def test_row_security_off_does_not_bypass(pool: asyncpg.Pool, world: World):
    for table in TABLES:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(world.a.id))
            await conn.execute("SET LOCAL row_security = off")
            try:
                rows = await conn.fetch(f"SELECT * FROM {table}")
            except asyncpg.InsufficientPrivilegeError:
                continue  # "query would be affected by row-level security policy": the expected answer
            key = "id" if table == "tenants" else "tenant_id"
            assert {r[key] for r in rows} <= {world.a.id}, table


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE people DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE org_units NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE tenants DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE trusted_issuers NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON people",
        "ALTER POLICY tenant_isolation ON people USING (true)",
        "CREATE POLICY open ON people USING (true) WITH CHECK (true)",
        "ALTER TABLE people OWNER TO assess_app",
        "TRUNCATE people",
        "TRUNCATE org_units CASCADE",
        "TRUNCATE tenants CASCADE",
        "CREATE TABLE public.sneaky (id int)",
        "CREATE VIEW public.all_people AS SELECT * FROM people",
        "UPDATE alembic_version SET version_num = version_num",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "ALTER ROLE assess_app BYPASSRLS",
        "ALTER ROLE assess_app SUPERUSER",
        "CREATE ROLE sneaky BYPASSRLS",
        "ALTER TABLE people ADD COLUMN sneaky int",
    ],
)
async def test_app_role_cannot_switch_off_or_route_around_row_security(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection, sql: str
):
    before = await _snapshot(owner)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(sql)
    assert await _snapshot(owner) == before


async def test_copy_cannot_write_into_another_tenant_nor_read_past_the_policy(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    before = await _snapshot(owner)
    with pytest.raises(asyncpg.PostgresError):
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.copy_records_to_table(
                "people", records=[(world.b.id, "copied-1")], columns=["tenant_id", "external_id"]
            )
    assert await _snapshot(owner) == before
    async with tenant_transaction(pool, world.a.id) as conn:
        rows = await conn.copy_from_query("SELECT tenant_id FROM people", output=_Sink())
    assert rows == "COPY 3"


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    async def __call__(self, chunk: bytes) -> None:
        self.data += chunk


async def test_app_role_is_unprivileged(owner: asyncpg.Connection):
    role = await owner.fetchrow(
        "SELECT oid, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
        APP_ROLE,
    )
    assert role is not None
    assert role["rolsuper"] is False
    assert role["rolbypassrls"] is False
    assert role["rolcreaterole"] is False
    assert role["rolcreatedb"] is False
    # Not a member of any role whose powers it could inherit or SET ROLE to.
    assert (
        await owner.fetch("SELECT roleid::regrole::text FROM pg_auth_members WHERE member = $1", role["oid"])
        == []
    )
    # Owns nothing: no table, view, sequence, index or function.
    assert await owner.fetch("SELECT relname FROM pg_class WHERE relowner = $1", role["oid"]) == []
    assert await owner.fetch("SELECT tablename FROM pg_tables WHERE tableowner = $1", APP_ROLE) == []
    assert await owner.fetch("SELECT proname FROM pg_proc WHERE proowner = $1", role["oid"]) == []
    assert await owner.fetchval("SELECT has_schema_privilege($1, 'public', 'CREATE')", APP_ROLE) is False
    # What it may do to each table: exactly the four DML privileges, no TRUNCATE / REFERENCES / TRIGGER.
    for table in TABLES:
        for privilege, expected in (
            ("SELECT", True),
            ("INSERT", True),
            ("UPDATE", True),
            ("DELETE", True),
            ("TRUNCATE", False),
            ("REFERENCES", False),
            ("TRIGGER", False),
        ):
            assert (
                await owner.fetchval("SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege)
                is expected
            ), (table, privilege)
    for privilege, expected in (("SELECT", True), ("INSERT", False), ("UPDATE", False), ("DELETE", False)):
        assert (
            await owner.fetchval("SELECT has_table_privilege($1, 'alembic_version', $2)", APP_ROLE, privilege)
            is expected
        ), privilege


async def test_every_public_table_has_forced_row_level_security(owner: asyncpg.Connection):
    rows = await owner.fetch(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"""
    )
    tables = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
    assert set(TABLES) <= set(tables), tables  # the check below is not vacuous
    unprotected = {
        name: flags for name, flags in tables.items() if name != "alembic_version" and flags != (True, True)
    }
    assert unprotected == {}
    # And each has at least one policy (RLS with no policy would be deny-all, still listed for review).
    policies = {
        r["tablename"]
        for r in await owner.fetch("SELECT tablename FROM pg_policies WHERE schemaname = 'public'")
    }
    assert set(tables) - {"alembic_version"} <= policies
    # No view in public can be used as a window around the policies.
    assert (
        await owner.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
        )
        == []
    )


async def test_tenant_tables_policies_key_on_the_tenant_setting(owner: asyncpg.Connection):
    """Every tenant-data table's policy compares tenant_id with app.tenant_id for both reading and writing."""
    for table in TENANT_DATA:
        rows = await owner.fetch(
            "SELECT policyname, cmd, permissive, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
        assert [r["policyname"] for r in rows] == ["tenant_isolation"], table
        (policy,) = rows
        assert policy["cmd"] == "ALL" and policy["permissive"] == "PERMISSIVE"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression


# Rating corrections are history (append-only); allocations are reserved and released, never edited.
RATING_TABLES = {
    "rating_corrections": ("SELECT", "INSERT"),
    "rating_allocations": ("SELECT", "INSERT", "DELETE"),
}


async def test_rating_history_and_allocations_are_tenant_tables(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    for table, granted in RATING_TABLES.items():
        (policy,) = await owner.fetch(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
        assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert await owner.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ) is (privilege in granted), (table, privilege)
    # In A's context, a row naming B is refused by the policy (before any foreign key is looked at).
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO rating_allocations (tenant_id, task_id, rater, allocated_by) VALUES ($1, $2, 'r', 'x')",
                world.b.id,
                uuid.uuid4(),
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO rating_corrections (tenant_id, rating_id, revision, value, given_at) "
                "VALUES ($1, $2, 1, 0, now())",
                world.b.id,
                uuid.uuid4(),
            )


async def test_console_sessions_are_a_tenant_table_read_across_tenants_only_by_auth_lookup(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """A session row is the tenant's (written and deleted in its own context); the auth-lookup context,
    which finds a cookie's row before the tenant is known, may read and never write."""
    policies = {
        r["policyname"]: r
        for r in await owner.fetch(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
            "AND tablename = 'console_sessions'"
        )
    }
    assert set(policies) == {"tenant_isolation", "auth_lookup"}
    assert (
        policies["tenant_isolation"]["cmd"] == "ALL"
        and "app.tenant_id" in policies["tenant_isolation"]["qual"]
    )
    assert policies["auth_lookup"]["cmd"] == "SELECT" and "app.auth_lookup" in policies["auth_lookup"]["qual"]
    row = (
        "INSERT INTO console_sessions (tenant_id, id_hash, subject, issuer, roles, locale, csrf_token, "
        "idle_expires_at, absolute_expires_at) VALUES ($1, $2, 's', 'i', '{author}', 'en', 't', "
        "now() + interval '1 hour', now() + interval '1 hour')"
    )
    async with tenant_transaction(pool, world.b.id) as conn:
        await conn.execute(row, world.b.id, b"b" * 32)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(row, world.b.id, b"a" * 32)
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0
        assert _affected(await conn.execute("DELETE FROM console_sessions")) == 0
    async with auth_lookup_transaction(pool) as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 1
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.auth_lookup', 'on', true)")
        assert _affected(await conn.execute("DELETE FROM console_sessions")) == 0
        assert _affected(await conn.execute("UPDATE console_sessions SET locale = 'zh-CN'")) == 0
    assert await owner.fetchval("SELECT count(*) FROM console_sessions") == 1


async def test_item_images_are_a_tenant_table_written_once(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """Images (0018): the tenant policy on reads and writes; rows are inserted, never updated or deleted
    by the service; one tenant never sees, nor writes into, another's."""
    (policy,) = await owner.fetch(
        "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
        "AND tablename = 'item_images'"
    )
    assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
    for expression in (policy["qual"], policy["with_check"]):
        assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        assert await owner.fetchval(
            "SELECT has_table_privilege($1, 'item_images', $2)", APP_ROLE, privilege
        ) is (privilege in ("SELECT", "INSERT")), privilege
    row = (
        "INSERT INTO item_images (tenant_id, id, media_type, size, content, created_by) "
        "VALUES ($1, $2, 'image/png', 4, '\\x89504e47'::bytea, 'x')"
    )
    image_id = "ab" * 32
    async with tenant_transaction(pool, world.b.id) as conn:
        await conn.execute(row, world.b.id, image_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(row, world.b.id, "cd" * 32)
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM item_images") == 0
        assert await conn.fetchval("SELECT count(*) FROM item_images WHERE id = $1", image_id) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # not even B updates its own image
        async with tenant_transaction(pool, world.b.id) as conn:
            await conn.execute("UPDATE item_images SET name = 'x'")
    async with tenant_transaction(pool, world.b.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM item_images") == 1


# Participation tallies (0019, per subtree 0029) are kept by triggers on people, attempts and org
# units, which run as the writer: the app role reads, inserts and updates them in its own tenant's
# context only, and never deletes.
TALLY_TABLES = {
    "audience_tallies": ("SELECT", "INSERT", "UPDATE"),
    "participation_tallies": ("SELECT", "INSERT", "UPDATE"),
    "audience_subtree_tallies": ("SELECT", "INSERT", "UPDATE"),
    "participation_subtree_tallies": ("SELECT", "INSERT", "UPDATE"),
}


async def test_participation_tallies_are_tenant_tables(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    for table, granted in TALLY_TABLES.items():
        (policy,) = await owner.fetch(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
        assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert await owner.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ) is (privilege in granted), (table, privilege)
    # The seeded people are tallied, each tenant's in its own rows, and A sees only its own.
    by_tenant = {
        r["tenant_id"]: r["people"]
        for r in await owner.fetch(
            "SELECT tenant_id, sum(people)::int AS people FROM audience_tallies GROUP BY 1"
        )
    }
    people = {
        r["tenant_id"]: r["n"]
        for r in await owner.fetch("SELECT tenant_id, count(*)::int AS n FROM people WHERE active GROUP BY 1")
    }
    assert by_tenant == people and world.b.id in by_tenant
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT sum(people) FROM audience_tallies") == people[world.a.id]
        assert (
            _affected(
                await conn.execute("UPDATE audience_tallies SET people = 0 WHERE tenant_id = $1", world.b.id)
            )
            == 0
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # a row naming B is refused by the policy
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO audience_tallies (tenant_id, org_unit_id, category, people) VALUES ($1, NULL, 'other', 1)",
                world.b.id,
            )
    # The subtree rows alike: A sees none of B's, and may not write one naming B.
    async with tenant_transaction(pool, world.a.id) as conn:
        for table in ("audience_subtree_tallies", "participation_subtree_tallies"):
            assert not await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id <> $1", world.a.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO audience_subtree_tallies (tenant_id, org_unit_id, category, shard, people) "
                "VALUES ($1, gen_random_uuid(), 'other', 0, 1)",
                world.b.id,
            )


async def test_calibrations_are_a_tenant_table_and_published_ones_cannot_change(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """The app role reads, adds and updates calibrations (never deletes), only its own tenant's; a
    published one is refused any update, in its own tenant's context too."""
    (policy,) = await owner.fetch(
        "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
        "AND tablename = 'calibrations'"
    )
    assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
    for expression in (policy["qual"], policy["with_check"]):
        assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        assert await owner.fetchval(
            "SELECT has_table_privilege($1, 'calibrations', $2)", APP_ROLE, privilege
        ) is (privilege in ("SELECT", "INSERT", "UPDATE")), privilege
    # B's assessment and a published calibration of it, written in B's own context.
    async with tenant_transaction(pool, world.b.id) as conn:
        assessment = await conn.fetchval(
            "INSERT INTO assessments (code, content) VALUES ('B-CAL', '{}') RETURNING id"
        )
        calibration = await conn.fetchval(
            "INSERT INTO calibrations (assessment_id, requested_by, status, result) "
            "VALUES ($1, 'b-admin', 'done', '{}') RETURNING id",
            assessment,
        )
        await conn.execute(
            "UPDATE calibrations SET state = 'published', published_at = now(), published_by = 'b-admin' "
            "WHERE id = $1",
            calibration,
        )
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM calibrations") == 0
        assert _affected(await conn.execute("UPDATE calibrations SET result = NULL")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO calibrations (tenant_id, assessment_id, requested_by) VALUES ($1, $2, 'a')",
                world.b.id,
                assessment,
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(pool, world.b.id) as conn:
            await conn.execute("DELETE FROM calibrations")
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):  # published: immutable, even for B
        async with tenant_transaction(pool, world.b.id) as conn:
            await conn.execute("UPDATE calibrations SET result = '{\"x\": 1}' WHERE id = $1", calibration)
    row = await owner.fetchrow("SELECT tenant_id, state, result FROM calibrations WHERE id = $1", calibration)
    assert (row["tenant_id"], row["state"], row["result"]) == (world.b.id, "published", "{}")


async def test_rescoring_batches_are_a_tenant_table(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """A rescoring's batches (issue 19): only its own tenant's context reads, changes or deletes them, and
    no context may write a row naming another tenant."""
    (policy,) = await owner.fetch(
        "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
        "AND tablename = 'rescoring_batches'"
    )
    assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
    for expression in (policy["qual"], policy["with_check"]):
        assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
    async with tenant_transaction(pool, world.b.id) as conn:
        assessment = await conn.fetchval(
            "INSERT INTO assessments (code, content) VALUES ('B-RSB', '{}') RETURNING id"
        )
        rescoring = await conn.fetchval(
            "INSERT INTO rescorings (assessment_id, reason, requested_by, pins) VALUES ($1, 'b', 'b', '{}') "
            "RETURNING id",
            assessment,
        )
        batch = uuid.uuid4()
        await conn.execute(
            "INSERT INTO rescoring_batches (id, rescoring_id, phase, number, upto_id) VALUES ($1, $2, 'commit', 0, $1)",
            batch,
            rescoring,
        )
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM rescoring_batches") == 0
        assert _affected(await conn.execute("UPDATE rescoring_batches SET done = true, tally = '{}'")) == 0
        assert _affected(await conn.execute("DELETE FROM rescoring_batches")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO rescoring_batches (tenant_id, id, rescoring_id, phase, number, upto_id) "
                "VALUES ($1, $2, $3, 'commit', 1, $2)",
                world.b.id,
                uuid.uuid4(),
                rescoring,
            )
    row = await owner.fetchrow("SELECT tenant_id, done FROM rescoring_batches WHERE id = $1", batch)
    assert (row["tenant_id"], row["done"]) == (world.b.id, False)


async def test_lrs_settings_and_statements_are_tenant_tables(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """A tenant's LRS settings (with the basic-auth secret) and its statement queue: only its own
    context reads or changes them; the dispatcher sees which tenants have statements due, nothing else."""
    for table in ("lrs_endpoints", "lrs_statements"):
        policies = {
            r["policyname"]: r
            for r in await owner.fetch(
                "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
                "AND tablename = $1",
                table,
            )
        }
        assert set(policies) == (
            {"tenant_isolation", "dispatcher"} if table == "lrs_statements" else {"tenant_isolation"}
        )
        policy = policies["tenant_isolation"]
        assert policy["cmd"] == "ALL"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
        if table == "lrs_statements":
            assert (
                policies["dispatcher"]["cmd"] == "SELECT"
                and "app.dispatcher" in policies["dispatcher"]["qual"]
            )
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert await owner.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ) is (privilege != "TRUNCATE"), (table, privilege)
    async with tenant_transaction(pool, world.b.id) as conn:  # B's LRS and one due statement
        await conn.execute(
            "INSERT INTO lrs_endpoints (url, key, secret, home_page, created_by) "
            "VALUES ('https://lrs.b.example/xAPI/', 'b', 'b-secret', 'https://idp.b.example', 'b-admin')"
        )
        statement = uuid.uuid4()
        await conn.execute(
            "INSERT INTO lrs_statements (id, verb, attempt_id, statement) VALUES ($1, 'attempted', $2, '{}')",
            statement,
            uuid.uuid4(),
        )
    async with tenant_transaction(pool, world.a.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lrs_endpoints") == 0
        assert await conn.fetchval("SELECT count(*) FROM lrs_statements") == 0
        assert _affected(await conn.execute("UPDATE lrs_endpoints SET url = 'https://evil.example/'")) == 0
        assert _affected(await conn.execute("UPDATE lrs_statements SET status = 'pending'")) == 0
        assert _affected(await conn.execute("DELETE FROM lrs_statements")) == 0
        assert _affected(await conn.execute("DELETE FROM lrs_endpoints")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO lrs_endpoints (tenant_id, url, key, secret, home_page, created_by) "
                "VALUES ($1, 'https://x.example/', 'a', 's', 'https://idp.a.example', 'a')",
                world.b.id,
            )
    async with dispatcher_transaction(pool) as conn:  # tenant ids of due statements; no settings at all
        assert world.b.id in {
            r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM lrs_statements")
        }
        assert await conn.fetchval("SELECT count(*) FROM lrs_endpoints") == 0
    async with tenant_transaction(pool, world.b.id) as conn:
        assert await conn.fetchval("SELECT secret FROM lrs_endpoints") == "b-secret"
        assert await conn.fetchval("SELECT count(*) FROM lrs_statements WHERE id = $1", statement) == 1


async def test_credential_tables_are_tenant_tables_that_keep_their_history(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """Issuers (with their private keys), settings and credentials: read, added and updated (revoked)
    by the app role only in their own tenant, never deleted; A neither sees B's rows nor changes them,
    nor writes a row naming B."""
    tables = ("credential_issuers", "credential_settings", "credentials")
    for table in tables:
        (policy,) = await owner.fetch(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
            "AND tablename = $1",
            table,
        )
        assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert await owner.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ) is (privilege in ("SELECT", "INSERT", "UPDATE")), (table, privilege)
    async with tenant_transaction(pool, world.b.id) as conn:
        assessment = await conn.fetchval(
            "INSERT INTO assessments (code, content) VALUES ('B-BADGE', '{}') RETURNING id"
        )
        attempt = await conn.fetchval(
            "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
            "VALUES ($1, $2, 1, 1, '{}', 0) RETURNING id",
            assessment,
            world.b.people["b-1"],
        )
        await conn.execute(
            "INSERT INTO credential_issuers (name, url, kid, private_pem, public_jwk) "
            "VALUES ('{\"en\": \"B\"}', 'https://b.example', 'key-b', 'B private key', '{}')"
        )
        await conn.execute(
            "INSERT INTO credential_settings (assessment_id, enabled, updated_by) VALUES ($1, true, 'b')",
            assessment,
        )
        credential = await conn.fetchval(
            "INSERT INTO credentials (attempt_id, assessment_id, person_id, subject, level, score_version, "
            "status_index, token, document) VALUES ($1, $2, $3, 'AK', 'L2', 1, 0, 'b.token.jws', '{}') "
            "RETURNING id",
            attempt,
            assessment,
            world.b.people["b-1"],
        )
    before = {t: await owner.fetch(f"SELECT * FROM {t} WHERE tenant_id = $1", world.b.id) for t in tables}
    async with tenant_transaction(pool, world.a.id) as conn:
        for table in tables:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert (
            _affected(await conn.execute("UPDATE credentials SET revoked_at = now(), revoked_reason = 'x'"))
            == 0
        )
        assert _affected(await conn.execute("UPDATE credential_issuers SET next_index = 99")) == 0
        assert _affected(await conn.execute("UPDATE credential_settings SET enabled = false")) == 0
    for sql, args in (
        (
            "INSERT INTO credential_issuers (tenant_id, name, url, kid, private_pem, public_jwk) "
            "VALUES ($1, '{}', 'https://evil.example', 'k', 'p', '{}')",
            (world.b.id,),
        ),
        (
            "INSERT INTO credential_settings (tenant_id, assessment_id, enabled, updated_by) "
            "VALUES ($1, $2, false, 'a')",
            (world.b.id, assessment),
        ),
        (
            "INSERT INTO credentials (tenant_id, attempt_id, assessment_id, person_id, subject, level, "
            "score_version, status_index, token, document) VALUES ($1, $2, $3, $4, 'AK', 'L3', 1, 1, 't', '{}')",
            (world.b.id, attempt, assessment, world.b.people["b-1"]),
        ),
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(pool, world.a.id) as conn:
                await conn.execute(sql, *args)
    for table in tables:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_transaction(pool, world.b.id) as conn:
                await conn.execute(f"DELETE FROM {table}")
    assert {
        t: await owner.fetch(f"SELECT * FROM {t} WHERE tenant_id = $1", world.b.id) for t in tables
    } == before
    assert await owner.fetchval("SELECT token FROM credentials WHERE id = $1", credential) == "b.token.jws"


async def test_training_effect_pairs_and_their_sums_are_tenant_tables(
    pool: asyncpg.Pool, world: World, owner: asyncpg.Connection
):
    """The training effect's pairs and sums kept ahead (0026): only the tenant's own context reads or
    changes them, and a row naming another tenant is refused."""
    for table in ("effect_pairs", "effect_rollups"):
        (policy,) = await owner.fetch(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
            table,
        )
        assert policy["policyname"] == "tenant_isolation" and policy["cmd"] == "ALL"
        for expression in (policy["qual"], policy["with_check"]):
            assert "tenant_id = " in expression and "app.tenant_id" in expression, expression
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert await owner.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ) is (privilege != "TRUNCATE"), (table, privilege)
    async with tenant_transaction(pool, world.b.id) as conn:  # B's pair of assessments and one row of sums
        first, second = [
            await conn.fetchval(
                "INSERT INTO assessments (code, content) VALUES ($1, '{}') RETURNING id", code
            )
            for code in ("B-EFF-1", "B-EFF-2")
        ]
        await conn.execute("INSERT INTO effect_pairs (before_id, after_id) VALUES ($1, $2)", first, second)
        await conn.execute(
            "INSERT INTO effect_rollups (before_id, after_id, unit_id, category, measure, n, sum_before, sum_after, "
            "sum_before_sq, sum_after_sq, sum_gain_sq) VALUES ($1, $2, gen_random_uuid(), 'teacher', 'overall', "
            "1, 50, 60, 2500, 3600, 100)",
            first,
            second,
        )
    async with tenant_transaction(pool, world.a.id) as conn:
        for table in ("effect_pairs", "effect_rollups"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
            assert _affected(await conn.execute(f"UPDATE {table} SET before_id = after_id")) == 0, table
            assert _affected(await conn.execute(f"DELETE FROM {table}")) == 0, table
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # A cannot write a row naming B
        async with tenant_transaction(pool, world.a.id) as conn:
            await conn.execute(
                "INSERT INTO effect_pairs (tenant_id, before_id, after_id) VALUES ($1, $2, $3)",
                world.b.id,
                second,
                first,
            )
    assert await owner.fetchval("SELECT count(*) FROM effect_rollups WHERE tenant_id = $1", world.b.id) == 1
