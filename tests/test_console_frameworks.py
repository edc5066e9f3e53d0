"""The console's first screens: the framework list and the template gallery, adopting through the domain function."""

from __future__ import annotations

import re

from service.config import Settings
from service.db.pool import tenant_transaction
from service.demo import DEMO_SLUG
from service.rubrics import frameworks
from service.rubrics.frameworks import Adopt
from tests.console_helpers import csrf_of, demo_console, sign_in

TEMPLATE = "teacher-digital-literacy"


async def test_gallery_lists_templates_in_the_session_language(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        gallery = await http.get("/console/templates")
        assert gallery.status_code == 200 and 'data-testid="template-cadre-ai-literacy"' in gallery.text
        token = csrf_of(gallery.text)
        await http.post("/console/language", data={"lang": "zh-CN", "csrf_token": token})
        zh = (await http.get("/console/templates")).text
        assert "模板库" in zh and "采用" in zh


async def test_adopt_creates_the_framework_as_the_api_would(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = csrf_of((await http.get("/console/templates")).text)
        adopted = await http.post(
            "/console/templates/adopt",
            data={"template": TEMPLATE, "code": "teachers-2027", "csrf_token": token},
        )
        assert adopted.status_code == 303 and adopted.headers["location"] == "/console/frameworks"
        listed = await http.get("/console/frameworks")
        assert 'data-testid="framework-teachers-2027"' in listed.text
        # A code that is taken: the API's message, next to the code field, and nothing more is created.
        again = await http.post(
            "/console/templates/adopt",
            data={"template": TEMPLATE, "code": "teachers-2027", "csrf_token": token},
        )
        assert again.status_code == 422
        assert re.search(r'id="code-teacher-digital-literacy-error">already exists<', again.text), again.text
        bad = await http.post(
            "/console/templates/adopt", data={"template": TEMPLATE, "code": "bad code!", "csrf_token": token}
        )
        assert bad.status_code == 422 and 'id="code-teacher-digital-literacy-error"' in bad.text


async def test_rater_sees_frameworks_but_cannot_adopt(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "rater")
        gallery = await http.get("/console/templates")
        assert gallery.status_code == 200 and "/console/templates/adopt" not in gallery.text
        token = csrf_of(gallery.text)
        refused = await http.post(
            "/console/templates/adopt", data={"template": TEMPLATE, "code": "r1", "csrf_token": token}
        )
        assert refused.status_code == 403  # the API's own write guard (service/api/frameworks.py)


async def test_authored_text_renders_inert(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        app = http._transport.app  # type: ignore[attr-defined]
        pool = app.state.runtime.pool
        evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
        async with tenant_transaction(pool, await _demo_id(pool)) as conn:
            await frameworks.adopt_template(
                conn, Adopt(template=TEMPLATE, code="xss", title={"zh-CN": evil, "en": evil})
            )
        page = (await http.get("/console/frameworks")).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page


async def _demo_id(pool):  # type: ignore[no-untyped-def]
    from service.db.pool import auth_lookup_transaction

    async with auth_lookup_transaction(pool) as conn:
        return await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", DEMO_SLUG)


async def test_adopt_from_htmx_answers_with_a_redirect_or_the_card(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = csrf_of((await http.get("/console/templates")).text)
        htmx = {"HX-Request": "true", "X-CSRF-Token": token}
        done = await http.post(
            "/console/templates/adopt", data={"template": TEMPLATE, "code": "hx-1"}, headers=htmx
        )
        assert done.status_code == 200 and done.headers["hx-redirect"] == "/console/frameworks"
        taken = await http.post(
            "/console/templates/adopt", data={"template": TEMPLATE, "code": "hx-1"}, headers=htmx
        )
        assert (
            taken.status_code == 422 and taken.text.lstrip().startswith("<li") and "<html" not in taken.text
        )
        assert 'id="code-teacher-digital-literacy-error"' in taken.text


async def test_a_role_refusal_is_a_page_with_the_console_around_it(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "rater")
        token = csrf_of((await http.get("/console/")).text)
        refused = await http.post(
            "/console/templates/adopt", data={"template": TEMPLATE, "csrf_token": token}
        )
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
        assert (
            'data-testid="logout"' in refused.text and "tenant_admin" in refused.text
        )  # the guard's own message
