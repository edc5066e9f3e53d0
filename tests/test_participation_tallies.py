"""The participation tallies (migration 0019) against a recount from people and attempts, and a person's
move racing their own attempt's start, in both orders, the interleaving forced with two connections."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from service.auth.keys import ServiceKeys
from service.db.pool import tenant_transaction
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


async def _blocked(task: asyncio.Task[Any]) -> bool:
    await asyncio.sleep(0.5)
    return not task.done()


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
        assert await _blocked(moving)  # held by the start's FOR SHARE on the person
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
        assert await _blocked(starting_task)
    await starting_task
    await assert_tallies_match_a_recount(owner)
    south = await owner.fetchval(
        "SELECT started FROM participation_tallies WHERE assessment_id = $1 AND org_unit_id = $2",
        quiz,
        ids["south"],
    )
    assert south == 3  # s1 (before), t3 and n1 (both moved there around their start)
