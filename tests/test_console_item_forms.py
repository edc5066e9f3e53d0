"""Writing items in the console over HTTP: a form per item type (create, an error next to its field, the
preview in both languages), edit with versions, retire and restore, authored text inert everywhere,
images and the spreadsheet import as pages."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import httpx
import openpyxl
import pytest

from service.config import Settings
from service.db.pool import tenant_transaction
from service.demo import DEMO_FRAMEWORK
from service.items import bank
from service.items.spreadsheet import MEDIA_TYPE
from tests.console_helpers import csrf_of, demo_console, sign_in
from tests.test_console_frameworks import _demo_id
from tests.test_item_images import PNG, SVG
from tests.test_item_spreadsheet import ROWS, filled

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


def _options(n: int, **extra: str) -> dict[str, str]:
    fields = {"rows.options": str(max(4, n))}
    for i, key in enumerate("abcdef"[:n]):
        fields[f"options.{i}.key"] = key
        fields[f"options.{i}.text.zh-CN"] = f"选项{key}"
        fields[f"options.{i}.text.en"] = f"Option {key}"
    return {**fields, **extra}


# One form per type (and per rule or format), as a person fills it in: field -> value (a list for checkboxes).
FORMS: dict[str, tuple[str, dict[str, Any]]] = {
    "C-SC": ("single_choice", {**_options(3), "key.correct": "1", "shuffle_options": "on"}),
    "C-MC-AON": (
        "multiple_choice",
        {**_options(4), "key.correct": ["0", "2"], "key.partial_credit": "all_or_nothing"},
    ),
    "C-MC-PO": ("multiple_choice", {**_options(4), "key.correct": ["1"], "key.partial_credit": "per_option"}),
    "C-MC-RMW": (
        "multiple_choice",
        {**_options(4), "key.correct": ["0", "3"], "key.partial_credit": "right_minus_wrong"},
    ),
    "C-LK": (
        "likert",
        {
            "scale_points": "7",
            "key.reverse": "on",
            "tags": "self-report，核对",
            "note": "from the pilot",
            **{f"scale_labels.{n}.zh-CN": f"第{n + 1}级" for n in range(7)},
            **{f"scale_labels.{n}.en": f"Point {n + 1}" for n in range(7)},
        },
    ),
    "C-ORD": ("ordering", {**_options(4), "key.credit": "exact"}),
    "C-OR": (
        "open_response",
        {
            "task": "critique_output",
            "max_length": "900",
            "key.rater_notes.zh-CN": "看是否指出事实错误",
            "key.rater_notes.en": "Look for the factual errors named",
            "key.exemplars.0.en": "An exemplar",
            "rows.exemplars": "2",
        },
    ),
}
for fmt in ("best", "most_least", "rate"):
    FORMS[f"C-SJ-{fmt.upper()}"] = (
        "situational_judgement",
        {
            **_options(3),
            "format": fmt,
            "rating_points": "4" if fmt == "rate" else "",
            "loadings.1.indicator": "ES.1",
            "loadings.1.weight": "0.5",
            "key.options.0.credit.HMC.3": "1",
            "key.options.0.credit.ES.1": "0",
            "key.options.1.credit.HMC.3": "0.5",
            "key.options.1.credit.ES.1": "1",
            "key.options.2.credit.HMC.3": "0",
            "key.options.2.credit.ES.1": "0.25",
        },
    )


def form_for(code: str, csrf: str) -> dict[str, Any]:
    kind, extra = FORMS[code]
    loaded = "HMC.3" if kind == "situational_judgement" else "AK.1"
    weight = "0.5" if kind == "situational_judgement" else "1"
    return {
        "csrf_token": csrf,
        "type": kind,
        "framework": DEMO_FRAMEWORK,
        "code": code,
        "stem.zh-CN": f"题干 {code}",
        "stem.en": f"Stem of {code}",
        "scenario.zh-CN": "",
        "points": "",
        "rows.loadings": "2",
        "loadings.0.indicator": loaded,
        "loadings.0.weight": weight,
        **extra,
    }


async def _stored(http: httpx.AsyncClient, code: str) -> dict[str, Any]:
    pool = http._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    async with tenant_transaction(pool, await _demo_id(pool)) as conn:
        import msgspec

        return msgspec.to_builtins((await bank.get_item(conn, code)).content)  # type: ignore[no-any-return]


@pytest.fixture
async def console(settings: Settings):  # type: ignore[no-untyped-def]
    async with demo_console(settings) as http:
        await sign_in(http, "author")
        home = await http.get("/console/")
        csrf = csrf_of(home.text)
        await http.post("/console/language", data={"lang": "en", "csrf_token": csrf})
        yield http, csrf


async def test_every_type_has_a_form_that_creates_the_item(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console
    chooser = await http.get("/console/items/new")
    assert chooser.status_code == 200 and 'data-testid="type-situational_judgement"' in chooser.text
    for code, (kind, _) in FORMS.items():
        empty = await http.get("/console/items/new", params={"type": kind, "framework": DEMO_FRAMEWORK})
        assert empty.status_code == 200 and 'name="stem.zh-CN"' in empty.text, kind
        assert 'hx-post="/console/items/preview"' in empty.text
        created = await http.post("/console/items/new", data=form_for(code, csrf))
        assert created.status_code == 303, (code, created.text[:3000])
        assert created.headers["location"] == f"/console/items/{code}"
        shown = await http.get(created.headers["location"])
        assert shown.status_code == 200 and f"Stem of {code}" in shown.text and f"题干 {code}" in shown.text
        assert 'data-testid="preview-zh-CN"' in shown.text and 'data-testid="preview-en"' in shown.text
    sc = await _stored(http, "C-SC")
    assert sc["key"] == {"correct": "b"} and "shuffle_options" not in sc  # the default: shuffled
    assert [o["key"] for o in sc["options"]] == ["a", "b", "c"]
    for code, rule, correct in (
        ("C-MC-AON", "all_or_nothing", ["a", "c"]),
        ("C-MC-PO", "per_option", ["b"]),
        ("C-MC-RMW", "right_minus_wrong", ["a", "d"]),
    ):
        assert (await _stored(http, code))["key"] == {"correct": correct, "partial_credit": rule}
    for fmt in ("best", "most_least", "rate"):
        sj = await _stored(http, f"C-SJ-{fmt.upper()}")
        assert sj["format"] == fmt and sj["loadings"] == [
            {"indicator": "HMC.3", "weight": 0.5},
            {"indicator": "ES.1", "weight": 0.5},
        ]
        assert sj["key"]["options"][1] == {"option": "b", "credit": {"HMC.3": 0.5, "ES.1": 1.0}}
    assert (await _stored(http, "C-SJ-RATE"))["rating_points"] == 4
    likert = await _stored(http, "C-LK")
    assert likert["key"] == {"reverse": True} and likert["scale_points"] == 7
    assert likert["tags"] == ["self-report", "核对"] and likert["note"] == "from the pilot"
    edit = (await http.get("/console/items/C-LK/edit")).text
    assert 'value="self-report, 核对"' in edit and ">from the pilot</textarea>" in edit
    assert likert["scale_labels"][6] == {"zh-CN": "第7级", "en": "Point 7"}
    assert 'name="scale_labels.6.en" value="Point 7"' in edit
    # Labels for only some points: the domain's rule, next to the labels; nothing saved.
    some = form_for("C-LK", csrf) | {"code": "C-LK2", "scale_labels.5.zh-CN": "", "scale_labels.5.en": ""}
    refused = await http.post("/console/items/new", data=some)
    assert refused.status_code == 422 and 'data-testid="error-scale_labels.5"' in refused.text
    assert (await _stored(http, "C-ORD"))["key"] == {"order": ["a", "b", "c", "d"], "credit": "exact"}
    open_ = await _stored(http, "C-OR")
    assert open_["key"] == {
        "rater_notes": {"zh-CN": "看是否指出事实错误", "en": "Look for the factual errors named"},
        "exemplars": [{"en": "An exemplar"}],
    }
    assert open_["task"] == "critique_output" and open_["max_length"] == 900
    # The SJT's most-least preview shows both columns; the Likert preview its seven points.
    assert "Least likely" in (await http.get("/console/items/C-SJ-MOST_LEAST")).text
    assert (await http.get("/console/items/C-LK")).text.count('type="radio"') == 14  # 7 points × 2 languages


async def test_problems_are_shown_next_to_their_fields(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console

    def error(page: str, name: str) -> str:
        found = re.search(rf'data-testid="error-{re.escape(name)}">([^<]+)<', page)
        assert found, (name, page[:5000])
        return html.unescape(found.group(1))

    # The loading weights must sum to 1: the domain's message, on the loadings.
    bad = form_for("C-SJ-BEST", csrf) | {"code": "C-BAD-1", "loadings.1.weight": "0.2"}
    answer = await http.post("/console/items/new", data=bad)
    assert answer.status_code == 422 and "sum to 0.7, not 1" in error(answer.text, "loadings")
    assert 'data-testid="error-summary"' in answer.text
    assert 'value="C-BAD-1"' in answer.text  # what was typed stays
    # No correct option chosen: on the choice of correct options.
    answer = await http.post(
        "/console/items/new", data=form_for("C-SC", csrf) | {"code": "C-BAD-2", "key.correct": ""}
    )
    assert answer.status_code == 422 and "length >= 1" in error(answer.text, "key.correct")
    wrong = form_for("C-SC", csrf) | {"code": "C-BAD-2", "key.correct": "3"}  # a row left empty
    answer = await http.post("/console/items/new", data=wrong)
    assert answer.status_code == 422 and error(answer.text, "key.correct")
    # A credit outside the item's range: on that option's credit input, in its form row.
    bad = form_for("C-SJ-BEST", csrf) | {"code": "C-BAD-3", "key.options.2.credit.ES.1": "3"}
    answer = await http.post("/console/items/new", data=bad)
    assert "outside the item's range" in error(answer.text, "key.options.2.credit.ES.1")
    assert re.search(r'id="f-key-options-2-credit-ES-1"[^>]*aria-invalid="true"', answer.text)
    # A row left empty between two options keeps the rows' numbering for the errors.
    skipping = form_for("C-SC", csrf) | {
        "code": "C-BAD-4",
        "options.1.key": "",
        "options.1.text.zh-CN": "",
        "options.1.text.en": "",
        "options.2.key": "a",
        "key.correct": "0",
    }
    answer = await http.post("/console/items/new", data=skipping)
    assert "used twice" in error(answer.text, "options.2.key")
    # Not a number: msgspec's message, on the field.
    answer = await http.post(
        "/console/items/new", data=form_for("C-LK", csrf) | {"code": "C-BAD-5", "scale_points": "many"}
    )
    assert answer.status_code == 422 and "Expected `int`" in error(answer.text, "scale_points")
    # An indicator outside the framework; a code already taken.
    answer = await http.post(
        "/console/items/new",
        data=form_for("C-LK", csrf) | {"code": "C-BAD-6", "loadings.0.indicator": "NOPE.1"},
    )
    assert "not in the framework version" in error(answer.text, "loadings.0.indicator")
    taken = await http.post("/console/items/new", data=form_for("C-LK", csrf) | {"code": "CAL-AK-001"})
    assert taken.status_code == 422 and "already exists" in error(taken.text, "code")
    # Nothing of these was saved.
    listed = (await http.get("/console/items", params={"q": "C-BAD"})).text
    assert 'data-testid="no-items"' in listed
    # Adding an option row re-renders the form without saving.
    more = await http.post(
        "/console/items/new", data=form_for("C-SC", csrf) | {"code": "C-MORE", "step": "add_option"}
    )
    assert more.status_code == 200 and 'name="options.4.key"' in more.text
    assert 'data-testid="no-items"' in (await http.get("/console/items", params={"q": "C-MORE"})).text


async def test_the_preview_is_the_candidates_view_in_both_languages(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console
    for code in FORMS:
        shown = await http.post(
            "/console/items/preview", data=form_for(code, csrf), headers={"HX-Request": "true"}
        )
        assert shown.status_code == 200 and "<html" not in shown.text, code
        zh, en = (
            re.search(rf'data-testid="preview-{lang}">(.*?)</article>', shown.text, re.DOTALL)
            for lang in ("zh-CN", "en")
        )
        assert zh and en, (code, shown.text)
        assert f"题干 {code}" in zh.group(1) and f"Stem of {code}" in en.group(1)
        if "options.0.key" in form_for(code, csrf):
            assert "选项a" in zh.group(1) and "Option a" in en.group(1)
    # The key never reaches the preview: rater notes and exemplars stay out.
    notes = await http.post("/console/items/preview", data=form_for("C-OR", csrf))
    assert "factual errors" not in notes.text and "exemplar" not in notes.text.lower().replace(
        "exemplar answer", ""
    )
    # A form that does not make an item yet says why, instead of a preview.
    half = await http.post("/console/items/preview", data=form_for("C-SC", csrf) | {"points": "lots"})
    assert 'data-testid="preview-problems"' in half.text and "preview-en" not in half.text
    weights = await http.post(
        "/console/items/preview", data=form_for("C-SC", csrf) | {"loadings.0.weight": "0.5"}
    )
    assert "sum to 0.5, not 1" in weights.text and 'data-testid="preview-en"' in weights.text


async def test_authored_text_is_inert_in_the_console_and_the_preview(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console
    evil_sc = form_for("C-SC", csrf) | {
        "code": "C-XSS",
        "stem.en": EVIL,
        "stem.zh-CN": EVIL,
        "options.0.text.en": EVIL,
    }
    evil_or = form_for("C-OR", csrf) | {
        "code": "C-XSS-OR",
        "key.rater_notes.en": EVIL,
        "key.rater_notes.zh-CN": EVIL,
    }
    for data in (evil_sc, evil_or):
        preview = await http.post("/console/items/preview", data=data)
        assert "<script>alert(1)" not in preview.text and "<img src=x" not in preview.text
        assert ESCAPED in preview.text or data is evil_or
        assert (await http.post("/console/items/new", data=data)).status_code == 303
    for url in (
        "/console/items/C-XSS",
        "/console/items/C-XSS/edit",
        "/console/items/C-XSS-OR",
        "/console/items/C-XSS-OR/edit",
        "/console/items?q=C-XSS",
    ):
        page = (await http.get(url)).text
        assert "<script>alert(1)" not in page and "<img src=x" not in page, url
        assert "onerror=alert(2)&gt;" in page or "onerror=alert(2)&#34;" in page or ESCAPED in page, url
    # The rater note shows (escaped) in the edit form and the item's document, never in the preview.
    item_page = (await http.get("/console/items/C-XSS-OR")).text
    preview_part = item_page.split("<h2>Versions</h2>")[0]
    assert "alert(1)" not in preview_part


async def test_edit_keeps_versions_and_retire_restore(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console
    assert (await http.post("/console/items/new", data=form_for("C-SC", csrf))).status_code == 303
    form = await http.get("/console/items/C-SC/edit")
    assert form.status_code == 200 and ">Stem of C-SC</textarea>" in form.text and "readonly" in form.text
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', form.text).group(1))
    assert re.search(r'name="key.correct" value="1" checked', form.text)
    edited = await http.post(
        "/console/items/C-SC/edit", data=form_for("C-SC", csrf) | {"etag": etag, "stem.en": "A better stem"}
    )
    assert edited.status_code == 303, edited.text[:3000]
    page = (await http.get("/console/items/C-SC")).text
    assert "A better stem" in page and 'data-testid="version-1"' in page
    # A stale ETag: the domain's 412 message, nothing saved.
    stale = await http.post(
        "/console/items/C-SC/edit", data=form_for("C-SC", csrf) | {"etag": etag, "stem.en": "lost"}
    )
    assert stale.status_code == 422 and "read it again" in stale.text
    # Retire, then restore.
    retired = await http.post("/console/items/C-SC/retire", data={"csrf_token": csrf})
    assert retired.status_code == 303
    page = (await http.get("/console/items/C-SC")).text
    assert 'data-testid="item-status">Retired' in page and 'data-testid="restore-item"' in page
    assert 'data-testid="edit-item"' not in page
    assert (await http.post("/console/items/C-SC/restore", data={"csrf_token": csrf})).status_code == 303
    assert 'data-testid="item-status">Active' in (await http.get("/console/items/C-SC")).text
    # A sample item pinned by the demo's published assessment: an edit makes version 2.
    sample = await http.get("/console/items/CAL-AK-001/edit")
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', sample.text).group(1))
    found_inputs = re.findall(r'<input[^>]* name="([^"]+)"[^>]* value="([^"]*)"', sample.text)
    fields = {k: html.unescape(v) for k, v in found_inputs}
    fields["key.correct"] = re.search(r'name="key.correct" value="(\d+)" checked', sample.text).group(1)
    for k in re.findall(r'<textarea[^>]* name="([^"]+)"', sample.text):
        found = re.search(rf'name="{re.escape(k)}"[^>]*>([^<]*)</textarea>', sample.text)
        fields[k] = html.unescape(found.group(1)) if found else ""
    fields.update({"csrf_token": csrf, "etag": etag, "stem.en": "A new wording"})
    for name in re.findall(r'<select id="[^"]+" name="([^"]+)"', sample.text):
        chosen = re.search(
            rf'name="{re.escape(name)}"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
            sample.text,
            re.DOTALL,
        )
        if chosen:
            fields[name] = html.unescape(chosen.group(1))
    edited = await http.post("/console/items/CAL-AK-001/edit", data=fields)
    assert edited.status_code == 303, edited.text[:4000]
    page = (await http.get("/console/items/CAL-AK-001")).text
    assert "version 2 of 2" in page and 'data-testid="version-1"' in page
    old = (await http.get("/console/items/CAL-AK-001?version=1")).text
    assert "version 1 of 2" in old and "A new wording" not in old.split("<h2>Versions</h2>")[0]


async def test_images_and_import_pages(console) -> None:  # type: ignore[no-untyped-def]
    http, csrf = console
    page = await http.get("/console/images")
    assert page.status_code == 200
    stored = await http.post(
        "/console/images", data={"csrf_token": csrf}, files={"file": ("shot.png", PNG, "image/png")}
    )
    assert stored.status_code == 200 and 'data-testid="stored-image"' in stored.text
    image_id = re.search(r'data-testid="image-([0-9a-f]{64})"', stored.text).group(1)
    served = await http.get(f"/console/images/{image_id}")
    assert (
        served.status_code == 200 and served.content == PNG and "immutable" in served.headers["cache-control"]
    )
    refused = await http.post(
        "/console/images", data={"csrf_token": csrf}, files={"file": ("x.svg", SVG, "image/svg+xml")}
    )
    assert refused.status_code == 422 and "SVG" in re.search(
        r'data-testid="error-file">([^<]+)<', refused.text
    ).group(1)
    assert (await http.get("/console/images/" + "0" * 64)).status_code == 404
    # An item with the image on its stem: the preview shows it from the console's own route.
    with_image = form_for("C-SC", csrf) | {"code": "C-IMG", "image": image_id}
    refused = await http.post("/console/items/new", data=with_image)  # no text alternative: refused
    assert refused.status_code == 422 and 'data-testid="error-image_alt"' in refused.text
    with_image |= {"image_alt.zh-CN": "一张<b>截图</b>", "image_alt.en": "A screenshot"}
    assert (await http.post("/console/items/new", data=with_image)).status_code == 303
    shown = (await http.get("/console/items/C-IMG")).text
    assert f'src="/console/images/{image_id}" alt="一张&lt;b&gt;截图&lt;/b&gt;"' in shown
    # The import page: the template, a workbook with two bad rows (all named, nothing saved), then a good one.
    template = await http.get("/console/items/import/template")
    assert template.status_code == 200 and template.headers["content-type"].startswith(MEDIA_TYPE)
    rows = {
        sheet: [dict(r, code=r["code"].replace("X-", "Z-")) for r in entries]
        for sheet, entries in ROWS.items()
    }
    rows["ordering"][0]["order"] = "b, c"
    rows["open_response"][1]["task"] = "essay"
    bad = await http.post(
        "/console/items/import",
        data={"csrf_token": csrf, "framework": DEMO_FRAMEWORK},
        files={"file": ("items.xlsx", filled(template.content, rows), MEDIA_TYPE)},
    )
    assert bad.status_code == 422 and 'data-testid="import-problems"' in bad.text
    table = re.findall(r"<tr><td>([a-z_]+)</td><td>(\d+)</td><td>([a-z_0-9]+)</td>", bad.text)
    assert table == [("ordering", "3", "order"), ("open_response", "4", "task")], bad.text
    assert 'data-testid="no-items"' in (await http.get("/console/items", params={"q": "Z-"})).text
    rows["ordering"][0]["order"] = "b, c, a"
    rows["open_response"][1]["task"] = "critique_output"
    good = await http.post(
        "/console/items/import",
        data={"csrf_token": csrf, "framework": DEMO_FRAMEWORK},
        files={"file": ("items.xlsx", filled(template.content, rows), MEDIA_TYPE)},
    )
    assert good.status_code == 200 and "10 new" in good.text, good.text[:3000]
    missing = await http.post("/console/items/import", data={"csrf_token": csrf})
    assert missing.status_code == 422 and 'data-testid="error-file"' in missing.text
    # openpyxl reads the template the page hands out.
    assert "instructions" in openpyxl.load_workbook(io.BytesIO(template.content)).sheetnames


async def test_only_writers_get_the_forms(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "rater")
        assert (await http.get("/console/items/new")).status_code == 403
        assert (await http.get("/console/items/import")).status_code == 403
        assert (await http.get("/console/items/CAL-AK-001")).status_code == 200
        assert (await http.get("/console/items/CAL-AK-001/edit")).status_code == 403
        assert (await http.get("/console/items/NO-SUCH-ITEM")).status_code == 404
