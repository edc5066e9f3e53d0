"""The participation tallies (migrations 0019 and 0029, per unit and per subtree) against a recount
from people and attempts, after single and bulk statements (0030 and 0032 tally those per statement);
a person's move racing their own attempt's start, in both orders, two starts in one unit, bulk
attempts racing their people's and unit's moves, and two bulk inserts of people in opposite orders,
the interleaving forced with several connections; and the participation answer
against a person-by-person count over random trees, audiences with nested units, and moves of
people and units."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.auth.keys import ServiceKeys
from service.db import migrate
from service.db.pool import tenant_transaction
from service.delivery import participation
from tests.conftest import APP_ROLE
from tests.delivery_setup import ITEMS, assessment_body, publish_framework
from tests.helpers import blocked_on_a_lock, make_tenant
from tests.test_participation import sitting

RECOUNT_AUDIENCE = """
    SELECT tenant_id, org_unit_id, category, count(*)::int AS people FROM people WHERE active
    GROUP BY 1, 2, 3"""
RECOUNT_PARTICIPATION = """
    SELECT p.tenant_id, s.assessment_id, p.org_unit_id, p.category, count(*)::int AS started,
           sum(s.submitted)::int AS submitted
    FROM (SELECT tenant_id, assessment_id, person_id, max((status = 'submitted')::int) AS submitted
          FROM attempts GROUP BY 1, 2, 3) s
    JOIN people p ON p.tenant_id = s.tenant_id AND p.id = s.person_id
    WHERE p.active GROUP BY 1, 2, 3, 4"""
# A subtree's row holds everyone in the unit or below it: each person counts in every unit of their path.
_LINEAGE = """JOIN org_units u ON u.tenant_id = p.tenant_id AND u.id = p.org_unit_id
    CROSS JOIN unnest(string_to_array(btrim(u.path, '/'), '/')::uuid[]) AS a(id)"""
RECOUNT_SUBTREE_AUDIENCE = f"""
    SELECT p.tenant_id, a.id, p.category, count(*)::int AS people FROM people p {_LINEAGE}
    WHERE p.active GROUP BY 1, 2, 3"""
RECOUNT_SUBTREE_PARTICIPATION = f"""
    SELECT p.tenant_id, s.assessment_id, a.id, p.category, count(*)::int AS started,
           sum(s.submitted)::int AS submitted
    FROM (SELECT tenant_id, assessment_id, person_id, max((status = 'submitted')::int) AS submitted
          FROM attempts GROUP BY 1, 2, 3) s
    JOIN people p ON p.tenant_id = s.tenant_id AND p.id = s.person_id {_LINEAGE}
    WHERE p.active GROUP BY 1, 2, 3, 4"""


async def assert_tallies_match_a_recount(owner: asyncpg.Connection) -> None:
    def rows(records: list[asyncpg.Record], zero: tuple[str, ...]) -> set[tuple[Any, ...]]:
        return {tuple(r.values()) for r in records if any(r[k] for k in zero)}

    tallied = await owner.fetch("SELECT tenant_id, org_unit_id, category, people FROM audience_tallies")
    assert rows(tallied, ("people",)) == rows(await owner.fetch(RECOUNT_AUDIENCE), ("people",))
    tallied = await owner.fetch(
        "SELECT tenant_id, assessment_id, org_unit_id, category, started, submitted FROM participation_tallies"
    )
    recount = await owner.fetch(RECOUNT_PARTICIPATION)
    assert rows(tallied, ("started", "submitted")) == rows(recount, ("started", "submitted"))
    # The subtree rows, summed over their shards.
    tallied = await owner.fetch(
        "SELECT tenant_id, org_unit_id, category, sum(people)::int AS people FROM audience_subtree_tallies "
        "GROUP BY 1, 2, 3"
    )
    assert rows(tallied, ("people",)) == rows(await owner.fetch(RECOUNT_SUBTREE_AUDIENCE), ("people",))
    tallied = await owner.fetch(
        "SELECT tenant_id, assessment_id, org_unit_id, category, sum(started)::int AS started, "
        "sum(submitted)::int AS submitted FROM participation_subtree_tallies GROUP BY 1, 2, 3, 4"
    )
    recount = await owner.fetch(RECOUNT_SUBTREE_PARTICIPATION)
    assert rows(tallied, ("started", "submitted")) == rows(recount, ("started", "submitted"))


async def test_tallies_equal_a_recount_after_a_sitting_and_moves(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    tenant = await sitting(client, service_keys)
    admin = tenant["admin"]
    await assert_tallies_match_a_recount(owner)
    for patch in (
        ("t1", {"org_unit_code": "south"}),
        ("t2", {"category": "teacher"}),
        ("s1", {"active": False}),
        ("n2", {"active": True}),
        ("x1", {"org_unit_code": "north"}),
        ("t2", {"org_unit_code": None}),
    ):
        changed = await client.patch(f"/v1/people/{patch[0]}", json=patch[1], headers=admin)
        assert changed.status_code == 200, changed.text
        await assert_tallies_match_a_recount(owner)


async def test_a_move_racing_the_persons_start_counts_them_where_they_end_up(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    ids = {
        r["code"]: r["id"]
        for r in await owner.fetch("SELECT code, id FROM org_units WHERE tenant_id = $1", tenant_id)
    }
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )

    async def person(external_id: str) -> UUID:
        return await owner.fetchval(  # type: ignore[no-any-return]
            "SELECT id FROM people WHERE tenant_id = $1 AND external_id = $2", tenant_id, external_id
        )

    start = (
        "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
        "VALUES ($1, $2, 1, 1, '[]', 0)"
    )
    move = "UPDATE people SET org_unit_id = $2 WHERE id = $1"

    async def moved_in(person_id: UUID, unit: str, conn: asyncpg.Connection) -> None:
        await conn.execute(move, person_id, ids[unit])

    # 1. The start first (uncommitted): the move waits for it, then carries the started count along.
    t3 = await person("t3")
    async with tenant_transaction(pool, tenant_id) as starting:
        await starting.execute(start, quiz, t3)

        async def mover() -> None:
            async with tenant_transaction(pool, tenant_id) as conn:
                await moved_in(t3, "south", conn)

        moving = asyncio.create_task(mover())
        assert await blocked_on_a_lock(owner, moving)  # held by the start's FOR SHARE on the person
    await moving
    await assert_tallies_match_a_recount(owner)

    # 2. The move first (uncommitted): the start waits for it, then counts the person in the new unit.
    n1 = await person("n1")
    async with tenant_transaction(pool, tenant_id) as moving_conn:
        await moved_in(n1, "south", moving_conn)

        async def starter() -> None:
            async with tenant_transaction(pool, tenant_id) as conn:
                await conn.execute(start, quiz, n1)

        starting_task = asyncio.create_task(starter())
        assert await blocked_on_a_lock(owner, starting_task)
    await starting_task
    await assert_tallies_match_a_recount(owner)
    south = await owner.fetchval(
        "SELECT started FROM participation_tallies WHERE assessment_id = $1 AND org_unit_id = $2",
        quiz,
        ids["south"],
    )
    assert south == 3  # s1 (before), t3 and n1 (both moved there around their start)


async def test_two_starts_in_one_unit_both_count(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """Two people of one unit start at once: the second waits on the tally rows the first holds, then
    adds to them; no count is lost, in the unit's row or its ancestors' subtree rows."""
    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    t3, n1 = [
        await owner.fetchval(
            "SELECT id FROM people WHERE tenant_id = $1 AND external_id = $2", tenant_id, who
        )
        for who in ("t3", "n1")
    ]
    await owner.execute(  # n1 joins t3 in north-town
        "UPDATE people SET org_unit_id = (SELECT org_unit_id FROM people WHERE id = $1) WHERE id = $2", t3, n1
    )
    start = (
        "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
        "VALUES ($1, $2, 1, 1, '[]', 0)"
    )
    async with tenant_transaction(pool, tenant_id) as first:
        await first.execute(start, quiz, t3)

        async def second() -> None:
            async with tenant_transaction(pool, tenant_id) as conn:
                await conn.execute(start, quiz, n1)

        starting = asyncio.create_task(second())
        # on north-town's tally row, which the first start holds
        assert await blocked_on_a_lock(owner, starting)
    await starting
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        found = await participation.participation(conn, "quiz", "north")
    assert found.total.started == 4  # t1 and t2 before, t3 and n1 now


async def test_bulk_statements_keep_the_tallies_equal_to_a_person_by_person_count(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """Hundreds of people in one INSERT across units (and none), categories and activity, their
    attempts, then one UPDATE moving many of them between units and changing categories and activity,
    then one bulk request through the API creating some and moving others: each statement's tallies
    are summed per unit and category and written once (0030), and stay equal to the recount, and the
    answer to the count person by person."""
    tenant = await sitting(client, service_keys)
    admin, tenant_id = tenant["admin"], UUID(tenant["id"])
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    units = {
        r["code"]: r["id"]
        for r in await owner.fetch(
            "SELECT code, id FROM org_units WHERE tenant_id = $1 ORDER BY code", tenant_id
        )
    }
    unit_ids = list(units.values())  # 1 + g % 5 picks a unit, or none (the fifth)
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    categories = "(ARRAY['teacher', 'civil_servant', 'leading_cadre'])"
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            f"""INSERT INTO people (external_id, org_unit_id, category, active)
                SELECT 'bulk-' || g, ($1::uuid[])[1 + g % 5], {categories}[1 + g % 3], g % 7 <> 0
                FROM generate_series(0, 399) g""",
            unit_ids,
        )
        await conn.execute(
            """INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, status,
                                     submitted_at, submitted_by)
               SELECT $1, id, 1, 1, '[]', 0, CASE WHEN g % 4 = 0 THEN 'submitted' ELSE 'in_progress' END,
                      CASE WHEN g % 4 = 0 THEN now() END, CASE WHEN g % 4 = 0 THEN 'candidate' END
               FROM people, LATERAL (SELECT substr(external_id, 6)::int AS g) n
               WHERE external_id LIKE 'bulk-%' AND g % 5 < 3""",
            quiz,
        )
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        moved = await conn.execute(
            f"""UPDATE people SET org_unit_id = ($1::uuid[])[1 + (g * 7 + 3) % 5],
                       category = CASE WHEN g % 2 = 0 THEN {categories}[1 + (g + 1) % 3] ELSE category END,
                       active = CASE WHEN g % 11 = 0 THEN NOT active ELSE active END
                FROM (SELECT id AS person, substr(external_id, 6)::int AS g FROM people
                      WHERE external_id LIKE 'bulk-%') n
                WHERE id = n.person AND g % 6 <> 5""",
            unit_ids,
        )
        assert moved == "UPDATE 334"
    await assert_tallies_match_a_recount(owner)
    codes = [*units, None]
    rows = [
        {
            "external_id": f"bulk-{g}",
            "org_unit_code": codes[(g * 3 + 1) % 5],
            "category": ["teacher", "civil_servant", "leading_cadre"][g % 3],
            "active": g % 13 != 0,
        }
        for g in range(200, 600)  # 200 moved or left as they are, 200 new
    ]
    bulk = await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)
    assert bulk.status_code == 200, bulk.text
    assert bulk.json() == {"created": 200, "updated": 200}
    await assert_tallies_match_a_recount(owner)

    parents = {
        r["code"]: {"parent": r["parent"]}
        for r in await owner.fetch(
            "SELECT u.code, p.code AS parent FROM org_units u LEFT JOIN org_units p ON p.id = u.parent_id "
            "WHERE u.tenant_id = $1",
            tenant_id,
        )
    }
    people = [
        dict(r)
        for r in await owner.fetch(
            """SELECT p.external_id, u.code AS unit, p.category, p.active,
                      (count(a.id) > 0)::int AS started, coalesce(max((a.status = 'submitted')::int), 0) AS submitted
               FROM people p LEFT JOIN org_units u ON u.id = p.org_unit_id
               LEFT JOIN attempts a ON a.person_id = p.id AND a.assessment_id = $2
               WHERE p.tenant_id = $1 GROUP BY p.tenant_id, p.id, u.code""",
            tenant_id,
            quiz,
        )
    ]
    audience = {"org_units": ["north"], "people": ["s1", "x1"]}  # the sitting's
    for scope in (None, *units):
        async with tenant_transaction(pool, tenant_id) as conn:
            found = await participation.participation(conn, "quiz", scope)
        answered = {
            r.unit: (r.counts.audience, r.counts.started, r.counts.submitted)
            for r in found.rows
            if (r.counts.audience, r.counts.started, r.counts.submitted) != (0, 0, 0)
        }
        assert answered == _reference(people, audience, parents, scope), scope


async def test_a_bulk_insert_racing_a_units_move_counts_the_people_where_the_unit_ends_up(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """A bulk INSERT into north-town and north-town's move (with its subtree rows) forced to interleave,
    in both orders: the statement's trigger reads its units FOR SHARE before writing (0030), so the
    move waits for the insert and carries its people along, or the insert waits for the move and
    tallies its people under the new path."""
    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    bulk = """INSERT INTO people (external_id, org_unit_id, category)
              SELECT $1 || g, $2, (ARRAY['teacher', 'civil_servant'])[1 + g % 2] FROM generate_series(1, 50) g"""

    async def move(conn: asyncpg.Connection, parent: str) -> None:
        units = {r["code"]: r for r in await conn.fetch("SELECT code, id, path FROM org_units ORDER BY code")}
        unit, to = units["north-town"], units[parent]
        await conn.execute(
            "UPDATE org_units SET path = $2 || substr(path, length($1) + 1) WHERE starts_with(path, $1)",
            unit["path"],
            f"{to['path']}{unit['id']}/",
        )
        await conn.execute("UPDATE org_units SET parent_id = $2 WHERE id = $1", unit["id"], to["id"])

    town = await owner.fetchval(
        "SELECT id FROM org_units WHERE tenant_id = $1 AND code = 'north-town'", tenant_id
    )
    # 1. The insert first (uncommitted): the move waits for it, then carries its 50 people to south.
    async with tenant_transaction(pool, tenant_id) as inserting:
        await inserting.execute(bulk, "a-", town)

        async def mover() -> None:
            async with tenant_transaction(pool, tenant_id) as conn:
                await move(conn, "south")

        moving = asyncio.create_task(mover())
        # on north-town's row, read FOR SHARE by the insert's trigger
        assert await blocked_on_a_lock(owner, moving)
    await moving
    await assert_tallies_match_a_recount(owner)

    # 2. The move first (uncommitted): the insert waits for it, then tallies its people under north.
    async with tenant_transaction(pool, tenant_id) as moving_conn:
        await move(moving_conn, "north")

        async def inserter() -> None:
            async with tenant_transaction(pool, tenant_id) as conn:
                await conn.execute(bulk, "b-", town)

        inserting_task = asyncio.create_task(inserter())
        assert await blocked_on_a_lock(owner, inserting_task)
    await inserting_task
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        found = await participation.participation(conn, "quiz", "north")
    assert found.total.audience == 104  # t1, t2, t3 and n1 before, and the 100 of both inserts


async def _bulk_people(owner: asyncpg.Connection, pool: asyncpg.Pool, tenant_id: UUID, n: int) -> list[UUID]:
    """`n` people 'bulk-0'.. in one INSERT, spread over the sitting's units and none, three categories, one
    in seven inactive; the units' ids (the fifth pick is none) by code."""
    unit_ids = [
        r["id"]
        for r in await owner.fetch("SELECT id FROM org_units WHERE tenant_id = $1 ORDER BY code", tenant_id)
    ]
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            """INSERT INTO people (external_id, org_unit_id, category, active)
               SELECT 'bulk-' || g, ($1::uuid[])[1 + g % 5],
                      (ARRAY['teacher', 'civil_servant', 'leading_cadre'])[1 + g % 3], g % 7 <> 0
               FROM generate_series(0, $2::int - 1) g""",
            unit_ids,
            n,
        )
    return unit_ids


async def test_bulk_attempt_statements_keep_the_tallies_equal_to_a_recount(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """Hundreds of attempts in one INSERT, over both assessments, the sitting's units and none, three
    categories, active and inactive people, some people with two attempts in it (both submitted, or the
    first submitted and the second running) and one with a submitted attempt from before; then one
    UPDATE submitting many (some of them people already submitted), one changing no status, one
    changing nothing, and one person's two submitted attempts in one INSERT: each statement's tallies
    are summed per person, unit and category and written once (0032), and stay equal to the recount."""
    tenant = await sitting(client, service_keys)
    tenant_id = UUID(tenant["id"])
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    await _bulk_people(owner, pool, tenant_id, 400)
    assessments = [
        r["id"]
        for r in await owner.fetch(
            "SELECT id FROM assessments WHERE tenant_id = $1 AND code IN ('quiz', 'other') ORDER BY code",
            tenant_id,
        )
    ]
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    async with tenant_transaction(pool, tenant_id) as conn:
        inserted = await conn.execute(
            """WITH planned AS (
                   SELECT x.a, p.id AS person, k AS number,
                          CASE WHEN k < 1 + (n.g % 4 = 1)::int OR n.g % 8 = 1 OR n.g % 4 = 0
                               THEN 'submitted' ELSE 'in_progress' END AS status
                   FROM people p, LATERAL (SELECT substr(p.external_id, 6)::int AS g) n,
                        unnest($1::uuid[]) WITH ORDINALITY AS x(a, ai),
                        generate_series(1, 1 + (n.g % 4 = 1)::int) k
                   WHERE p.external_id LIKE 'bulk-%' AND (n.g + x.ai) % 5 < 3
                   UNION ALL  -- t1 submitted the quiz before: a second submitted attempt adds nothing
                   SELECT $2, id, 2, 'submitted' FROM people WHERE external_id = 't1')
               INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, status,
                                     submitted_at, submitted_by)
               SELECT a, person, number, 1, '[]', 0, status,
                      CASE WHEN status = 'submitted' THEN now() END,
                      CASE WHEN status = 'submitted' THEN 'candidate' END
               FROM planned""",
            assessments,
            quiz,
        )
        assert inserted == "INSERT 0 601"
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        submitted = await conn.execute(
            """UPDATE attempts a SET status = 'submitted', submitted_at = now(), submitted_by = 'deadline'
               FROM people p WHERE p.id = a.person_id AND a.status = 'in_progress'
                 AND (p.external_id NOT LIKE 'bulk-%' OR substr(p.external_id, 6)::int % 3 <> 0)"""
        )
        assert submitted == "UPDATE 201"  # 200 of the bulk people's and t2's
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        extended = await conn.execute(
            "UPDATE attempts SET extra_time_factor = 1.5 WHERE status = 'in_progress' OR number = 2"
        )
        assert extended == "UPDATE 202"
        assert await conn.execute("UPDATE attempts SET extra_time_factor = 2 WHERE false") == "UPDATE 0"
        # n1 (not started): two submitted attempts in one statement, one person, started and submitted once
        await conn.execute(
            """INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, status,
                                     submitted_at, submitted_by)
               SELECT $1, id, k, 1, '[]', 0, 'submitted', now(), 'candidate'
               FROM people, generate_series(1, 2) k WHERE external_id = 'n1'""",
            quiz,
        )
    await assert_tallies_match_a_recount(owner)
    async with tenant_transaction(pool, tenant_id) as conn:
        found = await participation.participation(conn, "quiz", "north")
    counted = await owner.fetchrow(
        """SELECT count(DISTINCT a.person_id) AS started,
                  count(DISTINCT a.person_id) FILTER (WHERE a.status = 'submitted') AS submitted
           FROM attempts a JOIN people p ON p.id = a.person_id JOIN org_units u ON u.id = p.org_unit_id
           WHERE a.assessment_id = $1 AND p.active AND u.code IN ('north', 'north-town')""",
        quiz,
    )
    assert (found.total.started, found.total.submitted) == (counted["started"], counted["submitted"])


async def test_0032s_downgrade_restores_the_row_level_attempts_trigger(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection, owner_url: str
):
    """Down to 0031, attempts are tallied by 0019's row-level trigger again, and up to 0032 by the two
    statement-level ones; the tallies either keeps equal the recount."""
    tenant = await sitting(client, service_keys)
    tenant_id = UUID(tenant["id"])
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )

    async def triggers() -> list[str]:
        rows = await owner.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'attempts'::regclass AND tgname LIKE 'attempts_tally%' "
            "ORDER BY 1"
        )
        return [r["tgname"] for r in rows]

    async def start_and_submit(who: list[str]) -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(
                "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
                "SELECT $1, id, 1, 1, '[]', 0 FROM people WHERE external_id = ANY($2::text[])",
                quiz,
                who,
            )
            await conn.execute(
                "UPDATE attempts SET status = 'submitted', submitted_at = now(), submitted_by = 'candidate' "
                "WHERE assessment_id = $1 AND person_id IN (SELECT id FROM people WHERE external_id = ANY($2::text[]))",
                quiz,
                who,
            )

    assert await triggers() == ["attempts_tally_insert", "attempts_tally_update"]
    await asyncio.to_thread(migrate.downgrade, owner_url, APP_ROLE, "0031")
    assert await triggers() == ["attempts_tally"]
    await start_and_submit(["t3"])
    await assert_tallies_match_a_recount(owner)
    await asyncio.to_thread(migrate.upgrade, owner_url, APP_ROLE)
    assert await triggers() == ["attempts_tally_insert", "attempts_tally_update"]
    await start_and_submit(["n1", "x1"])
    await assert_tallies_match_a_recount(owner)


async def test_bulk_attempts_racing_their_peoples_and_units_moves_count_where_they_end_up(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """A bulk INSERT of attempts forced to interleave with a bulk move of its people, and with a move of
    their unit (with its subtree rows), in both orders: the statement's trigger reads its people FOR
    SHARE, then their units, before writing (0032), so a move waits for the insert and carries its
    starts along, or the insert waits for the move and tallies its starts where the people went."""
    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    town, south, north = [
        await owner.fetchval("SELECT id FROM org_units WHERE tenant_id = $1 AND code = $2", tenant_id, code)
        for code in ("north-town", "south", "north")
    ]
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            """INSERT INTO people (external_id, org_unit_id, category)
               SELECT 'r-' || g, $1, (ARRAY['teacher', 'civil_servant'])[1 + g % 2] FROM generate_series(0, 199) g""",
            town,
        )
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    starts = """INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, status,
                                      submitted_at, submitted_by)
                SELECT $1, id, 1, 1, '[]', 0, CASE WHEN g % 3 = 0 THEN 'submitted' ELSE 'in_progress' END,
                       CASE WHEN g % 3 = 0 THEN now() END, CASE WHEN g % 3 = 0 THEN 'candidate' END
                FROM people, LATERAL (SELECT substr(external_id, 3)::int AS g) n
                WHERE external_id LIKE 'r-%' AND g >= $2 AND g < $2 + 50"""
    people_move = """UPDATE people SET org_unit_id = $1
                     WHERE external_id LIKE 'r-%' AND substr(external_id, 3)::int BETWEEN $2 AND $2 + 59"""

    async def unit_move(conn: asyncpg.Connection, parent: UUID) -> None:
        unit = await conn.fetchrow("SELECT id, path FROM org_units WHERE id = $1", town)
        to = await conn.fetchval("SELECT path FROM org_units WHERE id = $1", parent)
        await conn.execute(
            "UPDATE org_units SET path = $2 || substr(path, length($1) + 1) WHERE starts_with(path, $1)",
            unit["path"],
            f"{to}{unit['id']}/",
        )
        await conn.execute("UPDATE org_units SET parent_id = $2 WHERE id = $1", unit["id"], parent)

    async def inserting(low: int) -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(starts, quiz, low)

    async def moving_people(low: int) -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(people_move, south, low)

    async def moving_unit(parent: UUID) -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await unit_move(conn, parent)

    # 1. The starts of r-0..49 first (uncommitted): the move of r-0..59 to south waits on their rows read
    # FOR SHARE, then carries their starts along.
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(starts, quiz, 0)
        task = asyncio.create_task(moving_people(0))
        assert await blocked_on_a_lock(owner, task)
    await task
    await assert_tallies_match_a_recount(owner)
    # 2. The move of r-60..119 first (uncommitted): the starts of r-50..99 wait for it (r-60..99 moved),
    # then tally those where they went.
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(people_move, south, 60)
        task = asyncio.create_task(inserting(50))
        assert await blocked_on_a_lock(owner, task)
    await task
    await assert_tallies_match_a_recount(owner)
    # 3. The starts of r-120..169 (in north-town) first: north-town's move to south waits on its row read
    # FOR SHARE, then carries their starts along in its subtree rows.
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(starts, quiz, 120)
        task = asyncio.create_task(moving_unit(south))
        assert await blocked_on_a_lock(owner, task)
    await task
    await assert_tallies_match_a_recount(owner)
    # 4. North-town's move back under north first: the starts of r-170..199 wait, then tally under north.
    async with tenant_transaction(pool, tenant_id) as conn:
        await unit_move(conn, north)
        task = asyncio.create_task(inserting(170))
        assert await blocked_on_a_lock(owner, task)
    await task
    await assert_tallies_match_a_recount(owner)
    started = await owner.fetchval(
        "SELECT sum(started) FROM participation_subtree_tallies WHERE assessment_id = $1 AND org_unit_id = $2",
        quiz,
        north,
    )
    # r-120..199 started in north-town (r-0..99 in south, r-100..119 not), and t1 and t2 (the sitting's)
    assert started == 80 + 2


async def test_two_bulk_inserts_of_people_over_the_same_units_in_opposite_orders_wait_not_deadlock(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """Two bulk INSERTs of people into the same two units, in opposite row orders, forced to interleave:
    a third transaction holds the second unit's tally row (in key order); the first INSERT takes the
    first unit's row and waits for it; the second INSERT then waits for the first one (it writes its rows
    in key order too, 0030), not for the third: it holds nothing the first needs, so no deadlock. Written
    in the statements' row order (0019's row-level trigger), it would have taken the second unit's row
    first and, once the third committed, could hold what the first waits for while waiting for it."""
    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    low, high = sorted(
        [
            await owner.fetchval(
                "SELECT id FROM org_units WHERE tenant_id = $1 AND code = $2", tenant_id, code
            )
            for code in ("north-town", "south")
        ]
    )
    bulk = """INSERT INTO people (external_id, org_unit_id, category)
              SELECT $1 || g, ($2::uuid[])[1 + g / 50], 'teacher' FROM generate_series(0, 99) g"""
    pids: dict[str, int] = {}

    async def insert(name: str, units: list[UUID]) -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            pids[name] = conn.get_server_pid()
            await conn.execute(bulk, name, units)

    async with tenant_transaction(pool, tenant_id) as holding:
        await holding.execute(
            "INSERT INTO people (external_id, org_unit_id, category) VALUES ('holder', $1, 'teacher')", high
        )
        first = asyncio.create_task(insert("first-", [low, high]))
        assert await blocked_on_a_lock(owner, first)
        second = asyncio.create_task(insert("second-", [high, low]))
        assert await blocked_on_a_lock(owner, second, waiters=2)  # the second waits too
        assert await owner.fetchval("SELECT pg_blocking_pids($1)", pids["second-"]) == [pids["first-"]]
        assert await owner.fetchval("SELECT pg_blocking_pids($1)", pids["first-"]) == [
            holding.get_server_pid()
        ]
    await asyncio.gather(first, second)  # neither is a deadlock's victim
    await assert_tallies_match_a_recount(owner)


async def test_a_bulk_upsert_of_people_racing_a_bulk_statement_of_their_attempts_waits_not_deadlocks(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection
):
    """`people.bulk_upsert_people` locks the people already there in key order before its upsert, as the
    attempts' tally trigger reads them (0032). Forced: a third transaction holds the last person (k3);
    the upsert, its rows in the order k2, k3, k1, waits for it; a bulk INSERT of k1's and k2's attempts
    then waits for the upsert. Once the third commits, both finish. Upserting in the request's order, the
    upsert held k2 while waiting, the INSERT's trigger took k1 and waited for k2, and the upsert then
    waited for k1: a deadlock (this test fails with DeadlockDetectedError without the key-order lock)."""
    from service.tenancy import people

    tenant = await sitting(client, service_keys)
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    tenant_id = UUID(tenant["id"])
    town = await owner.fetchval(
        "SELECT id FROM org_units WHERE tenant_id = $1 AND code = 'north-town'", tenant_id
    )
    async with tenant_transaction(pool, tenant_id) as conn:
        await conn.execute(
            """INSERT INTO people (external_id, org_unit_id, category)
               SELECT 'k-' || g, $1, 'teacher' FROM generate_series(0, 2) g""",
            town,
        )
    k1, k2, k3 = [
        r["external_id"]
        for r in await owner.fetch(
            "SELECT external_id FROM people WHERE tenant_id = $1 AND external_id LIKE 'k-%' ORDER BY id",
            tenant_id,
        )
    ]
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    upsert = people.PeopleBulkUpsert(
        [
            people.PersonBulkRow(external_id=k, org_unit_code="north-town", category="civil_servant")
            for k in (k2, k3, k1)
        ]
    )

    async def upserting() -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await people.bulk_upsert_people(conn, upsert)

    async def starting() -> None:
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(
                """INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count, status)
                   SELECT $1, id, 1, 1, '[]', 0, 'in_progress' FROM people
                   WHERE external_id = ANY($2::text[])""",
                quiz,
                [k1, k2],
            )

    async with tenant_transaction(pool, tenant_id) as holding:
        await holding.execute("SELECT 1 FROM people WHERE external_id = $1 FOR UPDATE", k3)
        upserts = asyncio.create_task(upserting())
        assert await blocked_on_a_lock(owner, upserts)
        starts = asyncio.create_task(starting())
        assert await blocked_on_a_lock(owner, starts, waiters=2)
    await asyncio.gather(upserts, starts)  # neither is a deadlock's victim
    assert (
        await owner.fetchval(
            "SELECT count(*) FROM people WHERE tenant_id = $1 AND external_id LIKE 'k-%' AND category = 'civil_servant'",
            tenant_id,
        )
        == 3
    )
    await assert_tallies_match_a_recount(owner)


def _reference(
    people: list[dict[str, Any]],
    audience: dict[str, Any],
    units: dict[str, dict[str, Any]],
    scope: str | None,
) -> dict[str | None, tuple[int, int, int]]:
    """Person by person: (audience, started, submitted) per child unit of `scope` (None: people attached
    to the scope itself), as `audience.includes` decides who is in it."""

    def lineage(code: str | None) -> list[str]:
        line: list[str] = []
        while code is not None:
            line.insert(0, code)
            code = units[code]["parent"]
        return line

    listed, categories, named = audience["org_units"], audience.get("categories", []), audience["people"]
    counted: dict[str | None, tuple[int, int, int]] = {}
    for person in people:
        line = lineage(person["unit"])
        in_filter = (not listed or any(u in line for u in listed)) and (
            not categories or person["category"] in categories
        )
        if not person["active"] or not (person["external_id"] in named or in_filter):
            continue
        if scope is not None and scope not in line:
            continue
        below = line[line.index(scope) + 1 :] if scope is not None else line
        child = below[0] if below else None
        a, st, sb = counted.get(child, (0, 0, 0))
        counted[child] = (a + 1, st + person["started"], sb + person["submitted"])
    return counted


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_participation_equals_a_person_by_person_count(
    client: httpx.AsyncClient, service_keys: ServiceKeys, owner: asyncpg.Connection, seed: int
):
    """Random trees, people, starts and submissions, an audience listing nested units (and named
    people, and sometimes a category); the answer for the tenant and every unit equals the count
    person by person, before and after people and units move (their tally rows with them)."""
    rng = random.Random(seed)
    tenant = await make_tenant(client, service_keys, f"random-region-{seed}")
    admin, tenant_id = tenant["admin"], UUID(tenant["id"])
    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    units: dict[str, dict[str, Any]] = {}
    for i in range(14):
        parent = rng.choice([None, *units]) if units else None
        units[f"u{i}"] = {"parent": parent}
        body = {"code": f"u{i}", "name": f"Unit {i}", **({"parent_code": parent} if parent else {})}
        assert (await client.post("/v1/org-units", json=body, headers=admin)).status_code == 201
    people = [
        {
            "external_id": f"p{i}",
            "unit": rng.choice([None, *units, *units]),
            "category": rng.choice(["teacher", "civil_servant"]),
            "active": rng.random() > 0.1,
            "started": 0,
            "submitted": 0,
        }
        for i in range(60)
    ]
    rows = [
        {"external_id": p["external_id"], "org_unit_code": p["unit"], "category": p["category"]}
        for p in people
    ]
    assert (await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
    for p in people:
        if not p["active"]:
            patched = await client.patch(
                f"/v1/people/{p['external_id']}", json={"active": False}, headers=admin
            )
            assert patched.status_code == 200
    await publish_framework(client, admin)
    imported = await client.post("/v1/items/import", json={"items": copy.deepcopy(ITEMS)}, headers=admin)
    assert imported.status_code == 200, imported.text
    listed = rng.sample(sorted(units), 4)  # nested or not, as the draw falls
    audience: dict[str, Any] = {
        "org_units": listed,
        "people": [p["external_id"] for p in rng.sample(people, 5)],
    }
    if seed == 2:
        audience["categories"] = ["teacher"]
    created = await client.post("/v1/assessments", json=assessment_body(audience=audience), headers=admin)
    assert created.status_code == 201, created.text
    quiz = await owner.fetchval(
        "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'quiz'", tenant_id
    )
    ids = {
        r["external_id"]: r["id"]
        for r in await owner.fetch("SELECT external_id, id FROM people WHERE tenant_id = $1", tenant_id)
    }
    async with tenant_transaction(pool, tenant_id) as conn:
        for p in people:
            if rng.random() < 0.6:
                p["started"] = 1
                await conn.execute(
                    "INSERT INTO attempts (assessment_id, person_id, number, seed, form, item_count) "
                    "VALUES ($1, $2, 1, 1, '[]', 0)",
                    quiz,
                    ids[p["external_id"]],
                )
                if rng.random() < 0.5:
                    p["submitted"] = 1
                    await conn.execute(
                        "UPDATE attempts SET status = 'submitted', submitted_at = now(), submitted_by = 'candidate' "
                        "WHERE person_id = $1",
                        ids[p["external_id"]],
                    )

    async def check() -> None:
        await assert_tallies_match_a_recount(owner)
        for scope in (None, *units):
            async with tenant_transaction(pool, tenant_id) as conn:
                found = await participation.participation(conn, "quiz", scope)
            answered = {
                r.unit: (r.counts.audience, r.counts.started, r.counts.submitted)
                for r in found.rows
                if (r.counts.audience, r.counts.started, r.counts.submitted) != (0, 0, 0)
            }
            assert answered == _reference(people, audience, units, scope), (seed, scope)

    await check()
    for _ in range(4):  # people move, and units with their subtrees
        p = rng.choice(people)
        p["unit"] = rng.choice([None, *units])
        patched = await client.patch(
            f"/v1/people/{p['external_id']}", json={"org_unit_code": p["unit"]}, headers=admin
        )
        assert patched.status_code == 200, patched.text
        code = rng.choice(sorted(units))
        below = {code}
        for _ in units:
            below |= {c for c, u in units.items() if u["parent"] in below}
        parent = rng.choice([None, *(c for c in units if c not in below)])
        moved = await client.post(f"/v1/org-units/{code}/move", json={"parent_code": parent}, headers=admin)
        assert moved.status_code == 200, moved.text
        units[code]["parent"] = parent
    await check()


@given(st.lists(st.integers(0, 30), min_size=1, max_size=25), st.sets(st.integers(0, 25), max_size=5))
def test_a_child_read_whole_is_whole_and_one_left_out_is_out(parents: list[int], listed_at: set[int]) -> None:
    """`split_children` over a random tree (unit i's parent is an earlier unit, or none) and listed
    units: every unit below a child read whole is in the filter, and none below a child left out."""
    paths: list[str] = []
    for i, parent in enumerate(parents):
        paths.append((paths[parent] if parent < i else "/") + f"{i}/")
    listed = [paths[i] for i in listed_at if i < len(paths)]
    tops = [(UUID(int=i), p) for i, p in enumerate(paths) if p.count("/") == 2]
    whole, mixed = participation.split_children(tops, listed, True)
    for unit_id, path in tops:
        inside = [any(d.startswith(p) for p in listed) or not listed for d in paths if d.startswith(path)]
        if unit_id in whole:
            assert all(inside)
        elif path not in mixed:
            assert not any(inside)
    assert participation.split_children(tops, listed, False) == ([], [])
