"""What makes the suite fast without making it share state: the app built once per worker, and set-up
fixtures whose database is a template built once per worker.

This is a module of its own, not conftest.py, because pytest loads conftest.py as `conftest` while
tests import `tests.conftest`: two copies, and two caches. Everything here is imported as
`tests.harness` only.

**Apps.** `app_for(settings)` builds the app once per worker for each distinct `Settings`; a later call
with equal settings gets the same app, its `app.state` put back as built (a fresh rate limiter, no
runtime of the previous test). Each test still runs the lifespan (pool, background loops) on its own
database: `serving`/`running`.

**Per-process caches.** Two things every lifespan did again cost more than the rest of a test's
set-up together (0.75 s of CPU of a test's ~1 s on the loaded 2-core machine, 2026-12-07): the
webhook and xAPI dispatchers each open an httpx client, and each client parsed certifi's CA bundle
into a new TLS context (`load_verify_locations`); and the schema check read every migration file to
find the head revision. `share_per_process()` (run on import) makes httpx hand out one default TLS
context per process (same CA bundle, same settings: a client given its own `verify` still gets its
own) and remembers the head revision (the migrations do not change while the tests run).

**Set-up snapshots.** `@snapshot` on a fixture `fn(client, service_keys)` that builds its data only
through `client` (HTTP calls) makes its first use in a worker run it for real on a fresh database and
keep that database as a template (`CREATE DATABASE ... TEMPLATE`), with the fixture's value. Every
later test using the fixture gets a copy of the template, cloned by the `owner_url` fixture before
the app starts, and a copy of the value with the service's tokens in it signed anew (their claims
and lifetime kept). A test's database therefore holds exactly what the fixture's calls would have
made. A snapshot older than SNAPSHOT_MAX_AGE is built again, so the clocks of what it started (an
attempt's deadline) have not run far.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import functools
import itertools
import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from service.api.app import create_app
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.urls import with_database

APP_ROLE = "assess_app"


def share_per_process() -> None:
    """See the module's docstring. httpx 0.28 looks `create_ssl_context` up in its transports module
    when a client is made; the default (verify=True, no cert) context is made once per environment."""
    from httpx._transports import default as transports

    from service.db import migrate

    if getattr(transports.create_ssl_context, "shared", False):
        return
    make = transports.create_ssl_context

    @functools.lru_cache(maxsize=4)
    def default_context(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
        return make(verify=True, cert=None, trust_env=trust_env)

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and cert is None:
            return default_context(trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return make(verify=verify, cert=cert, trust_env=trust_env)

    create_ssl_context.shared = True  # type: ignore[attr-defined]
    transports.create_ssl_context = create_ssl_context  # type: ignore[assignment]
    migrate.head_revision = functools.cache(migrate.head_revision)


share_per_process()


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """Run the app's lifespan in a task of its own (its cancel scope must open and close in one task)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error here
    try:
        yield
    finally:
        stop.set()
        await task


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `app`, running in this test's event loop, lifespan and all."""
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        # English problem details, as most tests assert them; the service's default is zh-CN (test_i18n.py)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://assess.test", headers={"Accept-Language": "en"}
        ) as http:
            yield http


def default_settings(owner_url: str, keys_file: str) -> Settings:
    """The settings of the `settings` fixture: the tests' default app."""
    return Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": keys_file,
            "AUTH_CACHE_SECONDS": "0",
            "DB_POOL_MAX": "4",
            "MAX_BODY_BYTES": "2000000",
        }
    )


_APPS: list[tuple[Settings, Litestar, dict[str, Any]]] = []


def app_for(settings: Settings) -> Litestar:
    """The app for `settings`, built once per worker (see the module's docstring). Not for a
    second look at an app whose lifespan runs (its state is reset): build one with create_app."""
    for built, app, state in _APPS:
        if built == settings:
            app.state.clear()
            app.state.update(copy.deepcopy(state))
            return app
    app = create_app(settings)
    _APPS.append((settings, app, copy.deepcopy(dict(app.state))))
    return app


# --- set-up snapshots -------------------------------------------------------------------------

Builder = Callable[[httpx.AsyncClient, ServiceKeys], Awaitable[Any]]


SNAPSHOT_MAX_AGE = 600.0  # seconds: an older snapshot is built again (its running attempts' clocks run)


@dataclass
class _Snapshot:
    database: str  # the template database holding what the builder made
    value: Any  # what the builder returned
    built_at: float  # time.monotonic()


_BUILDERS: dict[tuple[str, str], Builder] = {}  # (file, fixture name) -> builder
_SNAPSHOTS: dict[tuple[str, str], _Snapshot] = {}  # built in this worker
_numbers = itertools.count()
_cloned: tuple[str, str] | None = None  # the snapshot the current test's database was cloned from


def snapshot(builder: Builder) -> Callable[[httpx.AsyncClient, ServiceKeys], Awaitable[Any]]:
    """Decorate a set-up fixture (below `@pytest.fixture`) whose only arguments are `client` and
    `service_keys` and whose data is made through `client` alone."""
    # Keyed by the file, not the module's name: a test file that imports another's snapshot fixture
    # (`from tests.test_x import fixture`) loads a second copy of it as `tests.test_x`, while pytest
    # runs it as `test_x`; both copies are the same snapshot.
    key = (os.path.realpath(builder.__code__.co_filename), builder.__qualname__)
    _BUILDERS[key] = builder

    @functools.wraps(builder)
    async def fixture(client: httpx.AsyncClient, service_keys: ServiceKeys) -> Any:
        if _cloned == key:
            return resign(_SNAPSHOTS[key].value, service_keys)
        return await builder(client, service_keys)  # not cloned (a custom database): build for real

    fixture.snapshot_key = key  # type: ignore[attr-defined]
    return fixture


def snapshot_of(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """The snapshot fixture the test of `request` uses, if any (the first, when it uses several):
    the fixture its name resolves to for this test, wherever it is defined or imported."""
    for name in request.fixturenames:
        defs = request._fixturemanager.getfixturedefs(name, request.node)
        key = getattr(defs[-1].func, "snapshot_key", None) if defs else None
        if key is not None:
            return key  # type: ignore[no-any-return]
    return None


async def clone_database(
    admin: asyncpg.Connection,
    name: str,
    template: str,
    key: tuple[str, str] | None,
    server_url: str,
    keys_file: str,
    keys: ServiceKeys | None,
) -> None:
    """Create the test's database `name`: a copy of `key`'s snapshot (built first if this worker has
    none yet), else of the migrated `template`."""
    global _cloned
    _cloned = None
    # Left behind only when a previous test's set-up failed before its teardown could drop it.
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if key is None:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return
    if key in _SNAPSHOTS and time.monotonic() - _SNAPSHOTS[key].built_at > SNAPSHOT_MAX_AGE:
        await admin.execute(f'DROP DATABASE IF EXISTS "{_SNAPSHOTS.pop(key).database}" WITH (FORCE)')
    if key in _SNAPSHOTS:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_SNAPSHOTS[key].database}"')
        _cloned = key
        return
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    assert keys is not None
    async with serving(app_for(default_settings(with_database(server_url, name), keys_file))) as http:
        value = await _BUILDERS[key](http, keys)
    database = f"{template}_s{next(_numbers)}"
    await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{name}"')
    _SNAPSHOTS[key] = _Snapshot(database, value, time.monotonic())
    _cloned = key


async def drop_snapshots(admin: asyncpg.Connection) -> None:
    for built in _SNAPSHOTS.values():
        await admin.execute(f'DROP DATABASE IF EXISTS "{built.database}" WITH (FORCE)')
    _SNAPSHOTS.clear()


_JWT = re.compile(r"^(Bearer )?(eyJ[\w-]*\.[\w-]+\.[\w-]+)$")


def _claims(token: str, keys: ServiceKeys) -> dict[str, Any] | None:
    """The claims of `token` if `keys` signed it (by its header's key id), else None."""
    try:
        head, body, _ = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("kid") not in keys.by_kid:
        return None
    return claims


def resign(value: Any, keys: ServiceKeys) -> Any:
    """A copy of `value` (its dicts, lists, tuples, sets and dataclasses new; other objects, such as
    an identity provider whose keys the snapshot's database trusts, shared) with every token this
    worker's keys signed issued again now, claims and lifetime kept."""
    if isinstance(value, dict):
        return {k: resign(v, keys) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(resign(v, keys) for v in value))
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(resign(v, keys) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: resign(getattr(value, f.name), keys) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **fields)
    if isinstance(value, str) and (found := _JWT.match(value)):
        claims = _claims(found.group(2), keys)
        if claims is None or not {"iat", "exp"} <= claims.keys():
            return value
        now = int(time.time())
        claims = {**claims, "exp": now + claims["exp"] - claims["iat"], "iat": now}
        if "nbf" in claims:
            claims["nbf"] = now
        return (found.group(1) or "") + keys.sign(claims)
    return value
