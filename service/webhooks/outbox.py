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

EventType = Literal[
    "score.finalized", "score.rescored", "attempt.submitted", "credential.issued", "credential.revoked"
]
EVENT_TYPES: tuple[str, ...] = (
    "score.finalized",
    "score.rescored",
    "attempt.submitted",
    "credential.issued",  # service/results/credentials.py: an Open Badges credential, with its VC-JWT
    "credential.revoked",
)
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
        [envelope(i, event_type, at, data) for i, data in zip(ids, payloads, strict=True)],
        endpoint_ids,
    )
    return ids


async def emit(conn: asyncpg.Connection, type: str, payloads: list[dict[str, Any]]) -> list[UUID]:
    """Queue one event per payload (its `data`) for every active endpoint subscribed to `type`."""
    endpoints = (await subscribers(conn, [type])).get(type, [])
    return await queue(conn, type, payloads, endpoint_ids=endpoints)


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


def score_event_types(*, submitted: bool) -> list[str]:
    """The event types a scoring may queue (with `attempt.submitted` when it scored a submission)."""
    return ["score.finalized", "score.rescored", *(["attempt.submitted"] if submitted else [])]


async def scores_stored(
    conn: asyncpg.Connection, wanted: dict[str, list[UUID]], rows: list[asyncpg.Record], *, submitted: bool
) -> None:
    """After new current scores were stored, for the endpoints `wanted` per type (`subscribers` of
    `score_event_types`): `score.finalized` where a final score follows a provisional one (or none),
    `score.rescored` where a final score replaces a final one; and when the attempts were submitted by
    the same transaction, `attempt.submitted` with the score they got. `rows` are the attempts' event
    data (service/results/scores.py, `event_rows`), read once for all three by the score pipeline."""
    data = [(row["status"], row["previous_status"], _data(row)) for row in rows]
    finalized = [payload for status, previous, payload in data if status == "final" and previous != "final"]
    rescored = [payload for status, previous, payload in data if status == "final" and previous == "final"]
    for event_type, payloads in (("score.finalized", finalized), ("score.rescored", rescored)):
        await queue(conn, event_type, payloads, wanted.get(event_type, []))
    if submitted:
        await queue(
            conn,
            "attempt.submitted",
            [payload for _, _, payload in data],
            wanted.get("attempt.submitted", []),
        )
