"""`assess`: the operator's command line.

assess serve [--demo]          start the HTTP service (embedded PostgreSQL unless DATABASE_URL is set)
assess jobs                    run a job process (`serve` starts JOB_PROCESSES of its own)
assess db upgrade              create the application role and apply migrations
assess db status               show the schema revision against this code's
assess keys ensure | rotate    manage the service's signing keys
assess token operator          print an operator token
assess token user ...          print a token for a tenant role (testing, integrations)
assess demo                    seed the demo tenant and print its tokens
assess openapi [--check]       write (or check) openapi/openapi.json
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from service.config import Settings

log = logging.getLogger("assess")


def _owner_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded server (started now, database created if missing)."""
    if settings.database_url:
        return settings.database_url
    from service.db.embedded import ensure_database, start_embedded

    url = start_embedded(settings.data_dir)
    asyncio.run(ensure_database(url))
    return url


def db_upgrade(settings: Settings, owner_url: str | None = None) -> str:
    from service.db import migrate

    owner_url = owner_url or _owner_url(settings)
    if not settings.app_database_url:
        asyncio.run(migrate.ensure_app_role(owner_url, settings.app_db_user, settings.app_db_password))
    migrate.upgrade(owner_url, settings.app_db_user)
    return owner_url


def _db_status(settings: Settings) -> int:
    import asyncpg

    from service.db import migrate

    owner_url = _owner_url(settings)

    async def current() -> str | None:
        conn = await asyncpg.connect(owner_url)
        try:
            return await migrate.current_revision(conn)
        finally:
            await conn.close()

    now, head = asyncio.run(current()), migrate.head_revision()
    print(
        f"database: {now or 'empty'}   code: {head}   {'up to date' if now == head else 'run: assess db upgrade'}"
    )
    return 0 if now == head else 1


def _keys(settings: Settings):
    from service.auth.keys import ServiceKeys, ensure_keys_file

    if ensure_keys_file(settings.keys_file):
        log.info("created signing keys at %s", settings.keys_file)
    return ServiceKeys.load(settings.keys_file)


def _demo_tokens(settings: Settings, app_url_: str) -> dict[str, str]:
    from service.auth.issue import issue_operator_token, issue_token
    from service.db.pool import create_pool
    from service.demo import DEMO_CANDIDATE, DEMO_TEACHER, seed_demo

    async def seed() -> UUID:
        pool = await create_pool(app_url_, min_size=1, max_size=2)
        try:
            return await seed_demo(pool)
        finally:
            await pool.close()

    tenant_id = asyncio.run(seed())
    keys = _keys(settings)
    common: dict[str, Any] = {  # keyword arguments every token takes
        "issuer": settings.service_issuer,
        "audience": settings.service_audience,
        "ttl_seconds": 12 * 3600,
    }
    return {
        "ADMIN_TOKEN": issue_token(
            keys,
            kind="user",
            subject="demo-admin",
            tenant_id=tenant_id,
            roles=["tenant_admin", "author", "analyst"],
            **common,
        ),
        "CANDIDATE_TOKEN": issue_token(
            keys,
            kind="user",
            subject=DEMO_CANDIDATE,
            tenant_id=tenant_id,
            roles=["candidate"],
            **common,
        ),
        "TEACHER_TOKEN": issue_token(
            keys,
            kind="user",
            subject=DEMO_TEACHER,
            tenant_id=tenant_id,
            roles=["candidate"],
            **common,
        ),
        "OPERATOR_TOKEN": issue_operator_token(keys, **common),
    }


def _print_demo(settings: Settings, tokens: dict[str, str]) -> None:
    base = f"http://{settings.host}:{settings.port}"
    token_file = settings.data_dir / "demo-tokens.env"
    token_file.write_text("".join(f"export {k}={v}\n" for k, v in tokens.items()))
    print(
        "\nDemo tenant 'demo-province' is ready. Tokens (valid 12 hours; also in "
        f"{token_file}, `source` it):\n"
    )
    for name, token in tokens.items():
        print(f"export {name}={token}\n")
    print("Try:")
    print(f'  curl -s -H "Authorization: Bearer $ADMIN_TOKEN" {base}/v1/org-units')
    print(f'  curl -s -H "Authorization: Bearer $CANDIDATE_TOKEN" {base}/v1/me/assessments')
    print(
        f'  curl -s -X POST -H "Authorization: Bearer $CANDIDATE_TOKEN" -H "Content-Type: application/json" '
        f"-d '{{}}' {base}/v1/me/assessments/demo-ai-literacy-2026/attempts"
    )
    print(f'  curl -s -H "Authorization: Bearer $OPERATOR_TOKEN" {base}/v1/tenants')
    print(f"API docs: {base}/docs    health: {base}/health/ready")
    print(
        f"Web console: {base}/console/  (sign in as a demo persona: admin, author, rater or analyst)\n"
        f"Candidate client: {base}/take/  (sign in as a demo candidate; works offline once loaded)\n",
        flush=True,
    )


def _metrics_dir(settings: Settings) -> Path:
    """prometheus_client's multiprocess directory for this server's workers, emptied at start (samples
    of an earlier run would be added to this one's). PROMETHEUS_MULTIPROC_DIR when set, else one per
    port in the data directory."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(configured) if configured else settings.data_dir.resolve() / f"metrics-{settings.port}"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def serve(settings: Settings, *, demo: bool) -> int:
    import msgspec
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings

    from service.db.urls import app_url, redact
    from service.jobs.process import JobProcesses

    owner_url = db_upgrade(settings)
    _keys(settings)
    url = app_url(settings, owner_url)
    # Jobs in processes of their own unless JOB_MODE says otherwise (the workers read it too)
    if not os.environ.get("JOB_MODE"):
        os.environ["JOB_MODE"] = "process"
        settings = msgspec.structs.replace(settings, job_mode="process")
    if demo:
        _print_demo(settings, _demo_tokens(settings, url))
        os.environ["ASSESS_DEMO"] = (
            "true"  # the workers mount the demo sign-in page (service/console/demo_idp.py)
        )
    # Workers read their settings from the environment: point them at the same server and keys.
    os.environ["APP_DATABASE_URL"] = url
    os.environ["SERVICE_KEYS_FILE"] = str(settings.keys_file.resolve())
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir(settings))
    job_processes = JobProcesses(settings.job_processes) if settings.job_mode == "process" else None
    log.info(
        "serving on %s:%s with %s worker(s) on %s, jobs %s, database %s",
        settings.host,
        settings.port,
        settings.workers,
        settings.http_event_loop,
        f"in {settings.job_processes} process(es) (nice {settings.job_nice})"
        if job_processes
        else "in the workers",
        redact(url),
    )
    # respawn_failed_workers: a worker that dies (OOM, kill -9) is replaced; granian's default is to
    # shut the whole server down, which would turn one lost worker into an outage.
    # backpressure: granian's default, backlog // workers (512 each with 2 workers), counts idle
    # keep-alive connections too, so past ~1,000 devices new connections were accepted by the
    # kernel and never answered (found by bench/sitting.py). Database work is bounded by the pool.
    server = Granian(
        "service.api.app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_access=False,
        respawn_failed_workers=True,
        backlog=settings.http_backlog,
        backpressure=settings.http_connections_per_worker,
        # HTTP_KEEP_ALIVE_SECONDS: granian's HTTP/1 header read timeout (hyper's) also runs while a
        # keep-alive connection waits for its next request; at granian's default 30 s it closed the
        # connections of candidates who thought longer between two saves, and their next save met a
        # closed connection (bench/sitting.py's broken connections, issue 19; bench/README.md).
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.http_keep_alive_seconds * 1000))
        ),
        # uvloop (HTTP_EVENT_LOOP, auto: where installed): asyncio's own selector, socket writes and
        # callbacks were ~40% of a save's samples (bench/README.md, issue 19).
        loop=Loops(settings.http_event_loop),
    )
    if job_processes is not None:
        # started once granian has its signal handlers; stopped after its workers (also when it exits
        # on a crash loop: its shutdown runs the hooks first)
        server.on_startup(job_processes.start)
        server.on_shutdown(job_processes.stop)
    try:
        server.serve()
    finally:
        if job_processes is not None:
            job_processes.stop()
    return 0


def jobs(settings: Settings, parent: int | None) -> int:
    from service.db.urls import app_url
    from service.jobs import process

    # under serve, APP_DATABASE_URL names the server serve started: no embedded server of its own here
    url = settings.app_database_url or app_url(settings, _owner_url(settings))
    return process.run(settings, url, parent=parent)


def openapi(check: bool) -> int:
    from service.api.openapi_doc import OPENAPI_PATH, render_openapi

    document = render_openapi()
    if check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != document:
            print(f"{OPENAPI_PATH} differs from the app: run `assess openapi`", file=sys.stderr)
            return 1
        print("openapi document is current")
        return 0
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(document)
    print(f"wrote {OPENAPI_PATH}")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from service.auth.issue import issue_operator_token, issue_token
    from service.db.pool import create_pool, operator_transaction
    from service.db.urls import app_url
    from service.tenancy import tenants

    keys = _keys(settings)
    common: dict[str, Any] = {  # keyword arguments every token takes
        "issuer": settings.service_issuer,
        "audience": settings.service_audience,
        "ttl_seconds": args.ttl,
    }
    if args.kind == "operator":
        print(issue_operator_token(keys, **common))
        return 0

    # Resolved before the event loop runs: starting the embedded server runs a loop of its own.
    url = app_url(settings, _owner_url(settings))

    async def tenant_id() -> UUID | None:
        pool: asyncpg.Pool = await create_pool(url, max_size=1)
        try:
            async with operator_transaction(pool) as conn:
                return await tenants.id_by_slug(conn, args.tenant)
        finally:
            await pool.close()

    found = asyncio.run(tenant_id())
    if found is None:
        print(f"no tenant '{args.tenant}'", file=sys.stderr)
        return 1
    print(
        issue_token(
            keys,
            kind="user",
            subject=args.sub,
            tenant_id=found,
            roles=args.roles.split(","),
            **common,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assess", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="start the HTTP service")
    p_serve.add_argument("--demo", action="store_true", help="seed the demo tenant and print demo tokens")
    p_jobs = sub.add_parser("jobs", help="run a job process (JOB_MODE=process; `serve` starts its own)")
    p_jobs.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # serve's pid: stop when it dies
    p_db = sub.add_parser("db", help="database schema")
    p_db.add_argument("action", choices=["upgrade", "status"])
    p_keys = sub.add_parser("keys", help="service signing keys")
    p_keys.add_argument("action", choices=["ensure", "rotate"])
    p_token = sub.add_parser("token", help="print a service-signed token")
    p_token.add_argument("kind", choices=["operator", "user"])
    p_token.add_argument("--tenant", help="tenant slug (user tokens)")
    p_token.add_argument(
        "--sub", default="cli-user", help="subject: for a candidate, the person's external id"
    )
    p_token.add_argument("--roles", default="tenant_admin", help="comma-separated roles")
    p_token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    sub.add_parser("demo", help="seed the demo tenant and print its tokens")
    p_openapi = sub.add_parser("openapi", help="write openapi/openapi.json from the app")
    p_openapi.add_argument("--check", action="store_true", help="fail if the committed document is stale")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    if args.command == "serve":
        return serve(settings, demo=args.demo)
    if args.command == "jobs":
        return jobs(settings, args.parent)
    if args.command == "db":
        if args.action == "upgrade":
            db_upgrade(settings)
            print("database schema is up to date")
            return 0
        return _db_status(settings)
    if args.command == "keys":
        if args.action == "rotate":
            from service.auth.keys import rotate_keys

            print(
                f"new signing key {rotate_keys(settings.keys_file)}; running workers verify it within seconds "
                "and sign with it once restarted"
            )
        else:
            _keys(settings)
            print(f"signing keys at {settings.keys_file}")
        return 0
    if args.command == "token":
        if args.kind == "user" and not args.tenant:
            parser.error("token user needs --tenant")
        return _token(settings, args)
    if args.command == "demo":
        from service.db.urls import app_url

        owner_url = db_upgrade(settings)
        _print_demo(settings, _demo_tokens(settings, app_url(settings, owner_url)))
        return 0
    return openapi(args.check)


if __name__ == "__main__":
    raise SystemExit(main())
