"""A candidate's keep-alive connection that the server closes while the candidate thinks.

Granian closes a keep-alive connection that waits longer than its HTTP/1 header read timeout for the
next request (HTTP_KEEP_ALIVE_SECONDS; granian's own 30 s closed ~0.15% of bench/sitting.py's saves:
its 188 broken connections, issue 19). A client then either sees the close before it sends, or sends
as the close crosses its request. The bench client (bench/_harness.py RawConnection, with
`retry_reused`) does what browsers do: it replaces a connection it has seen closed, and sends an
idempotent request once more on a new connection when a reused one closes before any byte of the
answer; a connection that closes mid-answer stays an error.

The server runs as `assess serve` does, in a subprocess on this test's database, with a 1 s keep-alive
so that the server's close comes quickly; each interleaving is forced: the test waits for the close
itself, and a small proxy holds the server's close back from the client until the client's request
has been sent (the race of a save sent as the server closes)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
try:
    from _harness import ClosedBeforeAnswer, RawConnection, running_service
finally:
    sys.path.remove(str(BENCH))


class HoldingProxy:
    """Forwards one client connection at a time to the server. When the server closes its side, the
    client is not told until it sends its next request; then the client's connection is closed with
    that request unforwarded, as when the server's close and the request cross on the wire. With
    `cut_after`, the next answer is cut after that many bytes instead."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.server_closed = asyncio.Event()
        self.cut_after: int | None = None
        self.forwarded = 0  # requests forwarded to the server

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server_closed.clear()
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def answers() -> None:
            while data := await up_reader.read(65536):
                if self.cut_after is not None:
                    writer.write(data[: self.cut_after])
                    writer.close()
                    return
                writer.write(data)
            self.server_closed.set()

        down = asyncio.create_task(answers())
        try:
            while data := await reader.read(65536):
                if self.server_closed.is_set():
                    break  # the request crossed the server's close: it never reaches the server
                self.forwarded += 1
                up_writer.write(data)
        finally:
            down.cancel()
            up_writer.close()
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[str, int]]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        try:
            yield "127.0.0.1", server.sockets[0].getsockname()[1]
        finally:
            server.close()


async def test_a_save_on_a_connection_the_server_closed_is_sent_again_and_stored_once(
    owner_url: str, keys_file: Path, delivery: dict[str, Any]
):
    me = delivery["candidates"][0]
    env = {
        "DATABASE_URL": owner_url,
        "SERVICE_KEYS_FILE": str(keys_file),
        "HTTP_KEEP_ALIVE_SECONDS": "1",
        "WEBHOOK_DISPATCH_SECONDS": "0",
        "DEADLINE_SWEEP_SECONDS": "0",
    }
    with running_service(workers=1, pool_max=2, extra_env=env) as service:
        host, port = service.url.removeprefix("http://").split(":")

        def body(revision: int, choice: str) -> bytes:
            return json.dumps({"revision": revision, "answer": {"choice": choice}}).encode()

        # 1. Closed while idle, seen before sending: replaced, the save sent once.
        direct = RawConnection(host, int(port), retry_reused=True)
        status, data = await direct.request("POST", "/v1/me/assessments/quiz/attempts", me, b"{}")
        assert status == 201, data
        attempt = json.loads(data)["attempt"]["id"]
        save = f"/v1/me/attempts/{attempt}/answers/T-SC-1"
        assert direct.reader is not None
        assert await asyncio.wait_for(direct.reader.read(), 30) == b""  # the server's close arrived
        status, data = await direct.request("PUT", save, me, body(1, "a"))
        assert status == 200 and json.loads(data)["applied"], data
        assert direct.reconnects == {RawConnection.STALE: 1}
        direct.close()

        proxy = HoldingProxy(host, int(port))
        async with proxy.running() as (proxy_host, proxy_port):
            # 2. The save sent as the server closes: no byte of an answer, sent again on a new
            # connection; the first never reached the server (the second is applied).
            racing = RawConnection(proxy_host, proxy_port, retry_reused=True)
            status, _ = await racing.request("GET", f"/v1/me/attempts/{attempt}", me)
            assert status == 200
            await asyncio.wait_for(proxy.server_closed.wait(), 30)
            forwarded = proxy.forwarded
            status, data = await racing.request("PUT", save, me, body(2, "b"))
            assert status == 200, data
            saved = json.loads(data)
            assert saved["applied"] and saved["revision"] == 2
            assert racing.reconnects == {RawConnection.RETRIED: 1}
            assert proxy.forwarded == forwarded + 1  # the save reached the server once

            # 3. A POST not declared idempotent is not sent again: the close is an error.
            await asyncio.wait_for(proxy.server_closed.wait(), 30)
            with pytest.raises(ClosedBeforeAnswer):
                await racing.request("POST", f"/v1/me/attempts/{attempt}/submit", me)
            assert racing.reconnects == {RawConnection.RETRIED: 1}

            # 4. A reused connection closed mid-answer: an error, not sent again.
            status, _ = await racing.request("GET", f"/v1/me/attempts/{attempt}", me)
            assert status == 200
            proxy.cut_after = 10
            with pytest.raises(ConnectionError) as cut:
                await racing.request("PUT", save, me, body(3, "c"))
            assert not isinstance(cut.value, ClosedBeforeAnswer)
            assert racing.reconnects == {RawConnection.RETRIED: 1}
            proxy.cut_after = None

        # The database holds the answer once, at the revision the retried save stored (the cut save,
        # revision 3, reached the server: it may be stored; nothing else may).
        status, data = await direct.request("GET", f"/v1/me/attempts/{attempt}", me)
        assert status == 200
        state = json.loads(data)
        answers = [a for a in state["answers"] if a["item"] == "T-SC-1"]
        assert len(answers) == 1 and answers[0]["revision"] in (2, 3)
        assert state["attempt"]["status"] == "in_progress"  # the unretried submit never arrived
        direct.close()
