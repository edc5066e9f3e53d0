"""Job processes (JOB_MODE=process): jobs run in processes of their own, beside the HTTP workers.

A rescoring's batches are CPU work (the engine, comparing and encoding documents); run in an HTTP
worker they share its event loop and its GIL with the requests, and submissions meanwhile waited
seconds (bench/README.md, rescoring). A job process runs the JobRunner's poll loop and nothing else,
at a lower CPU priority (JOB_NICE), so the OS gives the cores to request work first; the HTTP
workers only enqueue.

- `run(settings, url)`: one job process (`assess jobs`). It LISTENs for enqueues and claims a new job
  at once (`JobRunner.listen_forever`), polls every JOB_POLL_SECONDS as the fallback (lapsed leases,
  a notice missed while it was down), and takes JOB_PROCESS_BATCHES of a rescoring's batches. SIGTERM
  or SIGINT stops it cleanly: the jobs it runs are handed back (queued again, the claim not counted).
  Started by `assess serve` it also stops when serve dies (PR_SET_PDEATHSIG).
- `JobProcesses`: how `assess serve` keeps JOB_PROCESSES of them running: each started as
  `python -m service.cli jobs` in a process group of its own (a terminal's Ctrl-C reaches serve,
  which stops them), restarted when it exits (after a pause that grows while it keeps dying young),
  stopped with SIGTERM when serve stops. A job process killed outright records nothing: its leases
  lapse and the restarted one (or any other job process) takes its jobs over, as any worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import asyncpg

from service import i18n
from service.config import Settings
from service.db.migrate import check_schema
from service.db.pool import create_pool
from service.jobs.runner import JobRunner

log = logging.getLogger("assess.jobs")

START_WAIT_SECONDS = 60  # how long a starting job process waits for an unreachable database
RESTART_SECONDS = 0.25  # pause before a job process that exited is started again
RESTART_MAX_SECONDS = 30.0  # the pause doubles up to this while job processes die within YOUNG_SECONDS
YOUNG_SECONDS = 5.0
STOP_SECONDS = 30.0  # how long serve waits for a job process to hand its jobs back before SIGKILL
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when `parent` (serve) dies, even by kill -9 (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # died before the request above took effect
        raise SystemExit(0)


async def _connect(settings: Settings, url: str) -> asyncpg.Pool:
    waited = 0.0
    while True:
        try:
            pool = await create_pool(url, min_size=settings.pool_min, max_size=settings.pool_max)
            break
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            if waited >= START_WAIT_SECONDS:
                raise
            log.warning("database unavailable at job process start (%s); retrying", exc)
            await asyncio.sleep(0.5)
            waited += 0.5
    try:
        async with pool.acquire() as conn:
            await check_schema(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


async def _run(settings: Settings, url: str) -> None:
    i18n.load()  # exports render localized labels: a broken catalog fails start-up, as a worker's does
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pool = await _connect(settings, url)
    runner = JobRunner(pool, settings, job_process=True)
    tasks = [asyncio.create_task(runner.listen_forever(url))]
    if settings.job_poll_seconds > 0:
        tasks.append(asyncio.create_task(runner.run_forever()))
    log.info("job process %s ready (nice %s)", os.getpid(), os.nice(0))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.close()  # its jobs go back to the queue for another job process
        await pool.close()
    log.info("job process %s stopped", os.getpid())


def run(settings: Settings, url: str, *, parent: int | None = None) -> int:
    """One job process, to its end (SIGTERM or SIGINT)."""
    if parent is not None:
        _die_with_parent(parent)
    if settings.job_nice:
        os.nice(settings.job_nice)
    if settings.http_event_loop == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(_run(settings, url))
    return 0


class JobProcesses:
    """`count` job processes, kept running from `start()` to `stop()` by a thread of serve's."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="job-processes", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # cwd and environment are serve's: the same code, database and keys as the HTTP workers. (The
        # child's PR_SET_PDEATHSIG fires when the spawning thread ends: granian's main thread at start,
        # the watcher thread for restarts, both alive until serve stops.)
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "jobs", "--parent", str(os.getpid())], process_group=0
        )

    def start(self) -> None:
        with self._lock:
            for slot in range(self.count):
                self.processes[slot] = self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        born = [time.monotonic()] * self.count
        pause = [RESTART_SECONDS] * self.count
        due: list[float | None] = [None] * self.count
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot, process in enumerate(self.processes):
                    if due[slot] is None and process is not None and process.poll() is not None:
                        young = now - born[slot] < YOUNG_SECONDS
                        pause[slot] = min(pause[slot] * 2, RESTART_MAX_SECONDS) if young else RESTART_SECONDS
                        due[slot] = now + pause[slot]
                        log.warning(
                            "job process %s exited (%s); starting another in %.1f s",
                            process.pid,
                            process.returncode,
                            pause[slot],
                        )
                    start_at = due[slot]
                    if start_at is not None and now >= start_at:
                        self.processes[slot], born[slot], due[slot] = self._spawn(), now, None

    def stop(self) -> None:
        """SIGTERM every job process (each hands its jobs back) and wait; SIGKILL after STOP_SECONDS."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            running = [p for p in self.processes if p is not None and p.poll() is None]
            for process in running:
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("job process %s did not stop within %s s: killed", process.pid, STOP_SECONDS)
                process.kill()
                process.wait()
