"""Scoring benchmark: the engine on one core, and rescoring N attempts end to end.

1. Engine: scores a 60-item mixed form (the 44 shipped cadre items and 16 copies) with random
   answers, in this one process, and prints attempts scored per second per core.
2. End to end: starts the service (embedded PostgreSQL in a temporary directory), sets up a
   tenant and a published 60-item assessment through the API, bulk-loads `--attempts` submitted
   attempts with random answers straight into the database (COPY as the owner: loading is not
   what is measured), then through the API: scores them all (a rescoring of unscored attempts),
   corrects one item's key and rescores (preview, then commit), printing the wall time of each
   phase and attempts per second.

    ./dev python bench/scoring.py [--attempts 100000] [--engine-attempts 3000] [--job-mode process|inline]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec
from _harness import ROOT, bench_tenant, candidate_token, ok, running_service

from service.db.pool import _init_connection
from service.items.model import OpenResponse
from service.items.samples import sample_bank
from service.items.views import Answer, candidate_view
from service.rubrics.templates import get_template
from service.scoring.engine import AgreedRating, ScoredItem, ScoringInput, score, score_many

FORM_SIZE = 60


def sixty_items() -> list:  # type: ignore[type-arg]
    """The first 60 items of the shipped cadre bank (80 items since 2026-12; it had 44, topped up with copies)."""
    bank = sample_bank("cadre-ai-literacy").items
    if len(bank) >= FORM_SIZE:
        return list(bank[:FORM_SIZE])
    copies = [msgspec.structs.replace(item, code=f"{item.code}-B") for item in bank[: FORM_SIZE - len(bank)]]
    return list(bank) + copies


def random_answer(item, rng: random.Random) -> dict | None:  # type: ignore[no-untyped-def]
    """A valid answer (as JSON) for `item`, or None for an omitted one (5 %)."""
    if rng.random() < 0.05:
        return None
    view = candidate_view(item)
    keys = [o.key for o in view.options or []]
    kind = view.answer_with
    if kind == "choice":
        return {"choice": rng.choice(keys)}
    if kind == "choices":
        return {"choices": rng.sample(keys, rng.randint(1, len(keys)))}
    if kind == "most_least":
        most, least = rng.sample(keys, 2)
        return {"most": most, "least": least}
    if kind == "ratings":
        return {"ratings": {k: rng.randint(1, view.rating_points or 5) for k in keys}}
    if kind == "value":
        return {"value": rng.randint(1, view.scale_points or 5)}
    if kind == "order":
        return {"order": rng.sample(keys, len(keys))}
    return {"text": "先核对数据来源，再让模型按格式输出，最后由人审核。" * rng.randint(1, 5)}


def engine_benchmark(n: int) -> None:
    template = get_template("cadre-ai-literacy")
    items = sixty_items()
    rng = random.Random(1)
    inputs = []
    for _ in range(n):
        answers = {
            item.code: msgspec.convert(a, Answer)
            for item in items
            if (a := random_answer(item, rng)) is not None
        }
        ratings = {
            item.code: AgreedRating(rng.randint(0, 3) / 3, ["r"])
            for item in items
            if isinstance(item, OpenResponse)
        }
        inputs.append(
            ScoringInput(
                template.content, template.content_hash, [ScoredItem(1, i) for i in items], answers, ratings
            )
        )
    began_cpu, began = time.process_time(), time.perf_counter()
    for data in inputs:
        score(data)
    cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
    print(
        f"engine: {n} attempts of a {len(items)}-item mixed form in {wall:.2f} s wall, {cpu:.2f} s CPU: "
        f"{n / cpu:,.0f} attempts/s per core (score, one at a time)"
    )
    began_cpu, began = time.process_time(), time.perf_counter()
    for start in range(0, n, 500):  # as a rescoring batch scores them
        score_many(inputs[start : start + 500])
    cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
    print(
        f"engine: the same in batches of 500 in {wall:.2f} s wall, {cpu:.2f} s CPU: "
        f"{n / cpu:,.0f} attempts/s per core (score_many)",
        flush=True,
    )


async def load_attempts(owner_url: str, tenant_id: str, n: int, seed: int = 7) -> None:
    """Submitted attempts with random answers, COPYed in as the owner (a superuser bypasses RLS)."""
    conn = await asyncpg.connect(owner_url)
    await _init_connection(conn)
    try:
        tenant = uuid.UUID(tenant_id)
        assessment_id = await conn.fetchval(
            "SELECT id FROM assessments WHERE tenant_id = $1 AND code = 'bench'", tenant
        )
        people = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM people WHERE tenant_id = $1 ORDER BY external_id", tenant
            )
        ][:-SUBMITTERS]
        versions = {
            r["code"]: (r["version"], r["content"])
            for r in await conn.fetch(
                """SELECT i.code, v.version, v.content FROM items i JOIN item_versions v
                 ON v.tenant_id = i.tenant_id AND v.item_id = i.id AND v.version = i.latest_version
               WHERE i.tenant_id = $1""",
                tenant,
            )
        }
        from service.items.model import Item

        on_form = {item.code for item in sixty_items()}
        items = {
            code: msgspec.convert(content, Item)  # type: ignore[arg-type]
            for code, (_, content) in versions.items()
            if code in on_form
        }
        form = [
            {"section": "all", "code": code, "version": versions[code][0], "option_order": None}
            for code in sorted(items)
        ]
        rng = random.Random(seed)
        now = datetime.now(UTC)
        for start in range(0, n, 5000):
            attempts, responses = [], []
            for k in range(start, min(n, start + 5000)):
                attempt = uuid.uuid4()
                attempts.append(
                    (
                        tenant,
                        attempt,
                        assessment_id,
                        people[k % len(people)],
                        1 + k // len(people),
                        "submitted",
                        k,
                        form,
                        len(form),
                        now,
                        7200,
                        1,
                        None,
                        30,
                        now,
                        "candidate",
                    )
                )
                for code, item in items.items():
                    answer = random_answer(item, rng)
                    if answer is not None:
                        responses.append((tenant, attempt, code, answer, 1, now))
            await conn.copy_records_to_table(
                "attempts",
                records=attempts,
                columns=[
                    "tenant_id",
                    "id",
                    "assessment_id",
                    "person_id",
                    "number",
                    "status",
                    "seed",
                    "form",
                    "item_count",
                    "started_at",
                    "time_limit_seconds",
                    "extra_time_factor",
                    "deadline",
                    "grace_seconds",
                    "submitted_at",
                    "submitted_by",
                ],
            )
            await conn.copy_records_to_table(
                "responses",
                records=responses,
                columns=["tenant_id", "attempt_id", "item_ref", "answer", "revision", "saved_at"],
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


SUBMITTERS = 200  # people kept out of the load, who start and submit an attempt while a commit runs


async def submit_meanwhile(
    http: httpx.AsyncClient, candidates: list[dict[str, str]], stop: asyncio.Event
) -> list[float]:
    """One candidate after another starts an attempt and submits it (no answers: every item omitted, the
    score pipeline runs as for any submission) until `stop`; the submit requests' latencies in ms."""
    latencies = []
    for me in candidates:
        if stop.is_set():
            break
        started = await ok(http.post("/v1/me/assessments/bench/attempts", json={}, headers=me))
        attempt = started.json()["attempt"]["id"]
        began = time.perf_counter()
        await ok(http.post(f"/v1/me/attempts/{attempt}/submit", headers=me))
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


_WAITS = """
    SELECT a.pid, a.wait_event_type, a.wait_event, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 90) AS query,
           b.state AS blocker_state, left(regexp_replace(b.query, '\\s+', ' ', 'g'), 90) AS blocker_query,
           (SELECT string_agg(DISTINCT l.locktype || coalesce(':' || l.relation::regclass::text, '')
                              || coalesce(' ' || l.mode, ''), ', ')
            FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) AS waiting_for
    FROM pg_stat_activity a
    LEFT JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(a.pid))[1]
    WHERE a.datname = current_database() AND a.state = 'active' AND a.pid <> pg_backend_pid()
      AND a.backend_type = 'client backend' AND a.wait_event_type = 'Lock'"""


async def sample_lock_waits(
    owner_url: str, stop: asyncio.Event, every: float = 0.05
) -> Counter[tuple[str, ...]]:
    """Every `every` s until `stop`: the backends waiting on a lock, what they wait for and what the
    backend blocking them last ran (pg_stat_activity, pg_locks, pg_blocking_pids); samples per kind."""
    seen: Counter[tuple[str, ...]] = Counter()
    conn = await asyncpg.connect(owner_url)
    try:
        while not stop.is_set():
            for row in await conn.fetch(_WAITS):
                seen[
                    (
                        f"{row['wait_event_type']}:{row['wait_event']}",
                        row["waiting_for"] or "",
                        row["query"] or "",
                        f"{row['blocker_state']}: {row['blocker_query']}",
                    )
                ] += 1
            await asyncio.sleep(every)
    finally:
        await conn.close()
    return seen


async def ping_meanwhile(http: httpx.AsyncClient, stop: asyncio.Event, every: float = 0.1) -> list[float]:
    """`GET /health/live` (no database) every `every` s until `stop`: its latencies in ms. A worker whose
    event loop is busy with a job's CPU work answers late; a lock wait does not show here."""
    latencies = []
    while not stop.is_set():
        began = time.perf_counter()
        await ok(http.get("/health/live"))
        latencies.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(every)
    return latencies


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return "none"
    return (
        f"{len(values)}, p50 {values[len(values) // 2]:.0f} ms, p95 {values[int(len(values) * 0.95)]:.0f} ms, "
        f"max {values[-1]:.0f} ms"
    )


def cpu_by_role(service_pid: int, data_dir: str) -> Counter[str]:
    """CPU seconds (user + system) so far of the service's processes by role: the job process(es)
    (`assess jobs`), the HTTP workers with serve, and PostgreSQL's (the embedded server's postmaster,
    found by its data directory, and its backends); this process too. Backends that exited are not
    counted (the pools keep theirs)."""
    import psutil

    roles: dict[int, tuple[str, psutil.Process]] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(service_pid)
        for p in [root, *root.children(recursive=True)]:
            roles[p.pid] = ("job process" if "jobs" in p.cmdline() else "http workers", p)
    for p in psutil.process_iter(["cmdline"]):
        if data_dir in " ".join(p.info["cmdline"] or []) and "postgres" in p.name():
            for q in [p, *p.children(recursive=True)]:
                roles[q.pid] = ("postgres", q)  # whoever started it
    me = psutil.Process()
    roles[me.pid] = ("bench", me)
    seen: Counter[str] = Counter()
    for role, p in roles.values():
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            seen[role] += times.user + times.system
    return seen


def cpu_line(phase: str, before: Counter[str], after: Counter[str], wall: float) -> str:
    used = {role: after[role] - before[role] for role in ("job process", "postgres", "http workers", "bench")}
    return (
        f"  CPU during the {phase} ({wall:.1f} s wall, {2 * wall:.1f} CPU s on 2 cores): "
        + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in used.items())
        + f"; load average {os.getloadavg()[0]:.2f}"
    )


async def rescore(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    body: dict,  # type: ignore[type-arg]
    submitters: list[dict[str, str]] | None = None,
    owner_url: str | None = None,
    cpu: Callable[[], Counter[str]] | None = None,
) -> tuple[float, float, dict]:  # type: ignore[type-arg]
    async def until(url: str, states: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
        while True:
            job = (await ok(http.get(url, headers=admin))).json()
            if job["status"] in states:
                return job
            await asyncio.sleep(0.5)

    cpu_at = [cpu()] if cpu else []
    began = time.perf_counter()
    job = (await ok(http.post("/v1/assessments/bench/rescorings", json=body, headers=admin))).json()
    url = f"/v1/assessments/bench/rescorings/{job['id']}"
    preview = await until(url, ("previewed", "failed"))
    previewed = time.perf_counter() - began
    if cpu:
        cpu_at.append(cpu())
    began = time.perf_counter()
    await ok(http.post(f"{url}/commit", headers=admin))
    stop = asyncio.Event()
    meanwhile = asyncio.create_task(submit_meanwhile(http, submitters or [], stop))
    sampler = asyncio.create_task(sample_lock_waits(owner_url, stop)) if owner_url and submitters else None
    pings = asyncio.create_task(ping_meanwhile(http, stop)) if submitters else None
    done = await until(url, ("done", "failed"))
    committed = time.perf_counter() - began
    if cpu:
        cpu_at.append(cpu())
        print(cpu_line("preview", cpu_at[0], cpu_at[1], previewed), flush=True)
        print(cpu_line("commit", cpu_at[1], cpu_at[2], committed), flush=True)
    stop.set()
    latencies = sorted(await meanwhile)
    waits = await sampler if sampler else Counter()
    live = await pings if pings else []
    return (
        previewed,
        committed,
        {
            "preview": preview["summary"],
            "done": done,
            "submits": latencies,
            "lock_waits": waits,
            "pings": live,
        },
    )


async def stored_bytes(owner_url: str) -> str:
    """What the stored score documents take: per row on disk (pg_column_size, after TOAST compression) and
    as JSON text, and the whole table with its TOAST and indexes; with the load average now."""
    conn = await asyncpg.connect(owner_url)
    try:
        row = await conn.fetchrow(
            """SELECT count(*) AS n, avg(pg_column_size(document)) AS disk, avg(octet_length(document::text)) AS json,
                      count(*) FILTER (WHERE document ? 'lean') AS lean, pg_total_relation_size('scores') AS total
               FROM scores"""
        )
    finally:
        await conn.close()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"stored scores: {row['n']:,} rows ({row['lean']:,} lean), document {row['disk'] or 0:,.0f} B on disk, "
        f"{row['json'] or 0:,.0f} B as JSON; table with TOAST and indexes {row['total'] / 1e6:,.1f} MB; "
        f"load average {load}"
    )


async def end_to_end(n: int, profile: int = 0, job_mode: str = "process") -> None:
    with running_service(workers=2, pool_max=8, extra_env={"JOB_MODE": job_mode}) as service:
        print(f"jobs: JOB_MODE={job_mode}", flush=True)
        async with httpx.AsyncClient(base_url=service.url, timeout=600) as http:
            form = sixty_items()
            bank = {item.code for item in sample_bank("cadre-ai-literacy").items}
            tenant_id, admin, ids = await bench_tenant(
                http,
                service.keys,
                people=max(1, n // 2) + SUBMITTERS,
                extra_items=[item for item in form if item.code not in bank],
                assessment={
                    "sections": [
                        {
                            "code": "all",
                            "items": [{"code": item.code} for item in form],
                            "shuffle_items": True,
                        }
                    ]
                },
            )
            began = time.perf_counter()
            await load_attempts(service.owner_url(), tenant_id, n)
            print(
                f"loaded {n:,} submitted attempts of {FORM_SIZE} items in {time.perf_counter() - began:.1f} s "
                "(COPY, not measured below)",
                flush=True,
            )
            previewed, committed, result = await rescore(http, admin, {"reason": "first scoring"})
            print(
                f"score all (no scores yet): preview {previewed:.1f} s, commit {committed:.1f} s "
                f"({n / committed:,.0f} attempts/s); changed {result['done']['changed']:,}",
                flush=True,
            )
            print(await stored_bytes(service.owner_url()), flush=True)

            item = await ok(http.get("/v1/items/CAL-AK-001", headers=admin))
            content = item.json()["content"]
            keys = [o["key"] for o in content["options"]]
            content["key"]["correct"] = next(k for k in keys if k != content["key"]["correct"])
            edited = await ok(
                http.put(
                    "/v1/items/CAL-AK-001", json=content, headers={**admin, "If-Match": item.headers["etag"]}
                )
            )
            if profile:  # the key correction's preview and commit, step by step, in this process
                await profile_batches(
                    service.owner_url(),
                    tenant_id,
                    profile,
                    {"items": {"CAL-AK-001": edited.json()["version"]}},
                )
                return
            submitters = [
                candidate_token(service.keys, tenant_id, external_id) for external_id in ids[-SUBMITTERS:]
            ]
            previewed, committed, result = await rescore(
                http,
                admin,
                {"reason": "key of CAL-AK-001 corrected", "items": {"CAL-AK-001": edited.json()["version"]}},
                submitters,
                service.owner_url(),
                lambda: cpu_by_role(service.pid, str(service.data_dir)),
            )
            summary = result["preview"]
            print(
                f"rescore after a key correction: preview {previewed:.1f} s ({n / previewed:,.0f} attempts/s), "
                f"commit {committed:.1f} s ({n / committed:,.0f} attempts/s); attempts changed "
                f"{summary['changed']:,}, overall level changed {summary['overall_level_changed']:,}",
                flush=True,
            )
            print(await stored_bytes(service.owner_url()), flush=True)
            submits = result["submits"]
            print(f"submissions during that commit: {percentiles(submits)}", flush=True)
            print(
                f"GET /health/live every 100 ms during that commit: {percentiles(result['pings'])}",
                flush=True,
            )
            waits = result["lock_waits"]
            print(
                f"lock waits sampled every 50 ms during that commit: {sum(waits.values())} samples"
                + "".join(
                    f"\n  {count:4d} x {event} [{wanted}] {query!r}\n         blocked by {blocker!r}"
                    for (event, wanted, query, blocker), count in waits.most_common(12)
                ),
                flush=True,
            )


async def profile_batches(owner_url: str, tenant_id: str, n: int, pins: dict | None = None) -> None:  # type: ignore[type-arg]
    """In this process, against the loaded database: the steps of a rescoring batch over the first `n`
    attempts, in batches of `rescoring.BATCH`, with the rescoring's `pins` (None: those in force), as
    `rescoring.run_batch` runs them. First every batch as a preview (rolled back), then as a commit
    (stored through the pipeline), each step's wall time summed; then the preview once more under
    cProfile (the commit cannot run twice: nothing would differ)."""
    import cProfile
    import pstats

    from service import pipeline
    from service.config import Settings
    from service.db.pool import create_pool, tenant_transaction
    from service.db.urls import app_url
    from service.results import rescoring, scores
    from service.results.scores import ScoringPins
    from service.scoring import lean

    pool = await create_pool(app_url(Settings.from_env(), owner_url), max_size=2)  # as the service: RLS on
    tenant = uuid.UUID(tenant_id)
    scoring_pins = msgspec.convert(pins or {}, ScoringPins)
    async with tenant_transaction(pool, tenant) as conn:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM attempts WHERE status = 'submitted' ORDER BY id LIMIT $1",
                n,
            )
        ]
    parts: dict[str, float] = {}

    def timed(module, name: str, part: str) -> None:  # type: ignore[no-untyped-def]
        inner = getattr(module, name)
        is_async = asyncio.iscoroutinefunction(inner)

        async def awrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                parts[part] = parts.get(part, 0.0) + time.perf_counter() - began

        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                parts[part] = parts.get(part, 0.0) + time.perf_counter() - began

        setattr(module, name, awrapper if is_async else wrapper)

    from service.aggregates import rollups
    from service.results import credentials
    from service.webhooks import outbox
    from service.xapi import outbox as xapi_outbox

    timed(scores, "_inputs", "read inputs")
    timed(scores, "score_many", "engine (score_many)")
    timed(scores.abilities, "many_abilities", "abilities")
    timed(scores, "current_stored", "old documents: read + decode")
    timed(scores, "framework_indexes", "framework indexes")
    timed(rescoring, "compare", "compare (strip new, compare lean)")
    timed(scores, "store_documents", "store: store_documents")
    timed(lean, "store_forms", "lean.store_forms")
    timed(credentials, "scores_stored", "store: credentials")
    timed(outbox, "subscribers", "store: outbox/xapi checks")
    timed(xapi_outbox, "lrs", "store: outbox/xapi checks")
    timed(rollups, "refresh", "store: rollups.refresh")
    # run_batch's own calls, without its job row
    score_documents, current_stored = scores.score_documents, scores.current_stored

    async def batch_steps(conn: asyncpg.Connection, batch: list[uuid.UUID], commit: bool) -> None:
        new = await score_documents(conn, batch, scoring_pins)
        old = await current_stored(conn, batch)
        indexes = await scores.framework_indexes(
            conn,
            {d.provenance.framework_hash for d in new.values()} | lean.framework_hashes(list(old.values())),
        )
        tally = await asyncio.to_thread(rescoring.compare, old, new, indexes)
        if commit:
            await pipeline.store(conn, tally.stored, reason="profile", scored_by="profile", forms=tally.forms)

    def whole_compare(old: dict, new: dict) -> int:  # type: ignore[type-arg]
        """The comparison before lean forms: every old document hydrated, compared whole."""
        differ = 0
        for attempt, document in new.items():
            previous = old.get(attempt)
            differ += rescoring.changes(previous, document)[0] or previous != document
        return differ

    async def reading_and_comparing(conn: asyncpg.Connection, batch: list[uuid.UUID]) -> tuple[float, float]:
        """The same batch's old documents read and compared both ways: (before, after) in CPU seconds
        of this process (the engine's documents made once, outside the timing)."""
        new = await score_documents(conn, batch, scoring_pins)
        began = time.process_time()
        whole_compare(await scores.current_documents(conn, batch), new)
        before = time.process_time() - began
        began = time.process_time()
        old = await current_stored(conn, batch)
        indexes = await scores.framework_indexes(
            conn,
            {d.provenance.framework_hash for d in new.values()} | lean.framework_hashes(list(old.values())),
        )
        rescoring.compare(old, new, indexes)
        return before, time.process_time() - began

    before = after = 0.0
    for start in range(0, len(ids), rescoring.BATCH):
        async with tenant_transaction(pool, tenant) as conn:
            took = await reading_and_comparing(conn, ids[start : start + rescoring.BATCH])
        before, after = before + took[0], after + took[1]
    print(
        f"old documents read and compared, CPU of this process: whole (hydrated) {1000 * before / len(ids):.3f} "
        f"ms/attempt, lean forms {1000 * after / len(ids):.3f} ms/attempt (the lean one includes lean.store_forms "
        "of the new documents, which the commit then reuses)",
        flush=True,
    )

    for phase in ("preview", "commit"):
        parts.clear()
        began_cpu, began = time.process_time(), time.perf_counter()
        load_before = os.getloadavg()[0]
        for start in range(0, len(ids), rescoring.BATCH):
            batch = ids[start : start + rescoring.BATCH]
            async with tenant_transaction(
                pool, tenant
            ) as conn:  # a preview stores nothing: its commit is empty
                await batch_steps(conn, batch, phase == "commit")
                t = time.perf_counter()
            parts["commit"] = parts.get("commit", 0.0) + time.perf_counter() - t
        cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
        nested = parts.pop("lean.store_forms", 0.0)
        print(
            f"profile {phase}: {len(ids):,} attempts in {wall:.2f} s wall ({len(ids) / wall:,.0f}/s), "
            f"{cpu:.2f} s CPU in this process; load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for part, took in parts.items():
            print(f"  {part:45s} {took:7.2f} s  {1000 * took / len(ids):6.3f} ms/attempt", flush=True)
        print(
            f"  {'other (to_thread, ids, event loop)':45s} {wall - sum(parts.values()):7.2f} s\n"
            f"  (lean.store_forms, within compare: {nested:.2f} s)",
            flush=True,
        )
    profiler = cProfile.Profile()
    profiler.enable()
    for start in range(0, len(ids), rescoring.BATCH):
        async with tenant_transaction(pool, tenant) as conn:
            await batch_steps(conn, ids[start : start + rescoring.BATCH], False)
    profiler.disable()
    await pool.close()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--engine-attempts", type=int, default=3000)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="after the first scoring and the key correction, profile the steps of that rescoring's "
        "batches (preview, then commit) in this process over this many attempts (then stop)",
    )
    parser.add_argument(
        "--job-mode",
        choices=["process", "inline"],
        default="process",
        help="where the service runs jobs (JOB_MODE): a job process of their own (serve's default) or "
        "the HTTP workers",
    )
    args = parser.parse_args()
    print(f"(repository {ROOT})")
    engine_benchmark(args.engine_attempts)
    if args.attempts:
        asyncio.run(end_to_end(args.attempts, args.profile, args.job_mode))


if __name__ == "__main__":
    main()
