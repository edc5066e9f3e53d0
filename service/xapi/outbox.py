"""The xAPI outbox: statements are written in the transaction that makes them true.

Like the webhook outbox (service/webhooks/outbox.py), and called next to it: an attempt's start
(service/delivery/attempts.py) queues `attempted`; the score pipeline (service/pipeline.py) queues
`completed` for attempts it submitted, `scored` for each new final score, and `voided` for the
`scored` statements of the scores a new one replaces. A tenant without an active LRS pays one
primary-key read and queues nothing. Each statement is stored once under its deterministic id
(`ON CONFLICT DO NOTHING`), so the same fact is never queued twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.xapi import endpoint, statements
from service.xapi.endpoint import LrsTarget
from service.xapi.statements import Attempt, Scored


async def lrs(conn: asyncpg.Connection) -> LrsTarget | None:
    """The tenant's active LRS, if any: callers build statements only when there is one."""
    return await endpoint.target(conn)


async def _queue(conn: asyncpg.Connection, rows: list[tuple[str, UUID, int | None, dict[str, Any]]]) -> None:
    if not rows:
        return
    await conn.execute(
        """INSERT INTO lrs_statements (id, verb, attempt_id, score_version, statement)
           SELECT (s.statement->>'id')::uuid, s.verb, s.attempt_id, s.score_version, s.statement
           FROM unnest($1::text[], $2::uuid[], $3::int[], $4::jsonb[]) AS s(verb, attempt_id, score_version, statement)
           ON CONFLICT DO NOTHING""",
        [verb for verb, _, _, _ in rows],
        [attempt for _, attempt, _, _ in rows],
        [version for _, _, version, _ in rows],
        [statement for _, _, _, statement in rows],
    )


async def attempt_started(conn: asyncpg.Connection, attempt: Attempt, at: datetime) -> None:
    target = await lrs(conn)
    if target is not None:
        await _queue(
            conn, [("attempted", attempt.id, None, statements.attempted(target.home_page, attempt, at))]
        )


def _attempt(row: asyncpg.Record) -> Attempt:
    return Attempt(row["attempt_id"], row["attempt_number"], row["assessment"], row["person"])


async def scores_stored(
    conn: asyncpg.Connection, target: LrsTarget, rows: list[asyncpg.Record], *, submitted: bool
) -> None:
    """After new current scores were stored: `rows` are the attempts' event data (the same the
    webhooks get, service/results/scores.py `event_rows`)."""
    now = datetime.now(UTC)
    home = target.home_page
    queued: list[tuple[str, UUID, int | None, dict[str, Any]]] = []
    if submitted:
        for row in rows:
            queued.append(
                (
                    "completed",
                    row["attempt_id"],
                    None,
                    statements.completed(home, _attempt(row), row["submitted_at"] or now),
                )
            )
    # Any new current score (final, or provisional again after a change that awaits a rater)
    # replaces the earlier ones: their `scored` statements are voided.
    earlier = await conn.fetch(
        """SELECT s.id, s.attempt_id FROM lrs_statements s
           JOIN unnest($1::uuid[], $2::int[]) AS f(attempt_id, version) ON f.attempt_id = s.attempt_id
           WHERE s.verb = 'scored' AND s.score_version < f.version
           ORDER BY s.created_at, s.id""",
        [row["attempt_id"] for row in rows],
        [row["score_version"] for row in rows],
    )
    by_attempt = {row["attempt_id"]: _attempt(row) for row in rows}
    for old in earlier:
        queued.append(
            (
                "voided",
                old["attempt_id"],
                None,
                statements.voided(home, by_attempt[old["attempt_id"]], old["id"], now),
            )
        )
    for row in (row for row in rows if row["status"] == "final"):
        attempt = _attempt(row)
        top = set(row["top_dimensions"])
        scores = [
            Scored(d["dimension"], d["scaled"], d.get("level"))
            for d in row["dimensions"]
            if d["dimension"] in top
        ]
        if row["overall_scaled"] is not None:
            scores.insert(0, Scored(statements.OVERALL, row["overall_scaled"], row["overall_level"]))
        for score in scores:
            queued.append(
                (
                    "scored",
                    row["attempt_id"],
                    row["score_version"],
                    statements.scored(home, attempt, row["score_version"], score, now),
                )
            )
    await _queue(conn, queued)
