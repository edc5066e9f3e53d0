"""The console's item bank list: the REST search's filters, messages and pagination, as a page."""

from __future__ import annotations

import html
import re

import msgspec

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.console.items import checked_filters
from service.db.pool import tenant_transaction
from service.demo import DEMO_FRAMEWORK
from service.items import bank
from service.items.samples import sample_bank
from tests.console_helpers import csrf_of, demo_console, sign_in
from tests.helpers import user
from tests.test_console_frameworks import _demo_id


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="item-([^"]+)">', page)


async def test_list_filters_and_pages_like_the_api(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        app = http._transport.app  # type: ignore[attr-defined]
        pool = app.state.runtime.pool
        async with tenant_transaction(pool, await _demo_id(pool)) as conn:
            await bank.set_status(conn, "CAL-AK-002", "retired")

            async def search(**filters: str | None) -> list[str]:
                base = {"framework": None, "indicator": None, "type_": None, "status": None, "text": None}
                found = await bank.search_items(conn, **{**base, **filters}, after=None, limit=500)
                return [i.code for i in found]

            everything = await search()
            by_framework = await search(framework=DEMO_FRAMEWORK)
            by_indicator = await search(indicator="AK.1")
            by_type = await search(type_="ordering")
            retired = await search(status="retired")
            by_text = await search(text="CAL-AK-00")
        assert by_framework and by_indicator and by_type and by_text and retired == ["CAL-AK-002"]

        first = await http.get("/console/items")
        assert (
            first.status_code == 200
            and 'aria-current="page"' in first.text
            and "/console/items" in first.text
        )
        assert _rows(first.text) == everything[:50] and "50 items on this page" in first.text
        assert (
            "You ask a large model the same question twice" in first.text
        )  # the stem, in the session's language
        # The next page: a link carrying the filters and the cursor, answered with the rest.
        link = html.unescape(re.search(r'<a href="([^"]+)"[^>]*data-testid="next-page"', first.text).group(1))
        second = await http.get(link)
        assert _rows(second.text) == everything[50:100] and "First page" in second.text
        # The link keeps the filters.
        framework = (await http.get("/console/items", params={"framework": DEMO_FRAMEWORK})).text
        link = html.unescape(re.search(r'<a href="([^"]+)"[^>]*data-testid="next-page"', framework).group(1))
        assert (
            f"framework={DEMO_FRAMEWORK}" in link
            and _rows((await http.get(link)).text) == by_framework[50:100]
        )
        for params, expected in (
            ({"framework": DEMO_FRAMEWORK}, by_framework),
            ({"indicator": "AK.1"}, by_indicator),
            ({"type": "ordering"}, by_type),
            ({"q": "cal-ak-00"}, by_text),
            ({"status": "retired"}, retired),
        ):
            shown = await http.get(
                "/console/items", params={**params, "framework": params.get("framework", "")}
            )
            assert shown.status_code == 200 and _rows(shown.text) == expected[:50], params
        one = (await http.get("/console/items?status=retired")).text
        assert "<td>Retired</td>" in one and "1 item on this page" in one
        assert 'data-testid="no-items"' in (await http.get("/console/items?q=no-such-text")).text
        await http.post("/console/language", data={"lang": "zh-CN", "csrf_token": csrf_of(first.text)})
        zh = (await http.get("/console/items?q=CAL-AK-001")).text
        assert "同一个问题连续问大模型两次" in zh and "本页 1 道题" in zh
        # From htmx: the results fragment alone, with the error slots swapped out of band.
        fragment = await http.get(
            "/console/items", params={"type": "ordering"}, headers={"HX-Request": "true"}
        )
        assert "HX-Request" in fragment.headers["vary"]
        assert (
            fragment.text.lstrip().startswith('<section id="item-results"') and "<html" not in fragment.text
        )
        assert (
            _rows(fragment.text) == by_type
            and 'id="type-error" role="alert" hx-swap-oob="true"' in fragment.text
        )


async def test_bad_filters_get_the_apis_message_next_to_their_field(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        token = csrf_of((await http.get("/console/")).text)
        await http.post("/console/language", data={"lang": "en", "csrf_token": token})
        bad = await http.get(
            "/console/items", params={"type": "essay", "indicator": "not a code!", "q": "x" * 201}
        )
        assert bad.status_code == 422 and _rows(bad.text) == []
        for name in ("type", "indicator", "q"):
            shown = re.search(rf'id="{name}-error" role="alert">([^<]+)<', bad.text)
            assert shown, (name, bad.text)
            assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', bad.text), name
        # The API's own message, with its list of the types.
        assert "Invalid enum value &#39;essay&#39;; allowed: &#39;likert&#39;" in bad.text
        cursor = await http.get("/console/items", params={"cursor": "nonsense"})
        assert cursor.status_code == 422 and "not a cursor from this list" in cursor.text
        # htmx: the message arrives in the out-of-band error slot.
        hx = await http.get("/console/items", params={"status": "gone"}, headers={"HX-Request": "true"})
        assert hx.status_code == 422 and re.search(
            r'id="status-error" role="alert" hx-swap-oob="true">[^<]+<', hx.text
        )


async def test_console_messages_are_the_apis(settings: Settings, service_keys: ServiceKeys) -> None:
    """A bad filter gets, word for word, the `errors[].detail` GET /v1/items gives for the same value."""
    async with demo_console(settings) as http:
        pool = http._transport.app.state.runtime.pool  # type: ignore[attr-defined]
        analyst = user(service_keys, await _demo_id(pool), ["analyst"])
        for name, value in (
            ("type", "essay"),
            ("indicator", "not a code!"),
            ("q", "x" * 201),
            ("framework", "-bad"),
            ("status", "gone"),
        ):
            _, errors = checked_filters({name: value}, "en")
            answer = await http.get("/v1/items", params={name: value}, headers=analyst)
            assert answer.status_code == 400, answer.text
            assert errors == {name: [e["detail"] for e in answer.json()["errors"]]}, (
                name,
                errors,
                answer.text,
            )


async def test_a_rater_may_read_the_list(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "rater")
        listed = await http.get("/console/items?type=likert")
        assert listed.status_code == 200 and _rows(listed.text)


async def test_item_texts_render_inert(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        pool = http._transport.app.state.runtime.pool  # type: ignore[attr-defined]
        evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
        item = sample_bank(DEMO_FRAMEWORK).items[0]
        async with tenant_transaction(pool, await _demo_id(pool)) as conn:
            current = await bank.get_item(conn, item.code)
            await bank.update_item(
                conn, item.code, msgspec.structs.replace(item, stem={"zh-CN": evil, "en": evil}), current.etag
            )
        page = (await http.get("/console/items", params={"q": item.code})).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
