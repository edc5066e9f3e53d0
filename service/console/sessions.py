"""The `console_sessions` table, and nothing else touches it.

The cookie carries 32 random bytes; the table keeps their SHA-256, so a leaked table signs nobody
in. A request finds its row before it knows its tenant, through the read-only auth-lookup context
(`find`); writing (sign-in, touch, language, logout) happens in the tenant's own transaction.
Expiry is twofold: idle (renewed on use, at most once a minute so a page view is not a write) and
absolute (fixed at sign-in). The row also holds a secret just made, for the one page that shows it
(`hold_secret`, `take_secret`): the console's Post/Redirect/Get for new client and webhook secrets.
That secret is sealed (AES-256-GCM) with a key derived from the cookie value, which the table never
holds: a copy of the table taken while a secret is held does not reveal it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.auth.principal import Principal
from service.db.pool import auth_lookup_transaction
from service.tenancy import tenants

TOUCH_AFTER = timedelta(seconds=60)
HOLD_SECRET = timedelta(minutes=5)  # a secret not shown this soon after it was made is never shown


class ConsoleSession(msgspec.Struct, frozen=True):
    tenant_id: UUID
    tenant_name: str
    id_hash: bytes
    subject: str
    issuer: str
    roles: frozenset[str]
    locale: str
    csrf_token: str
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    seal_key: bytes = b""  # derived from the cookie value (never stored): seals a held secret

    def principal(self) -> Principal:
        """The session as the same `Principal` a bearer token gives: the API's role guards apply as they are."""
        return Principal(
            "user",
            self.subject,
            self.roles,
            self.tenant_id,
            self.issuer,
            self.absolute_expires_at.timestamp(),
        )


def new_id() -> str:
    return secrets.token_urlsafe(32)


def id_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def seal_key(session_id: str) -> bytes:
    """A key only the cookie's holder can derive: the table keeps `id_hash`, a different digest."""
    return hashlib.sha256(b"assess console held secret\0" + session_id.encode()).digest()


async def create(
    conn: asyncpg.Connection, principal: Principal, locale: str, *, idle_seconds: float, max_seconds: float
) -> str:
    """A new session for a verified sign-in; returns the cookie value (never stored).

    Sessions that are over are deleted here, so the table holds about the tenant's live sessions
    without a cleaning job."""
    session_id = new_id()
    now = datetime.now(UTC)
    await conn.execute(
        "DELETE FROM console_sessions WHERE idle_expires_at <= $1 OR absolute_expires_at <= $1", now
    )
    await conn.execute(
        "INSERT INTO console_sessions (id_hash, subject, issuer, roles, locale, csrf_token, created_at, "
        "last_seen_at, idle_expires_at, absolute_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)",
        id_hash(session_id),
        principal.subject,
        principal.issuer,
        sorted(principal.roles),
        locale,
        secrets.token_urlsafe(32),
        now,
        now + timedelta(seconds=min(idle_seconds, max_seconds)),
        now + timedelta(seconds=max_seconds),
    )
    return session_id


async def find(pool: asyncpg.Pool, session_id: str) -> ConsoleSession | None:
    """The live session of a cookie value, with its tenant's name; None when unknown, expired or suspended."""
    async with auth_lookup_transaction(pool) as conn:
        row = await conn.fetchrow(
            "SELECT s.tenant_id, s.id_hash, s.subject, s.issuer, s.roles, s.locale, "
            "s.csrf_token, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at "
            "FROM console_sessions s "
            "WHERE s.id_hash = $1 AND s.idle_expires_at > now() AND s.absolute_expires_at > now()",
            id_hash(session_id),
        )
        name = await tenants.active_name(conn, row["tenant_id"]) if row is not None else None
    if row is None or name is None:
        return None
    return ConsoleSession(
        **{**dict(row), "tenant_name": name, "roles": frozenset(row["roles"])}, seal_key=seal_key(session_id)
    )


async def touch(conn: asyncpg.Connection, session: ConsoleSession, idle_seconds: float) -> None:
    """Push the idle expiry on, never past the absolute one; skipped when the last touch is recent."""
    now = datetime.now(UTC)
    if now - session.last_seen_at < TOUCH_AFTER:
        return
    await conn.execute(
        "UPDATE console_sessions SET last_seen_at = $2, idle_expires_at = least($3, absolute_expires_at) "
        "WHERE id_hash = $1",
        session.id_hash,
        now,
        now + timedelta(seconds=idle_seconds),
    )


async def set_locale(conn: asyncpg.Connection, session: ConsoleSession, locale: str) -> None:
    await conn.execute("UPDATE console_sessions SET locale = $2 WHERE id_hash = $1", session.id_hash, locale)


async def delete(conn: asyncpg.Connection, hashed: bytes) -> None:
    """Logout: the row goes, so the session ends on every device and worker at once."""
    await conn.execute("DELETE FROM console_sessions WHERE id_hash = $1", hashed)


class HeldSecret(msgspec.Struct, frozen=True):
    """A secret just made (a service client's, a webhook's), held on the session for the page that shows it."""

    kind: str  # "client" or "webhook"
    label: str
    object_id: UUID
    secret: str


def _aad(session: ConsoleSession, kind: str, object_id: str) -> bytes:
    return session.id_hash + f"\0{kind}\0{object_id}".encode()


async def hold_secret(conn: asyncpg.Connection, session: ConsoleSession, held: HeldSecret) -> None:
    """Keep `held` (its secret sealed) for the next page of this session that asks for it, for
    `HOLD_SECRET` at most; a newer secret replaces one not yet shown."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(session.seal_key).encrypt(
        nonce, held.secret.encode(), _aad(session, held.kind, str(held.object_id))
    )
    stored = {**msgspec.to_builtins(held), "secret": base64.b64encode(nonce + sealed).decode()}
    await conn.execute(
        "UPDATE console_sessions SET held_secret = $2, held_secret_until = $3 WHERE id_hash = $1",
        session.id_hash,
        stored,
        datetime.now(UTC) + HOLD_SECRET,
    )


async def take_secret(conn: asyncpg.Connection, session: ConsoleSession, kind: str) -> HeldSecret | None:
    """The held secret of this kind, off the row as it is read: one page shows it, a second finds nothing.
    The row is locked first, so of two requests at once only one gets it."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT held_secret, held_secret_until > now() AS live FROM console_sessions "
            "WHERE id_hash = $1 FOR UPDATE",
            session.id_hash,
        )
        if row is None or row["held_secret"] is None or row["held_secret"].get("kind") != kind:
            return None
        await conn.execute(
            "UPDATE console_sessions SET held_secret = NULL, held_secret_until = NULL WHERE id_hash = $1",
            session.id_hash,
        )
    if not row["live"]:
        return None
    stored = row["held_secret"]
    raw = base64.b64decode(stored["secret"])
    try:
        secret = AESGCM(session.seal_key).decrypt(
            raw[:12], raw[12:], _aad(session, kind, stored["object_id"])
        )
    except InvalidTag:  # sealed under another cookie: not this browser's secret
        return None
    return msgspec.convert({**stored, "secret": secret.decode()}, HeldSecret)
