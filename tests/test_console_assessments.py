"""The console's assessments: the composer, the audience count, check, preview, publish, close, accommodations.

Every check compares the page with what the API's domain functions say for the same data: the stored
document (`assessments.get_assessment`), the draw (`monitor.preview_form`), the audience rule
(`audience.includes`).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from service.assessments import assessments
from service.assessments.audience import includes
from service.assessments.model import AssessmentContent, Audience
from service.auth.principal import Principal
from service.config import Settings
from service.console import sessions
from service.console.assessments import convert, field_of, raw_document, values_of
from service.db.pool import tenant_transaction
from service.delivery import monitor
from service.demo import DEMO_ASSESSMENT, DEMO_FRAMEWORK
from tests.console_helpers import csrf_of, demo_console, sign_in
from tests.test_console_frameworks import _demo_id

POOL = ["CAL-AK-002", "CAL-AK-003", "CAL-AK-004", "CAL-AK-005", "CAL-AA-001", "CAL-AA-002"]


def _pool(http: httpx.AsyncClient) -> Any:
    return http._transport.app.state.runtime.pool  # type: ignore[attr-defined]


async def _csrf(http: httpx.AsyncClient) -> str:
    return csrf_of((await http.get("/console/")).text)


async def _english(http: httpx.AsyncClient) -> str:
    token = await _csrf(http)
    await http.post("/console/language", data={"lang": "en", "csrf_token": token})
    return token


def _composer(token: str, **fields: str) -> dict[str, str]:
    later = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    base = {
        "csrf_token": token,
        "action": "save",
        "code": "console-quiz",
        "title_zh": "控制台测评",
        "title_en": "Console quiz",
        "framework": DEMO_FRAMEWORK,
        "framework_version": "1",
        "section_count": "1",
        "s0_code": "main",
        "s0_items": "CAL-AK-001",
        "s0_pool_items": "\n".join(POOL),
        "s0_pool_draw": "3",
        "s0_balance": "on",
        "time_limit_minutes": "30",
        "attempts_allowed": "2",
        "grace_seconds": "30",
        "feedback": "after_window",
        "closes_at": later,
        "audience_units": "P-C1",
    }
    return {**base, **fields}


def _error(page: str, name: str) -> str:
    found = re.search(rf'<p class="error" id="{re.escape(name)}-error" role="alert">([^<]*)</p>', page)
    assert found, (name, page)
    return html.unescape(found.group(1))


async def _expected_reach(conn: Any, audience: Audience) -> int:
    """The audience rule applied person by person, as delivery applies it (active people only)."""
    rows = await conn.fetch(
        """SELECT p.external_id, p.category, p.active,
                  coalesce(array_agg(a.code) FILTER (WHERE a.code IS NOT NULL), '{}') AS units
           FROM people p LEFT JOIN org_units u ON u.tenant_id = p.tenant_id AND u.id = p.org_unit_id
           LEFT JOIN org_units a ON a.tenant_id = u.tenant_id AND starts_with(u.path, a.path)
           GROUP BY p.tenant_id, p.id, p.external_id, p.category, p.active"""
    )
    return sum(
        1
        for r in rows
        if r["active"] and includes(audience, r["external_id"], r["category"], set(r["units"]))
    )


async def test_compose_with_a_pool_check_preview_publish_and_close(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _english(http)
        listed = await http.get("/console/assessments")
        assert listed.status_code == 200 and f'data-testid="assessment-{DEMO_ASSESSMENT}"' in listed.text
        assert 'href="/console/assessments" aria-current="page"' in listed.text
        new = await http.get("/console/assessments/-/new")
        assert new.status_code == 200 and 'id="composer"' in new.text

        made = await http.post("/console/assessments/", data=_composer(token))
        assert made.status_code == 303 and made.headers["location"] == "/console/assessments/console-quiz", (
            made.text
        )
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            stored = await assessments.get_assessment(conn, "console-quiz")
            reach = await _expected_reach(conn, Audience(org_units=["P-C1"]))
        content = stored.content
        assert stored.status == "draft" and content.title == {"zh-CN": "控制台测评", "en": "Console quiz"}
        section = content.sections[0]
        assert [r.code for r in section.items] == ["CAL-AK-001"]
        assert section.pool is not None and [r.code for r in section.pool.items] == POOL
        assert section.pool.draw == 3 and section.pool.balance_by_indicator
        assert content.time_limit_minutes == 30 and content.attempts_allowed == 2
        assert content.window.closes_at is not None and content.window.closes_at.utcoffset() == timedelta(
            hours=8
        )
        assert content.audience == Audience(org_units=["P-C1"])

        shown = await http.get("/console/assessments/console-quiz")
        assert shown.status_code == 200 and "CAL-AK-003" in shown.text
        assert f'data-count="{reach}"' in shown.text and reach > 0

        # Save and check: the API's check, nothing wrong.
        checked = await http.post(
            "/console/assessments/console-quiz",
            data=_composer(token, action="check", etag=stored.etag),
        )
        assert checked.status_code == 303 and checked.headers["location"].endswith("?checked=1")
        report = await http.get(checked.headers["location"])
        assert 'data-testid="check-ok"' in report.text, report.text

        # A drawn form before publishing: the delivery's draw, replayed by its seed.
        preview = await http.get("/console/assessments/console-quiz/preview", params={"seed": "7"})
        assert preview.status_code == 200 and 'data-testid="draft-preview"' in preview.text
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            drawn = await monitor.preview_form(conn, "console-quiz", 7)
        refs = re.findall(r'data-testid="previewed-([^"]+)"', preview.text)
        assert refs == [f.view.ref for f in drawn.items] and len(refs) == 4 and refs[0] == "CAL-AK-001"
        assert set(refs[1:]) <= set(POOL)

        current = await http.get("/console/assessments/console-quiz")
        etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', current.text).group(1))
        published = await http.post(
            "/console/assessments/console-quiz/publish", data={"csrf_token": token, "etag": etag}
        )
        assert published.status_code == 303, published.text
        summary = await http.get("/console/assessments/console-quiz")
        assert 'data-testid="status">Published<' in summary.text and 'id="composer"' not in summary.text
        after = await http.get("/console/assessments/console-quiz/preview", params={"seed": "7"})
        assert after.status_code == 200 and 'data-testid="draft-preview"' not in after.text
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            drawn = await monitor.preview_form(conn, "console-quiz", 7)
        assert re.findall(r'data-testid="previewed-([^"]+)"', after.text) == [f.view.ref for f in drawn.items]

        closed = await http.post("/console/assessments/console-quiz/close", data={"csrf_token": token})
        assert closed.status_code == 303
        assert 'data-testid="status">Closed<' in (await http.get("/console/assessments/console-quiz")).text
        # A published (closed) assessment cannot be saved over: the domain's 409, shown on the page.
        again = await http.post("/console/assessments/console-quiz", data=_composer(token, etag=etag))
        assert again.status_code == 409 and "can no longer change" in again.text


async def test_errors_sit_next_to_their_fields(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _english(http)
        # Values msgspec refuses, all named at once, each next to its input.
        bad = await http.post(
            "/console/assessments/",
            data=_composer(token, time_limit_minutes="soon", s0_pool_draw="0", attempts_allowed="999"),
        )
        assert bad.status_code == 422
        assert "Expected `int" in _error(bad.text, "time_limit_minutes")
        assert ">= 1" in _error(bad.text, "s0_pool_draw")
        assert "<= 100" in _error(bad.text, "attempts_allowed")
        assert re.search(r'id="time_limit_minutes"[^>]*aria-invalid="true"', bad.text)
        assert "soon" in bad.text  # what was typed is kept
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            assert not await conn.fetchval("SELECT 1 FROM assessments WHERE code = 'console-quiz'")

        # A draft that converts but fails the check: the check's problems, each at its field.
        past = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        saved = await http.post(
            "/console/assessments/",
            data=_composer(
                token,
                action="check",
                s0_pool_draw="9",
                s0_items="NO-SUCH-ITEM",
                closes_at=past,
                audience_units="P-C1 NOWHERE",
            ),
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("?checked=1")
        page = (await http.get(saved.headers["location"])).text
        assert 'data-testid="check-problems"' in page
        assert _error(page, "s0_pool_draw") == "cannot draw 9 of 6 items"
        assert _error(page, "s0_items") == "no item 'NO-SUCH-ITEM'"
        assert _error(page, "closes_at") == "the window has already closed"
        assert _error(page, "audience_units") == "no org unit 'NOWHERE'"
        # Publishing refuses with the same problems in the same places.
        etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', page).group(1))
        refused = await http.post(
            "/console/assessments/console-quiz/publish", data={"csrf_token": token, "etag": etag}
        )
        assert refused.status_code == 422 and "it stays a draft" in refused.text
        assert _error(refused.text, "s0_pool_draw") == "cannot draw 9 of 6 items"
        # A stale ETag: the domain's 412, above the form.
        stale = await http.post("/console/assessments/console-quiz", data=_composer(token, etag='"0"'))
        assert stale.status_code == 412 and "read it again" in stale.text
        # A taken code: next to the code field.
        taken = await http.post("/console/assessments/", data=_composer(token))
        assert taken.status_code == 422 and _error(taken.text, "code") == "already exists"


async def test_sections_are_added_and_removed_without_saving(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _csrf(http)
        added = await http.post("/console/assessments/", data=_composer(token, action="add_section"))
        assert added.status_code == 200 and 'name="s1_code"' in added.text and 'value="2"' in added.text
        two = _composer(token, section_count="2", s1_code="second", s1_items="CAL-AA-003")
        removed = await http.post("/console/assessments/", data={**two, "action": "remove_section-0"})
        assert removed.status_code == 200 and 'name="s1_code"' not in removed.text
        assert re.search(r'id="s0_code" name="s0_code" type="text" value="second"', removed.text)
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            assert not await conn.fetchval("SELECT 1 FROM assessments WHERE code = 'console-quiz'")


async def test_audience_count_is_the_delivery_rule(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            await conn.execute("UPDATE people SET active = false WHERE external_id = 'demo-0003'")
        cases: list[tuple[dict[str, Any], Audience]] = [
            ({}, Audience()),
            ({"audience_units": "P"}, Audience(org_units=["P"])),
            ({"audience_units": "P-C1"}, Audience(org_units=["P-C1"])),
            ({"audience_units": "P-C1, P-C2-K1"}, Audience(org_units=["P-C1", "P-C2-K1"])),
            ({"audience_categories": ["leading_cadre"]}, Audience(categories=["leading_cadre"])),
            (
                {"audience_units": "P-C1", "audience_categories": ["civil_servant", "teacher"]},
                Audience(org_units=["P-C1"], categories=["civil_servant", "teacher"]),
            ),
            (
                {"audience_people": "demo-0005 demo-0007 nobody"},
                Audience(people=["demo-0005", "demo-0007", "nobody"]),
            ),
            (
                {"audience_units": "P-C2", "audience_people": "demo-0001"},
                Audience(org_units=["P-C2"], people=["demo-0001"]),
            ),
            ({"audience_units": "NOWHERE"}, Audience(org_units=["NOWHERE"])),
        ]
        reached = []
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            for query, audience in cases:
                expected = await _expected_reach(conn, audience)
                reached.append(expected)
                answer = await http.get(
                    "/console/assessments/-/audience", params=query, headers={"HX-Request": "true"}
                )
                assert answer.status_code == 200 and "<html" not in answer.text
                assert f'data-count="{expected}"' in answer.text, (query, expected, answer.text)
        assert reached[0] == 0 and reached[-1] == 0 and len(set(reached)) > 3, reached
        # The org tree picker: roots, then a unit's children.
        roots = (await http.get("/console/assessments/-/org-units")).text
        assert 'data-testid="unit-P"' in roots and 'data-testid="unit-P-C1"' not in roots
        children = (await http.get("/console/assessments/-/org-units", params={"parent": "P"})).text
        assert 'data-testid="unit-P-C1"' in children and 'data-testid="unit-P-C2"' in children
        assert "No units here" in (await http.get("/console/assessments/-/org-units?parent=NOWHERE")).text
        staff = (await http.get("/console/assessments/-/people", params={"under": "P-C1-K1"})).text
        assert 'data-testid="person-demo-0001"' in staff and 'data-add-code="demo-0002"' in staff
        assert "demo-0005" not in staff and "demo-0003" not in staff  # another unit; deactivated above
        assert "Nobody here" in (await http.get("/console/assessments/-/people?under=NOWHERE")).text
        found = (await http.get("/console/assessments/-/items", params={"item_q": "CAL-AK-00"})).text
        assert 'data-testid="found-CAL-AK-001"' in found and 'data-add-code="CAL-AK-001"' in found


async def test_accommodations(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _english(http)
        url = f"/console/assessments/{DEMO_ASSESSMENT}/accommodations"
        empty = await http.get(url)
        assert empty.status_code == 200 and 'data-testid="no-accommodations"' in empty.text
        granted = await http.post(
            url,
            data={
                "csrf_token": token,
                "external_id": "demo-0001",
                "extra_time_factor": "1.5",
                "note": "视力",
            },
        )
        assert granted.status_code == 200 and 'data-testid="accommodation-demo-0001"' in granted.text
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            listed = await assessments.list_accommodations(conn, DEMO_ASSESSMENT, after=None, limit=10)
        assert [(a.external_id, a.extra_time_factor, a.note) for a in listed] == [("demo-0001", 1.5, "视力")]
        nobody = await http.post(
            url, data={"csrf_token": token, "external_id": "nobody", "extra_time_factor": "2"}
        )
        assert nobody.status_code == 422 and _error(nobody.text, "external_id") == "no person 'nobody'"
        too_much = await http.post(
            url, data={"csrf_token": token, "external_id": "demo-0001", "extra_time_factor": "9"}
        )
        assert too_much.status_code == 422 and "<= 4" in _error(too_much.text, "extra_time_factor")
        missing = await http.get("/console/assessments/no-such/accommodations")
        assert missing.status_code == 404 and "no assessment" in missing.text


async def _session(http: httpx.AsyncClient, roles: list[str]) -> tuple[str, str]:
    tenant_id: UUID = await _demo_id(_pool(http))
    principal = Principal("user", "someone", frozenset(roles), tenant_id, "https://idp.example", 0.0)
    async with tenant_transaction(_pool(http), tenant_id) as conn:
        session_id = await sessions.create(conn, principal, "en", idle_seconds=600, max_seconds=3600)
        csrf = await conn.fetchval(
            "SELECT csrf_token FROM console_sessions WHERE id_hash = $1", sessions.id_hash(session_id)
        )
    return session_id, csrf


@pytest.mark.parametrize("persona", ["rater", "analyst", "candidate"])
async def test_readers_and_candidates_cannot_compose(settings: Settings, persona: str) -> None:
    async with demo_console(settings) as http:
        session_id, token = await _session(http, [persona])
        http.cookies.set("assess_console", session_id, path="/console")
        reads = 403 if persona == "candidate" else 200
        assert (await http.get("/console/assessments")).status_code == reads
        assert (await http.get(f"/console/assessments/{DEMO_ASSESSMENT}")).status_code == reads
        assert (await http.get(f"/console/assessments/{DEMO_ASSESSMENT}/preview")).status_code == reads
        assert (await http.get("/console/assessments/-/new")).status_code == 403
        for url, data in (
            ("/console/assessments/", _composer(token)),
            (f"/console/assessments/{DEMO_ASSESSMENT}", _composer(token, code=DEMO_ASSESSMENT)),
            (f"/console/assessments/{DEMO_ASSESSMENT}/publish", {"csrf_token": token, "etag": '"1"'}),
            (f"/console/assessments/{DEMO_ASSESSMENT}/close", {"csrf_token": token}),
            (f"/console/assessments/{DEMO_ASSESSMENT}/delete", {"csrf_token": token}),
            (
                f"/console/assessments/{DEMO_ASSESSMENT}/accommodations",
                {"csrf_token": token, "external_id": "demo-0001", "extra_time_factor": "2"},
            ),
        ):
            refused = await http.post(url, data=data)
            assert refused.status_code == 403, (persona, url, refused.text)
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            assert (await assessments.get_assessment(conn, DEMO_ASSESSMENT)).status == "published"
            assert not await conn.fetchval("SELECT 1 FROM assessments WHERE code = 'console-quiz'")
            assert not await conn.fetchval("SELECT count(*) FROM accommodations")
        if persona != "candidate":  # a reader sees the composition, without the composer
            page = (await http.get(f"/console/assessments/{DEMO_ASSESSMENT}")).text
            assert 'id="composer"' not in page and 'data-testid="close"' not in page


async def test_an_author_may_compose_but_not_grant_accommodations(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "author")
        token = await _csrf(http)
        made = await http.post("/console/assessments/", data=_composer(token))
        assert made.status_code == 303
        refused = await http.post(
            f"/console/assessments/{DEMO_ASSESSMENT}/accommodations",
            data={"csrf_token": token, "external_id": "demo-0001", "extra_time_factor": "2"},
        )
        assert refused.status_code == 403
        page = (await http.get(f"/console/assessments/{DEMO_ASSESSMENT}/accommodations")).text
        assert 'data-testid="grant"' not in page


async def test_assessment_texts_render_inert(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _csrf(http)
        evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
        made = await http.post(
            "/console/assessments/",
            data=_composer(token, title_zh=evil, title_en=evil, s0_title_zh=evil, instructions_zh=evil),
        )
        assert made.status_code == 303
        for url in (
            "/console/assessments",
            "/console/assessments/console-quiz",
            "/console/assessments/console-quiz/preview",
            "/console/assessments/console-quiz/accommodations",
        ):
            page = (await http.get(url)).text
            assert "<script>alert(1)" not in page and "<img src=x" not in page, url
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        # A bad value echoed back is text too.
        echoed = await http.post(
            "/console/assessments/",
            data=_composer(token, code="x", time_limit_minutes='"><script>alert(3)</script>'),
        )
        assert echoed.status_code == 422 and "<script>alert(3)" not in echoed.text


def test_pointers_map_to_inputs() -> None:
    assert field_of("/sections/2/pool/draw") == "s2_pool_draw"
    assert field_of("/sections/0/pool/items/3/code") == "s0_pool_items"
    assert field_of("/sections/1/items/0/code") == "s1_items"
    assert field_of("/sections/1") == "s1_section"
    assert field_of("/framework/version") == "framework_version"
    assert field_of("/window/closes_at") == "closes_at"
    assert field_of("/audience/people/2") == "audience_people"
    assert field_of("/audience") == "audience"
    assert field_of("/marking/double") == ""


def test_the_form_is_the_apis_document() -> None:
    """The composer's fields convert to the very document a JSON body would (msgspec, strict as the API)."""
    zone = ZoneInfo("Asia/Shanghai")
    data = _composer("t", opens_at="2030-01-02T09:00", closes_at="2030-01-03T09:00", s0_items="A@2, B")
    content, problems = convert(raw_document(data, {"audience_categories": ["teacher"]}, zone, None))
    assert problems == [] and content is not None
    body = msgspec.json.decode(msgspec.json.encode(content))
    assert body["sections"][0]["items"] == [{"code": "A", "version": 2}, {"code": "B"}]
    assert body["window"]["opens_at"] == "2030-01-02T09:00:00+08:00"
    assert body["audience"] == {"org_units": ["P-C1"], "categories": ["teacher"]}
    assert content.window.opens_at == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)


def test_the_composer_keeps_unscored_pretest_items() -> None:
    """`CODE*` is an item flagged unscored (issue 20): it goes into the document and back into the form."""
    zone = ZoneInfo("Asia/Shanghai")
    data = _composer("t", s0_items="A@2, P1*, P2@3*", s0_pool_items="Q1\nQ2*", s0_pool_draw="1")
    content, problems = convert(raw_document(data, {}, zone, None))
    assert problems == [] and content is not None
    body = msgspec.json.decode(msgspec.json.encode(content))
    assert body["sections"][0]["items"] == [
        {"code": "A", "version": 2},
        {"code": "P1", "unscored": True},
        {"code": "P2", "version": 3, "unscored": True},
    ]
    assert body["sections"][0]["pool"]["items"] == [{"code": "Q1"}, {"code": "Q2", "unscored": True}]
    values = values_of(content, zone)
    assert values["s0_items"] == "A@2\nP1*\nP2@3*" and values["s0_pool_items"] == "Q1\nQ2*"


async def test_pages_with_an_object_key_carry_the_strict_policy(settings: Settings) -> None:
    """test_console_auth walks the routes without a path parameter; these are the ones with one."""
    async with demo_console(settings) as http:
        await sign_in(http)
        for url in (
            f"/console/assessments/{DEMO_ASSESSMENT}",
            f"/console/assessments/{DEMO_ASSESSMENT}/preview",
            f"/console/assessments/{DEMO_ASSESSMENT}/accommodations",
            "/console/assessments/no-such",
        ):
            response = await http.get(url)
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "unsafe-inline" not in csp, url
            assert response.headers["x-frame-options"] == "DENY", url
            assert "<script>" not in response.text and " style=" not in response.text, url


async def test_enter_in_a_field_saves(settings: Settings) -> None:
    """The composer's first submit button (what Enter in a field presses) saves; it is not "remove section"."""
    async with demo_console(settings) as http:
        await sign_in(http)
        page = (await http.get("/console/assessments/-/new")).text
        form = page[page.index('<form method="post" action="/console/assessments/"') :]
        first = re.search(r'<button type="submit"[^>]*>', form)
        assert first and 'name="action" value="save"' in first.group(0), first


async def test_console_messages_are_the_apis(settings: Settings, service_keys: Any) -> None:
    """A bad value gets, word for word, the `errors[].detail` POST /v1/assessments gives for the same value;
    a check problem is the one POST .../check reports."""
    from tests.helpers import user

    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _english(http)
        author = {**user(service_keys, await _demo_id(_pool(http)), ["author"]), "Accept-Language": "en"}
        body = {
            "code": "api-twin",
            "title": {"en": "Twin"},
            "framework": {"code": DEMO_FRAMEWORK, "version": 1},
            "sections": [{"code": "main", "pool": {"items": [{"code": c} for c in POOL], "draw": 0}}],
            "audience": {"org_units": ["P-C1"]},
        }
        for field, value, form in (
            ("s0_pool_draw", 0, {"s0_pool_draw": "0", "s0_items": ""}),
            ("attempts_allowed", 999, {"attempts_allowed": "999"}),
        ):
            sent = body if field == "s0_pool_draw" else {**body, "attempts_allowed": value}
            if field != "s0_pool_draw":
                sent = {**sent, "sections": [{"code": "main", "items": [{"code": "CAL-AK-001"}]}]}
            api = await http.post("/v1/assessments", json=sent, headers=author)
            assert api.status_code == 400, api.text  # the body's rule (ge=1, le=100)
            page = await http.post("/console/assessments/", data=_composer(token, **form))
            assert page.status_code == 422
            assert _error(page.text, field) == api.json()["errors"][0]["detail"], (field, api.text)
        # A check problem: the API's report on the same stored draft.
        saved = await http.post(
            "/console/assessments/", data=_composer(token, action="check", s0_pool_draw="9")
        )
        checked = (await http.get(saved.headers["location"])).text
        report = await http.post("/v1/assessments/console-quiz/check", headers=author)
        details = [p["detail"] for p in report.json()["problems"] if p["pointer"] == "/sections/0/pool/draw"]
        assert details and _error(checked, "s0_pool_draw") == " ".join(details)


async def test_garbage_in_every_field_is_named_never_a_500(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = await _english(http)
        garbage = {
            "code": "bad code!",
            "title_zh": "",
            "title_en": "",
            "framework": "",
            "framework_version": "abc",
            "time_limit_minutes": "-5",
            "attempts_allowed": "x",
            "grace_seconds": "9999",
            "feedback": "sometimes",
            "opens_at": "tomorrow",
            "closes_at": "2026-13-45T99:99",
            "section_count": "99",
            "s0_code": "",
            "s0_items": "ok-1 bad!code ok@x",
            "s0_pool_items": "",
            "s0_pool_draw": "many",
            "audience_categories": "nonsense",
        }
        answer = await http.post("/console/assessments/", data=_composer(token, **garbage))
        assert answer.status_code == 422, answer.text
        for field in (
            "code",
            "title",
            "framework_version",
            "time_limit_minutes",
            "attempts_allowed",
            "grace_seconds",
            "feedback",
            "opens_at",
            "closes_at",
            "s0_items",
            "s0_pool_draw",
            "audience_categories",
        ):
            assert _error(answer.text, field), field
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            assert await conn.fetchval("SELECT count(*) FROM assessments") == 2  # the demo's two


def _adaptive_draft(code: str) -> dict[str, Any]:
    """A draft with a fixed section (one item unscored), an adaptive one with every setting and a
    pretest, and a pool section after it: what the API accepts and the composer must not lose."""
    return {
        "code": code,
        "title": {"zh-CN": "自适应草稿", "en": "Adaptive draft"},
        "framework": {"code": DEMO_FRAMEWORK, "version": 1},
        "sections": [
            {"code": "warm", "items": [{"code": "CAL-AK-001"}, {"code": "CAL-AK-002", "unscored": True}]},
            {
                "code": "cat",
                "title": {"zh-CN": "自适应", "en": "Adaptive"},
                "shuffle_items": True,
                "adaptive": {
                    "items": [{"code": c} for c in POOL],
                    "calibration": "0b6f8a52-7d1e-4c59-9a57-3c1f3d0e2a11",
                    "dimension": "AK",
                    "min_items": 2,
                    "max_items": 4,
                    "target_se": 0.35,
                    "randomesque": 3,
                    "blueprint": {"AK.1": 0.25},
                    "pretest": {
                        "items": [{"code": "CAL-AA-003"}, {"code": "CAL-AA-004", "version": 1}],
                        "count": 2,
                    },
                },
            },
            {
                "code": "tail",
                "pool": {
                    "items": [{"code": "CAL-AA-005"}, {"code": "CAL-AA-006", "unscored": True}],
                    "draw": 1,
                },
            },
        ],
        "audience": {"org_units": ["P-C1"]},
    }


def _composer_fields(page: str) -> list[tuple[str, str]]:
    """What a browser posts for the composer (a checked box without a value sends "on"), no button."""
    from tests.test_console_framework_editor import _Form

    parser = _Form("composer")
    parser.feed(page)
    boxes = set(re.findall(r'<input id="[^"]+" name="([^"]+)" type="checkbox"', page))
    return [
        (n, v or "on" if n in boxes else v) for n, v in parser.fields if n not in ("item_q", "item_indicator")
    ]


async def _post_fields(http: httpx.AsyncClient, url: str, fields: list[tuple[str, str]]) -> httpx.Response:
    """The form's fields as a browser posts them (repeated names kept)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await http.post(url, content=urlencode(fields).encode(), headers=headers)


async def _stored_sections(http: httpx.AsyncClient, code: str) -> list[str]:
    """Each stored section as PostgreSQL's own text of its jsonb."""
    async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
        row = await conn.fetchval(
            "SELECT array_agg(s::text ORDER BY n) FROM assessments, jsonb_array_elements(content->'sections')"
            " WITH ORDINALITY AS t(s, n) WHERE code = $1",
            code,
        )
    return list(row)


async def test_saving_through_the_composer_keeps_adaptive_sections_byte_identical(settings: Settings) -> None:
    """An adaptive section is shown read-only with its settings (pretest too) and saved exactly as stored,
    however the rest of the form changes; the composer never makes one up."""
    async with demo_console(settings) as http:
        await sign_in(http)
        await _english(http)
        content = msgspec.convert(_adaptive_draft("cat-draft"), AssessmentContent)
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            await assessments.create_assessment(conn, content)
        before = await _stored_sections(http, "cat-draft")

        page = await http.get("/console/assessments/cat-draft")
        assert page.status_code == 200
        text = page.text
        assert 'data-testid="adaptive-cat"' in text and 'data-testid="pretest-cat"' in text
        assert "2 items per attempt" in text and "CAL-AA-004@1" in text and "0b6f8a52-7d1e" in text
        assert "PUT /v1/assessments/cat-draft" in text
        assert 'name="s1_adaptive_of" value="cat"' in text and 'name="s1_items"' not in text
        fields = _composer_fields(text)
        assert ("s0_items", "CAL-AK-001\nCAL-AK-002*") in fields

        # Saved as shown, then with the title changed: the adaptive section stays byte for byte.
        for changes in ({}, {"title_en": "Adaptive draft, renamed"}):
            posted = [(n, changes.get(n, v)) for n, v in fields] + [("action", "save")]
            saved = await _post_fields(http, "/console/assessments/cat-draft", posted)
            assert saved.status_code == 303, saved.text
            after = await _stored_sections(http, "cat-draft")
            assert after == before
            page = await http.get("/console/assessments/cat-draft")
            fields = _composer_fields(page.text)
        async with tenant_transaction(_pool(http), await _demo_id(_pool(http))) as conn:
            stored = await assessments.get_assessment(conn, "cat-draft")
        assert stored.content.title["en"] == "Adaptive draft, renamed"
        assert msgspec.to_builtins(stored.content.sections) == msgspec.to_builtins(content.sections)

        # The section before it removed (a button, nothing saved), then saved: the adaptive one moves up intact.
        removed = await _post_fields(
            http, "/console/assessments/cat-draft", [*fields, ("action", "remove_section-0")]
        )
        assert removed.status_code == 200 and 'name="s0_adaptive_of" value="cat"' in removed.text
        fields = _composer_fields(removed.text)
        saved = await _post_fields(http, "/console/assessments/cat-draft", [*fields, ("action", "save")])
        assert saved.status_code == 303, saved.text
        assert await _stored_sections(http, "cat-draft") == before[1:]

        # An adaptive section the stored draft does not hold is refused next to its section.
        forged = [(n, v) for n, v in fields if n != "section_count"] + [
            ("section_count", "3"),
            ("s2_adaptive_of", "made-up"),
            ("action", "save"),
        ]
        refused = await _post_fields(http, "/console/assessments/cat-draft", forged)
        assert refused.status_code == 422
        assert "adaptive section 'made-up' is not in the stored draft" in _error(refused.text, "s2_section")
        assert await _stored_sections(http, "cat-draft") == before[1:]
