"""The fault checker (bench/faults.py) at small scale: under load, drop the service's database
sessions, kill -9 the PostgreSQL server and restart it, kill -9 a granian worker; afterwards
nothing the service acknowledged is missing, no response was a 500, and the service recovered
without a restart of its own (the workers' pools reconnected, granian replaced the worker).

The scenario runs its own service and embedded PostgreSQL (in a temporary directory), so
killing that server leaves the suite's own server alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Slow (fault injection: the database dropped under load): run by default and by .ci/run; `-m "not slow"` deselects it locally.
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parent.parent / "bench"


def test_nothing_acknowledged_is_lost_when_the_database_and_a_worker_are_killed_under_load():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import faults
    finally:
        sys.path.remove(str(BENCHMARKS))
    outcome = faults.run_scenario(
        candidates=20,
        seconds=7,
        outage=1.0,
        recovery_timeout=60,
        schedule=[(1.0, "drop"), (2.5, "pg-kill"), (5.0, "worker-kill")],
    )
    assert outcome.passed, outcome.text
    assert not outcome.losses and outcome.counts["statuses"].get(500, 0) == 0
    assert outcome.counts["acked_submits"] >= 20 and outcome.counts["aggregates"]["in_step"]
    assert outcome.counts["statuses"].get(503, 0) > 0, (
        "the outage was not seen: no 503 while the server was down"
    )


# Regression tests for what the fault checker found.


def _answer_for(exc: Exception):  # type: ignore[no-untyped-def]
    """What the app answers for an exception, chosen as Litestar chooses the handler (by the MRO)."""
    from litestar.middleware._internal.exceptions.middleware import get_exception_handler
    from litestar.testing import RequestFactory

    from service.api.problems import EXCEPTION_HANDLERS

    handler = get_exception_handler(EXCEPTION_HANDLERS, exc)
    assert handler is not None
    return handler(RequestFactory().get("/v1/me/attempts/x"), exc)


def test_a_connection_lost_while_the_transaction_closes_is_a_503_not_a_500():
    """Found under pg_terminate_backend and kill -9: the request's query fails on a dying connection,
    then the rollback in the dependency's clean-up fails too, and Litestar raises an ExceptionGroup
    caused by the first error. It was answered 500."""
    import asyncpg

    cause = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    try:
        try:
            raise cause
        except asyncpg.ConnectionDoesNotExistError as exc:
            raise ExceptionGroup(
                "Exceptions occurred during cleanup of dependencies",
                [
                    asyncpg.InternalClientError(
                        "cannot switch to state 15; another operation (2) is in progress"
                    )
                ],
            ) from exc
    except ExceptionGroup as group:
        response = _answer_for(group)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.content.type == "urn:assess:problem:database-unavailable"

    # the commit of a change a domain error keeps (AttemptClosed) fails on a dead connection: not committed
    from service.delivery.attempts import AttemptClosed

    try:
        try:
            raise AttemptClosed("submitted")
        except AttemptClosed as exc:
            raise ExceptionGroup(
                "Exceptions occurred during cleanup of dependencies",
                [asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")],
            ) from exc
    except ExceptionGroup as group:
        assert _answer_for(group).status_code == 503

    # a bug inside a clean-up is still a 500
    try:
        try:
            raise ValueError("handler bug")
        except ValueError as exc:
            raise ExceptionGroup(
                "Exceptions occurred during cleanup of dependencies", [KeyError("x")]
            ) from exc
    except ExceptionGroup as group:
        assert _answer_for(group).status_code == 500


def test_a_pooled_connection_the_server_just_ended_is_a_503():
    """asyncpg raises InternalClientError ("another operation (2) is in progress") on a pooled connection
    whose server sent its FATAL message (terminated, shutting down) before the socket closed."""
    import asyncpg

    response = _answer_for(
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"


async def test_a_worker_started_while_the_database_is_down_waits_for_it(settings, monkeypatch):
    """Found by killing a granian worker just before a database restart: the respawned worker's start-up
    failed to connect, it exited, and granian (crash loop: a respawned worker died within 5.5 s) stopped
    the whole service."""
    from service.api import app

    real, calls = app.create_pool, []

    async def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionRefusedError(111, "Connection refused")
        return await real(*args, **kwargs)

    monkeypatch.setattr(app, "create_pool", flaky)
    pool = await app._connect(settings)
    try:
        assert len(calls) == 3
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_granian_replaces_a_worker_that_dies():
    """Found by kill -9 of a worker: granian's default is to stop the whole server when a worker dies."""
    import inspect

    from service import cli

    assert "respawn_failed_workers=True" in inspect.getsource(cli.serve)
