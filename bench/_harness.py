"""What the benchmarks share: start the service on a free loopback port in a temporary data
directory (embedded PostgreSQL unless DATABASE_URL is set), and set up a tenant with the
shipped cadre item bank and one published assessment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.auth.issue import issue_operator_token, issue_token
from service.auth.keys import ServiceKeys
from service.items.samples import sample_bank

FRAMEWORK = "cadre-ai-literacy"
COMMON = {"issuer": "assess-service", "audience": "assess-api", "ttl_seconds": 6 * 3600}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service(msgspec.Struct):
    url: str
    data_dir: Path
    keys: ServiceKeys | None = None
    pid: int = 0  # of the `assess serve` process (granian's main process; its workers are its children)
    keys_file: Path | None = None  # SERVICE_KEYS_FILE when given, else the data directory's

    def load_keys(self) -> ServiceKeys:
        self.keys = ServiceKeys.load(self.keys_file or self.data_dir / "signing-keys.json")
        return self.keys

    def owner_url(self) -> str:
        """The database owner's URL: DATABASE_URL when set, else the embedded server's (started if needed)."""
        from service.db.embedded import start_embedded

        return os.environ.get("DATABASE_URL") or start_embedded(self.data_dir)


def wait_ready(url: str, server: subprocess.Popen, name: str = "the service") -> None:  # type: ignore[type-arg]
    """Until `url`/health/ready answers 200 (at most a minute), or the server process exits."""
    for _ in range(600):
        try:
            if httpx.get(url + "/health/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"{name} exited during start-up")
        time.sleep(0.1)
    raise SystemExit(f"{name} did not become ready")


@contextmanager
def running_service(
    workers: int, pool_max: int, extra_env: dict[str, str] | None = None
) -> Iterator[Service]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="assess-bench-") as data_dir:
        env = {
            **os.environ,
            "ASSESS_DATA_DIR": data_dir,
            "PORT": str(port),
            "WORKERS": str(workers),
            "LOG_LEVEL": "WARNING",
            "DB_POOL_MAX": str(pool_max),
            **(extra_env or {}),
        }
        server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env)
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            from service.config import Settings

            loop = Settings.from_env(env).http_event_loop
            print(
                f"service on 127.0.0.1:{port} with {workers} granian worker(s) on {loop}; database: "
                f"{'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded, ' + data_dir}",
                flush=True,
            )
            keys_file = env.get("SERVICE_KEYS_FILE")
            service = Service(
                f"http://127.0.0.1:{port}",
                Path(data_dir),
                pid=server.pid,
                keys_file=Path(keys_file) if keys_file else None,
            )
            service.load_keys()
            yield service
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_tree(server.pid)
                server.wait(timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


async def ok(request) -> httpx.Response:  # type: ignore[no-untyped-def]
    response = await request
    if response.status_code >= 300:
        raise SystemExit(f"set-up failed: {response.request.method} {response.request.url}: {response.text}")
    return response


async def bench_tenant(
    http: httpx.AsyncClient,
    keys: ServiceKeys,
    people: int,
    assessment: dict | None = None,  # type: ignore[type-arg]
    extra_items: list | None = None,
) -> tuple[str, dict[str, str], list[str]]:  # type: ignore[type-arg]
    """A tenant with `people` civil servants (cand-000000...) and a published assessment 'bench' of every
    sample item; returns (tenant id, admin headers, external ids)."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    operator = bearer(issue_operator_token(keys, **COMMON))
    tenant = (
        await ok(http.post("/v1/tenants", json={"slug": slug, "name": "Bench"}, headers=operator))
    ).json()
    admin = bearer(
        issue_token(
            keys,
            kind="user",
            subject="bench-admin",
            tenant_id=uuid.UUID(tenant["id"]),
            roles=["tenant_admin", "author", "analyst"],
            **COMMON,
        )
    )
    await ok(http.post("/v1/org-units", json={"code": "P", "name": "Province"}, headers=admin))
    ids = [f"cand-{i:06d}" for i in range(people)]
    for start in range(0, people, 5000):
        rows = [
            {"external_id": e, "org_unit_code": "P", "category": "civil_servant"}
            for e in ids[start : start + 5000]
        ]
        await ok(http.post("/v1/people/bulk", json={"people": rows}, headers=admin))
    await ok(http.post("/v1/frameworks", json={"template": FRAMEWORK}, headers=admin))
    etag = (await ok(http.get(f"/v1/frameworks/{FRAMEWORK}/versions/1", headers=admin))).headers["etag"]
    await ok(http.post(f"/v1/frameworks/{FRAMEWORK}/versions/1/publish", headers={**admin, "If-Match": etag}))
    items = list(sample_bank(FRAMEWORK).items) + list(extra_items or [])
    await ok(http.post("/v1/items/import", json={"items": msgspec.to_builtins(items)}, headers=admin))
    body = {
        "code": "bench",
        "title": {"en": "Bench"},
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [
            {"code": "all", "items": [{"code": item.code} for item in items], "shuffle_items": True}
        ],
        "audience": {"org_units": ["P"]},
        "time_limit_minutes": 120,
        **(assessment or {}),
    }
    created = await ok(http.post("/v1/assessments", json=body, headers=admin))
    await ok(
        http.post("/v1/assessments/bench/publish", headers={**admin, "If-Match": created.headers["etag"]})
    )
    return tenant["id"], admin, ids


def candidate_token(keys: ServiceKeys, tenant_id: str, external_id: str) -> dict[str, str]:
    return bearer(
        issue_token(
            keys,
            kind="user",
            subject=external_id,
            tenant_id=uuid.UUID(tenant_id),
            roles=["candidate"],
            **COMMON,
        )
    )


IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})  # RFC 9110 §9.2.2


class ClosedBeforeAnswer(ConnectionError):
    """The server closed the connection before any byte of the answer to a request sent on it."""


class RawConnection:
    """A minimal HTTP/1.1 keep-alive connection on asyncio streams, for load generation.

    httpx spends more CPU per request than the service does (its pool costs grow with the number
    of connections), so a load generator built on it measures itself. One of these per simulated
    client, as a real device would hold: a request line, headers, a Content-Length body.

    With `retry_reused`, it does what browsers, urllib3 and httpx do with a keep-alive connection the
    server closed while it was idle (RFC 9112 §9.3.1): a connection already seen closed is replaced
    before sending (any request: nothing was sent), and an idempotent request (`IDEMPOTENT`, or `idempotent=True` for a POST the API
    makes exact to repeat) sent on a reused connection that closes before any byte of the answer is
    sent once more on a new connection. Each is counted in `reconnects` (shared between connections
    when a Counter is given); a connection that closes mid-answer, or a second failure, stays an error.
    """

    STALE = "idle connection found closed: replaced before sending"
    RETRIED = "reused connection closed before any answer: sent again on a new one"

    def __init__(
        self, host: str, port: int, *, retry_reused: bool = False, reconnects: Counter[str] | None = None
    ) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.retry_reused = retry_reused
        self.reconnects: Counter[str] = Counter() if reconnects is None else reconnects

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def _seen_closed(self) -> bool:
        """The server's close of this idle connection has already arrived (urllib3's
        `is_connection_dropped`): end of stream or a reset read, or the transport closing."""
        assert self.reader is not None and self.writer is not None
        return self.reader.at_eof() or self.reader.exception() is not None or self.writer.is_closing()

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        idempotent: bool | None = None,
    ) -> tuple[int, bytes]:
        status, _, data = await self.exchange(method, path, headers, body, idempotent=idempotent)
        return status, data

    async def exchange(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        idempotent: bool | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: the status, the response headers (lower-cased names) and the body. A failure,
        or a cancellation mid-exchange, closes the connection (its state is unknown); the next
        request opens a new one."""
        if self.retry_reused and self.writer is not None and self._seen_closed():
            self.reconnects[self.STALE] += 1
            self.close()
        reused = self.writer is not None
        retry = self.retry_reused and (method in IDEMPOTENT if idempotent is None else idempotent)
        try:
            return await self._exchange(method, path, headers, body)
        except ClosedBeforeAnswer:
            if not (retry and reused):
                raise
        self.reconnects[self.RETRIED] += 1
        return await self._exchange(method, path, headers, body)

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ] + [f"{k}: {v}" for k, v in headers.items()]
        try:
            try:
                self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                status_line = await self.reader.readline()
            except (ConnectionResetError, BrokenPipeError) as exc:  # nothing of an answer read
                raise ClosedBeforeAnswer("the server closed the connection") from exc
            if not status_line:
                raise ClosedBeforeAnswer("the server closed the connection")
            if not status_line.endswith(b"\n"):
                raise ConnectionError("the server closed the connection mid-answer")
            status = int(status_line.split()[1])
            received: dict[str, str] = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                received[name.strip().lower()] = value.strip()
            if "chunked" in received.get("transfer-encoding", "").lower():
                data = b""
                while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                    data += (await self.reader.readexactly(size + 2))[:-2]
                await self.reader.readline()
                return status, received, data
            return status, received, await self.reader.readexactly(int(received.get("content-length", 0)))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def stop_tree(pid: int) -> None:
    """Kill a server and everything under it. Granian can miss a worker it was respawning when its
    shutdown came (a fault run kills a worker with -9 shortly before the end, and on a loaded machine the
    new worker starts after the shutdown began): its main process then waits for it for ever."""
    import psutil

    print(f"server {pid} did not stop within 30 s after SIGTERM: killing it and its processes", flush=True)
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for process in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
