"""Several hosts against one database, as `assess serve` runs them: two service processes on two
ports (the first with two granian workers) sharing the database and the signing-key file.

What holds (README, "Several workers and hosts"): a revoked client is refused everywhere within
AUTH_CACHE_SECONDS; the token endpoint's limits are kept in PostgreSQL, so shared; a rotated signing
key is accepted by running workers within SERVICE_KEYS_RELOAD_SECONDS; /metrics sums a host's
workers and is closed to the world."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from service.auth.issue import issue_token
from service.auth.keys import ServiceKeys
from service.cli import main as assess
from tests.helpers import AUDIENCE, ISSUER, bearer, operator

ROOT = Path(__file__).resolve().parent.parent
AUTH_CACHE_SECONDS = 2
RELOAD_SECONDS = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _services(
    owner_url: str,
    keys_file: Path,
    data_dir: Path,
    workers: tuple[int, ...],
    extra: dict[str, str] | None = None,
) -> Iterator[list[str]]:
    servers, urls = [], []
    try:
        for index, count in enumerate(workers):
            port = _free_port()
            env = {
                **os.environ,
                "DATABASE_URL": owner_url,
                "SERVICE_KEYS_FILE": str(keys_file),
                "ASSESS_DATA_DIR": str(data_dir / f"host-{index}"),
                "PORT": str(port),
                "WORKERS": str(count),
                "DB_POOL_MAX": "2",
                "LOG_LEVEL": "WARNING",
                "AUTH_CACHE_SECONDS": str(AUTH_CACHE_SECONDS),
                "SERVICE_KEYS_RELOAD_SECONDS": str(RELOAD_SECONDS),
                "WEBHOOK_DISPATCH_SECONDS": "0",
                "DEADLINE_SWEEP_SECONDS": "0",
                **(extra or {}),
            }
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env, start_new_session=True
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for server, url in zip(servers, urls, strict=False):
            for _ in range(600):
                try:
                    if httpx.get(url + "/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None, "a service exited during start-up"
                time.sleep(0.1)
        yield urls
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)  # a stop takes about a second; a start and a stop, 2-5 s at load 2
            except subprocess.TimeoutExpired:
                # granian asked to stop while a worker is still starting can hang (seen once under load,
                # after the test's assertions had passed; again at 06:05 UTC, load 3, the 30 s it was
                # given then being most of the file's time): the whole process group goes
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


@pytest.fixture
def private_keys(tmp_path: Path, keys_file: Path) -> Path:
    """A key file of this test's own (it is rotated)."""
    path = tmp_path / "signing-keys.json"
    shutil.copy(keys_file, path)
    return path


async def _tenant_with_client(
    http: httpx.AsyncClient, url: str, keys: ServiceKeys
) -> tuple[dict[str, str], dict[str, Any]]:
    """A tenant's admin headers and a service client of it (with its `tenant_id`)."""
    tenant = (
        await http.post(url + "/v1/tenants", json={"slug": "multi-host", "name": "M"}, headers=operator(keys))
    ).json()
    admin = bearer(
        issue_token(
            keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            kind="user",
            subject="admin",
            tenant_id=tenant["id"],
            roles=["tenant_admin"],
        )
    )
    made = await http.post(url + "/v1/clients", json={"name": "HR", "scopes": ["scores:read"]}, headers=admin)
    assert made.status_code == 201, made.text
    return admin, {**made.json(), "tenant_id": tenant["id"]}


async def test_revocation_reaches_every_host_within_the_cache_time_and_token_limits_are_shared(
    owner_url, private_keys, tmp_path
):
    keys = ServiceKeys.load(private_keys)
    with _services(
        owner_url, private_keys, tmp_path, (2, 1), {"TOKEN_RATE_PER_SECOND": "0.001", "TOKEN_RATE_BURST": "3"}
    ) as (a, b):
        async with httpx.AsyncClient() as http:
            admin, made = await _tenant_with_client(http, a, keys)
            credentials = (made["id"], made["client_secret"])

            async def token(url: str) -> httpx.Response:
                return await http.post(
                    url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials
                )

            # one bucket for both hosts (and A's two workers): a burst of 3, then 429 on either host
            answers = [await token(url) for url in (a, b, a, b, a)]
            assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
            assert answers[3].json()["error"] == "slow_down"
            client_token = bearer(answers[0].json()["access_token"])
            for url in (a, b, a, a):  # every worker has verified and cached it
                assert (await http.get(url + "/v1/scores", headers=client_token)).status_code == 200

            revoked = await http.post(f"{a}/v1/clients/{made['id']}/revoke", headers=admin)
            assert revoked.status_code == 200
            await asyncio.sleep(AUTH_CACHE_SECONDS + 0.5)
            after = [
                (await http.get(url + "/v1/scores", headers=client_token)).status_code for url in (a, b) * 6
            ]
            assert after == [401] * 12


async def test_a_rotated_key_is_accepted_by_running_workers_without_a_restart(
    owner_url, private_keys, tmp_path, monkeypatch
):
    old = ServiceKeys.load(private_keys)
    with _services(owner_url, private_keys, tmp_path, (2, 1)) as urls:
        async with httpx.AsyncClient() as http:
            admin, made = await _tenant_with_client(http, urls[0], old)
            monkeypatch.setenv("SERVICE_KEYS_FILE", str(private_keys))
            assert assess(["keys", "rotate"]) == 0
            new = ServiceKeys.load(private_keys)
            assert new.keys[-1].kid not in old.by_kid
            await asyncio.sleep(RELOAD_SECONDS + 0.2)
            signed_new = bearer(
                issue_token(
                    new,
                    issuer=ISSUER,
                    audience=AUDIENCE,
                    kind="user",
                    subject="admin",
                    tenant_id=made["tenant_id"],
                    roles=["tenant_admin"],
                )
            )
            for url in urls * 4:
                answer = await http.get(url + "/v1/clients", headers=signed_new)
                assert answer.status_code == 200, answer.text
                assert (
                    await http.get(url + "/v1/clients", headers=admin)
                ).status_code == 200  # old key still
                kids = {k["kid"] for k in (await http.get(url + "/.well-known/jwks.json")).json()["keys"]}
                assert new.keys[-1].kid in kids
            # and workers now sign with the new key
            issued = await http.post(
                urls[1] + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(made["id"], made["client_secret"]),
            )
            assert jwt.get_unverified_header(issued.json()["access_token"])["kid"] == new.keys[-1].kid


async def test_metrics_sum_a_hosts_workers_and_need_the_metrics_token(owner_url, private_keys, tmp_path):
    with _services(owner_url, private_keys, tmp_path, (2,), {"METRICS_TOKEN": "scrape-me"}) as (url,):
        requests = 40
        for _ in range(requests):  # a fresh connection each: granian spreads them over its workers
            async with httpx.AsyncClient() as http:
                assert (await http.get(url + "/health/live")).status_code == 200
        async with httpx.AsyncClient() as http:
            assert (await http.get(url + "/metrics")).status_code == 401
            assert (await http.get(url + "/metrics", headers=bearer("wrong"))).status_code == 401
            scraped = await http.get(url + "/metrics", headers=bearer("scrape-me"))
        assert scraped.status_code == 200
        counts = [
            float(m)
            for m in re.findall(
                r'^assess_requests_total\{[^}]*path="/health/live"[^}]*\} (\S+)$', scraped.text, re.MULTILINE
            )
        ]
        assert sum(counts) == requests, scraped.text[:2000]
        files = list((tmp_path / "host-0").glob("metrics-*/*.db"))
        assert (
            len({re.sub(r"\D", "", f.stem.split("_")[-1]) for f in files}) >= 2
        )  # both workers wrote samples


async def test_metrics_without_a_token_answer_loopback_clients_only(settings):
    from tests.harness import app_for, running

    app = app_for(settings)
    async with running(app):
        for address, status in (("127.0.0.1", 200), ("::1", 200), ("203.0.113.1", 403), ("10.0.0.2", 403)):
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://assess.test") as http:
                assert (await http.get("/metrics")).status_code == status, address
