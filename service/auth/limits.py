"""Rate limits of the token endpoint, kept in PostgreSQL so every worker and host shares them.

Three kinds of token bucket (refilling at `rate` per second up to `burst`), one row each in
`auth_rate_buckets` (migration 0013):

- `client:<id>`: tokens *issued* to a client (TOKEN_RATE_PER_SECOND / TOKEN_RATE_BURST). Only a
  request with the right secret takes from it, so wrong secrets sent by someone else never lock
  the real client out.
- `address:<ip>`: failed client authentications from one source address (an IPv6 address counts
  by its /64). Once empty, that address is answered 429 before the database is asked about any client.
- `failures`: failed client authentications in total. Once empty, an address that has failed
  recently (its bucket is not full) is answered 429 before the lookup; an address with no recent
  failure still has its credentials checked, so a correct secret from an address that has not been
  failing always gets through. A spray of made-up client ids therefore costs at most one lookup per
  address per refill of its bucket while the total is exceeded.

Only `POST /oauth/token` touches the table: the save path and every other request never do. Each
decision is one statement in its own short transaction; the limiter's context setting
(`app.rate_limits`) is the only one under which row-level security shows the rows.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec

PURGE_EVERY_SECONDS = 60.0
PURGE_AFTER = "1 hour"  # a bucket untouched this long is full again (bursts / rates are far shorter)

_AVAILABLE = "least({burst}, {row}.tokens + extract(epoch FROM clock_timestamp() - {row}.updated_at)::float8 * {rate})"
_NOW_AVAILABLE = _AVAILABLE.format(burst="EXCLUDED.burst", row="b", rate="EXCLUDED.rate")
_TAKE = f"""
INSERT INTO auth_rate_buckets AS b (key, rate, burst, tokens, granted, updated_at)
SELECT k, r, u, u - 1, true, clock_timestamp() FROM unnest($1::text[], $2::float8[], $3::float8[]) AS t(k, r, u)
ON CONFLICT (key) DO UPDATE SET
    rate = EXCLUDED.rate, burst = EXCLUDED.burst,
    granted = {_NOW_AVAILABLE} >= 1,
    tokens = {_NOW_AVAILABLE} - CASE WHEN {_NOW_AVAILABLE} >= 1 THEN 1 ELSE 0 END,
    updated_at = clock_timestamp()
RETURNING key, tokens, granted, rate, burst"""
_PEEK = f"""SELECT key, {_AVAILABLE.format(burst="burst", row="auth_rate_buckets", rate="rate")} AS tokens, rate, burst
            FROM auth_rate_buckets WHERE key = ANY($1::text[])"""


class Limit(msgspec.Struct, frozen=True):
    """A bucket's settings and its name in the RateLimit-Policy header."""

    policy: str
    rate: float
    burst: float

    @property
    def enabled(self) -> bool:
        return self.rate > 0


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: Limit
    tokens: float  # left after this request

    @property
    def retry_after(self) -> int:
        """Whole seconds until one request is allowed again (at least 1 when refused)."""
        return 0 if self.allowed else max(1, math.ceil((1 - self.tokens) / self.limit.rate))

    def headers(self) -> dict[str, str]:
        """IETF draft-ietf-httpapi-ratelimit-headers: the quota (q) per window (w, the seconds an empty
        bucket takes to refill), what remains (r) and the seconds until all of it is back (t)."""
        limit = self.limit
        window = max(1, math.ceil(limit.burst / limit.rate))
        reset = max(0, math.ceil((limit.burst - self.tokens) / limit.rate))
        return {"RateLimit-Policy": f'"{limit.policy}";q={limit.burst:g};w={window}',
                "RateLimit": f'"{limit.policy}";r={max(0, math.floor(self.tokens))};t={reset}'}


def address_key(address: str) -> str:
    """`address:<ip>`; an IPv6 address by its /64 (one host usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "address:" + address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "address:" + str(ip.ipv4_mapped)
        return "address:" + str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return "address:" + str(ip)


@asynccontextmanager
async def _limiter_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.rate_limits', 'on', true)")
        yield conn


class TokenEndpointLimits:
    """The token endpoint's three limits (see the module docstring). A rate of 0 turns one off."""

    def __init__(self, pool: asyncpg.Pool, *, issued: Limit, per_address: Limit, total: Limit) -> None:
        self.pool, self.issued, self.per_address, self.total = pool, issued, per_address, total
        self._purged = time.monotonic()

    async def _take(self, buckets: list[tuple[str, Limit]]) -> dict[str, Decision]:
        buckets = sorted(buckets)  # one lock order for every statement: no deadlock between two of them
        async with _limiter_transaction(self.pool) as conn:
            rows = await conn.fetch(_TAKE, [k for k, _ in buckets], [l.rate for _, l in buckets],
                                    [max(1.0, l.burst) for _, l in buckets])
            if time.monotonic() - self._purged > PURGE_EVERY_SECONDS:
                self._purged = time.monotonic()
                await conn.execute(f"DELETE FROM auth_rate_buckets WHERE updated_at < now() - interval '{PURGE_AFTER}'")
        limits = dict(buckets)
        return {r["key"]: Decision(r["granted"], limits[r["key"]], r["tokens"]) for r in rows}

    async def refused_before_lookup(self, address: str) -> Decision | None:
        """A refusal for an address that has failed too often (alone, or while failures in total are
        over their limit); None: check the credentials."""
        if not self.per_address.enabled and not self.total.enabled:
            return None
        key = address_key(address)
        async with _limiter_transaction(self.pool) as conn:
            rows = {r["key"]: r for r in await conn.fetch(_PEEK, [key, "failures"])}
        mine = rows.get(key)
        if mine is None:
            return None  # no recent failure from here: never refused for others' failures
        if self.per_address.enabled and mine["tokens"] < 1:
            return Decision(False, self.per_address, mine["tokens"])
        total = rows.get("failures")
        if (self.total.enabled and total is not None and total["tokens"] < 1
                and mine["tokens"] < mine["burst"]):
            return Decision(False, self.total, total["tokens"])
        return None

    async def failed(self, address: str) -> None:
        """Count a failed client authentication from `address`."""
        buckets = [(k, l) for k, l in ((address_key(address), self.per_address), ("failures", self.total))
                   if l.enabled]
        if buckets:
            await self._take(buckets)

    async def issue(self, client_id: str) -> Decision | None:
        """Take one issuance from the client's bucket; None when the limit is off."""
        if not self.issued.enabled:
            return None
        key = "client:" + client_id
        return (await self._take([(key, self.issued)]))[key]
