"""Participation of a running sitting at 10k, 100k and 300k people in the audience.

An embedded PostgreSQL in a temporary directory (or DATABASE_URL, in a fresh database), migrated,
with the demo tenant (its assessment's audience is the province `P`). Each size adds a tree of
5 cities x 10 counties x 20 townships under `P` (with `--villages N`, N villages under each township,
as a real province has: then the people live in the villages and the tallies have a row per village
and category), spreads the people over the lowest level, and gives 60% of them an attempt, half of
those submitted. Then `participation.participation` (what
`GET /v1/assessments/{code}/participation` calls) is timed on the app role's tenant transaction,
for the whole tenant, a city and a county: the server's time without HTTP.

    ./dev python bench/participation.py [--sizes 10000,100000,300000] [--requests 30] [--villages 20]

With `--bulk N` it times instead what bulk writes of people cost the tally triggers: one INSERT of N
people into 100 villages of one township (as `POST /v1/people/bulk` does, at most 10,000), 60% of
them given an attempt, then one UPDATE moving all of them to the next village (a third changing
category), each in its own transaction; then single starts, one transaction each. `--at 0029` (or
0028) first downgrades to that revision's triggers, for comparison.

    ./dev python bench/participation.py --bulk 10000 [--at 0029]

With `--attempts N` it times what bulk writes of attempts cost the tally triggers: N people inserted
into 100 villages of one township (untimed), then one INSERT of an attempt for each of them (30%
submitted, as a history loader or an import writes them), then one UPDATE submitting half of the
others (as a deadline sweep would, in bulk), each in its own transaction; then single starts and
single submissions, one transaction each. `--at 0031` first downgrades to the row-level attempts
trigger, for comparison.

    ./dev python bench/participation.py --attempts 10000 [--at 0031]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import _harness  # noqa: F401  (puts the repository on sys.path, as every benchmark does)
import asyncpg

from service.db import migrate
from service.db.pool import create_pool, tenant_transaction
from service.db.urls import with_database, with_user
from service.delivery import participation
from service.demo import DEMO_ASSESSMENT, DEMO_TEACHER_ASSESSMENT, seed_demo

APP_ROLE = "assess_bench_app"


async def _database() -> str:
    url = os.environ.get("DATABASE_URL")
    if url is None:
        from service.db.embedded import start_embedded

        url = start_embedded(Path(tempfile.mkdtemp(prefix="assess-bench-participation-")))
    name = f"assess_bench_participation_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    owner = with_database(url, name)
    await migrate.ensure_app_role(owner, APP_ROLE, None)
    await asyncio.to_thread(migrate.upgrade, owner, APP_ROLE)
    return owner


async def _add_levels(conn: asyncpg.Connection, levels: tuple[tuple[str, str, str, int, int], ...]) -> None:
    """Each (parent level or code, child code letter, level, children per parent, depth): that many units
    under every unit of the parent level (`P` the province itself; the bench's own units, coded `B-...`)."""
    for parent, child, level, n, depth in levels:
        await conn.execute(
            f"""WITH made AS (
                    SELECT gen_random_uuid() AS id, u.id AS parent_id, u.path AS parent_path,
                           CASE WHEN u.code = 'P' THEN 'B' ELSE u.code END || '-{child}' || k AS code
                    FROM org_units u, generate_series(1, {n}) k
                    WHERE u.code = '{parent}' OR (u.level = '{parent}' AND u.code LIKE 'B-%'))
                INSERT INTO org_units (id, code, name, level, parent_id, path, depth)
                SELECT id, code, code, '{level}', parent_id, parent_path || id || '/', {depth} FROM made"""
        )


async def _grow(conn: asyncpg.Connection, people: int, start: int, villages: int = 0) -> None:
    """Add people `start`..`people` (the tree on first use), and attempts."""
    lowest = "village" if villages else "township"
    if start == 0:
        levels: tuple[tuple[str, str, str, int, int], ...] = (
            ("P", "C", "city", 5, 1),
            ("city", "K", "county", 10, 2),
            ("county", "T", "township", 20, 3),
        )
        if villages:
            levels += (("township", "V", "village", villages, 4),)
        await _add_levels(conn, levels)
    towns = [
        r["id"] for r in await conn.fetch("SELECT id FROM org_units WHERE level = $1 ORDER BY code", lowest)
    ]
    await conn.execute(
        """INSERT INTO people (external_id, org_unit_id, category, display_name)
           SELECT 'b-' || g, ($3::uuid[])[1 + g % cardinality($3::uuid[])],
                  (ARRAY['civil_servant', 'teacher', 'leading_cadre'])[1 + g % 3], 'Person ' || g
           FROM generate_series($1::int, $2::int - 1) g""",
        start,
        people,
        towns,
    )
    assessment = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", DEMO_ASSESSMENT)
    await conn.execute(
        """INSERT INTO attempts (assessment_id, person_id, number, status, seed, form, item_count,
                                 submitted_at, submitted_by)
           SELECT $1, p.id, 1, CASE WHEN g % 10 < 3 THEN 'submitted' ELSE 'in_progress' END, g, '[]', 0,
                  CASE WHEN g % 10 < 3 THEN now() END, CASE WHEN g % 10 < 3 THEN 'candidate' END
           FROM people p, LATERAL (SELECT substr(p.external_id, 3)::int AS g) n
           WHERE p.external_id LIKE 'b-%' AND n.g >= $2 AND n.g < $3 AND n.g % 10 < 6""",
        assessment,
        start,
        people,
    )


async def _time(
    pool: asyncpg.Pool, tenant: uuid.UUID, unit: str | None, requests: int
) -> tuple[float, float, int]:
    took: list[float] = []
    audience = 0
    for _ in range(requests):
        async with tenant_transaction(pool, tenant) as conn:
            started = time.perf_counter()
            found = await participation.participation(conn, DEMO_ASSESSMENT, unit)
            took.append((time.perf_counter() - started) * 1000)
            audience = found.total.audience
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1], audience


async def _write_cost(owner: str, pool: asyncpg.Pool, tenant: uuid.UUID, starts: int) -> None:
    """What the tallies cost a start: `starts` attempts inserted one transaction each (as a start commits
    its own), with the tally trigger and with it disabled, on the demo teacher assessment."""
    admin = await asyncpg.connect(owner)
    tally_triggers = await _attempt_tally_triggers(admin)
    try:
        async with tenant_transaction(pool, tenant) as conn:
            assessment = await conn.fetchval(
                "SELECT id FROM assessments WHERE code = $1", DEMO_TEACHER_ASSESSMENT
            )
            people = [
                r["id"] for r in await conn.fetch("SELECT id FROM people ORDER BY id LIMIT $1", 2 * starts)
            ]
        for trigger, chosen in (("on", people[:starts]), ("off", people[starts:])):
            if trigger == "off":
                for name in tally_triggers:
                    await admin.execute(f"ALTER TABLE attempts DISABLE TRIGGER {name}")
            began = time.perf_counter()
            for person in chosen:
                async with tenant_transaction(pool, tenant) as conn:
                    await conn.execute(
                        "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
                        "VALUES ($1, $2, 1, 1, '[]', 0)",
                        assessment,
                        person,
                    )
            took = (time.perf_counter() - began) * 1000 / len(chosen)
            print(
                f"# a start's insert, tally trigger {trigger}: {took:.2f} ms per transaction ({len(chosen)} starts)"
            )
    finally:
        for name in tally_triggers:
            await admin.execute(f"ALTER TABLE attempts ENABLE TRIGGER {name}")
        await admin.close()


async def _attempt_tally_triggers(admin: asyncpg.Connection) -> list[str]:
    """The attempts' tally triggers: 0019's row-level one, or 0032's two statement-level ones."""
    return [
        r["tgname"]
        for r in await admin.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'attempts'::regclass AND tgname LIKE 'attempts_tally%'"
        )
    ]


async def _villages(pool: asyncpg.Pool, tenant: uuid.UUID) -> list[uuid.UUID]:
    """A city, county and township under `P`, and 100 villages under the township (their ids)."""
    async with tenant_transaction(pool, tenant) as conn:
        await _add_levels(
            conn,
            (
                ("P", "C", "city", 1, 1),
                ("city", "K", "county", 1, 2),
                ("county", "T", "township", 1, 3),
                ("township", "V", "village", 100, 4),
            ),
        )
        return [
            r["id"]
            for r in await conn.fetch("SELECT id FROM org_units WHERE level = 'village' ORDER BY code")
        ]


CATEGORIES = "(ARRAY['civil_servant', 'teacher', 'leading_cadre'])"


async def _bulk(owner: str, pool: asyncpg.Pool, tenant: uuid.UUID, n: int, at: str | None) -> None:
    if at is not None:
        await asyncio.to_thread(migrate.downgrade, owner, APP_ROLE, at)
    villages = await _villages(pool, tenant)
    categories = CATEGORIES
    async with tenant_transaction(pool, tenant) as conn:
        began = time.perf_counter()
        await conn.execute(
            f"""INSERT INTO people (external_id, org_unit_id, category, display_name)
                SELECT 'b-' || g, ($2::uuid[])[1 + g % 100], {categories}[1 + g % 3], 'Person ' || g
                FROM generate_series(0, $1::int - 1) g""",
            n,
            villages,
        )
        inserted = (time.perf_counter() - began) * 1000
    async with tenant_transaction(pool, tenant) as conn:
        assessment = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", DEMO_ASSESSMENT)
    for low in range(0, n, 500):  # attempts in small transactions: their trigger is row-level
        async with tenant_transaction(pool, tenant) as conn:
            await conn.execute(
                """INSERT INTO attempts (assessment_id, person_id, number, status, seed, form, item_count,
                                         submitted_at, submitted_by)
                   SELECT $1, p.id, 1, CASE WHEN g % 10 < 3 THEN 'submitted' ELSE 'in_progress' END, g, '[]', 0,
                          CASE WHEN g % 10 < 3 THEN now() END, CASE WHEN g % 10 < 3 THEN 'candidate' END
                   FROM people p, LATERAL (SELECT substr(p.external_id, 3)::int AS g) x
                   WHERE p.external_id LIKE 'b-%' AND x.g >= $2 AND x.g < $2 + 500 AND x.g % 10 < 6""",
                assessment,
                low,
            )
    async with tenant_transaction(pool, tenant) as conn:
        began = time.perf_counter()
        await conn.execute(
            f"""UPDATE people p SET org_unit_id = ($1::uuid[])[1 + (x.g + 1) % 100],
                       category = CASE WHEN x.g % 3 = 0 THEN {categories}[1 + (x.g + 1) % 3] ELSE p.category END
                FROM (SELECT id, substr(external_id, 3)::int AS g FROM people WHERE external_id LIKE 'b-%') x
                WHERE p.id = x.id""",
            villages,
        )
        moved = (time.perf_counter() - began) * 1000
    revision = at or "head"
    print(f"# {revision}: one INSERT of {n} people into 100 villages: {inserted:.0f} ms")
    print(f"# {revision}: one UPDATE moving them (a third changing category): {moved:.0f} ms")
    await _single_starts(owner, pool, tenant, revision)


async def _single_starts(
    owner: str, pool: asyncpg.Pool, tenant: uuid.UUID, revision: str, submissions: bool = False
) -> None:
    """1,000 starts' inserts on the teacher assessment, one transaction each (the INSERT's time, without
    the commit), after a VACUUM ANALYZE; with `submissions`, then each of them submitted the same way."""
    admin = await asyncpg.connect(owner)
    try:
        await admin.execute("VACUUM ANALYZE")
    finally:
        await admin.close()
    async with tenant_transaction(pool, tenant) as conn:
        teacher = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", DEMO_TEACHER_ASSESSMENT)
        chosen = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM people WHERE external_id LIKE 'b-%' ORDER BY id LIMIT 1000"
            )
        ]
    took: list[float] = []
    for person in chosen:
        async with tenant_transaction(pool, tenant) as conn:
            began = time.perf_counter()
            await conn.execute(
                "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
                "VALUES ($1, $2, 1, 1, '[]', 0)",
                teacher,
                person,
            )
            took.append((time.perf_counter() - began) * 1000)
    took.sort()
    print(
        f"# {revision}: a start's insert (one transaction each, {len(took)} starts in villages): "
        f"median {statistics.median(took):.2f} ms, p95 {took[int(len(took) * 0.95) - 1]:.2f} ms"
    )
    if not submissions:
        return
    took = []
    for person in chosen:
        async with tenant_transaction(pool, tenant) as conn:
            began = time.perf_counter()
            await conn.execute(  # as sittings.attempts.mark_submitted's UPDATE
                "UPDATE attempts SET status = 'submitted', submitted_at = now(), submitted_by = 'candidate' "
                "WHERE assessment_id = $1 AND person_id = $2 AND status = 'in_progress'",
                teacher,
                person,
            )
            took.append((time.perf_counter() - began) * 1000)
    took.sort()
    print(
        f"# {revision}: a submission's update (one transaction each, {len(took)}): "
        f"median {statistics.median(took):.2f} ms, p95 {took[int(len(took) * 0.95) - 1]:.2f} ms"
    )


async def _bulk_attempts(owner: str, pool: asyncpg.Pool, tenant: uuid.UUID, n: int, at: str | None) -> None:
    """One INSERT of `n` attempts (30% submitted) for `n` people in 100 villages, then one UPDATE
    submitting half of the others, each in its own transaction (the statement's time, the commit
    excluded); then single starts and submissions."""
    if at is not None:
        await asyncio.to_thread(migrate.downgrade, owner, APP_ROLE, at)
    villages = await _villages(pool, tenant)
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            f"""INSERT INTO people (external_id, org_unit_id, category, display_name)
                SELECT 'b-' || g, ($2::uuid[])[1 + g % 100], {CATEGORIES}[1 + g % 3], 'Person ' || g
                FROM generate_series(0, $1::int - 1) g""",
            n,
            villages,
        )
        assessment = await conn.fetchval("SELECT id FROM assessments WHERE code = $1", DEMO_ASSESSMENT)
    admin = await asyncpg.connect(owner)
    try:
        await admin.execute("VACUUM ANALYZE")
    finally:
        await admin.close()
    async with tenant_transaction(pool, tenant) as conn:
        began = time.perf_counter()
        await conn.execute(
            """INSERT INTO attempts (assessment_id, person_id, number, status, seed, form, item_count,
                                     submitted_at, submitted_by)
               SELECT $1, p.id, 1, CASE WHEN g % 10 < 3 THEN 'submitted' ELSE 'in_progress' END, g, '[]', 0,
                      CASE WHEN g % 10 < 3 THEN now() END, CASE WHEN g % 10 < 3 THEN 'candidate' END
               FROM people p, LATERAL (SELECT substr(p.external_id, 3)::int AS g) x
               WHERE p.external_id LIKE 'b-%'""",
            assessment,
        )
        inserted = (time.perf_counter() - began) * 1000
    async with tenant_transaction(pool, tenant) as conn:
        began = time.perf_counter()
        submitted = await conn.execute(
            """UPDATE attempts a SET status = 'submitted', submitted_at = now(), submitted_by = 'deadline'
               FROM people p WHERE p.id = a.person_id AND a.assessment_id = $1 AND a.status = 'in_progress'
                 AND CASE WHEN p.external_id LIKE 'b-%' THEN substr(p.external_id, 3)::int % 2 = 0 END""",
            assessment,
        )
        updated = (time.perf_counter() - began) * 1000
    revision = at or "head"
    print(f"# {revision}: one INSERT of {n} attempts (30% submitted) in 100 villages: {inserted:.0f} ms")
    print(f"# {revision}: one UPDATE submitting {submitted.split()[-1]} of the others: {updated:.0f} ms")
    await _single_starts(owner, pool, tenant, revision, submissions=True)


async def run(
    sizes: list[int],
    requests: int,
    villages: int = 0,
    bulk: int = 0,
    at: str | None = None,
    attempts: int = 0,
) -> None:
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    print(f"# {' '.join(['./dev python bench/participation.py', *sys.argv[1:]])}")
    owner = await _database()
    pool = await create_pool(with_user(owner, APP_ROLE, None), min_size=1, max_size=2)
    try:
        tenant = await seed_demo(pool)
        if bulk:
            await _bulk(owner, pool, tenant, bulk, at)
            return
        if attempts:
            await _bulk_attempts(owner, pool, tenant, attempts, at)
            return
        print(f"{'people':>8} {'unit':>10} {'audience':>9} {'median ms':>10} {'p95 ms':>8}")
        done = 0
        for size in sizes:
            # In transactions of 5,000 people, as the bulk API's requests (at most 10,000) would come:
            # one transaction updating a subtree row thousands of times leaves a version chain that
            # each later update of it walks (no pruning until it commits).
            for low in range(done, size, 5000):
                async with tenant_transaction(pool, tenant) as conn:
                    await _grow(conn, min(low + 5000, size), low, villages)
            done = size
            vacuum = await asyncpg.connect(owner)  # as autovacuum would: statistics and the visibility map
            try:
                await vacuum.execute("VACUUM ANALYZE")
            finally:
                await vacuum.close()
            for unit in (None, "B-C1", "B-C1-K1"):
                median, p95, audience = await _time(pool, tenant, unit, requests)
                print(f"{size:>8} {unit or '(tenant)':>10} {audience:>9} {median:>10.1f} {p95:>8.1f}")
        await _write_cost(owner, pool, tenant, 2000)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--villages", type=int, default=0, help="villages under each township (0: none)")
    parser.add_argument("--bulk", type=int, default=0, help="time bulk writes of this many people instead")
    parser.add_argument(
        "--attempts", type=int, default=0, help="time bulk writes of this many attempts instead"
    )
    parser.add_argument(
        "--at", default=None, help="with --bulk or --attempts: downgrade to this revision first"
    )
    args = parser.parse_args()
    asyncio.run(
        run(
            [int(s) for s in args.sizes.split(",")],
            args.requests,
            args.villages,
            args.bulk,
            args.at,
            args.attempts,
        )
    )


if __name__ == "__main__":
    main()
