"""Candidates' devices hold keep-alive connections: the server must answer more of them than
granian's default cap (backlog // workers = 1,024 with one worker), which accepted further
connections in the kernel and never answered them (found by bench/sitting.py at ~1,000 devices).

The server runs as `assess serve` does, in a subprocess, on this test's own database (a fresh copy of
the migrated template on the suite's server, as DATABASE_URL: no PostgreSQL of its own to initialise
and migrate)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
DEVICES = 1_200


def test_more_idle_keep_alive_connections_than_granians_default_cap_are_all_answered(owner_url: str):
    sys.path.insert(0, str(BENCH))
    try:
        from _harness import RawConnection, running_service
    finally:
        sys.path.remove(str(BENCH))

    async def devices(host: str, port: int) -> list[int]:
        held = [RawConnection(host, port) for _ in range(DEVICES)]
        try:
            # one after another, each kept open and idle once answered, as devices between saves
            return [(await asyncio.wait_for(c.request("GET", "/health/live", {}), 10))[0] for c in held]
        finally:
            for connection in held:
                connection.close()

    with running_service(workers=1, pool_max=2, extra_env={"DATABASE_URL": owner_url}) as service:
        host, port = service.url.removeprefix("http://").split(":")
        statuses = asyncio.run(devices(host, int(port)))
    assert statuses == [200] * DEVICES
