"""The transactional outbox: events are written in the transaction that makes them true.

`emit` stores each event once and one pending delivery per active endpoint subscribed to its
type, on the caller's tenant-scoped connection; the dispatcher sends them after commit. A
rolled-back submission or rescoring therefore announces nothing, and a committed one is
announced even if this process dies right after the commit.

A tenant without endpoints pays one indexed query per call (webhook_endpoints is read by its
primary key's tenant prefix); payloads are only built when someone subscribes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

EventType = Literal["score.finalized", "score.rescored", "attempt.submitted"]
EVENT_TYPES: tuple[str, ...] = ("score.finalized", "score.rescored", "attempt.submitted")
TEST_EVENT = "webhook.test"


async def subscribers(conn: asyncpg.Connection, types: Iterable[str]) -> dict[str, list[UUID]]:
    """Active endpoints per event type, for the types anyone subscribes to."""
    found: dict[str, list[UUID]] = {}
    for row in await conn.fetch(
        "SELECT id, events FROM webhook_endpoints WHERE active AND events && $1::text[]", list(types)
    ):
        for event_type in row["events"]:
            found.setdefault(event_type, []).append(row["id"])
    return found


def envelope(event_id: UUID, event_type: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body receivers get: Standard Webhooks' `type`, `timestamp`, `data`, plus the event id."""
    return {"id": str(event_id), "type": event_type, "timestamp": at.isoformat(), "data": data}


async def queue(
    conn: asyncpg.Connection, event_type: str, payloads: list[dict[str, Any]], endpoint_ids: list[UUID]
) -> list[UUID]:
    """Store the events and a delivery of each to each endpoint, in one statement; the events' ids."""
    if not payloads or not endpoint_ids:
        return []
    at = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in payloads]
    await conn.execute(
        """WITH events AS (
               INSERT INTO webhook_events (id, type, payload, created_at)
               SELECT e.id, $1, e.payload, $2 FROM unnest($3::uuid[], $4::jsonb[]) AS e(id, payload)
               RETURNING id)
           INSERT INTO webhook_deliveries (endpoint_id, event_id)
           SELECT endpoint_id, events.id FROM events CROSS JOIN unnest($5::uuid[]) AS endpoint_id""",
        event_type,
        at,
        ids,
        [envelope(i, event_type, at, data) for i, data in zip(ids, payloads)],
        endpoint_ids,
    )
    return ids


async def emit(conn: asyncpg.Connection, type: str, payloads: list[dict[str, Any]]) -> list[UUID]:
    """Queue one event per payload (its `data`) for every active endpoint subscribed to `type`."""
    endpoints = (await subscribers(conn, [type])).get(type, [])
    return await queue(conn, type, payloads, endpoint_ids=endpoints)


# What every event about an attempt carries: who, which assessment, the score in force. No answers.
_ATTEMPT_DATA = """
    SELECT s.attempt_id, a.code AS assessment, p.external_id AS person, t.number AS attempt_number,
           t.submitted_at, s.version AS score_version, s.status, s.overall_scaled, s.overall_level,
           coalesce((SELECT jsonb_agg(jsonb_build_object('dimension', d->'dimension', 'scaled', d->'scaled',
                                                         'level', d->'level'))
                     FROM jsonb_array_elements(s.document->'dimensions') d), '[]') AS dimensions,
           previous.status AS previous_status
    FROM scores s
    JOIN attempts t ON t.tenant_id = s.tenant_id AND t.id = s.attempt_id
    JOIN assessments a ON a.tenant_id = t.tenant_id AND a.id = t.assessment_id
    JOIN people p ON p.tenant_id = t.tenant_id AND p.id = t.person_id
    LEFT JOIN scores previous ON previous.tenant_id = s.tenant_id AND previous.attempt_id = s.attempt_id
         AND previous.version = s.version - 1
    WHERE s.attempt_id = ANY($1::uuid[]) AND s.current
    ORDER BY t.submitted_at, s.attempt_id"""


def _data(row: asyncpg.Record) -> dict[str, Any]:
    data = {
        key: row[key]
        for key in (
            "assessment",
            "person",
            "attempt_number",
            "score_version",
            "status",
            "overall_scaled",
            "overall_level",
            "dimensions",
        )
    }
    data["attempt_id"] = str(row["attempt_id"])
    data["submitted_at"] = row["submitted_at"].isoformat() if row["submitted_at"] else None
    return data


async def scores_stored(
    conn: asyncpg.Connection, attempt_ids: list[UUID], *, submitted: bool = False
) -> None:
    """After new current scores were stored: `score.finalized` where a final score follows a provisional
    one (or none), `score.rescored` where a final score replaces a final one; and when the attempts were
    submitted by the same transaction, `attempt.submitted` with the score they got. The attempts' data
    is read once for all three (the score pipeline, service/pipeline.py, calls this once per scoring)."""
    if not attempt_ids:
        return
    types = ["score.finalized", "score.rescored", *(["attempt.submitted"] if submitted else [])]
    wanted = await subscribers(conn, types)
    if not wanted:
        return
    rows = [
        (row["status"], row["previous_status"], _data(row))
        for row in await conn.fetch(_ATTEMPT_DATA, attempt_ids)
    ]
    finalized = [data for status, previous, data in rows if status == "final" and previous != "final"]
    rescored = [data for status, previous, data in rows if status == "final" and previous == "final"]
    for event_type, payloads in (("score.finalized", finalized), ("score.rescored", rescored)):
        await queue(conn, event_type, payloads, wanted.get(event_type, []))
    if submitted:
        await queue(
            conn, "attempt.submitted", [data for _, _, data in rows], wanted.get("attempt.submitted", [])
        )
