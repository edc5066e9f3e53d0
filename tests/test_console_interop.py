"""Credentials and the learning record store in the console over HTTP (no browser): the issuer profile, an
assessment's credential settings, the LRS settings with a connection test against a real LRS (Ralph on
loopback), the statement log and redelivery. The same domain functions and guards as the API, each
refusal next to its field, and only tenant admins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.db.pool import create_pool
from tests.conftest import serving
from tests.delivery_setup import delivery_tenant
from tests.harness import app_for
from tests.lrs import Ralph, ralph, ralph_env  # noqa: F401  (fixtures)
from tests.test_console_marking import console_headers
from tests.test_xapi import send_due, take

ORIGIN = "https://assess.example.gov.cn"
SETTINGS = "/console/assessments/quiz/credentials"


@pytest.fixture
async def lrs_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Loopback LRS URLs allowed (the test's Ralph), nothing dispatched but what the test sends."""
    quiet = msgspec.structs.replace(settings, webhook_allow_loopback=True, webhook_dispatch_seconds=0)
    async with serving(app_for(quiet)) as http:
        yield http


async def test_issuer_and_settings_through_the_console(
    client: httpx.AsyncClient, service_keys: ServiceKeys
) -> None:
    tenant = await delivery_tenant(client, service_keys, slug="console-badges", people=1)
    admin = await console_headers(client, tenant["id"], ["tenant_admin"], "admin-1")

    listed = await client.get("/console/assessments", headers=admin)
    assert f'href="{SETTINGS}"' in listed.text
    assert f'href="{SETTINGS}"' in (await client.get("/console/assessments/quiz", headers=admin)).text

    # Settings before the issuer: the API's 409, at the top of the form; nothing saved.
    early = await client.post(SETTINGS, headers=admin, data={"enabled": "on", "dim-AK": "L2"})
    assert early.status_code == 422 and 'data-testid="settings-error"' in early.text
    assert "PUT /v1/credential-issuer" in early.text and 'data-testid="needs-issuer"' in early.text
    assert (await client.get("/v1/assessments/quiz/credential-settings", headers=tenant["admin"])).json()[
        "enabled"
    ] is False

    # The issuer: refusals next to their fields, then saved; its DID on the page, as the API reads it.
    blank = await client.get("/console/credential-issuer", headers=admin)
    assert blank.status_code == 200 and 'data-testid="no-issuer"' in blank.text
    plain = await client.post(
        "/console/credential-issuer",
        headers=admin,
        data={"name_zh": "某省教育厅", "name_en": "Department", "url": "http://assess.example.gov.cn"},
    )
    assert plain.status_code == 422 and 'data-testid="error-url"' in plain.text
    assert 'value="某省教育厅"' in plain.text  # what was typed stays
    unnamed = await client.post(
        "/console/credential-issuer", headers=admin, data={"name_zh": "", "name_en": "D", "url": ORIGIN}
    )
    assert unnamed.status_code == 422 and 'data-testid="error-name"' in unnamed.text
    assert (await client.get("/v1/credential-issuer", headers=tenant["admin"])).status_code == 404
    saved = await client.post(
        "/console/credential-issuer",
        headers=admin,
        data={"name_zh": "某省教育厅", "name_en": "Provincial Department of Education", "url": ORIGIN},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/console/credential-issuer?done=saved"
    api = (await client.get("/v1/credential-issuer", headers=tenant["admin"])).json()
    assert api["name"] == {"zh-CN": "某省教育厅", "en": "Provincial Department of Education"}
    shown = await client.get(saved.headers["location"], headers=admin)
    assert (
        f'data-testid="issuer-did">{api["did"]}<' in shown.text and 'data-testid="issuer-saved"' in shown.text
    )
    assert api["key_id"] in shown.text and "PRIVATE" not in shown.text

    # Settings: each refusal is the API's, next to its field; then saved and shown as the API reads them.
    page = await client.get(SETTINGS, headers=admin)
    assert (
        page.status_code == 200
        and 'id="dim-AK"' in page.text
        and 'data-testid="needs-issuer"' not in page.text
    )
    for data, field in (
        ({"enabled": "on"}, "dimensions"),
        ({"enabled": "on", "dim-AK": "L9"}, "dimensions"),
        ({"enabled": "on", "overall": "L9"}, "overall"),
        ({"enabled": "on", "overall": "L1", "valid_days": "soon"}, "valid_days"),
        ({"enabled": "on", "overall": "L1", "valid_days": "0"}, "valid_days"),
    ):
        refused = await client.post(SETTINGS, headers=admin, data=data)
        assert refused.status_code == 422 and f'data-testid="error-{field}"' in refused.text, (
            data,
            refused.text,
        )
    done = await client.post(
        SETTINGS, headers=admin, data={"enabled": "on", "dim-AK": "L2", "overall": "L1", "valid_days": "365"}
    )
    assert done.status_code == 303, done.text
    api_settings = (
        await client.get("/v1/assessments/quiz/credential-settings", headers=tenant["admin"])
    ).json()
    assert (api_settings["enabled"], api_settings["dimensions"], api_settings["overall"]) == (
        True,
        {"AK": "L2"},
        "L1",
    )
    assert api_settings["valid_days"] == 365 and api_settings["updated_by"] == "admin-1"
    again = await client.get(done.headers["location"], headers=admin)
    assert 'data-testid="settings-saved"' in again.text
    assert re.search(r'id="enabled" name="enabled" checked', again.text)
    assert '<option value="L2" selected>' in again.text and 'value="365"' in again.text
    assert (await client.get("/console/assessments/nowhere/credentials", headers=admin)).status_code == 404

    # Authors and analysts read the API's settings, but the console's screens are the admins'.
    author = await console_headers(client, tenant["id"], ["author", "analyst"], "author-1")
    assert 'href="/console/credential-issuer"' not in (await client.get("/console/", headers=author)).text
    for url in ("/console/credential-issuer", SETTINGS, "/console/lrs"):
        assert (await client.get(url, headers=author)).status_code == 403, url
        assert (await client.post(url, headers=author, data={"enabled": ""})).status_code == 403, url
    assert f'href="{SETTINGS}"' not in (await client.get("/console/assessments/quiz", headers=author)).text


async def test_lrs_settings_test_log_and_redelivery(
    lrs_client: httpx.AsyncClient, service_keys: ServiceKeys, ralph: Ralph, app_url: str
) -> None:
    client = lrs_client
    tenant = await delivery_tenant(client, service_keys, slug="console-lrs", people=1)
    admin = await console_headers(client, tenant["id"], ["tenant_admin"], "admin-1")
    empty = await client.get("/console/lrs", headers=admin)
    assert empty.status_code == 200 and 'data-testid="no-lrs"' in empty.text
    assert (await client.post("/console/lrs/test", headers=admin)).status_code == 404

    fields: dict[str, Any] = {
        "url": ralph.xapi_url,
        "key": ralph.key,
        "secret": "wrong",
        "home_page": "https://idp.example.gov.cn",
        "active": "on",
    }
    for bad, field in (
        ({"url": "ftp://lrs.example.com/"}, "url"),
        ({"home_page": "idp.example.gov.cn"}, "home_page"),
        ({"secret": ""}, "secret"),
    ):
        refused = await client.post("/console/lrs", headers=admin, data={**fields, **bad})
        assert refused.status_code == 422 and f'data-testid="error-{field}"' in refused.text, (
            bad,
            refused.text,
        )
        assert 'value="wrong"' not in refused.text  # the secret is never written back
    saved = await client.post("/console/lrs", headers=admin, data=fields)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/lrs?done=saved"
    page = await client.get(saved.headers["location"], headers=admin)
    assert 'data-testid="lrs-saved"' in page.text and ralph.xapi_url in page.text
    assert "wrong" not in page.text.split('id="lrs-secret"', 1)[1].split(">", 1)[0]

    # The connection test with the wrong secret: Ralph's 401; with the right one: its 200.
    failed = await client.post("/console/lrs/test", headers=admin)
    assert failed.status_code == 200 and 'data-testid="lrs-test-failed"' in failed.text
    assert "HTTP 401" in failed.text
    assert (
        await client.post("/console/lrs", headers=admin, data={**fields, "secret": ralph.secret})
    ).status_code == 303
    ok = await client.post("/console/lrs/test", headers=admin)
    assert 'data-testid="lrs-test-ok"' in ok.text and "HTTP 200" in ok.text

    # A sitting queues statements; sent, they are in the log as delivered; a redelivery re-queues one and
    # the LRS, seeing its id again, stores no duplicate.
    [me] = tenant["candidates"]
    await take(client, me)
    pool = await create_pool(app_url, max_size=2)
    try:
        assert await send_due(pool) >= 2
        sent = await _log_and_redeliver(client, admin, pool, ralph)
    finally:
        await pool.close()
    assert sent == 1

    gone = "/console/lrs/statements/00000000-0000-4000-8000-000000000000/redeliver"
    assert (await client.post(gone, headers=admin)).status_code == 404

    # Paused, then removed with its log.
    paused = await client.post(
        "/console/lrs", headers=admin, data={**fields, "secret": ralph.secret, "active": ""}
    )
    assert paused.status_code == 303
    assert 'data-testid="lrs-status">paused<' in (await client.get("/console/lrs", headers=admin)).text
    removed = await client.post("/console/lrs/delete", headers=admin)
    assert removed.status_code == 303 and removed.headers["location"] == "/console/lrs?done=deleted"
    assert (await client.get("/v1/lrs", headers=tenant["admin"])).status_code == 404
    assert (await client.post("/console/lrs/delete", headers=admin)).status_code == 404


async def _log_and_redeliver(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, ralph: Ralph
) -> int:
    """The log after the first send; one statement redelivered; what the second send sent."""
    log = await client.get("/console/lrs", headers=admin)
    verbs = re.findall(r'data-testid="statement-(attempted|completed|scored|voided)"', log.text)
    assert "attempted" in verbs and "completed" in verbs
    assert re.findall(r'data-testid="statement-status">([^<]+)<', log.text) == ["delivered"] * len(verbs)
    stored = len(ralph.statements())
    redeliver = re.search(r'action="(/console/lrs/statements/[0-9a-f-]+/redeliver)"', log.text)
    assert redeliver
    queued = await client.post(redeliver.group(1), headers=admin)
    assert queued.status_code == 303 and queued.headers["location"] == "/console/lrs?done=redeliver"
    after = await client.get(queued.headers["location"], headers=admin)
    assert 'data-testid="statement-queued"' in after.text and ">pending<" in after.text
    sent = await send_due(pool)
    assert len(ralph.statements()) == stored
    return sent
