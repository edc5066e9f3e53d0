"""A tenant's learning record store: its settings, its statement log, redelivery, a connection test.

One LRS per tenant, optional. The basic-auth key and secret are kept as a webhook's signing secret
is (the service has to present them, so they cannot be hashed) and the secret is never returned.
`home_page` is the tenant's issuer: the `account.homePage` of every actor, and the base of the
activity ids. Deleting the settings deletes the statement log with them; pausing (`active: false`)
keeps the queue, which is sent once the LRS is active again.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import httpx
import msgspec

from service.db import keyset
from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy.fields import TEXT_PATTERN
from service.webhooks.endpoints import check_url
from service.xapi.statements import VERSION, Verb

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        pattern=TEXT_PATTERN,
        examples=["https://lrs.example.gov.cn/xAPI/"],
        description="The LRS's xAPI base URL (statements are PUT to <url>/statements)",
    ),
]
HomePage = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        pattern=TEXT_PATTERN,
        examples=["https://idp.example.gov.cn"],
        description="The tenant's issuer: homePage of the actors' accounts (name = external id)",
    ),
]
Key = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="Basic-auth key")
]
Secret = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=500, pattern=TEXT_PATTERN, description="Basic-auth secret; never returned"
    ),
]
StatementStatus = Literal["pending", "delivered", "failed"]
TEST_TIMEOUT_SECONDS = 5.0


class LrsSet(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    key: Key
    secret: Secret
    home_page: HomePage
    active: bool = True


class Lrs(msgspec.Struct):
    url: str
    key: str
    home_page: str
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class LrsTarget(msgspec.Struct, frozen=True):
    """What the outbox and the dispatcher need: where, as whom, and the actors' homePage."""

    url: str
    key: str
    secret: str
    home_page: str


class StatementDelivery(msgspec.Struct):
    id: UUID  # the statement's id
    verb: Verb
    attempt_id: UUID
    score_version: int | None
    status: StatementStatus
    attempts: int
    next_attempt_at: datetime | None  # pending only
    last_attempt_at: datetime | None
    last_status: int | None  # the LRS's HTTP status
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    statement: dict[str, Any]


class LrsTest(msgspec.Struct):
    ok: bool
    status: int | None  # the LRS's answer to GET <url>/statements?limit=1
    error: str | None


_COLUMNS = "url, key, home_page, active, created_by, created_at, updated_at"
_LOG = """SELECT s.id, s.verb, s.attempt_id, s.score_version, s.status, s.attempts,
                 CASE WHEN s.status = 'pending' THEN s.next_attempt_at END AS next_attempt_at,
                 s.last_attempt_at, s.last_status, s.last_error, s.delivered_at, s.created_at, s.statement
          FROM lrs_statements s"""


def _check_home_page(home_page: str) -> str:
    parts = urlsplit(home_page)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username is not None:
        problem = msg("must be an absolute http(s) URL without credentials")
        raise Unprocessable(msg("home page {problem}", problem=problem), [FieldError(problem, "/home_page")])
    return home_page


async def put(conn: asyncpg.Connection, data: LrsSet, by: str, *, allow_loopback: bool) -> Lrs:
    """Set (or replace) the tenant's LRS; queued statements stay and go to the new settings."""
    try:  # the webhook rules: https to a public host, loopback only where the deployment allows it
        check_url(data.url, allow_loopback=allow_loopback)
    except Unprocessable as exc:
        raise Unprocessable(msg("LRS URL {problem}", problem=exc.errors[0].detail), exc.errors) from None
    _check_home_page(data.home_page)
    row = await conn.fetchrow(
        f"""INSERT INTO lrs_endpoints (url, key, secret, home_page, active, created_by)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (tenant_id) DO UPDATE SET url = $1, key = $2, secret = $3, home_page = $4,
                active = $5, updated_at = now()
            RETURNING {_COLUMNS}""",
        data.url,
        data.key,
        data.secret,
        data.home_page,
        data.active,
        by,
    )
    return msgspec.convert(dict(row), Lrs)


def _none() -> NotFound:
    return NotFound(msg("this tenant has no learning record store"))


async def get(conn: asyncpg.Connection) -> Lrs:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM lrs_endpoints")
    if row is None:
        raise _none()
    return msgspec.convert(dict(row), Lrs)


async def target(conn: asyncpg.Connection, *, active_only: bool = True) -> LrsTarget | None:
    row = await conn.fetchrow(
        "SELECT url, key, secret, home_page FROM lrs_endpoints" + (" WHERE active" if active_only else "")
    )
    return None if row is None else msgspec.convert(dict(row), LrsTarget)


async def delete(conn: asyncpg.Connection) -> None:
    """The settings and the statement log go."""
    if await conn.fetchval("DELETE FROM lrs_endpoints RETURNING tenant_id") is None:
        raise _none()


async def statements(
    conn: asyncpg.Connection, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[StatementDelivery]:
    """The statement log, newest first."""
    await get(conn)
    rows = await conn.fetch(_LOG + " WHERE " + keyset.newest_first("s", 1), *keyset.arguments(after, limit))
    return [msgspec.convert(dict(row), StatementDelivery) for row in rows]


async def redeliver(conn: asyncpg.Connection, statement_id: UUID) -> StatementDelivery:
    """Send a statement again now, with a fresh retry schedule; the LRS recognises its id."""
    await get(conn)
    row = await conn.fetchrow(
        """UPDATE lrs_statements s SET status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = NULL
           WHERE id = $1 RETURNING id""",
        statement_id,
    )
    if row is None:
        raise NotFound(msg("no statement {statement_id}", statement_id=statement_id))
    found = await conn.fetchrow(_LOG + " WHERE s.id = $1", statement_id)
    return msgspec.convert(dict(found), StatementDelivery)


def statements_url(url: str) -> str:
    return url.rstrip("/") + "/statements"


def headers(lrs: LrsTarget) -> dict[str, str]:
    token = base64.b64encode(f"{lrs.key}:{lrs.secret}".encode()).decode()
    return {"authorization": f"Basic {token}", "x-experience-api-version": VERSION}


async def test(lrs: LrsTarget, http: httpx.AsyncClient) -> LrsTest:
    """Ask the LRS for one statement with the stored credentials: reachable, and do they work?"""
    try:
        response = await http.get(
            statements_url(lrs.url), params={"limit": 1}, headers=headers(lrs), timeout=TEST_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        return LrsTest(
            False, None, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:500]
        )
    ok = 200 <= response.status_code < 300
    return LrsTest(ok, response.status_code, None if ok else f"HTTP {response.status_code}")
