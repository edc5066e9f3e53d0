"""The candidate's credentials in the /take client, in a real phone-sized Chromium: after a final score
issues Open Badges credentials, the list shows each one (the achievement in zh-CN, its level and dates)
with the VC-JWT to download, the same bytes `GET /v1/me/credentials/{id}/file` answers with. axe checks
the screen."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from service.auth.issue import issue_token
from service.auth.keys import ServiceKeys
from service.config import Settings
from service.demo import DEMO_CANDIDATE
from tests.test_console_browser import _axe
from tests.test_take_browser import (  # noqa: F401  (fixtures)
    Phone,
    _publish_quiz,
    demo_tenant,
    live_service,
    phones,
    settings,
)

ISSUER = {
    "name": {"zh-CN": "示范省教育厅", "en": "Demo Department of Education"},
    "url": "https://assess.example.gov.cn",
}


def _bearer(settings: Settings, tenant_id: UUID, subject: str, roles: list[str]) -> dict[str, str]:
    token = issue_token(
        ServiceKeys.load(settings.keys_file),
        issuer=settings.service_issuer,
        audience=settings.service_audience,
        kind="user",
        subject=subject,
        roles=roles,
        tenant_id=tenant_id,
    )
    return {"Authorization": f"Bearer {token}"}


async def _earn_credentials(base: str, settings: Settings, tenant_id: UUID) -> list[dict[str, Any]]:
    """Credentials on for take-quiz (overall from L1); the demo candidate sits it over the API."""
    await _publish_quiz(base, settings, tenant_id)
    admin = _bearer(settings, tenant_id, "demo-admin", ["tenant_admin"])
    me = _bearer(settings, tenant_id, DEMO_CANDIDATE, ["candidate"])
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        assert (await http.put("/v1/credential-issuer", json=ISSUER, headers=admin)).status_code == 200
        on = {"enabled": True, "overall": "L1"}
        put = await http.put("/v1/assessments/take-quiz/credential-settings", json=on, headers=admin)
        assert put.status_code == 200, put.text
        started = await http.post("/v1/me/assessments/take-quiz/attempts", json={}, headers=me)
        attempt = started.json()["attempt"]["id"]
        answer = {"revision": 1, "answer": {"choice": "c"}}
        await http.put(f"/v1/me/attempts/{attempt}/answers/T-SC-1", json=answer, headers=me)
        assert (await http.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
        mine = (await http.get("/v1/me/credentials", headers=me)).json()
        assert mine, "the sitting earned no credential"
        for credential in mine:
            file = await http.get(f"/v1/me/credentials/{credential['id']}/file", headers=me)
            assert file.status_code == 200 and file.text == credential["credential"]
    return list(mine)


async def test_a_candidate_sees_and_downloads_their_credentials(
    demo_tenant: UUID, live_service: str, settings: Settings, phones: Phone
) -> None:
    mine = await _earn_credentials(live_service, settings, demo_tenant)
    _, phone = await phones()
    page = phone.page
    await page.goto(live_service + "/take/")
    await page.tap('[data-testid="sign-in"]')
    await page.wait_for_url("**/console/demo-idp/authorize?**")
    await page.tap(f'[data-testid="persona-{DEMO_CANDIDATE}"]')
    await page.wait_for_selector("[data-credential]")
    assert await page.locator("[data-credential]").count() == len(mine)
    for credential in mine:
        card = page.locator(f'[data-credential="{credential["id"]}"]')
        assert await card.locator("h3").text_content() == credential["display"]["zh-CN"]["achievement"]
        assert credential["display"]["zh-CN"]["level"] in (await card.text_content() or "")
        async with page.expect_download() as downloading:
            await card.locator(f'[data-testid="download-{credential["id"]}"]').tap()
        download = await downloading.value
        assert download.suggested_filename == f"credential-{credential['id']}.jwt"
        saved = await asyncio.to_thread(Path(await download.path()).read_text)
        assert saved == credential["credential"]
    await _axe(page, "my assessments with credentials")
    phone.assert_offline()
    assert phone.console_errors == [], phone.console_errors
