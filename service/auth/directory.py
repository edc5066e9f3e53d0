"""What token verification needs to know about tenants, read before the tenant is known.

Looks are cached for AUTH_CACHE_SECONDS: suspending a tenant, changing its issuers or revoking
a service client takes effect within that time on every worker (at once on the worker that made
the change, which forgets what it cached), without a database round trip per request.

A miss is looked up once however many requests miss it together (`_TTLCache.get_or_load`): when an
entry runs out, every request in flight of that tenant misses it at the same moment, and each used to
open a transaction of its own for the same row. Concurrent misses of one key now share one look-up;
its failure reaches each of them and nothing is cached, so the next miss asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import jwt

from service.db.pool import auth_lookup_transaction
from service.tenancy import issuers, tenants
from service.tenancy.issuers import IssuerRegistration, usable_keys

__all__ = ["ClientTenant", "IssuerDirectory", "IssuerRegistration", "usable_keys"]

# The tenant of an unrevoked service client, None for a revoked or unknown one: the owner of
# `service_clients` (service/clients/clients.py, a layer above) reads it; the composition root passes it in.
ClientTenant = Callable[[asyncpg.Connection, UUID], Awaitable[UUID | None]]


class _TTLCache:
    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds, self.max_entries = seconds, max_entries
        self._data: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Task[Any]] = {}  # look-ups in flight, by key
        self._forgotten = 0  # bumped by discard and clear: a look-up begun before is not cached

    async def get_or_load(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of `key`, else `load()`'s (never None), cached; concurrent misses of one
        key await the same `load()`. The look-up runs as a task of its own, so a waiter cancelled (a
        client gone) cancels neither it nor the other waiters; a failure reaches every waiter and is not
        cached. A look-up in flight when the key is discarded (or the cache cleared) is not joined by
        later misses, and its value is handed to its waiters but not cached: it may predate the change."""
        hit = self.get(key)
        if hit is not None:
            return hit
        flight = self._loading.get(key)
        if flight is None:
            flight = self._loading[key] = asyncio.ensure_future(self._load(key, load, self._forgotten))
            flight.add_done_callback(_retrieve)
        return await asyncio.shield(flight)

    async def _load(self, key: Any, load: Callable[[], Awaitable[Any]], forgotten: int) -> Any:
        try:
            value = await load()
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
        if forgotten == self._forgotten:
            self.put(key, value)
        return value

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any, seconds: float | None = None) -> None:
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (time.monotonic() + (self.seconds if seconds is None else seconds), value)

    def remaining(self, key: Any) -> float:
        """Seconds until the entry for `key` expires (0 without one)."""
        hit = self._data.get(key)
        return max(0.0, hit[0] - time.monotonic()) if hit else 0.0

    def discard(self, key: Any) -> None:
        self._data.pop(key, None)
        self._loading.pop(key, None)
        self._forgotten += 1

    def clear(self) -> None:
        self._data.clear()
        self._loading.clear()
        self._forgotten += 1


def _retrieve(flight: asyncio.Task[Any]) -> None:
    """Mark a look-up's failure as seen: its waiters may all have been cancelled."""
    if not flight.cancelled():
        flight.exception()


class IssuerDirectory:
    def __init__(self, pool: asyncpg.Pool, cache_seconds: float, client_tenant: ClientTenant) -> None:
        self._pool = pool
        self._client_tenant = client_tenant
        self._issuers = _TTLCache(cache_seconds)
        self._tenants = _TTLCache(cache_seconds)
        self._clients = _TTLCache(cache_seconds)
        self._remote_jwks = _TTLCache(max(cache_seconds, 300))
        self._fetched_at: dict[str, float] = {}

    def forget(self) -> None:
        """Drop cached lookups (after a change made by this process)."""
        self._issuers.clear()
        self._tenants.clear()
        self._clients.clear()

    def forget_client(self, client_id: UUID) -> None:
        self._clients.discard(client_id)

    async def client_tenant(self, client_id: UUID) -> UUID | None:
        """The tenant of a service client that is not revoked; None for a revoked or unknown client."""

        async def load() -> UUID | str:
            async with auth_lookup_transaction(self._pool) as conn:
                return await self._client_tenant(conn, client_id) or "revoked"

        cached = await self._clients.get_or_load(client_id, load)
        return None if cached == "revoked" else cached

    async def registrations(self, issuer: str) -> list[IssuerRegistration]:
        async def load() -> list[IssuerRegistration]:
            async with auth_lookup_transaction(self._pool) as conn:
                return await issuers.registrations(conn, issuer)

        return await self._issuers.get_or_load(issuer, load)

    async def tenant_status(self, tenant_id: UUID) -> str | None:
        async def load() -> str:
            async with auth_lookup_transaction(self._pool) as conn:
                return await tenants.status_of(conn, tenant_id) or "missing"

        cached = await self._tenants.get_or_load(tenant_id, load)
        return None if cached == "missing" else cached

    async def keys_for(self, registration: IssuerRegistration, *, refresh: bool = False) -> list[jwt.PyJWK]:
        if registration.registered.jwks is not None:
            return usable_keys(registration.registered.jwks)
        assert registration.registered.jwks_url is not None
        url = registration.registered.jwks_url
        # An unknown kid may mean the provider rotated, but refetch at most every 30 s per URL:
        # tokens with made-up kids must not turn us into a flood against the provider.
        if refresh and time.monotonic() - self._fetched_at.get(url, 0.0) < 30:
            refresh = False
        cached = None if refresh else self._remote_jwks.get(url)
        if cached is None:
            self._fetched_at[url] = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
                    response = await client.get(url, headers={"accept": "application/json"})
                    response.raise_for_status()
                    cached = usable_keys(response.json())
            except (httpx.HTTPError, ValueError):
                cached = []
            self._remote_jwks.put(url, cached, seconds=None if cached else 10)
        return cached
