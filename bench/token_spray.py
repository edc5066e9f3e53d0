"""Wrong secrets sprayed at a real client id while the real HR system fetches its tokens.

Starts the service on loopback (bench/_harness.py), creates a tenant and a service client, then for
`--seconds`: `--sprayers` tasks send wrong secrets for that client id (and, with --made-up, for random
client ids) as fast as the service answers, from `--addresses` source addresses (127.1.x.y: all of
127/8 is loopback on Linux), while the real client asks for a token with its correct secret every
`--every` seconds from its own address. Prints the spray's rate and statuses and the real client's
success rate (200 / requests) with its latency. The service runs with its default limits.

    ./dev python bench/token_spray.py --addresses 1
    ./dev python bench/token_spray.py --addresses 2000 --made-up
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import COMMON, bearer, ok, running_service

from service.auth.issue import issue_operator_token, issue_token

FORM = {"grant_type": "client_credentials"}


def _address(index: int) -> str:
    return f"127.1.{index // 250}.{index % 250 + 1}"


async def _spray(
    url: str, client_id: str, addresses: int, made_up: bool, offset: int, stop: float, statuses: Counter[int]
) -> None:
    clients = {}
    index = offset
    try:
        while time.monotonic() < stop:
            address = _address(index % addresses)
            index += 1
            http = clients.get(address)
            if http is None:
                http = clients[address] = httpx.AsyncClient(
                    base_url=url, transport=httpx.AsyncHTTPTransport(local_address=address), timeout=30
                )
            target = str(uuid.uuid4()) if made_up and index % 2 else client_id
            response = await http.post("/oauth/token", data=FORM, auth=(target, "wrong-secret"))
            statuses[response.status_code] += 1
    finally:
        for http in clients.values():
            await http.aclose()


async def _real_client(
    url: str, client_id: str, secret: str, every: float, stop: float, outcomes: list[tuple[int, float]]
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.9")
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as http:
        while time.monotonic() < stop:
            started = time.monotonic()
            response = await http.post("/oauth/token", data=FORM, auth=(client_id, secret))
            outcomes.append((response.status_code, time.monotonic() - started))
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))


async def run(args: argparse.Namespace) -> None:
    with running_service(workers=args.workers, pool_max=4) as service:
        keys = service.load_keys()
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            tenant = (
                await ok(
                    http.post(
                        "/v1/tenants",
                        json={"slug": f"spray-{uuid.uuid4().hex[:6]}", "name": "S"},
                        headers=bearer(issue_operator_token(keys, **COMMON)),
                    )
                )
            ).json()
            admin = bearer(
                issue_token(
                    keys,
                    kind="user",
                    subject="admin",
                    tenant_id=uuid.UUID(tenant["id"]),
                    roles=["tenant_admin"],
                    **COMMON,
                )
            )
            made = (
                await ok(
                    http.post("/v1/clients", json={"name": "HR", "scopes": ["people:write"]}, headers=admin)
                )
            ).json()
        statuses: Counter[int] = Counter()
        outcomes: list[tuple[int, float]] = []
        started = time.monotonic()
        stop = started + args.seconds
        await asyncio.gather(
            _real_client(service.url, made["id"], made["client_secret"], args.every, stop, outcomes),
            *[
                _spray(service.url, made["id"], args.addresses, args.made_up, i * 7919, stop, statuses)
                for i in range(args.sprayers)
            ],
        )
        elapsed = time.monotonic() - started
    sprayed = sum(statuses.values())
    good = [latency for status, latency in outcomes if status == 200]
    latencies = sorted(latency for _, latency in outcomes)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}; command: "
        f"./dev python bench/token_spray.py {' '.join(sys.argv[1:])}"
    )
    print(
        f"spray: {sprayed} wrong-secret requests in {elapsed:.1f} s ({sprayed / elapsed:.0f}/s) from "
        f"{args.addresses} address(es){', half with made-up client ids' if args.made_up else ''}: "
        + ", ".join(f"{status} x {count}" for status, count in sorted(statuses.items()))
    )
    print(
        f"real client (correct secret, every {args.every:g} s): {len(good)}/{len(outcomes)} tokens issued "
        f"= {100 * len(good) / max(1, len(outcomes)):.1f} %; statuses "
        + ", ".join(f"{s} x {c}" for s, c in sorted(Counter(s for s, _ in outcomes).items()))
        + (
            f"; latency median {1000 * statistics.median(latencies):.0f} ms, "
            f"max {1000 * latencies[-1]:.0f} ms"
            if latencies
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--addresses", type=int, default=1, help="source addresses of the spray (127.1.x.y)")
    parser.add_argument("--sprayers", type=int, default=16, help="concurrent spraying tasks")
    parser.add_argument("--made-up", action="store_true", help="half of the spray names random client ids")
    parser.add_argument(
        "--every", type=float, default=1.0, help="the real client's interval between token requests"
    )
    parser.add_argument("--workers", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
