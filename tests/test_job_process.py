"""Issue 19 goal 4: jobs in a process of their own (JOB_MODE=process, `assess serve`'s default).

`assess serve` runs as a real subprocess (one granian worker, the test's database) with short
leases. JOB_POLL_SECONDS is a minute, so a job claimed within seconds of its request was claimed on
the enqueue's notice (LISTEN/NOTIFY), not by a poll; ASSESS_TEST_JOB_PAUSE_SECONDS makes every job
pause after its claim, so each step below catches its job `running`, never by luck of timing.

1. A job a request enqueues runs in the job process: the lease names a child of serve started as
   `service.cli jobs`, niced (JOB_NICE), not the HTTP worker.
2. SIGTERM to the job process hands the job back (queued again, the claim not counted); serve starts
   another, which claims it (as a queued job, on its first poll) and finishes it: one claim in all.
3. kill -9 of the job process while it is stopped (SIGSTOP, so its lease lapses first): serve starts
   another, which takes the job over at its first poll and finishes it, on the second claim.
4. SIGTERM to serve stops the job process too.
JOB_MODE=inline (the HTTP workers run jobs, as before) is what tests/test_jobs*.py exercise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from service.auth.keys import ServiceKeys
from service.config import Settings
from tests.test_multi_host import _free_port

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "bench"
WITHIN = 30.0


def _harness():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _harness
    finally:
        sys.path.remove(str(BENCHMARKS))
    return _harness


async def _until(owner: asyncpg.Connection, job_id: str, what: str, test: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WITHIN
    while time.monotonic() < deadline:
        row = await owner.fetchrow(
            "SELECT state, attempts, lease_owner, lease_expires_at < clock_timestamp() AS lapsed "
            "FROM jobs WHERE id = $1::uuid",
            job_id,
        )
        if row is not None and test(row):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id}: not {what} within {WITHIN} s")


def _job_process(serve: int, lease_owner: str) -> psutil.Process:
    """The process the lease names (host:pid:nonce): a job process of the server we started."""
    process = psutil.Process(int(lease_owner.split(":")[1]))
    assert process.ppid() == serve, f"{process.pid} is not a child of serve"
    assert process.cmdline()[-4:-2] == ["service.cli", "jobs"], process.cmdline()
    assert process.nice() == os.nice(0) + 10, "JOB_NICE"
    return process


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env, start_new_session=True
    )


async def test_jobs_run_in_a_job_process_that_serve_restarts(
    owner_url: str, keys_file: Path, tmp_path: Path
) -> None:
    harness = _harness()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": owner_url,
        "SERVICE_KEYS_FILE": str(keys_file),
        "ASSESS_DATA_DIR": str(tmp_path),
        "PORT": str(port),
        "WORKERS": "1",
        "DB_POOL_MAX": "3",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_DISPATCH_SECONDS": "0",
        "DEADLINE_SWEEP_SECONDS": "0",
        "JOB_LEASE_SECONDS": "1",
        "JOB_HEARTBEAT_SECONDS": "0.25",
        "JOB_POLL_SECONDS": "60",
        "JOB_NICE": "10",
        "ASSESS_TEST_JOB_PAUSE_SECONDS": "1",
    }
    env.pop("JOB_MODE", None)  # serve's default: process
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    serve = _serve(env)
    owner = await asyncpg.connect(owner_url)
    try:
        harness.wait_ready(f"http://127.0.0.1:{port}", serve)
        keys = ServiceKeys.load(keys_file)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            _, admin, _ = await harness.bench_tenant(http, keys, people=1)

            async def export() -> str:
                response = await http.post(
                    "/v1/assessments/bench/score-exports", params={"format": "csv"}, headers=admin
                )
                assert response.status_code == 202, response.text
                return str(response.json()["id"])

            async def exported(job_id: str) -> dict[str, Any]:
                row = await _until(owner, job_id, "done", lambda r: r["state"] in ("done", "failed"))
                assert (row["state"], row["lease_owner"]) == ("done", None), dict(row)
                status = (await http.get(f"/v1/score-exports/{job_id}", headers=admin)).json()
                assert status["status"] == "done", status
                return dict(row)

            workers = {p.pid for p in psutil.Process(serve.pid).children() if "jobs" not in p.cmdline()}

            # 1. the request's job, claimed on its notice by the job process
            first = await export()
            row = await _until(owner, first, "running", lambda r: r["state"] == "running")
            process = _job_process(serve.pid, row["lease_owner"])
            assert process.pid not in workers
            assert (await exported(first))["attempts"] == 1

            # 2. SIGTERM: handed back, claimed again by the next job process, one claim in all
            second = await export()
            row = await _until(owner, second, "running", lambda r: r["state"] == "running")
            assert _job_process(serve.pid, row["lease_owner"]).pid == process.pid
            process.terminate()
            process.wait(timeout=WITHIN)  # (its exit code is serve's to read: it logs it)
            handed = row["lease_owner"]
            row = await _until(
                owner,
                second,
                "claimed again",
                lambda r: r["state"] == "running" and r["lease_owner"] != handed,
            )
            process = _job_process(serve.pid, row["lease_owner"])
            assert (await exported(second))["attempts"] == 1

            # 3. kill -9 once its lease lapsed: taken over by the next job process, on claim 2
            third = await export()
            row = await _until(owner, third, "running", lambda r: r["state"] == "running")
            assert _job_process(serve.pid, row["lease_owner"]).pid == process.pid
            process.suspend()
            await _until(owner, third, "lapsed", lambda r: r["lapsed"])
            process.kill()
            row = await _until(
                owner, third, "taken over", lambda r: r["attempts"] == 2 and r["state"] == "running"
            )
            process = _job_process(serve.pid, row["lease_owner"])
            assert (await exported(third))["attempts"] == 2
    finally:
        await owner.close()
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=30)
    # 4. serve stopped its job process
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_job_settings() -> None:
    default = Settings.from_env({})
    assert (default.job_mode, default.job_processes, default.job_nice, default.job_process_batches) == (
        "inline",  # an app built outside `assess serve`; serve makes it `process`
        1,
        10,
        1,
    )
    assert Settings.from_env({"JOB_MODE": " Process "}).job_mode == "process"
    for name, wrong, message in (
        ("JOB_MODE", "thread", "JOB_MODE must be inline or process"),
        ("JOB_PROCESSES", "0", "JOB_PROCESSES must be >= 1"),
        ("JOB_NICE", "20", "JOB_NICE must be from 0 to 19"),
        ("JOB_PROCESS_BATCHES", "-1", "JOB_PROCESS_BATCHES must be >= 0"),
    ):
        with pytest.raises(SystemExit, match=message):
            Settings.from_env({name: wrong})
