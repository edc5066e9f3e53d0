"""The issuer directory's caches (`service/auth/directory.py`): concurrent misses of one key share one
look-up, and a failed look-up reaches every request that waited for it and is not cached.

The interleaving is forced: the owner holds `service_clients` locked, so the first look-up waits on the
lock (seen in pg_stat_activity) while the second request misses the same key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import pytest
from asyncpg.transaction import Transaction

from service.auth.directory import IssuerDirectory
from service.clients.clients import unrevoked_tenant
from service.db.pool import create_pool
from tests.helpers import blocked_on_a_lock


class CountedLookup:
    """The directory's real client look-up (`clients.unrevoked_tenant`), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, conn: asyncpg.Connection, client_id: UUID) -> UUID | None:
        self.calls += 1
        return await unrevoked_tenant(conn, client_id)


@dataclass
class Waiting:
    """A directory whose first look-up of `client_id` waits on the owner's lock of `service_clients`."""

    directory: IssuerDirectory
    lookup: CountedLookup
    client_id: UUID
    first: asyncio.Future[UUID | None]
    lock: Transaction  # the owner's, holding the table: roll it back to let the look-up through
    watcher: asyncpg.Connection  # neither racer's connection: sees and cancels the waiting statement


@asynccontextmanager
async def first_lookup_waiting(
    app_url: str, owner_url: str, owner: asyncpg.Connection
) -> AsyncIterator[Waiting]:
    lookup = CountedLookup()
    pool = await create_pool(app_url, min_size=2, max_size=2)
    watcher = await asyncpg.connect(owner_url)
    client_id = uuid4()
    try:
        directory = IssuerDirectory(pool, 60, lookup)
        lock = owner.transaction()
        await lock.start()
        await owner.execute("LOCK TABLE service_clients IN ACCESS EXCLUSIVE MODE")
        first = asyncio.ensure_future(directory.client_tenant(client_id))
        assert await blocked_on_a_lock(watcher, first)
        yield Waiting(directory, lookup, client_id, first, lock, watcher)
    finally:
        await watcher.close()
        await pool.close()


async def test_two_concurrent_misses_of_one_key_make_one_query(
    app_url: str, owner_url: str, owner: asyncpg.Connection
) -> None:
    async with first_lookup_waiting(app_url, owner_url, owner) as w:
        second = asyncio.ensure_future(w.directory.client_tenant(w.client_id))
        await w.lock.rollback()
        assert await asyncio.gather(w.first, second) == [None, None]  # unknown client: as if revoked
        assert w.lookup.calls == 1
        assert await w.directory.client_tenant(w.client_id) is None  # cached: no third query
        assert w.lookup.calls == 1


async def test_a_failed_lookup_reaches_both_waiters_and_is_not_cached(
    app_url: str, owner_url: str, owner: asyncpg.Connection
) -> None:
    async with first_lookup_waiting(app_url, owner_url, owner) as w:
        second = asyncio.ensure_future(w.directory.client_tenant(w.client_id))
        # the look-up fails: its statement is cancelled while it waits for the lock
        cancelled = await w.watcher.fetchval(
            "SELECT count(*) FROM (SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock') AS c"
        )
        assert cancelled == 1
        results = await asyncio.gather(w.first, second, return_exceptions=True)
        assert [type(r) for r in results] == [asyncpg.QueryCanceledError] * 2
        assert w.lookup.calls == 1
        await w.lock.rollback()
        assert await w.directory.client_tenant(w.client_id) is None  # asked again, not the failure
        assert w.lookup.calls == 2


async def test_a_waiter_cancelled_leaves_the_lookup_to_the_others(
    app_url: str, owner_url: str, owner: asyncpg.Connection
) -> None:
    """A request gone (its task cancelled) while it waits does not cancel the look-up another awaits."""
    async with first_lookup_waiting(app_url, owner_url, owner) as w:
        second = asyncio.ensure_future(w.directory.client_tenant(w.client_id))
        w.first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w.first
        await w.lock.rollback()
        assert await second is None
        assert w.lookup.calls == 1


async def test_a_lookup_in_flight_when_the_worker_forgets_is_not_cached(
    app_url: str, owner_url: str, owner: asyncpg.Connection
) -> None:
    """A change made by this worker (`forget`) while a look-up waits: the look-up may have read before the
    change, so its waiter gets its answer but the cache does not keep it, and a later miss asks again."""
    async with first_lookup_waiting(app_url, owner_url, owner) as w:
        w.directory.forget()
        await w.lock.rollback()
        assert await w.first is None
        assert await w.directory.client_tenant(w.client_id) is None
        assert w.lookup.calls == 2
