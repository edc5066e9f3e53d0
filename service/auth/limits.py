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
  address per refill of its bucket while the total is exceeded. (The total needs the per-address
  limit on: it refuses only addresses that have failed.)

Every request reserves its failure before the lookup (one statement taking from both buckets, so
concurrent requests cannot all pass on one free token) and gets it back when the secret was right
or when it is refused without a lookup.

Only `POST /oauth/token` touches the table: the save path and every other request never do. Each
decision is one autocommitted call of `auth_rate_take` (migration 0013), which sets the limiter's
context (`app.rate_limits`, the only one under which row-level security shows the rows) for its own
statement: a hot bucket (`failures`) is locked for one round trip, not a transaction's four.
"""

from __future__ import annotations

import ipaddress
import math
import time

import asyncpg
import msgspec

PURGE_EVERY_SECONDS = 60.0

_TAKE = "SELECT key, tokens, granted FROM auth_rate_take($1, $2, $3, $4, $5)"
FAILURES = "failures"


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
    def was_full(self) -> bool:
        """The bucket was full before this request: nothing taken from it recently."""
        return self.tokens + (1 if self.allowed else 0) >= self.limit.burst

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
        return {
            "RateLimit-Policy": f'"{limit.policy}";q={limit.burst:g};w={window}',
            "RateLimit": f'"{limit.policy}";r={max(0, math.floor(self.tokens))};t={reset}',
        }


class Admission(msgspec.Struct, frozen=True):
    """What `admit` decided: a refusal, or the failure buckets it reserved a token of."""

    refused: Decision | None
    reserved: list[str]


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


class TokenEndpointLimits:
    """The token endpoint's three limits (see the module docstring). A rate of 0 turns one off."""

    def __init__(self, pool: asyncpg.Pool, *, issued: Limit, per_address: Limit, total: Limit) -> None:
        self.pool, self.issued, self.per_address, self.total = pool, issued, per_address, total
        self._purged = time.monotonic()

    async def _take(
        self, buckets: list[tuple[str, Limit]], refund: list[str] | None = None
    ) -> dict[str, Decision]:
        """One autocommitted statement: the buckets' row locks are held for its duration only."""
        buckets = sorted(buckets, key=lambda b: b[0])  # one lock order: no deadlock between two statements
        purge = time.monotonic() - self._purged > PURGE_EVERY_SECONDS
        if purge:
            self._purged = time.monotonic()
        rows = await self.pool.fetch(
            _TAKE,
            [k for k, _ in buckets],
            [limit.rate for _, limit in buckets],
            [max(1.0, limit.burst) for _, limit in buckets],
            sorted(refund or []),
            purge,
        )
        limits = dict(buckets)
        return {r["key"]: Decision(r["granted"], limits[r["key"]], r["tokens"]) for r in rows}

    async def admit(self, address: str) -> Admission:
        """Before the client is looked up: reserve this request's failure in the address's and the total
        bucket (one statement, so concurrent requests cannot all slip through one free token), and
        refuse an address that has failed too often, alone or while failures in total are over their
        limit. An address whose bucket was full (no recent failure) is never refused for the total."""
        wanted = [
            (k, limit)
            for k, limit in ((address_key(address), self.per_address), (FAILURES, self.total))
            if limit.enabled
        ]
        if not wanted:
            return Admission(None, [])
        taken = await self._take(wanted)
        reserved = [key for key, decision in taken.items() if decision.allowed]
        mine = taken.get(wanted[0][0]) if wanted[0][1] is self.per_address else None
        total = taken.get(FAILURES)
        refused = None
        if mine is not None and not mine.allowed:
            refused = mine
        elif total is not None and not total.allowed and mine is not None and not mine.was_full:
            refused = total
        if refused is not None:  # answered without a lookup: not a failure, give back what was reserved
            await self._refund(reserved)
            return Admission(refused, [])
        return Admission(None, reserved)

    async def _refund(self, keys: list[str]) -> None:
        if keys:
            await self._take([], refund=keys)

    async def succeeded(self, admission: Admission) -> None:
        """The credentials were right: the reserved failure is given back."""
        await self._refund(admission.reserved)

    async def issue(self, client_id: str, admission: Admission) -> Decision | None:
        """The credentials were right: give back the reserved failure and take one issuance from the
        client's bucket (one statement); None when the issuance limit is off."""
        if not self.issued.enabled:
            await self._refund(admission.reserved)
            return None
        key = "client:" + client_id
        return (await self._take([(key, self.issued)], refund=admission.reserved))[key]
