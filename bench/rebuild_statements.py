"""The rollup rebuild statement by statement: wall time and the database backend's CPU time of each.

Runs `rebuild.rebuild_now` (or `check_now`) of assessment 'bench' in one transaction on the app role
in the newest tenant of DATABASE_URL (a tenant bench/aggregates.py or bench/analysis.py left there),
and rolls it back, so it can be run again and again on the same data. The backend's CPU time
(utime + stime of its process, read from /proc: the server must run on this machine) is what a
statement cost, free of most of the wait for the cores on a shared machine.

    DATABASE_URL=... ./dev python bench/rebuild_statements.py [--fresh] [--check] [--old PATH] [--explain]

--fresh deletes the assessment's results and rollups first (in the same transaction), so that every
row is written, as after a bulk load; --old PATH runs the rebuild.py at PATH instead (another
checkout's, for a before/after on the same data); --explain prints each statement's EXPLAIN (ANALYZE,
BUFFERS) instead of timing it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.aggregates import rebuild
from service.db.pool import _init_connection


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def label(sql: str) -> str:
    text = " ".join(sql.split())
    found = re.search(r"(CREATE TEMP TABLE \w+|INSERT INTO \w+|DELETE FROM \w+|UPDATE \w+|ANALYZE \S+)", text)
    return found.group(1) if found else text[:60]


class Timed:
    """The connection, timing each statement (or explaining it) on its way through."""

    def __init__(self, conn: asyncpg.Connection, pid: int, explain: bool) -> None:
        self.conn, self.pid, self.explain = conn, pid, explain
        self.rows: list[tuple[float, float, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    async def _run(self, kind: str, sql: str, *args: object) -> Any:
        if self.explain and kind == "execute":
            out: Any = None
            for part in (p.strip() for p in sql.split(";") if p.strip()):
                plain = re.match(r"(DROP|SET|ANALYZE)", part, re.IGNORECASE) or (
                    part.upper().startswith("CREATE")
                    and not re.search(r"\bAS\s+(SELECT|WITH)", part, re.IGNORECASE)
                )
                if plain:
                    out = await self.conn.execute(part)
                    continue
                began = time.perf_counter()
                plan = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + part, *args)
                print(f"\n### {time.perf_counter() - began:.2f} s {label(part)}")
                print("\n".join(row[0] for row in plan))
                out = "X 0"
            return out
        began, cpu = time.perf_counter(), backend_cpu(self.pid)
        out = await getattr(self.conn, kind)(sql, *args)
        self.rows.append((time.perf_counter() - began, backend_cpu(self.pid) - cpu, label(sql)))
        return out

    async def execute(self, sql: str, *args: object) -> Any:
        return await self._run("execute", sql, *args)

    async def fetch(self, sql: str, *args: object) -> Any:
        return await self._run("fetch", sql, *args)

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._run("fetchval", sql, *args)

    async def fetchrow(self, sql: str, *args: object) -> Any:
        return await self._run("fetchrow", sql, *args)


def load_rebuild(path: str | None) -> ModuleType:
    if path is None:
        return rebuild
    spec = importlib.util.spec_from_file_location("rebuild_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def run(args: argparse.Namespace) -> None:
    module = load_rebuild(args.old)
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    await _init_connection(conn)
    try:
        tenant = await conn.fetchval("SELECT id FROM tenants ORDER BY created_at DESC LIMIT 1")
        app_role = os.environ.get("APP_DB_USER", "assess_app")
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(f'SET LOCAL ROLE "{app_role}"')
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
            assessment_id = await conn.fetchval("SELECT id FROM assessments WHERE code = 'bench'")
            if args.fresh:
                await conn.execute("DELETE FROM results WHERE assessment_id = $1", assessment_id)
                await conn.execute("DELETE FROM rollups WHERE assessment_id = $1", assessment_id)
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            timed = Timed(conn, pid, args.explain)
            load, began, cpu = os.getloadavg()[0], time.perf_counter(), backend_cpu(pid)
            if args.check:
                outcome = await module.check_now(timed, assessment_id)
                outcome.pop("differences")
            else:
                outcome = await module.rebuild_now(timed, assessment_id)
            wall, cpu = time.perf_counter() - began, backend_cpu(pid) - cpu
        finally:
            await transaction.rollback()  # nothing kept: the next run finds the same data
        print(outcome)
        print(f"{'wall s':>7} {'cpu s':>7}  statement")
        for seconds, used, what in timed.rows:
            if seconds >= 0.05:
                print(f"{seconds:7.2f} {used:7.2f}  {what}")
        print(
            f"{wall:7.2f} {cpu:7.2f}  total ({args.old or 'this checkout'}{', fresh' if args.fresh else ''}); "
            f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="delete the results and rollups first")
    parser.add_argument("--check", action="store_true", help="time check_now instead of rebuild_now")
    parser.add_argument("--old", metavar="PATH", help="the rebuild.py to run (default: this checkout's)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) each statement")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
