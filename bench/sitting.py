"""A whole sitting (issue 8, benchmark 2): a province's candidates sit in the same window.

Starts the service (`assess serve`, granian) on a free loopback port with its own embedded
PostgreSQL in a temporary directory (or on DATABASE_URL, in a fresh tenant), sets up a tenant
with the shipped cadre item bank and one published assessment (scored on submit, as always:
submit scores in its own transaction), then lets `--candidates` simulated candidates sit it:

- arrivals are spread uniformly over `--ramp-seconds`; each candidate holds one keep-alive
  connection for the whole sitting, as a device app does (`--connection-per-request` opens one per
  request instead; this benchmark found that granian's default backpressure, backlog // workers =
  512 open connections per worker, left the candidates beyond ~1,024 unanswered: the service now
  sets HTTP_CONNECTIONS_PER_WORKER), and starts attempt number 1 (so a retried start is exact);
- it saves 60 answers with a think time before each, drawn from a lognormal distribution with
  mean `--think-seconds` (sigma `--think-sigma`): every item of its form in form order, text items
  2-3 times with rising revisions (autosave while typing), then changes some earlier answers
  (review) until 60 saves are made; then it thinks once more and submits;
- a share of writes is sent twice (`--retry-share`): the same request, same revision and body, as if
  the acknowledgement had been lost. The service answers an exact save replay 200 with
  `applied: false` and the stored revision, a start replay 200 with the same attempt, a submit
  replay 200 with the same result; those are counted as replays, not errors;
- a share of candidates (`--reconnect-share`) loses its connection mid-sitting while a save is in
  flight (the request is sent, the connection closed before the answer), stays offline 2-10 s,
  reconnects, reads its attempt (`GET /v1/me/attempts/{id}`, the client apps' resume) and continues
  from what the server says is saved (resending the lost save only if it is not there);
- the tenant's HR system subscribes to `attempt.submitted` and `score.finalized` (webhooks, sent by
  the service's dispatcher to a receiver in this process that answers 204), as a deployment would;
- an error (a non-2xx or a broken connection or a timeout of `--timeout` s) is counted by kind, and a
  5xx/429 or a broken connection is retried with the same revision, up to 5 tries;
- a keep-alive connection the server closed while its candidate was thinking is not an error: as
  browsers, urllib3 and httpx do (RFC 9112 §9.3.1), the client replaces a connection it has already
  seen closed before sending, and sends a request once more on a new connection when a reused one
  closes before any byte of the answer (every request of a sitting is exact to repeat: a start names
  its attempt number, a save its revision, a submit's replay gets the same result). Both are counted
  as reconnects and printed apart from the errors; `--no-retry-reused` counts them as errors instead.

Prints total wall time, saves/s, requests/s, latency percentiles per operation, errors by kind,
latency percentiles per time window, CPU time of load generator, service and PostgreSQL, peak
service memory (RSS of `assess serve` and its granian workers, sampled every 0.5 s), the database
size before and after and per 1,000 attempts (whole database and main tables), and a check of the
outcome against the database (PASS/FAIL). Not a test: the figures depend on the machine, and the
load generator shares it with the server and the database.

    ./dev python bench/sitting.py [--candidates 2000] [--think-seconds 6] [--ramp-seconds 120] [--workers 2]

The exam-opening surge (issue 19): `--surge-candidates 2000 --surge-seconds 60` sends 2,000 more
candidates within 60 s once the first `--candidates` are in (from `--surge-at`, default the end of
their ramp) and still saving; it ends with one line: the surge's start p95, the save p99 while it
arrives, errors, and the database check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import math
import os
import random
import resource
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import brotli
import httpx
import msgspec
import psutil
from _harness import RawConnection, Service, bench_tenant, candidate_token, free_port, ok, running_service
from delivery_load import SAVES_PER_CANDIDATE, percentiles, quantiles_ms, sample_answer
from saves import top_functions

from service.db.pool import _init_connection

ASSESSMENT = "bench"
RETRIED = {429, 500, 502, 503, 504}  # statuses a client retries (with the same revision)
TRIES = 5
OFFLINE_SECONDS = (2.0, 10.0)
TABLES = (
    "attempts",
    "responses",
    "scores",
    "rating_tasks",
    "results",
    "rollups",
    "aggregate_jobs",
    "webhook_events",
    "webhook_deliveries",
)
MB = 1024 * 1024
# frames whose total time a profile of the surge prints (callees included)
START_FRAMES = (
    "Litestar.__call__",
    "authenticate_and_limit",
    "DeliveryController.start",
    "DeliveryController.save",
    "person_for_sign_in",
    "attempts.py:start",
    "_assigned",
    "delivered (service/delivery/published.py",
    "with_ancestors",
    "submit_overdue",
    "views (service/delivery/published.py",
    "candidate_view",
    "in_one_language",
    "draw_form",
    "tenant_transaction",
    "Connection._execute",
    "encode",
    "compress",
    "_SelectorSocketTransport.write",
)


@dataclass
class Ledger:
    """What one candidate was told by the service."""

    person: str
    attempt: str | None = None
    acked: dict[str, int] = field(
        default_factory=dict
    )  # item ref -> revision acknowledged (or seen on resume)
    unsure: set[str] = field(default_factory=set)  # items with a save never acknowledged: it may be stored
    submitted: bool = False
    sat_from: float | None = None  # run time of the start's acknowledgement
    sat_to: float | None = None  # run time of the submit's acknowledgement (or of giving up)


class Client:
    def __init__(
        self, host: str, port: int, headers: dict[str, str], retry_reused: bool, reconnects: Counter[str]
    ) -> None:
        self.raw = RawConnection(host, port, retry_reused=retry_reused, reconnects=reconnects)
        self.headers = headers


# What the /take client asks of the API (service/static/take/api.js), as a phone's browser sends it:
# the form in the candidate's language only, and any response compressed.
TAKE_QUERY, TAKE_HEADERS = "?lang=zh-CN", {"Accept-Encoding": "br, gzip"}


def decoded(received: dict[str, str], data: bytes) -> bytes:
    encoding = received.get("content-encoding", "")
    if encoding == "br":
        return brotli.decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    return data


class Receiver:
    """The HR system's webhook endpoint: answers every POST 204 and notes the event ids."""

    def __init__(self) -> None:
        self.port = free_port()
        self.events: Counter[str] = Counter()  # event id -> deliveries received
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.port)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                event = msgspec.json.decode(await reader.readexactly(length)) if length else {}
                self.events[event.get("id", "?")] += 1
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError, msgspec.DecodeError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


class Memory(threading.Thread):
    """Samples the summed RSS of the service process and its children (granian workers) every 0.5 s."""

    def __init__(self, pid: int, began: float) -> None:
        super().__init__(daemon=True)
        self.root, self.began = psutil.Process(pid), began
        self.samples: list[tuple[float, int, int]] = []  # (run time, bytes, processes)
        self.halt = threading.Event()

    def processes(self) -> list[psutil.Process]:
        try:
            found = [self.root, *self.root.children(recursive=True)]
            return [p for p in found if not p.name().startswith(("postgres", "pg_"))]
        except psutil.Error:  # the service has stopped
            return []

    def sample(self) -> tuple[int, int]:
        total, count = 0, 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
                count += 1
            except psutil.Error:
                pass
        return total, count

    def run(self) -> None:
        while not self.halt.wait(0.5):
            total, count = self.sample()
            self.samples.append((time.perf_counter() - self.began, total, count))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.processes())


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU of the processes that still exist."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def postgres_cpu_seconds(data_dir: Path) -> float | None:
    """CPU of the embedded postmaster and its backends, live and exited (None on DATABASE_URL)."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if os.environ.get("DATABASE_URL") or not pid_file.exists():
        return None
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    exited = postmaster.cpu_times()
    return (
        exited.children_user
        + exited.children_system
        + cpu_seconds([postmaster, *postmaster.children(recursive=True)])
    )


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Sitting:
    def __init__(self, args: argparse.Namespace, service: Service) -> None:
        self.args = args
        host, port = service.url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.began = time.perf_counter()
        self.records: list[tuple[float, str, float, int]] = []  # (run time answered, op, seconds, status)
        self.errors: Counter[str] = Counter()
        self.error_times: list[float] = []
        self.reconnects: Counter[str] = Counter()  # closed keep-alive connections replaced (RawConnection)
        self.counts: Counter[str] = Counter()
        self.ledgers: list[Ledger] = []
        self.take = args.client == "take"
        self.query = TAKE_QUERY if self.take else ""
        self.start_bytes: list[int] = []  # each answered start's body as it came over the wire
        self.form_items = 0  # items in a started form
        think, sigma = args.think_seconds, args.think_sigma
        self.think_mu = math.log(think) - sigma * sigma / 2 if think > 0 else None

    def now(self) -> float:
        return time.perf_counter() - self.began

    def arrival(self, index: int, rng: random.Random) -> float:
        """When candidate `index` arrives: the first `--candidates` over `--ramp-seconds`, then the
        surge's `--surge-candidates` over `--surge-seconds` from `--surge-at`."""
        if index < self.args.candidates:
            return rng.uniform(0, self.args.ramp_seconds)
        return self.args.surge_at + rng.uniform(0, self.args.surge_seconds)

    def think(self, rng: random.Random) -> float:
        return 0.0 if self.think_mu is None else rng.lognormvariate(self.think_mu, self.args.think_sigma)

    def error(self, op: str, kind: str) -> None:
        self.errors[f"{op}: {kind}"] += 1
        self.error_times.append(self.now())

    async def call(
        self, client: Client, op: str, method: str, path: str, body: object = None
    ) -> tuple[int, bytes] | None:
        """One request; its latency is recorded when answered, an error counted when not 2xx."""
        payload = b"" if body is None else msgspec.json.encode(body)
        began = time.perf_counter()
        headers = {**client.headers, **TAKE_HEADERS} if self.take else client.headers
        try:
            status, received, data = await asyncio.wait_for(
                client.raw.exchange(method, path, headers, payload, idempotent=True), self.args.timeout
            )
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            client.raw.close()
            self.error(op, type(exc).__name__)
            return None
        done = time.perf_counter()
        if op == "start":
            self.start_bytes.append(len(data))
        data = decoded(received, data)
        if self.args.connection_per_request:
            client.raw.close()
        self.records.append((done - self.began, op, done - began, status))
        if status >= 300:
            self.error(op, f"HTTP {status}")
        return status, data

    async def write(
        self, client: Client, op: str, method: str, path: str, body: object = None
    ) -> bytes | None:
        """Until acknowledged: a 5xx/429 or a broken connection is retried as it was; None if never."""
        for n in range(TRIES):
            answered = await self.call(client, op, method, path, body)
            if answered is not None and answered[0] < 300:
                return answered[1]
            if answered is not None and answered[0] not in RETRIED:
                return None
            await asyncio.sleep(1.0 + n)
        return None

    async def replay(self, client: Client, op: str, method: str, path: str, body: object, designed) -> None:  # type: ignore[no-untyped-def]
        """The same request again, as a client does when an acknowledgement is lost."""
        answered = await self.call(client, f"{op} replay", method, path, body)
        if answered is None or answered[0] >= 300:
            return
        verdict = (
            "as designed" if designed(answered[0], msgspec.json.decode(answered[1])) else "NOT as designed"
        )
        self.counts[f"{op} replays answered {verdict}"] += 1

    async def save(self, client: Client, ledger: Ledger, ref: str, body: dict, rng: random.Random) -> None:  # type: ignore[type-arg]
        path = f"/v1/me/attempts/{ledger.attempt}/answers/{ref}"
        data = await self.write(client, "save", "PUT", path, body)
        if data is None:
            ledger.unsure.add(ref)
            self.counts["saves never acknowledged"] += 1
            return
        result = msgspec.json.decode(data)
        if result["revision"] != body["revision"]:
            self.counts["saves acknowledged with another revision"] += 1
        ledger.acked[ref] = max(ledger.acked.get(ref, 0), result["revision"])
        if rng.random() < self.args.retry_share:
            await self.replay(
                client,
                "save",
                "PUT",
                path,
                body,
                lambda status, r: status == 200 and not r["applied"] and r["revision"] == body["revision"],
            )

    async def drop_and_resume(
        self,
        client: Client,
        ledger: Ledger,
        ref: str,
        body: dict,  # type: ignore[type-arg]
        rng: random.Random,
    ) -> None:
        """Send a save and lose the connection before its answer; later reconnect, read the attempt and
        continue from what the server has."""
        self.counts["reconnects"] += 1
        payload = msgspec.json.encode(body)
        in_flight = asyncio.create_task(
            client.raw.request(
                "PUT",
                f"/v1/me/attempts/{ledger.attempt}/answers/{ref}",
                client.headers,
                payload,
                idempotent=True,
            )
        )
        await asyncio.sleep(
            0.005
        )  # connected and the request written (an answer in time is lost all the same)
        in_flight.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, asyncio.IncompleteReadError, ValueError):
            await in_flight
        client.raw.close()
        await asyncio.sleep(rng.uniform(*OFFLINE_SECONDS))
        data = await self.write(client, "resume", "GET", f"/v1/me/attempts/{ledger.attempt}{self.query}")
        if data is None:
            self.counts["resumes that failed"] += 1
            await self.save(client, ledger, ref, body, rng)
            return
        state = msgspec.json.decode(data)
        server = {answer["item"]: answer["revision"] for answer in state["answers"]}
        self.counts["acknowledged saves missing on resume"] += sum(
            1 for item, revision in ledger.acked.items() if server.get(item, 0) < revision
        )
        if state["attempt"]["status"] != "in_progress":
            self.counts["attempts not in progress on resume"] += 1
        for item, revision in server.items():
            ledger.acked[item] = max(ledger.acked.get(item, 0), revision)
        ledger.unsure.clear()  # the server's state of every item is known now
        if server.get(ref, 0) >= body["revision"]:
            self.counts["dropped saves found stored on resume"] += 1
        else:
            self.counts["dropped saves not stored, sent again"] += 1
            await self.save(client, ledger, ref, body, rng)

    async def sit(self, index: int, person: str, headers: dict[str, str]) -> None:
        rng = random.Random(self.args.seed * 1_000_003 + index)
        ledger = Ledger(person)
        self.ledgers.append(ledger)
        await asyncio.sleep(max(0.0, self.arrival(index, rng) - self.now()))
        client = Client(self.host, self.port, headers, self.args.retry_reused, self.reconnects)
        start_path, start_body = f"/v1/me/assessments/{ASSESSMENT}/attempts{self.query}", {"number": 1}
        data = await self.write(client, "start", "POST", start_path, start_body)
        if data is None:
            client.raw.close()
            return
        state = msgspec.json.decode(data)
        ledger.attempt, ledger.sat_from = state["attempt"]["id"], self.now()
        if rng.random() < self.args.retry_share:
            await self.replay(
                client,
                "start",
                "POST",
                start_path,
                start_body,
                lambda status, r: status == 200 and r["attempt"]["id"] == ledger.attempt,
            )
        items = state["items"]
        self.form_items = len(items)
        plan = [
            item for item in items for _ in range(rng.choice((2, 3)) if item["answer_with"] == "text" else 1)
        ]
        while len(plan) < SAVES_PER_CANDIDATE:  # review: change some earlier answers
            plan.append(rng.choice(items))
        plan = plan[:SAVES_PER_CANDIDATE]
        drop_at = (
            rng.randrange(SAVES_PER_CANDIDATE // 6, SAVES_PER_CANDIDATE * 5 // 6)
            if rng.random() < self.args.reconnect_share
            else None
        )
        for n, item in enumerate(plan):
            await asyncio.sleep(self.think(rng))
            ref = item["ref"]
            revision = ledger.acked.get(ref, 0) + 1
            body = {"revision": revision, "answer": sample_answer(item, index + revision)}
            if n == drop_at:
                await self.drop_and_resume(client, ledger, ref, body, rng)
            else:
                await self.save(client, ledger, ref, body, rng)
        await asyncio.sleep(self.think(rng))
        submit_path = f"/v1/me/attempts/{ledger.attempt}/submit"
        data = await self.write(client, "submit", "POST", submit_path)
        ledger.sat_to = self.now()
        if data is not None:
            summary = msgspec.json.decode(data)
            ledger.submitted = summary["status"] == "submitted"
            if not ledger.submitted:
                self.counts["submits acknowledged but not submitted"] += 1
            elif rng.random() < self.args.retry_share:
                await self.replay(
                    client,
                    "submit",
                    "POST",
                    submit_path,
                    None,
                    lambda status, r: (
                        status == 200
                        and r["status"] == "submitted"
                        and r["submitted_at"] == summary["submitted_at"]
                    ),
                )
        client.raw.close()

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(60)
            sitting = sum(
                1 for ledger in self.ledgers if ledger.sat_from is not None and ledger.sat_to is None
            )
            saves = sum(1 for r in self.records if r[1] == "save" and r[3] < 300)
            print(
                f"  t+{self.now():4.0f}s: {sitting} sitting, {saves:,} saves acknowledged, "
                f"{sum(self.errors.values())} errors, {sum(self.reconnects.values())} reconnects",
                file=sys.stderr,
                flush=True,
            )


# --------------------------------------------------------------------------------------------
# the database: sizes and the check of the outcome


async def owner(url: str, tenant_id: str | None = None) -> asyncpg.Connection:
    conn = await asyncpg.connect(url, server_settings={"application_name": "assess-benchmark"})
    await _init_connection(conn)
    if tenant_id is not None:
        await conn.execute("SELECT set_config('app.tenant_id', $1, false)", tenant_id)
    return conn


async def sizes(url: str) -> dict[str, int]:
    conn = await owner(url)
    try:
        found = {"(database)": await conn.fetchval("SELECT pg_database_size(current_database())")}
        for table in TABLES:
            found[table] = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
        return found
    finally:
        await conn.close()


async def check(url: str, tenant_id: str, ledgers: list[Ledger]) -> tuple[list[str], dict[str, int]]:
    """What the candidates were told against what the database holds."""
    conn = await owner(url, tenant_id)
    try:
        attempts = await conn.fetch(
            """SELECT t.id::text AS id, p.external_id, t.status FROM attempts t
               JOIN people p ON p.tenant_id = t.tenant_id AND p.id = t.person_id WHERE t.tenant_id = $1""",
            tenant_id,
        )
        rows = {
            (r["attempt_id"], r["item_ref"]): r["revision"]
            for r in await conn.fetch(
                "SELECT attempt_id::text, item_ref, revision FROM responses WHERE tenant_id = $1", tenant_id
            )
        }
        scores = {
            r["attempt_id"]: (r["n"], r["current"])
            for r in await conn.fetch(
                """SELECT attempt_id::text, count(*) AS n, count(*) FILTER (WHERE current) AS current FROM scores
               WHERE tenant_id = $1 GROUP BY attempt_id""",
                tenant_id,
            )
        }
        final = set(
            await conn.fetchval(
                "SELECT coalesce(array_agg(attempt_id::text), '{}') FROM scores WHERE tenant_id = $1 AND current AND "
                "status = 'final'",
                tenant_id,
            )
        )
        events = Counter(
            (r["type"], r["attempt"])
            for r in await conn.fetch(
                "SELECT type, payload->'data'->>'attempt_id' AS attempt FROM webhook_events WHERE tenant_id = $1",
                tenant_id,
            )
        )
    finally:
        await conn.close()
    failures: list[str] = []
    by_person: dict[str, list[asyncpg.Record]] = {}
    for row in attempts:
        by_person.setdefault(row["external_id"], []).append(row)
    acked = {
        (ledger.attempt, item): revision for ledger in ledgers for item, revision in ledger.acked.items()
    }
    unsure = {(ledger.attempt, item) for ledger in ledgers for item in ledger.unsure}
    submitted_acked = [ledger for ledger in ledgers if ledger.submitted]
    for ledger in submitted_acked:
        mine = by_person.get(ledger.person, [])
        if len(mine) != 1 or mine[0]["id"] != ledger.attempt or mine[0]["status"] != "submitted":
            failures.append(
                f"{ledger.person}: submit acknowledged, database has {[(r['id'], r['status']) for r in mine]}"
            )
        elif scores.get(ledger.attempt) != (1, 1):
            failures.append(
                f"{ledger.person}: submit acknowledged, score rows (all, current) "
                f"{scores.get(ledger.attempt, (0, 0))}"
            )
    failures += [f"{person} has {len(mine)} attempts" for person, mine in by_person.items() if len(mine) > 1]
    unscored = [r["id"] for r in attempts if r["status"] == "submitted" and scores.get(r["id"]) != (1, 1)]
    if unscored:
        failures.append(
            f"{len(unscored)} submitted attempts without exactly one (current) score, e.g. {unscored[:3]}"
        )
    odd = [
        r["id"]
        for r in attempts
        if r["status"] == "submitted" and events[("attempt.submitted", r["id"])] != 1
    ]
    if odd:
        failures.append(
            f"{len(odd)} submitted attempts without exactly one attempt.submitted event, e.g. {odd[:3]}"
        )
    odd = [r["id"] for r in attempts if events[("score.finalized", r["id"])] != (r["id"] in final)]
    if odd:  # a score with open responses stays provisional until they are rated: finalized later
        failures.append(
            f"{len(odd)} attempts whose score.finalized events do not match a final score, e.g. {odd[:3]}"
        )
    missing = [key for key in acked if key not in rows]
    lower = [key for key, revision in acked.items() if key in rows and rows[key] < revision]
    higher = [
        key for key, revision in acked.items() if key in rows and rows[key] > revision and key not in unsure
    ]
    extra = [key for key in rows if key not in acked and key not in unsure]
    for what, keys in (
        ("acknowledged answers missing", missing),
        ("acknowledged answers at an older revision", lower),
        ("answers at a newer revision than acknowledged", higher),
        ("answer rows never sent", extra),
    ):
        if keys:
            failures.append(f"{len(keys)} {what}, e.g. {keys[:3]}")
    counts = {
        "attempts": len(attempts),
        "attempts whose start was never acknowledged (the client gave up)": len(attempts)
        - sum(1 for ledger in ledgers if ledger.attempt is not None),
        "submitted": sum(1 for r in attempts if r["status"] == "submitted"),
        "submit acknowledged": len(submitted_acked),
        "answer rows": len(rows),
        "acknowledged (attempt, item)": len(acked),
        "unacknowledged (attempt, item) found stored": sum(
            1 for key in unsure if key in rows and key not in acked
        ),
        "score rows": sum(n for n, _ in scores.values()),
        "final scores (the others await rating)": len(final),
        "webhook events": sum(events.values()),
    }
    return failures, counts


# --------------------------------------------------------------------------------------------
# the report


def ms(q: tuple[float, float, float] | None) -> str:
    return "      n/a        n/a        n/a" if q is None else f"{q[0]:9.1f} {q[1]:9.1f} {q[2]:9.1f}"


def p95(values: list[float]) -> str:
    q = quantiles_ms(values)
    return "" if q is None else f"{q[1]:.0f}"


def print_windows(run: Sitting, memory: Memory, wall: float, width: float) -> None:
    print(
        f"\nover time ({width:.0f} s windows by when the answer came; latencies in ms; sitting = started, not yet submitted; RSS = service, max in the window):"
    )
    print(
        f"  {'window s':>11} {'sitting':>7} {'saves':>7} {'saves/s':>7} {'save p50':>9} {'p95':>9} {'p99':>9}"
        f" {'starts':>6} {'start p95':>9} {'submits':>7} {'submit p95':>10} {'errors':>6} {'RSS MB':>6}"
    )
    for k in range(math.ceil(wall / width)):
        lo, hi = k * width, (k + 1) * width
        records = [r for r in run.records if lo <= r[0] < hi]
        saves = [r[2] for r in records if r[1] == "save"]
        acked = sum(1 for r in records if r[1] == "save" and r[3] < 300)
        sitting = sum(
            1
            for ledger in run.ledgers
            if ledger.sat_from is not None
            and ledger.sat_from < hi
            and (ledger.sat_to is None or ledger.sat_to >= hi)
        )
        errors = sum(1 for t in run.error_times if lo <= t < hi)
        rss = max((s[1] for s in memory.samples if lo <= s[0] < hi), default=0)
        starts = [r[2] for r in records if r[1] == "start"]
        submits = [r[2] for r in records if r[1] == "submit"]
        print(
            f"  {lo:5.0f}-{hi:<5.0f} {sitting:7d} {acked:7d} {acked / width:7.0f} {ms(quantiles_ms(saves))}"
            f" {len(starts):6d} {p95(starts):>9} {len(submits):7d} {p95(submits):>10} {errors:6d} {rss / MB:6.0f}"
        )


async def profile_surge(run: Sitting, service: Service, args: argparse.Namespace, profile: Path) -> bool:
    """py-spy on the service's processes while the surge arrives (or the ramp, with no surge)."""
    await asyncio.sleep(max(0.0, args.surge_at - run.now()))
    seconds = args.surge_seconds if args.surge_candidates else args.ramp_seconds
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        *("record", "--pid", str(service.pid), "--subprocesses", "--rate", "100", "--format", "raw"),
        *("--output", str(profile), "--duration", str(int(seconds))),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await spy.wait() == 0


def print_surge(run: Sitting, args: argparse.Namespace) -> str:
    """The surge's own figures: its starts, and every save answered while its candidates arrived
    (the candidates already in keep saving meanwhile)."""
    lo, hi = args.surge_at, args.surge_at + args.surge_seconds
    surge_people = {f"cand-{i:06d}" for i in range(args.candidates, args.candidates + args.surge_candidates)}
    started = sum(
        1 for ledger in run.ledgers if ledger.person in surge_people and ledger.sat_from is not None
    )
    starts = [r[2] for r in run.records if r[1] == "start" and lo <= r[0]]
    saves = [r[2] for r in run.records if r[1] == "save" and lo <= r[0] < hi + 30]
    errors = sum(1 for t in run.error_times if lo <= t < hi + 30)
    start_q, save_q = quantiles_ms(starts), quantiles_ms(saves)
    start_p95 = "n/a" if start_q is None else f"{start_q[1]:.0f} ms"
    save_p99 = "n/a" if save_q is None else f"{save_q[2]:.0f} ms"
    print(
        f"\nsurge: {args.surge_candidates:,} candidates arriving within {args.surge_seconds:.0f} s from t+{lo:.0f}s "
        f"({args.surge_candidates / max(args.surge_seconds, 1):.1f} starts/s) while {args.candidates:,} keep saving"
    )
    print(f"  starts from t+{lo:.0f}s: n={len(starts)}  {percentiles(starts)}")
    print(f"  saves answered t+{lo:.0f}s to t+{hi + 30:.0f}s: n={len(saves)}  {percentiles(saves)}")
    print(
        f"  errors in that time: {errors}; surge candidates started: {started:,} of {args.surge_candidates:,}"
    )
    return (
        f"start p95 {start_p95} (goal < 1 s), save p99 {save_p99} (goal < 250 ms), {errors} errors, "
        f"{started:,}/{args.surge_candidates:,} started, "
        f"{sum(run.reconnects.values())} reconnects and {sum(run.errors.values())} errors in the whole run"
    )


def print_sizes(before: dict[str, int], after: dict[str, int], attempts: int) -> None:
    print(f"\ndatabase size (pg_database_size; tables with indexes and TOAST), {attempts:,} attempts:")
    print(f"  {'':<20} {'before MB':>10} {'after MB':>10} {'growth MB':>10} {'per 1,000 attempts MB':>22}")
    for name, was in before.items():
        growth = after[name] - was
        per = f"{growth / attempts * 1000 / MB:22.2f}" if attempts else f"{'n/a':>22}"
        print(f"  {name:<20} {was / MB:10.1f} {after[name] / MB:10.1f} {growth / MB:10.1f} {per}")


async def drive(service: Service, args: argparse.Namespace) -> None:
    assert service.keys is not None
    owner_url = service.owner_url()
    began_setup = time.perf_counter()
    receiver = Receiver()
    await receiver.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=120) as http:
        everyone = args.candidates + args.surge_candidates
        tenant_id, admin, people = await bench_tenant(http, service.keys, everyone)
        await ok(
            http.post(
                "/v1/webhooks",
                json={
                    "url": f"http://127.0.0.1:{receiver.port}/hr",
                    "events": ["attempt.submitted", "score.finalized"],
                },
                headers=admin,
            )
        )
    tokens = [candidate_token(service.keys, tenant_id, person) for person in people]
    before = await sizes(owner_url)
    print(
        f"set-up (tenant, {everyone:,} people, item bank, assessment, tokens): "
        f"{time.perf_counter() - began_setup:.1f} s",
        flush=True,
    )

    run = Sitting(args, service)
    memory = Memory(service.pid, run.began)
    rss_before, processes = memory.sample()
    memory.start()
    cpu = (own_cpu_seconds(), memory.cpu_seconds(), postgres_cpu_seconds(service.data_dir))
    progress = asyncio.create_task(run.progress())
    profile = Path(f"/tmp/sitting-profile-{datetime.now(UTC):%Y%m%d-%H%M}.txt")
    spy = asyncio.create_task(profile_surge(run, service, args, profile)) if args.profile else None
    await asyncio.gather(
        *(run.sit(i, person, token) for i, (person, token) in enumerate(zip(people, tokens, strict=False)))
    )
    wall = run.now()
    progress.cancel()
    memory.halt.set()
    memory.join()
    pg_cpu = postgres_cpu_seconds(service.data_dir)
    cpu_used = (
        own_cpu_seconds() - cpu[0],
        memory.cpu_seconds() - cpu[1],
        None if pg_cpu is None or cpu[2] is None else pg_cpu - cpu[2],
    )
    rss_after, _ = memory.sample()
    failures, counts = await check(owner_url, tenant_id, run.ledgers)
    deadline = time.perf_counter() + 60  # the dispatcher sends every few seconds: let it catch up
    while len(receiver.events) < counts["webhook events"] and time.perf_counter() < deadline:
        await asyncio.sleep(0.5)
    delivered_after = run.now() - wall
    receiver.close()
    after = await sizes(owner_url)

    acked_saves = sum(1 for r in run.records if r[1] == "save" and r[3] < 300)
    print(
        f"\nload: {wall:.1f} s wall from the first arrival to the last candidate's end "
        f"({sum(1 for ledger in run.ledgers if ledger.submitted):,} of {len(run.ledgers):,} submitted)"
    )
    print(
        f"saves/s (acknowledged saves / wall): {acked_saves / wall:,.1f}   ({acked_saves:,} saves, "
        f"not counting replays)"
    )
    print(
        f"requests/s (every request answered, replays and resumes included): {len(run.records) / wall:,.1f}   "
        f"({len(run.records):,} requests)"
    )
    print("latency per operation (every answered request, whatever its status):")
    for op in ("start", "save", "resume", "submit", "start replay", "save replay", "submit replay"):
        values = [r[2] for r in run.records if r[1] == op]
        print(f"  {op:<14} n={len(values):>7}  {percentiles(values)}")
    if run.start_bytes:
        print(
            f"a started form of {run.form_items} items on the wire ({args.client} client): mean "
            f"{sum(run.start_bytes) / len(run.start_bytes):,.0f} B, max {max(run.start_bytes):,} B; scaled to 44 items "
            f"{max(run.start_bytes) * 44 / max(run.form_items, 1):,.0f} B (issue 19's goal: under 15,000 B)"
        )
    print(
        f"errors: {sum(run.errors.values())}"
        + "".join(f"\n  {k}: {v}" for k, v in sorted(run.errors.items()))
    )
    print(
        f"reconnects (keep-alive connections the server had closed; not errors): {sum(run.reconnects.values())}"
        + "".join(f"\n  {k}: {v}" for k, v in sorted(run.reconnects.items()))
    )
    print("events:" + "".join(f"\n  {k}: {v}" for k, v in sorted(run.counts.items())))
    print_windows(run, memory, wall, args.window_seconds)
    peak = max(memory.samples, key=lambda s: s[1], default=(0.0, rss_after, processes))
    print(
        f"\nservice memory (RSS of `assess serve` + granian workers, {processes} processes, sampled every 0.5 s): "
        f"before the load {rss_before / MB:.0f} MB, peak {peak[1] / MB:.0f} MB at t+{peak[0]:.0f}s, "
        f"after {rss_after / MB:.0f} MB"
    )
    if (
        max((s[2] for s in memory.samples), default=processes) != processes
        or min((s[2] for s in memory.samples), default=processes) != processes
    ):
        print("  the number of service processes changed during the load (a worker died and was replaced?)")
    pg = "n/a (DATABASE_URL)" if cpu_used[2] is None else f"{cpu_used[2]:.0f} s"
    print(
        f"CPU during the load: load generator {cpu_used[0]:.0f} s, service {cpu_used[1]:.0f} s, PostgreSQL {pg} "
        f"(the machine has {os.cpu_count()} cores x {wall:.0f} s = {(os.cpu_count() or 1) * wall:.0f} s)"
    )
    print_sizes(before, after, counts["attempts"])
    print(
        f"webhooks: {len(receiver.events):,} of {counts['webhook events']:,} events received by the subscriber "
        f"{delivered_after:.1f} s after the load ({sum(receiver.events.values()) - len(receiver.events)} received twice)"
    )
    if spy is not None and await spy:
        print(
            f"\nprofile of the surge (py-spy at 100 Hz on every service process, t+{args.surge_at:.0f}s for "
            f"{args.surge_seconds:.0f} s; not a measurement):"
        )
        top_functions(profile, service.pid, patterns=START_FRAMES)
    print("\ncheck against the database:" + "".join(f"\n  {k}: {v:,}" for k, v in counts.items()))
    surge = print_surge(run, args) if args.surge_candidates else None
    for failure in failures[:20]:
        print(f"  FAIL: {failure}")
    lost = run.counts["acknowledged saves missing on resume"] + sum(
        n for k, n in run.counts.items() if k.endswith("NOT as designed")
    )
    verdict = "PASS" if not failures and not lost else "FAIL"
    stray = counts["unacknowledged (attempt, item) found stored"]
    print(
        f"{verdict}: every acknowledged submit is one submitted attempt with one current score; answer rows = "
        f"acknowledged distinct (attempt, item) at the acknowledged revision"
        + (f" + {stray} from saves whose acknowledgement never came" if stray else "")
        + (f"; {lost} resume/replay anomalies" if lost else "")
    )
    if surge is not None:
        print(f"surge summary: {surge}, database check {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=2000, help="candidates sitting in the same window")
    parser.add_argument(
        "--ramp-seconds", type=float, default=120.0, help="arrivals spread uniformly over this"
    )
    parser.add_argument(
        "--surge-candidates",
        type=int,
        default=0,
        help="the exam-opening surge: this many more candidates arrive within --surge-seconds from --surge-at, "
        "while the first --candidates keep saving",
    )
    parser.add_argument(
        "--surge-seconds", type=float, default=60.0, help="the surge's arrivals spread over this"
    )
    parser.add_argument(
        "--surge-at",
        type=float,
        default=None,
        help="run time of the surge's first arrival (default: end of the ramp)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the service during the surge and print where time goes"
    )
    parser.add_argument("--think-seconds", type=float, default=6.0, help="mean think time before each save")
    parser.add_argument("--think-sigma", type=float, default=0.6, help="sigma of the lognormal think time")
    parser.add_argument(
        "--retry-share", type=float, default=0.03, help="writes sent twice (a lost acknowledgement)"
    )
    parser.add_argument(
        "--reconnect-share",
        type=float,
        default=0.05,
        help="candidates whose connection drops mid-sitting (then resume)",
    )
    parser.add_argument(
        "--connection-per-request",
        action="store_true",
        help="a new connection per request (default: each candidate keeps one keep-alive connection)",
    )
    parser.add_argument(
        "--retry-reused",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replace a keep-alive connection the server closed, and resend a request once when a reused "
        "connection closes before any answer, as browsers do (--no-retry-reused: count those as errors)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as lost")
    parser.add_argument(
        "--window-seconds", type=float, default=20.0, help="width of the over-time table's rows"
    )
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument(
        "--pool-max", type=int, default=10, help="database connections per worker (DB_POOL_MAX)"
    )
    parser.add_argument(
        "--client",
        choices=("take", "bare"),
        default="take",
        help="take: start and resume as the /take client does (?lang=zh-CN, Accept-Encoding: br, gzip); "
        "bare: the bilingual form uncompressed (as this benchmark asked before issue 19's compression)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.surge_at is None:
        args.surge_at = args.ramp_seconds
    print(
        f"sitting: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f", {os.cpu_count()} cores"
    )
    print("options: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()))
    per = SAVES_PER_CANDIDATE * args.think_seconds
    everyone = args.candidates + args.surge_candidates
    if args.think_seconds > 0:
        print(
            f"offered: each candidate makes {SAVES_PER_CANDIDATE} saves over ~{per:.0f} s of think time; with all "
            f"{everyone:,} sitting at once, ~{everyone / args.think_seconds:,.0f} saves/s "
            f"(plus {args.retry_share:.0%} replays), {args.candidates / max(args.ramp_seconds, 1):,.1f} starts/s "
            f"during the ramp"
            + (
                f", {args.surge_candidates / max(args.surge_seconds, 1):,.1f} during the surge"
                if args.surge_candidates
                else ""
            )
            + f"; a sitting of 60 items at 30 s each would offer {everyone / 30:,.0f} saves/s"
        )
    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(143)
    )  # so that the service and its database are stopped
    with running_service(args.workers, args.pool_max, {"WEBHOOK_ALLOW_LOOPBACK": "true"}) as service:
        asyncio.run(drive(service, args))


if __name__ == "__main__":
    main()
