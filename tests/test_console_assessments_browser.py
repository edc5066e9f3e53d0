"""An admin composes and publishes an assessment with a pool, in a real browser signed in through OIDC.

The sign-in is the real flow against a loopback OpenID provider (tests/test_console_oidc.py's fake,
given an authorization page that approves at once, as a provider does for a user already signed in
there), not the demo provider. Then: the composer (an item found with the item finder, a pool, a
unit picked from the org tree with the audience count following), save and check, a drawn form,
publish, the summary, sign out. axe-core checks each screen. Screenshots go to a temporary
directory, or to $CONSOLE_SCREENSHOTS (the README's are made with
`CONSOLE_SCREENSHOTS=docs/screenshots ./dev test -n 0 tests/test_console_assessments_browser.py`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, get
from litestar.response import Redirect

from service.auth.keys import ServiceKeys
from service.items.samples import sample_bank
from tests.browser import OfflinePage, browser_page, live_service  # noqa: F401  (fixtures)
from tests.helpers import IdentityProvider, make_tenant, operator, user
from tests.test_console_browser import _axe
from tests.test_console_oidc import CLIENT_ID, FakeProvider, on_loopback

FRAMEWORK = "cadre-ai-literacy"


class SignedInProvider(FakeProvider):
    """The fake provider with an authorization page: the user is already signed in there as `subject`."""

    subject, roles = "admin-zhang", "tenant_admin author"

    def app(self) -> Litestar:
        base = super().app()

        @get("/authorize")
        async def authorize(request: Request) -> Redirect:
            query = request.query_params
            assert query.get("client_id") == CLIENT_ID and query.get("code_challenge_method") == "S256"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": query["code_challenge"],
                "nonce": query["nonce"],
                "subject": self.subject,
                "roles": self.roles,
            }
            return Redirect(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}")

        base.register(authorize)
        return base


@pytest.fixture
async def signed_in_provider() -> AsyncIterator[FakeProvider]:
    """As tests/test_console_oidc.py's `provider` fixture, with the authorization page."""
    async with on_loopback(SignedInProvider(IdentityProvider("https://idp.region.example"))) as fake:
        yield fake


async def _tenant(base_url: str, keys: ServiceKeys, fake: FakeProvider) -> None:
    """Tenant `region` trusting the fake provider for the console, with a published framework, its sample
    items, a small org tree and people."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        tenant = await make_tenant(http, keys, "region")
        made = await http.post(
            "/v1/tenants/region/issuers",
            headers=operator(keys),
            json={
                "issuer": fake.idp.issuer,
                "audience": CLIENT_ID,
                "jwks": fake.idp.jwks(),
                "roles_claim": "roles",
                "default_roles": [],
                "allowed_roles": ["tenant_admin", "author", "rater"],
                "discovery_url": f"{fake.base}/.well-known/openid-configuration",
                "console_client_id": CLIENT_ID,
            },
        )
        assert made.status_code == 201, made.text
        admin = user(keys, tenant["id"], ["tenant_admin", "author"])
        for unit in (
            {"code": "GZ", "name": "贵州省", "level": "province"},
            {"code": "GZ-GY", "name": "贵阳市", "level": "city", "parent_code": "GZ"},
            {"code": "GZ-ZY", "name": "遵义市", "level": "city", "parent_code": "GZ"},
        ):
            assert (await http.post("/v1/org-units", json=unit, headers=admin)).status_code == 201
        rows = [
            {
                "external_id": f"p-{i:03d}",
                "org_unit_code": ("GZ-GY", "GZ-ZY")[i % 2],
                "category": "civil_servant",
            }
            for i in range(12)
        ]
        assert (await http.post("/v1/people/bulk", json={"people": rows}, headers=admin)).status_code == 200
        assert (
            await http.post("/v1/frameworks", json={"template": FRAMEWORK}, headers=admin)
        ).status_code == 201
        etag = (await http.get(f"/v1/frameworks/{FRAMEWORK}/versions/1", headers=admin)).headers["etag"]
        published = await http.post(
            f"/v1/frameworks/{FRAMEWORK}/versions/1/publish", headers={**admin, "If-Match": etag}
        )
        assert published.status_code == 200, published.text
        items = msgspec.to_builtins(sample_bank(FRAMEWORK).items)
        imported = await http.post("/v1/items/import", json={"items": items}, headers=admin)
        assert imported.status_code == 200, imported.text


async def test_admin_composes_previews_and_publishes_an_assessment_with_a_pool(
    live_service: str,
    browser_page: OfflinePage,
    signed_in_provider: FakeProvider,
    service_keys: ServiceKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    wanted = os.environ.get("CONSOLE_SCREENSHOTS")
    shots = Path(wanted) if wanted else tmp_path_factory.mktemp("assessment-screens")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    await _tenant(live_service, service_keys, signed_in_provider)
    page = browser_page.page

    # Sign in through the region's provider: discovery, code + PKCE, back on the console's home.
    await page.goto(live_service + "/console/login?tenant=region&lang=zh-CN")
    await page.wait_for_url(live_service + "/console")
    assert await page.text_content('[data-testid="user"]') == "admin-zhang"

    # The list, then a new assessment.
    await page.click('nav a[href="/console/assessments"]')
    await page.wait_for_url("**/console/assessments")
    await _axe(page, "assessment list")
    await page.click('[data-testid="new-assessment"]')
    await page.wait_for_url("**/console/assessments/-/new")
    await page.fill("#code", "gz-ai-2026")
    await page.fill("#title_zh", "贵州省干部人工智能素养测评")
    await page.fill("#title_en", "Guizhou cadre AI literacy")
    await page.select_option("#framework", FRAMEWORK)
    await page.fill("#framework_version", "1")
    await page.fill("#time_limit_minutes", "40")

    # A fixed item found with the item finder (htmx), added by its button (assessments.js).
    await page.click("#item-finder summary")
    await page.fill("#item_q", "CAL-AK-001")
    await page.press("#item_q", "Enter")  # searches (assessments.js), does not submit the composer
    await page.wait_for_selector('[data-testid="found-CAL-AK-001"]')
    await page.select_option("#finder-target", "s0_items")
    await page.click('[data-testid="found-CAL-AK-001"] button')
    assert await page.input_value("#s0_items") == "CAL-AK-001"
    # A pool drawing 3 of 6, balanced over indicators.
    await page.fill(
        "#s0_pool_items", "CAL-AK-002\nCAL-AK-003\nCAL-AK-004\nCAL-AK-005\nCAL-AA-001\nCAL-AA-002"
    )
    await page.fill("#s0_pool_draw", "3")
    # The audience from the org tree: the count follows (htmx, from the same count the server uses).
    await page.click("#unit-tree summary")
    await page.wait_for_selector('[data-testid="unit-GZ"]')
    await page.click('[data-testid="unit-GZ"] button:has-text("展开")')
    await page.wait_for_selector('[data-testid="unit-GZ-GY"]')
    await page.click('[data-testid="unit-GZ-GY"] button:has-text("添加")')
    await page.wait_for_selector('[data-testid="audience-count"][data-count="6"]')
    await page.check("#cat-teacher")  # the unit's people are civil servants: nobody is left
    await page.wait_for_selector('[data-testid="audience-count"][data-count="0"]')
    await page.uncheck("#cat-teacher")
    await page.check("#cat-civil_servant")
    await page.wait_for_selector('[data-testid="audience-count"][data-count="6"]')
    # One more person by name, from another unit's people.
    await page.click('[data-testid="unit-GZ-ZY"] button:has-text("人员")')
    await page.wait_for_selector('[data-testid="person-p-001"]')
    await page.click('[data-testid="person-p-001"] button')
    await page.wait_for_selector('[data-testid="audience-count"][data-count="7"]')
    assert await page.input_value("#audience_people") == "p-001"
    await _axe(page, "composer")
    await page.locator("#sections").screenshot(path=str(shots / "console-assessment-sections.png"))
    await page.locator("#audience").screenshot(path=str(shots / "console-assessment-audience.png"))

    # Save and check: no problems.
    await page.click('[data-testid="check"]')
    await page.wait_for_selector('[data-testid="check-ok"]')
    assert page.url.endswith("/console/assessments/gz-ai-2026?checked=1")

    # A drawn form before publishing.
    await page.click('[data-testid="preview"]')
    await page.wait_for_selector('[data-testid="draft-preview"]')
    assert await page.locator('li[data-testid^="previewed-"]').count() == 4
    await _axe(page, "preview")
    await page.screenshot(
        path=str(shots / "console-assessment-preview.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": 640},
    )
    await page.go_back()

    # Publish: the summary, its status and audience.
    await page.wait_for_selector('[data-testid="publish"]')
    await page.click('[data-testid="publish"]')
    await page.wait_for_selector('[data-testid="status"]:has-text("已发布")')
    assert await page.get_attribute('[data-testid="audience-count"]', "data-count") == "7"
    await _axe(page, "published assessment")
    await page.screenshot(path=str(shots / "console-assessment-published.png"))

    # Sign out: back at the sign-in page, the console closed.
    await page.click('[data-testid="logout"]')
    await page.wait_for_url("**/console/login")
    await page.goto(live_service + "/console/assessments")
    assert page.url.endswith("/console/login")
    browser_page.assert_offline()
    assert browser_page.console_errors == [], browser_page.console_errors
