"""A tenant's webhook endpoints and their delivery log.

The signing secret is returned when an endpoint is created and when it is rotated, never
listed. After a rotation, deliveries carry two signatures, under the new secret and under the
previous one, for `grace_seconds` (default 24 h): a receiver that accepts any signature made
with a secret it knows (as the Standard Webhooks libraries do) can switch at its own pace.
Rotating again during a grace period replaces the previous secret, so at most two sign.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import msgspec

from service.db import keyset
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.tenancy.fields import TEXT_PATTERN
from service.webhooks import signing
from service.webhooks.outbox import TEST_EVENT, EventType, queue

MAX_ENDPOINTS = 20  # per tenant: every event fans out to each subscribed endpoint

Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        pattern=TEXT_PATTERN,
        examples=["https://hr.example.gov.cn/assess-events"],
        description="https URL the events are POSTed to",
    ),
]
Events = Annotated[
    list[EventType],
    msgspec.Meta(min_length=1, max_length=3, description="Event types this endpoint receives"),
]
Description = Annotated[str, msgspec.Meta(max_length=500, pattern=TEXT_PATTERN)]
DeliveryStatus = Literal["pending", "delivered", "failed"]
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    events: Events
    description: Description | None = None


class WebhookUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET


class WebhookRotate(msgspec.Struct, forbid_unknown_fields=True):
    grace_seconds: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_GRACE_SECONDS,
            description="How long deliveries are also signed with the previous secret (0: not at all)",
        ),
    ] = DEFAULT_GRACE_SECONDS


class Webhook(msgspec.Struct):
    id: UUID
    url: str
    description: str | None
    events: list[str]
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    previous_secret_valid_until: (
        datetime | None
    )  # deliveries are also signed with the previous secret until then


class WebhookWithSecret(Webhook, kw_only=True):
    """Shown once: keep `secret` to verify the `webhook-signature` header."""

    secret: str


class Delivery(msgspec.Struct):
    id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None  # pending only
    last_attempt_at: datetime | None
    last_status: int | None  # the receiver's HTTP status
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


_COLUMNS = """id, url, description, events, active, created_by, created_at, updated_at,
    CASE WHEN previous_valid_until > now() THEN previous_valid_until END AS previous_secret_valid_until"""
_DELIVERY = """
    SELECT d.id, d.event_id, v.type AS event_type, d.status, d.attempts,
           CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
           d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at
    FROM webhook_deliveries d JOIN webhook_events v ON v.tenant_id = d.tenant_id AND v.id = d.event_id"""


def check_url(url: str, *, allow_loopback: bool) -> str:
    """https to a public host; http or https to loopback only when the deployment allows it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        parts = None
    host = (parts.hostname or "") if parts else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    loopback = host == "localhost" or host.endswith(".localhost") or bool(address and address.is_loopback)
    problem = None
    if parts is None or not host or parts.scheme not in ("https", "http"):
        problem = msg("must be an absolute https URL")
    elif parts.username is not None or parts.fragment:
        problem = msg("must not carry credentials or a fragment")
    elif loopback and not allow_loopback:
        problem = msg("loopback addresses are not allowed")
    elif not loopback and parts.scheme != "https":
        problem = msg("must use https")
    elif address is not None and not address.is_global and not loopback:
        problem = msg("private, link-local and reserved addresses are not allowed")
    if problem:
        raise Unprocessable(msg("webhook URL {problem}", problem=problem), [FieldError(problem, "/url")])
    return url


def _events(events: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(events))


async def create(
    conn: asyncpg.Connection, data: WebhookCreate, created_by: str, *, allow_loopback: bool
) -> WebhookWithSecret:
    check_url(data.url, allow_loopback=allow_loopback)
    if await conn.fetchval("SELECT count(*) FROM webhook_endpoints") >= MAX_ENDPOINTS:
        raise Conflict(
            msg("a tenant has at most {limit} webhook endpoints; delete one first", limit=MAX_ENDPOINTS)
        )
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (url, description, events, secret, created_by)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}, secret""",
        data.url,
        data.description,
        _events(data.events),
        signing.new_secret(),
        created_by,
    )
    return msgspec.convert(dict(row), WebhookWithSecret)


async def list_endpoints(
    conn: asyncpg.Connection, *, after: tuple[datetime, UUID] | None = None, limit: int = MAX_ENDPOINTS
) -> list[Webhook]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM webhook_endpoints e WHERE " + keyset.oldest_first("e", 1),
        *keyset.arguments(after, limit),
    )
    return [msgspec.convert(dict(row), Webhook) for row in rows]


async def get(conn: asyncpg.Connection, webhook_id: UUID, *, lock: bool = False) -> Webhook:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        webhook_id,
    )
    if row is None:
        raise NotFound(msg("no webhook {webhook_id}", webhook_id=webhook_id))
    return msgspec.convert(dict(row), Webhook)


async def update(
    conn: asyncpg.Connection, webhook_id: UUID, data: WebhookUpdate, *, allow_loopback: bool
) -> Webhook:
    current = await get(conn, webhook_id, lock=True)
    url = current.url if data.url is msgspec.UNSET else check_url(data.url, allow_loopback=allow_loopback)
    events = current.events if data.events is msgspec.UNSET else _events(data.events)
    active = current.active if data.active is msgspec.UNSET else data.active
    description = current.description if data.description is msgspec.UNSET else data.description
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET url = $2, events = $3, active = $4, description = $5, updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        webhook_id,
        url,
        events,
        active,
        description,
    )
    if current.active and not active:  # nothing waits for a disabled endpoint; the log can redeliver later
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled' "
            "WHERE endpoint_id = $1 AND status = 'pending'",
            webhook_id,
        )
    return msgspec.convert(dict(row), Webhook)


async def delete(conn: asyncpg.Connection, webhook_id: UUID) -> None:
    """The endpoint and its delivery log go; events stay for other endpoints."""
    if await conn.fetchval("DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id", webhook_id) is None:
        raise NotFound(msg("no webhook {webhook_id}", webhook_id=webhook_id))


async def rotate_secret(conn: asyncpg.Connection, webhook_id: UUID, data: WebhookRotate) -> WebhookWithSecret:
    row = await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET previous_secret = secret, secret = $2, updated_at = now(),
                previous_valid_until = now() + make_interval(secs => $3)
            WHERE id = $1 RETURNING {_COLUMNS}, secret""",
        webhook_id,
        signing.new_secret(),
        data.grace_seconds,
    )
    if row is None:
        raise NotFound(msg("no webhook {webhook_id}", webhook_id=webhook_id))
    return msgspec.convert(dict(row), WebhookWithSecret)


async def deliveries(
    conn: asyncpg.Connection, webhook_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[Delivery]:
    """The endpoint's delivery log, newest first."""
    await get(conn, webhook_id)
    rows = await conn.fetch(
        _DELIVERY + " WHERE d.endpoint_id = $1 AND " + keyset.newest_first("d", 2),
        webhook_id,
        *keyset.arguments(after, limit),
    )
    return [msgspec.convert(dict(row), Delivery) for row in rows]


async def _delivery(conn: asyncpg.Connection, delivery_id: UUID) -> Delivery:
    row = await conn.fetchrow(_DELIVERY + " WHERE d.id = $1", delivery_id)
    return msgspec.convert(dict(row), Delivery)


async def _active(conn: asyncpg.Connection, webhook_id: UUID) -> None:
    if not (await get(conn, webhook_id)).active:
        raise Conflict(
            msg("webhook {webhook_id} is disabled: set active to true first", webhook_id=webhook_id)
        )


async def redeliver(conn: asyncpg.Connection, webhook_id: UUID, delivery_id: UUID) -> Delivery:
    """Send again now, with a fresh retry schedule (within 24 h of the event: once, then as usual)."""
    await _active(conn, webhook_id)
    found = await conn.fetchval(
        """UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = NULL
           WHERE id = $1 AND endpoint_id = $2 RETURNING id""",
        delivery_id,
        webhook_id,
    )
    if found is None:
        raise NotFound(
            msg(
                "no delivery {delivery_id} of webhook {webhook_id}",
                delivery_id=delivery_id,
                webhook_id=webhook_id,
            )
        )
    return await _delivery(conn, delivery_id)


async def send_test(conn: asyncpg.Connection, webhook_id: UUID) -> Delivery:
    """Queue a `webhook.test` event to this endpoint alone."""
    await _active(conn, webhook_id)
    [event_id] = await queue(
        conn,
        TEST_EVENT,
        [{"webhook_id": str(webhook_id), "message": "a test event from the assessment service"}],
        [webhook_id],
    )
    delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries WHERE event_id = $1", event_id)
    return await _delivery(conn, delivery_id)
