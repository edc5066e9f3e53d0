"""The framework editor over HTTP: every route renders, saves through the domain functions the REST
API calls, shows problems next to their fields, publishes, diffs, and exchanges CASE files; raters
and candidates cannot write, and authored text is always text."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any
from uuid import UUID

import httpx
import msgspec

from service.auth.principal import Principal
from service.config import Settings
from service.console import sessions
from service.console.framework_form import merged, on_page, page_fields
from service.console.frameworks import document_from_form, dom_id, place, slots
from service.db.pool import auth_lookup_transaction, tenant_transaction
from service.demo import DEMO_SLUG
from service.errors import FieldError
from service.rubrics import frameworks
from service.rubrics.frameworks import Adopt
from tests.console_helpers import csrf_of, demo_console, sign_in

TEMPLATE = "teacher-digital-literacy"
EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"
EVIL_SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


class _Form(HTMLParser):
    """The fields a browser would send for the form with id `editor` (no button: the caller adds one)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.fields = form_id, False, []  # type: ignore[var-annotated]
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("type") == "checkbox" and "checked" not in a:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "file"):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select is not None and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None


def editor_fields(page: str) -> list[tuple[str, str]]:
    parser = _Form("editor")
    parser.feed(page)
    assert parser.fields, page[:2000]
    return parser.fields


def with_values(fields: list[tuple[str, str]], **changes: str) -> list[tuple[str, str]]:
    """`changes` by field name, written with `__` for `/` and `_` for `-` (`__dimensions__0__weight`)."""
    named = {k.replace("__", "/").replace("zh_CN", "zh-CN"): v for k, v in changes.items()}
    return [(n, named.get(n, v)) for n, v in fields]


def slot(page: str, pointer: str) -> str:
    """The text of the error slot next to the field of `pointer`."""
    found = re.search(
        rf'<p class="error" id="{re.escape(dom_id("e", pointer))}"[^>]*>(.*?)</p>', page, re.DOTALL
    )
    assert found, (pointer, dom_id("e", pointer))
    return html.unescape(found.group(1))


async def _tenant_id(pool: Any) -> UUID:
    async with auth_lookup_transaction(pool) as conn:
        return await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", DEMO_SLUG)  # type: ignore[no-any-return]


def _pool(http: httpx.AsyncClient) -> Any:
    return http._transport.app.state.runtime.pool  # type: ignore[attr-defined]


async def _adopt(http: httpx.AsyncClient, code: str, title: dict[str, str] | None = None) -> None:
    pool = _pool(http)
    async with tenant_transaction(pool, await _tenant_id(pool)) as conn:
        await frameworks.adopt_template(conn, Adopt(template=TEMPLATE, code=code, title=title))


async def _version(http: httpx.AsyncClient, code: str, version: int) -> frameworks.FrameworkVersion:
    pool = _pool(http)
    async with tenant_transaction(pool, await _tenant_id(pool)) as conn:
        return await frameworks.get_version(conn, code, version)


async def _post(
    http: httpx.AsyncClient, url: str, fields: list[tuple[str, str]], action: str, htmx: bool = False
) -> httpx.Response:
    body = httpx.QueryParams([*fields, ("action", action)])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if htmx:
        headers["HX-Request"] = "true"
    return await http.post(url, content=str(body).encode(), headers=headers)


def _assert_strict_page(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
    assert "<script>" not in response.text and " style=" not in response.text


# --------------------------------------------------------------------------- pure parts


def test_form_fields_become_the_document_and_problems_find_their_field() -> None:
    doc = document_from_form(
        [
            ("/code", "f"),
            ("/title/zh-CN", "标题"),
            ("/title/en", ""),  # blank: the language is left out
            ("/dimensions/1/code", "B"),
            ("/dimensions/0/code", "A"),
            ("/dimensions/0/weight", "0.5"),
            ("/dimensions/1/weight", "abc"),  # not a number: the domain names it
            ("/dimensions/0/_keep", '{"tags": ["ethics_safety"], "code": "ignored"}'),
            ("/cut_scores/dimensions/1/0/level", "L1"),
            ("/cut_scores/dimensions/1/0/min_score", "0"),
            ("csrf_token", "x"),
        ]
    )
    assert doc == {
        "code": "f",
        "title": {"zh-CN": "标题"},
        "dimensions": [
            {"code": "A", "weight": 0.5, "tags": ["ethics_safety"]},
            {"code": "B", "weight": "abc"},
        ],
        "cut_scores": {"dimensions": {"1": [{"level": "L1", "min_score": 0}]}},
    }
    problems = [
        FieldError("sum", "/dimensions"),
        FieldError("weight", "/dimensions/1/weight"),
        FieldError("deep", "/dimensions/0/indicators/3/descriptors/0/level"),
        FieldError("whole", None),
    ]
    # The overview has no slot inside a dimension: a deep problem shows at its top-level dimension.
    where = slots(doc)
    assert place(problems, where, "en") == {
        "/dimensions": ["sum"],
        "/dimensions/1/weight": ["weight"],
        "/dimensions/0": ["deep"],
        "": ["whole"],
    }
    assert len({dom_id("e", p) for p in where}) == len(where)  # every slot its own id
    # Dimension 0's page: its own problems and the weights' sum; dimension 1's weight is elsewhere.
    mine, elsewhere = on_page(problems, 0)
    assert elsewhere == 1
    assert place(mine, slots(doc, 0), "en") == {
        "/dimensions": ["sum"],
        "/dimensions/0/indicators": ["deep"],
        "": ["whole"],
    }


def test_a_page_saves_its_part_onto_the_stored_document() -> None:
    stored = {
        "code": "f",
        "title": {"en": "T"},
        "description": {"en": "old"},
        "notes": ["n1"],
        "dimensions": [
            {
                "code": "A",
                "name": {"en": "A"},
                "weight": 0.5,
                "tags": ["knowledge"],
                "indicators": [{"code": "i"}],
            },
            {"code": "B", "name": {"en": "B"}, "weight": 0.5, "indicators": [{"code": "j"}]},
        ],
    }
    overview = document_from_form(
        [
            ("/code", "f"),
            ("/title/en", "T2"),
            ("/description/en", ""),  # cleared: removed
            ("/notes/0", ""),  # a blank note is dropped
            ("/notes/1", "n2"),
            ("/sources/0/title", "S"),
            ("/sources/0/issuer", "I"),
            ("/sources/0/date", "2022"),
            ("/sources/0/url", ""),  # optional and blank: left out
            ("/dimensions/0/code", "A"),
            ("/dimensions/0/name/en", "A2"),
            ("/dimensions/0/weight", "0.4"),
            ("/dimensions/1/code", "B"),
            ("/dimensions/1/name/en", "B"),
            ("/dimensions/1/weight", "0.6"),
        ]
    )
    doc = merged(stored, overview, None)
    assert doc["title"] == {"en": "T2"} and "description" not in doc and doc["notes"] == ["n2"]
    assert doc["sources"] == [{"title": "S", "issuer": "I", "date": "2022"}]
    assert doc["dimensions"][0] == {
        "code": "A",
        "name": {"en": "A2"},
        "weight": 0.4,
        "tags": ["knowledge"],
        "indicators": [{"code": "i"}],
    }
    assert doc["dimensions"][1]["weight"] == 0.6 and doc["dimensions"][1]["indicators"] == [{"code": "j"}]
    # Dimension 1's page owns dimension 1 whole (tags from checkboxes, a blank note left out).
    fields = [
        ("/code", "f"),
        ("/dimensions/1/code", "B"),
        ("/dimensions/1/name/en", "Bee"),
        ("/dimensions/1/weight", "0.5"),
        ("/dimensions/1/tags/3", "human_machine_collaboration"),
        ("/dimensions/1/note", ""),
        ("/dimensions/1/indicators/0/code", "j2"),
        ("/dimensions/1/indicators/0/_keep", '{"unconfirmed": true}'),
    ]
    doc = merged(stored, document_from_form(page_fields(fields, 1)), 1)
    assert doc["dimensions"][0] == stored["dimensions"][0] and doc["notes"] == ["n1"]
    assert doc["dimensions"][1] == {
        "code": "B",
        "name": {"en": "Bee"},
        "weight": 0.5,
        "tags": ["human_machine_collaboration"],
        "indicators": [{"code": "j2", "unconfirmed": True}],
    }


# --------------------------------------------------------------------------- screens


async def test_list_framework_page_and_editor_render(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-a")
        listed = await http.get("/console/frameworks")
        assert 'href="/console/frameworks/fw-a"' in listed.text and 'data-testid="draft-fw-a"' in listed.text
        detail = await http.get("/console/frameworks/fw-a")
        assert detail.status_code == 200 and 'data-testid="version-1"' in detail.text
        _assert_strict_page(detail)
        doc = msgspec.to_builtins((await _version(http, "fw-a", 1)).content)
        # The overview: sources, notes, levels, cut scores and each top-level dimension's name and
        # weight, with a link to each dimension's own page (which holds its indicators and descriptors).
        editor = await http.get("/console/frameworks/fw-a/versions/1")
        assert editor.status_code == 200
        _assert_strict_page(editor)
        text = editor.text
        assert 'name="/dimensions/0/name/zh-CN" value="数字化意识"' in text
        assert 'name="/sources/0/identifier" value="JY/T 0646-2022"' in text and 'name="/notes/3"' in text
        assert "/indicators/" not in text and "/children/" not in text
        assert 'href="/console/frameworks/fw-a/versions/1/dimensions/4"' in text
        assert len(editor.content) < 100_000, len(editor.content)  # the whole document was 590 KB
        # Keyboard reordering: buttons with an accessible name, and a script file for dragging (no inline one).
        assert 'value="down /dimensions/0" aria-label="' in text and 'value="up /dimensions/1"' in text
        assert "/static/console/frameworks.js" in text
        pages = [(text, None)]
        for i in range(len(doc["dimensions"])):
            one = await http.get(f"/console/frameworks/fw-a/versions/1/dimensions/{i}")
            assert one.status_code == 200
            _assert_strict_page(one)
            pages.append((one.text, i))
        text = pages[1][0]
        assert 'name="/dimensions/0/children/0/indicators/0/descriptors/0/performance/en"' in text
        assert 'name="/dimensions/0/tags/1" value="awareness" checked' in text
        assert 'name="/dimensions/0/children/0/indicators/0/note"' in text
        assert "/dimensions/1/" not in text and 'value="down /dimensions/0/children/0"' in text
        for text, i in pages:
            # Every control has a label.
            ids = set(re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', text))
            labelled = set(re.findall(r'<label for="([^"]+)"', text))
            assert ids and ids <= labelled, (i, ids - labelled)
            # Every slot `place` may fill exists in the page.
            for pointer in slots(doc, i):
                assert f'id="{dom_id("e", pointer)}"' in text, (i, pointer)
        missing = await http.get("/console/frameworks/fw-a/versions/1/dimensions/5")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


async def test_unknown_framework_is_a_404_page(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        for url in (
            "/console/frameworks/nope",
            "/console/frameworks/nope/versions/1",
            "/console/frameworks/nope/versions/1/export",
            "/console/frameworks/nope/diff",
        ):
            missing = await http.get(url)
            assert missing.status_code == 404 and "text/html" in missing.headers["content-type"], url
            assert 'data-testid="logout"' in missing.text


async def test_save_renames_reweights_and_keeps_what_the_form_does_not_edit(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-s")
        url = "/console/frameworks/fw-s/versions/1"
        before = await _version(http, "fw-s", 1)
        fields = editor_fields((await http.get(url)).text)
        changed = with_values(
            fields,
            __dimensions__0__name__zh_CN="数字意识（改）",
            __dimensions__0__name__en="Digital awareness (renamed)",
            __dimensions__0__weight="0.2",
            __dimensions__1__weight="0.15",
        )
        saved = await _post(http, url, changed, "save")
        assert saved.status_code == 303 and saved.headers["location"] == url, saved.text
        after = await _version(http, "fw-s", 1)
        assert after.revision == before.revision + 1
        d0 = after.content.dimensions[0]
        assert (
            d0.name == {"zh-CN": "数字意识（改）", "en": "Digital awareness (renamed)"} and d0.weight == 0.2
        )
        assert after.content.dimensions[1].weight == 0.15
        # Untouched parts are exactly as they were: tags, notes, sources, descriptors.
        expected = msgspec.structs.replace(
            before.content,
            dimensions=[
                msgspec.structs.replace(before.content.dimensions[0], name=d0.name, weight=0.2),
                msgspec.structs.replace(before.content.dimensions[1], weight=0.15),
                *before.content.dimensions[2:],
            ],
        )
        assert after.content == expected
        # The same save again with the form's old ETag: the API's 412 message, nothing overwritten.
        stale = await _post(http, url, with_values(fields, __dimensions__0__code="X"), "save")
        assert stale.status_code == 422, stale.text
        assert "ETag" in slot(stale.text, "") or "changed" in slot(stale.text, "")
        assert (await _version(http, "fw-s", 1)).content == after.content


async def test_problems_show_next_to_their_field_as_you_type_and_on_save(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-v")
        url = "/console/frameworks/fw-v/versions/1"
        fields = editor_fields((await http.get(url)).text)
        token = dict(fields)["csrf_token"]
        # As you type: htmx posts the form to .../check; the weights' sum lands in the dimensions' slot.
        heavy = with_values(fields, __dimensions__0__weight="0.5")
        checked = await http.post(
            url + "/check", data=dict(heavy), headers={"HX-Request": "true", "X-CSRF-Token": token}
        )
        assert checked.status_code == 200
        assert "sum to 1.35, not 1" in slot(checked.text, "/dimensions")
        assert f'id="{dom_id("e", "/dimensions")}" hx-swap-oob="true"' in checked.text
        assert slot(checked.text, "/dimensions/0/weight") == ""  # every other slot is emptied
        assert (await _version(http, "fw-v", 1)).revision == 1  # a check saves nothing
        # Not a number: the domain's conversion names the field itself.
        typo = with_values(fields, __dimensions__2__weight="abc")
        checked = await http.post(url + "/check", data=dict(typo), headers={"X-CSRF-Token": token})
        assert "Expected `float`" in slot(checked.text, "/dimensions/2/weight")
        saved = await _post(http, url, typo, "save")
        assert saved.status_code == 422 and "Expected `float`" in slot(saved.text, "/dimensions/2/weight")
        assert 'value="abc"' in saved.text  # what was typed stays in the field
        assert (await _version(http, "fw-v", 1)).revision == 1
        # A draft may be saved with problems; the page then shows them in place.
        saved = await _post(http, url, heavy, "save")
        assert saved.status_code == 303
        page = (await http.get(url)).text
        assert "sum to 1.35, not 1" in slot(page, "/dimensions")
        assert 'data-testid="problem-count">1 problem' in page
        # Publishing it is refused with the same problem in place; it stays a draft.
        published = await _post(http, url, editor_fields(page), "publish")
        assert published.status_code == 422 and "sum to 1.35" in slot(published.text, "/dimensions")
        assert (await _version(http, "fw-v", 1)).status == "draft"
        # From htmx, the answer is the editor form alone.
        fragment = await _post(http, url, editor_fields(published.text), "save", htmx=True)
        assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<form id="editor"')


async def test_reorder_add_and_remove_through_the_patch(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-r")
        url = "/console/frameworks/fw-r/versions/1"
        codes = [d.code for d in (await _version(http, "fw-r", 1)).content.dimensions]
        moved = await _post(http, url, editor_fields((await http.get(url)).text), "down /dimensions/0")
        assert moved.status_code == 303 and "focus=%2Fdimensions%2F1" in moved.headers["location"]
        assert [d.code for d in (await _version(http, "fw-r", 1)).content.dimensions] == [
            codes[1],
            codes[0],
            *codes[2:],
        ]
        page = (await http.get(moved.headers["location"])).text
        assert re.search(r'value="up /dimensions/1" aria-label="[^"]+" autofocus', page)
        # Dragging posts a move from one place to another, as the API's `move`.
        dragged = await _post(http, url, editor_fields(page), "move /dimensions/4 /dimensions/0")
        assert dragged.status_code == 303
        assert (await _version(http, "fw-r", 1)).content.dimensions[0].code == codes[4]
        # On dimension 0's page: add an indicator (with a descriptor per level), then remove it again.
        dimension_url = url + "/dimensions/0"
        page = (await http.get(dimension_url)).text
        added = await _post(
            http, dimension_url, editor_fields(page), "add-indicator /dimensions/0/children/0/indicators"
        )
        assert added.status_code == 303 and added.headers["location"].startswith(dimension_url + "?focus=")
        content = (await _version(http, "fw-r", 1)).content
        new = content.dimensions[0].children[0].indicators[-1]
        assert new.code == "I1" and [d.level for d in new.descriptors] == ["L1", "L2", "L3", "L4"]
        page = (await http.get(added.headers["location"])).text
        pointer = (
            f"/dimensions/0/children/0/indicators/{len(content.dimensions[0].children[0].indicators) - 1}"
        )
        assert re.search(rf'name="{pointer}/code" value="I1"[^>]* autofocus', page)
        removed = await _post(http, dimension_url, editor_fields(page), f"remove {pointer}")
        assert removed.status_code == 303
        assert (await _version(http, "fw-r", 1)).content.dimensions[0].children[0].indicators[-1].code != "I1"
        page = (await http.get(url)).text
        assert (await _post(http, url, editor_fields(page), "add-level")).status_code == 303
        page = (await http.get(url)).text
        assert "cut scores must name every level once" in slot(page, "/cut_scores/overall")
        # An action the editor does not know changes nothing.
        odd = await _post(http, url, editor_fields(page), "explode /dimensions")
        assert odd.status_code == 422 and slot(odd.text, "")


async def test_a_dimension_page_checks_and_saves_its_dimension_tags_notes_and_sources(
    settings: Settings,
) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-d")
        url = "/console/frameworks/fw-d/versions/1"
        before = await _version(http, "fw-d", 1)
        page = (await http.get(url + "/dimensions/2")).text
        fields = editor_fields(page)
        token = dict(fields)["csrf_token"]
        # As you type on dimension 2's page: its weight breaks the top-level sum, shown on this page;
        # a broken indicator weight of its own lands next to that field.
        heavy = with_values(fields, __dimensions__2__weight="0.9")
        checked = await http.post(
            url + "/dimensions/2/check", data=dict(heavy), headers={"X-CSRF-Token": token}
        )
        assert checked.status_code == 200 and "not 1" in slot(checked.text, "/dimensions")
        typo = with_values(fields, __dimensions__2__children__0__indicators__0__weight="x")
        checked = await http.post(
            url + "/dimensions/2/check", data=dict(typo), headers={"X-CSRF-Token": token}
        )
        assert "Expected `float`" in slot(checked.text, "/dimensions/2/children/0/indicators/0/weight")
        # Tags, the dimension's note and an indicator's note, saved through the page.
        tagged = [
            *with_values(
                fields,
                __dimensions__2__note="本维度说明",
                __dimensions__2__children__1__indicators__0__note="an indicator's note",
            ),
            ("/dimensions/2/tags/0", "knowledge"),
        ]
        tagged = [(k, v) for k, v in tagged if k != "/dimensions/2/tags/7"]  # pedagogy unticked
        saved = await _post(http, url + "/dimensions/2", tagged, "save")
        assert saved.status_code == 303 and saved.headers["location"] == url + "/dimensions/2", saved.text
        after = (await _version(http, "fw-d", 1)).content
        d2 = after.dimensions[2]
        assert d2.tags == ["knowledge", "application"] and d2.note == "本维度说明"
        assert d2.children[1].indicators[0].note == "an indicator's note"
        assert d2.children[0].indicators[0].unconfirmed  # what the page has no input for is kept
        assert (
            after.dimensions[:2] == before.content.dimensions[:2] and after.sources == before.content.sources
        )
        # The overview edits sources and notes: add a source, change a note, remove another.
        page = (await http.get(url)).text
        added = await _post(http, url, editor_fields(page), "add-source")
        assert added.status_code == 303
        page = (await http.get(added.headers["location"])).text
        assert re.search(r'name="/sources/1/title" value="[^"]+"[^>]* autofocus', page)
        fields = with_values(
            editor_fields(page),
            __sources__1__title="人工智能教育应用指南",
            __sources__1__issuer="某省教育厅",
            __sources__1__date="2024-03",
            __sources__1__url="https://example.org/guide",
            __notes__0="改写的说明",
        )
        saved = await _post(http, url, fields, "remove /notes/1")
        assert saved.status_code == 303
        after = (await _version(http, "fw-d", 1)).content
        assert (
            after.sources[1].title == "人工智能教育应用指南"
            and after.sources[1].url == "https://example.org/guide"
        )
        assert after.sources[1].identifier is None
        assert after.notes == ["改写的说明", *before.content.notes[2:]]
        # A bad date is the domain's message next to the field.
        page = (await http.get(url)).text
        bad = await _post(http, url, with_values(editor_fields(page), __sources__1__date="March"), "save")
        assert bad.status_code == 422 and slot(bad.text, "/sources/1/date")


async def test_publish_start_a_draft_and_diff_side_by_side(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-p")
        url = "/console/frameworks/fw-p/versions/1"
        page = (await http.get(url)).text
        published = await _post(
            http, url, with_values(editor_fields(page), __dimensions__0__name__en="Awareness"), "publish"
        )
        assert published.status_code == 303 and published.headers["location"] == "/console/frameworks/fw-p"
        v1 = await _version(http, "fw-p", 1)
        assert v1.status == "published" and v1.content.dimensions[0].name["en"] == "Awareness"
        # A published version is read-only: no save button, its controls disabled.
        view = (await http.get(url)).text
        assert 'data-testid="save"' not in view and '<fieldset class="whole" disabled>' in view
        token = csrf_of(view)
        refused = await _post(http, url, editor_fields(view), "save")
        assert refused.status_code == 422 and "can no longer change" in slot(refused.text, "")
        # A new draft from version 1, changed, then the diff.
        started = await http.post(
            "/console/frameworks/fw-p/versions", data={"from_version": "1", "csrf_token": token}
        )
        assert (
            started.status_code == 303
            and started.headers["location"] == "/console/frameworks/fw-p/versions/2"
        )
        again = await http.post(
            "/console/frameworks/fw-p/versions", data={"from_version": "1", "csrf_token": token}
        )
        assert again.status_code == 422 and "already a draft" in again.text
        v2_url = "/console/frameworks/fw-p/versions/2"
        fields = with_values(
            editor_fields((await http.get(v2_url)).text), __dimensions__0__name__en="Awareness 2"
        )
        assert (await _post(http, v2_url, fields, "save")).status_code == 303
        diff = await http.get("/console/frameworks/fw-p/diff", params={"from": "1", "to": "2"})
        assert diff.status_code == 200
        _assert_strict_page(diff)
        row = re.search(r'data-testid="changed-dimension-1-name">(.*?)</tr>', diff.text, re.DOTALL)
        assert row and "en: Awareness</div>" in row.group(1) and "en: Awareness 2</div>" in row.group(1)
        assert 'class="old"' in row.group(1) and 'class="new"' in row.group(1)
        bad = await http.get("/console/frameworks/fw-p/diff", params={"from": "9", "to": "x"})
        assert bad.status_code == 422 and 'id="from-error"' in bad.text and "no version" in bad.text
        detail = (await http.get("/console/frameworks/fw-p")).text
        assert 'data-testid="compare"' in detail and 'data-testid="version-2"' in detail


async def test_case_export_and_import_round_trip(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-c")
        exported = await http.get("/console/frameworks/fw-c/versions/1/export")
        assert exported.status_code == 200
        assert exported.headers["content-disposition"] == 'attachment; filename="fw-c-v1.case.json"'
        package = exported.json()
        assert package["CFDocument"]["adoptionStatus"] == "Draft"
        token = csrf_of((await http.get("/console/frameworks/import")).text)
        imported = await http.post(
            "/console/frameworks/import",
            data={"code": "fw-c2", "csrf_token": token},
            files={"package": ("fw-c.json", exported.content, "application/json")},
        )
        assert imported.status_code == 303 and imported.headers["location"] == "/console/frameworks/fw-c2"
        original, copy = await _version(http, "fw-c", 1), await _version(http, "fw-c2", 1)
        assert msgspec.structs.replace(copy.content, code="fw-c") == original.content
        # A malformed package: every problem named at the file field, nothing created.
        broken = json.loads(exported.content)
        broken["CFAssociations"][0]["originNodeURI"]["identifier"] = "nobody"
        refused = await http.post(
            "/console/frameworks/import",
            data={"code": "fw-c3", "csrf_token": token},
            files={"package": ("x.json", json.dumps(broken).encode(), "application/json")},
        )
        assert refused.status_code == 422
        problems = re.search(r'<ul class="error" id="package-error"[^>]*>(.*?)</ul>', refused.text, re.DOTALL)
        assert problems and "/CFAssociations/0/originNodeURI" in problems.group(1)
        not_json = await http.post(
            "/console/frameworks/import",
            data={"csrf_token": token},
            files={"package": ("x.json", b"{nope", "application/json")},
        )
        assert not_json.status_code == 422 and 'id="package-error"' in not_json.text
        taken = await http.post(
            "/console/frameworks/import",
            data={"code": "fw-c", "csrf_token": token},
            files={"package": ("fw-c.json", exported.content, "application/json")},
        )
        assert taken.status_code == 422 and re.search(r'id="code-error"[^>]*>already exists<', taken.text)
        listed = (await http.get("/console/frameworks")).text
        assert "fw-c3" not in listed and 'data-testid="framework-fw-c2"' in listed


async def _session_with_roles(http: httpx.AsyncClient, roles: list[str]) -> tuple[str, str]:
    pool = _pool(http)
    tenant = await _tenant_id(pool)
    principal = Principal("user", "someone", frozenset(roles), tenant, "https://idp.example", 0.0)
    async with tenant_transaction(pool, tenant) as conn:
        session_id = await sessions.create(conn, principal, "en", idle_seconds=600, max_seconds=3600)
        csrf = await conn.fetchval(
            "SELECT csrf_token FROM console_sessions WHERE id_hash = $1", sessions.id_hash(session_id)
        )
    return session_id, csrf


async def test_raters_read_and_candidates_see_nothing_and_neither_writes(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-g")
        url = "/console/frameworks/fw-g/versions/1"
        fields = editor_fields((await http.get(url)).text)
        for roles, reads in ((["rater"], True), (["analyst"], True), (["candidate"], False)):
            session_id, csrf = await _session_with_roles(http, roles)
            http.cookies.set("assess_console", session_id, domain="assess.test", path="/console")
            view = await http.get(url)
            assert view.status_code == (200 if reads else 403), roles
            if reads:
                assert 'data-testid="save"' not in view.text and "/check" not in view.text
            mine = [(n, csrf if n == "csrf_token" else v) for n, v in fields]
            for target, data in (
                (url, mine),
                (url + "/check", mine),
                ("/console/frameworks/fw-g/versions", [("csrf_token", csrf)]),
                ("/console/frameworks/import", [("csrf_token", csrf)]),
            ):
                refused = await _post(http, target, data, "save")
                assert refused.status_code == 403, (roles, target)
        assert (await _version(http, "fw-g", 1)).revision == 1


async def test_authored_text_is_rendered_as_text(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http)
        await _adopt(http, "fw-x", title={"zh-CN": EVIL, "en": EVIL})
        url = "/console/frameworks/fw-x/versions/1"
        fields = with_values(
            editor_fields((await http.get(url)).text),
            __dimensions__0__name__zh_CN=EVIL,
            __dimensions__0__name__en=EVIL,
            __dimensions__0__code="D<b>",  # not a code: the message quotes nothing raw
        )
        refused = await _post(http, url, fields, "save")
        assert refused.status_code == 422 and slot(refused.text, "/dimensions/0/code")
        fields = with_values(fields, __dimensions__0__code="1")
        assert (await _post(http, url, fields, "publish")).status_code == 303
        token = csrf_of((await http.get("/console/frameworks/fw-x")).text)
        await http.post("/console/frameworks/fw-x/versions", data={"from_version": "1", "csrf_token": token})
        for page_url in (
            "/console/frameworks",
            "/console/frameworks/fw-x",
            url,
            "/console/frameworks/fw-x/versions/2",
        ):
            page = (await http.get(page_url)).text
            assert "<script>alert" not in page and "<img src=x" not in page, page_url
            assert EVIL_SHOWN in page or html.escape(EVIL, quote=True) in page, page_url
        # The diff shows authored text changed between versions as text too.
        v2 = "/console/frameworks/fw-x/versions/2"
        fields = with_values(editor_fields((await http.get(v2)).text), __dimensions__0__name__en=EVIL + "2")
        assert (await _post(http, v2, fields, "save")).status_code == 303
        diff = (await http.get("/console/frameworks/fw-x/diff?from=1&to=2")).text
        assert "<script>alert" not in diff and EVIL_SHOWN + "2" in diff
