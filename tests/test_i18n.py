"""The message catalog and the language of replies: lazy messages, Accept-Language negotiation,
the catalog in step with the code and fully translated, and problem details, the candidate
report and item previews in zh-CN (the default) or en with Content-Language and Vary."""

from __future__ import annotations

import io
import re
import string

import msgspec
import pytest
from babel.messages.pofile import read_po, write_po

from service.errors import NotFound, msgspec_field_error, msgspec_message
from service.i18n import language_headers, msg, negotiate, nmsg, render, translator, vary
from service.i18n.__main__ import POT_PATH, extract
from service.i18n.catalog import SUPPORTED, po_path
from tests.delivery_setup import ANSWERS, delivery_tenant
from tests.helpers import make_tenant, user


def _ids(catalog) -> set[object]:  # type: ignore[no-untyped-def]
    return {m.id for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_a_message_is_its_english_text_and_renders_in_each_language():
    message = msg("no org unit '{code}'", code="gz-01")
    assert message == "no org unit 'gz-01'" and str(message) == message and isinstance(message, str)
    assert render(msg("Not found"), "en") == "Not found" and render(msg("Not found"), "zh-CN") == "未找到"
    nested = msg("the request body is not valid JSON: {reason}", reason=msg("Input data was truncated"))
    assert render(nested, "zh-CN") == "请求体不是有效的 JSON：输入数据不完整"
    assert render("plain text", "zh-CN") == "plain text"  # untranslated strings pass through
    one = nmsg(
        "{count} open response awaits rating: these scores may still change.",
        "{count} open responses await rating: these scores may still change.",
        1,
    )
    two = nmsg(
        "{count} open response awaits rating: these scores may still change.",
        "{count} open responses await rating: these scores may still change.",
        2,
    )
    assert one.startswith("1 open response awaits") and two.startswith("2 open responses await")
    assert render(two, "zh-CN") == "还有 2 道主观题待评分，成绩可能还会变化。"
    assert NotFound(msg("Not found")).detail == "Not found" and type(NotFound(msg("Not found")).detail) is str
    assert translator("zh-CN").gettext("Forbidden") == "无权访问"  # what the console's templates will call


def test_msgspec_messages_of_known_shapes_are_translated_and_others_kept():
    error = msgspec_field_error("Expected `int`, got `str` - at `$.units[3].level`")
    assert error.pointer == "/units/3/level" and error.detail == "Expected `int`, got `str`"
    assert render(error.detail, "zh-CN") == "应为 `int`，实际为 `str`"
    missing = msgspec_field_error("Object missing required field `code` - at `$.units[0]`")
    assert missing.pointer == "/units/0/code" and render(missing.detail, "zh-CN") == "对象缺少必填字段 `code`"
    assert (
        render(msgspec_message("Missing required query parameter 'to' for path /v1/x?a=1"), "zh-CN")
        == "缺少必填的 query 参数 'to'（路径 /v1/x?a=1）"
    )
    odd = msgspec_field_error("Something msgspec says one day")
    assert render(odd.detail, "zh-CN") == "Something msgspec says one day"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("*", "zh-CN"),
        ("fr", "zh-CN"),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("zh", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en;q=0.5, zh-CN;q=0.9", "zh-CN"),
        ("zh-CN;q=0, en", "en"),
        ("fr, en;q=0.3", "en"),
        ("en;q=abc, zh", "zh-CN"),
    ],
)
def test_accept_language_negotiates_zh_cn_or_en(header, expected):
    assert negotiate(header) == expected


def test_language_headers_add_to_vary_once():
    assert language_headers("en") == {"Vary": "Accept-Language", "Content-Language": "en"}
    merged = language_headers("zh-CN", {"Vary": "Origin", "Retry-After": "2"})
    assert merged == {"Vary": "Origin, Accept-Language", "Retry-After": "2", "Content-Language": "zh-CN"}
    assert vary({"Vary": "accept-language"}) == {"Vary": "accept-language"}


def test_the_template_is_what_extract_writes():
    """`./dev python -m service.i18n extract` after changing a message, then `update` and translate."""
    written = io.BytesIO()
    write_po(written, extract(), width=110, sort_output=True, include_lineno=False, ignore_obsolete=True)
    assert written.getvalue().decode() == POT_PATH.read_text(encoding="utf-8"), (
        "messages.pot is stale: run ./dev python -m service.i18n extract && ./dev python -m service.i18n update"
    )


def test_every_message_has_a_chinese_translation_and_no_stale_entries():
    source = _ids(extract())
    assert len(source) > 50
    for locale in SUPPORTED:
        with po_path(locale).open("rb") as po:
            catalog = read_po(po, locale=locale.replace("-", "_"))
        assert _ids(catalog) == source, f"{locale}: run ./dev python -m service.i18n update"
        assert not list(catalog.obsolete)
        if locale != "zh-CN":
            continue
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(texts) and not message.fuzzy, f"untranslated: {ids[0]!r}"
            for text in texts:  # the same placeholders, so formatting never fails or drops a value
                assert _fields(text) == _fields(ids[-1]) | ({"count"} & _fields(ids[0])), (ids[0], text)


async def test_problem_details_follow_accept_language(client):
    del client.headers["Accept-Language"]
    default = await client.get("/v1/no-such-route")
    assert default.status_code == 404
    assert default.headers["content-language"] == "zh-CN" and "Accept-Language" in default.headers["vary"]
    assert default.json()["type"] == "urn:assess:problem:not-found" and default.json()["title"] == "未找到"
    english = await client.get("/v1/no-such-route", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english.headers["content-language"] == "en" and english.json()["title"] == "Not found"
    assert english.json()["type"] == default.json()["type"]

    unauthenticated = await client.get("/v1/org-units", headers={"Accept-Language": "zh-CN"})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["title"] == "未认证"
    assert unauthenticated.headers["content-language"] == "zh-CN"
    assert "www-authenticate" in unauthenticated.headers


async def test_validation_problems_are_translated_field_by_field(client, service_keys):
    tenant = await make_tenant(client, service_keys, "language-region")
    admin = tenant["admin"]
    body = {"code": "gz", "name": 5}
    zh = await client.post("/v1/org-units", json=body, headers={**admin, "Accept-Language": "zh-CN,zh;q=0.9"})
    en = await client.post("/v1/org-units", json=body, headers={**admin, "Accept-Language": "en"})
    assert zh.status_code == en.status_code == 400
    assert zh.json()["type"] == en.json()["type"] == "urn:assess:problem:validation"
    assert en.json()["errors"] == [{"detail": "Expected `str`, got `int`", "pointer": "/name"}]
    assert zh.json()["errors"] == [{"detail": "应为 `str`，实际为 `int`", "pointer": "/name"}]
    assert (
        zh.json()["title"] == "请求无效"
        and zh.json()["detail"] == "请求体在 '/name' 处无效：应为 `str`，实际为 `int`"
    )
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
    assert zh.headers["vary"] == en.headers["vary"] == "Accept-Language"

    bad_query = await client.get(
        "/v1/org-units", params={"limit": 0}, headers={**admin, "Accept-Language": "zh"}
    )
    assert bad_query.status_code == 400 and bad_query.json()["errors"][0]["parameter"] == "limit"
    assert bad_query.json()["errors"][0]["detail"] == "应为不小于 1 的 `int`"
    malformed = await client.post(
        "/v1/org-units",
        content=b"{",
        headers={**admin, "Accept-Language": "zh-CN", "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.json()["detail"].startswith("请求体不是有效的 JSON")


async def test_domain_auth_and_guard_problems_are_translated(client, service_keys):
    """Messages raised in domain modules, token checks, guards and If-Match, in zh-CN; the same
    problem in English keeps its type."""
    tenant = await make_tenant(client, service_keys, "language-domain")
    zh = {**tenant["admin"], "Accept-Language": "zh-CN"}
    missing = await client.get("/v1/org-units/nowhere", headers=zh)
    assert missing.status_code == 404 and missing.json()["detail"] == "不存在组织单位 'nowhere'"
    english = await client.get("/v1/org-units/nowhere", headers={**zh, "Accept-Language": "en"})
    assert (
        english.json()["detail"] == "no org unit 'nowhere'"
        and english.json()["type"] == missing.json()["type"]
    )
    bad_token = await client.get(
        "/v1/org-units", headers={"Authorization": "Bearer not-a-token", "Accept-Language": "zh-CN"}
    )
    assert bad_token.status_code == 401 and bad_token.json()["detail"] == "令牌格式错误"
    candidate = user(service_keys, tenant["id"], ["candidate"])
    refused = await client.get("/v1/org-units", headers={**candidate, "Accept-Language": "zh-CN"})
    assert refused.status_code == 403 and refused.json()["title"] == "无权访问"
    assert refused.json()["detail"].startswith("该接口需要以下角色之一：")
    unguarded = await client.patch("/v1/frameworks/nope/versions/1", json=[], headers=zh)
    assert unguarded.status_code == 428
    assert unguarded.json()["detail"] == "请在 If-Match 中提供您读取的版本的 ETag（请先 GET）"


async def test_the_report_and_item_previews_are_in_one_language(client, service_keys):
    tenant = await delivery_tenant(client, service_keys, slug="report-language", feedback="immediate")
    admin, me = tenant["admin"], tenant["candidates"][0]
    attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()["attempt"][
        "id"
    ]
    url = f"/v1/me/attempts/{attempt}/report"
    before = await client.get(url, headers={**me, "Accept-Language": "zh-CN"})
    assert before.json()["notice"] == "本次作答提交后即可查看报告。"
    assert before.headers["content-language"] == "zh-CN" and before.headers["vary"] == "Accept-Language"
    for ref, answer in ANSWERS.items():
        await client.put(
            f"/v1/me/attempts/{attempt}/answers/{ref}", json={"revision": 1, "answer": answer}, headers=me
        )
    await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)
    me_without_language = dict(me)
    del client.headers["Accept-Language"]
    zh = await client.get(url, headers=me_without_language)
    en = await client.get(url, headers={**me, "Accept-Language": "en"})
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
    assert zh.json()["notice"] == "还有 1 道主观题待评分，成绩可能还会变化。"
    assert en.json()["notice"] == "1 open response awaits rating: these scores may still change."
    zh_dimensions = {d["dimension"]: d for d in zh.json()["dimensions"]}
    en_dimensions = {d["dimension"]: d for d in en.json()["dimensions"]}
    assert set(zh_dimensions) == set(en_dimensions) == {"AK", "HMC", "ES"}
    for code, dimension in zh_dimensions.items():
        assert isinstance(dimension["name"], str) and re.search(r"[\u4e00-\u9fff]", dimension["name"])
        assert isinstance(en_dimensions[code]["name"], str) and en_dimensions[code]["name"].isascii()
        assert dimension["scaled"] == en_dimensions[code]["scaled"]
    assert msgspec.json.decode(zh.content)["pending_ratings"] == 1

    zh_preview = await client.get("/v1/items/T-SJT-RATE/preview", headers=admin)
    en_preview = await client.get("/v1/items/T-SJT-RATE/preview", headers={**admin, "Accept-Language": "en"})
    assert (
        zh_preview.headers["content-language"] == "zh-CN" and en_preview.headers["content-language"] == "en"
    )
    assert "Accept-Language" in zh_preview.headers["vary"]
    assert (zh_preview.json()["stem"], en_preview.json()["stem"]) == ("你会怎么做？", "What would you do?")
    assert [o["text"] for o in zh_preview.json()["options"]] == ["选项a", "选项b", "选项c", "选项d"]
    assert en_preview.json()["scenario"] == "You draft a notice with a large model."


def test_every_msg_call_fills_exactly_its_placeholders():
    """A placeholder without its param fails when the message is made; a param without a placeholder
    is a value lost in every language. Checked statically over the whole source."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "service"
    wrong = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("msg", "nmsg")
            ):
                continue
            texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not texts or any(k.arg is None for k in node.keywords):
                continue
            wanted = set().union(*(_fields(t) for t in texts)) - (
                {"count"} if node.func.id == "nmsg" else set()
            )
            given = {k.arg for k in node.keywords}
            if wanted != given:
                wrong.append(
                    f"{path.relative_to(root.parent)}:{node.lineno}: {sorted(wanted)} vs {sorted(given)}"
                )
    assert not wrong, "\n".join(wrong)


async def test_validation_reports_follow_accept_language(client, service_keys):
    """The 200 reports listing problems (framework validate, assessment check) translate them too."""
    tenant = await make_tenant(client, service_keys, "language-reports")
    admin = tenant["admin"]
    adopted = await client.post("/v1/frameworks", json={"template": "cadre-ai-literacy"}, headers=admin)
    assert adopted.status_code == 201, adopted.text
    etag = (await client.get("/v1/frameworks/cadre-ai-literacy/versions/1", headers=admin)).headers["etag"]
    patched = await client.patch(
        "/v1/frameworks/cadre-ai-literacy/versions/1",
        json=[{"op": "replace", "path": "/levels/0/code", "value": "L9"}],
        headers={**admin, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    url = "/v1/frameworks/cadre-ai-literacy/versions/1/validate"
    zh = await client.post(url, headers={**admin, "Accept-Language": "zh-CN"})
    en = await client.post(url, headers=admin)
    assert zh.status_code == en.status_code == 200 and not zh.json()["valid"]
    assert [p["pointer"] for p in zh.json()["problems"]] == [p["pointer"] for p in en.json()["problems"]]
    assert zh.json()["problems"] != en.json()["problems"]
    assert all(re.search(r"[\u4e00-\u9fff]", p["detail"]) for p in zh.json()["problems"]), zh.json()
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"


# Calls whose first argument is a message a person reads in a problem: a literal here is English
# only. (Exceptions that never reach a reply, such as ValueError, are not listed.)
_MESSAGE_CALLS = {
    "NotFound",
    "Conflict",
    "Unprocessable",
    "PreconditionFailed",
    "PreconditionRequired",
    "Forbidden",
    "DomainError",
    "FieldError",
    "NotProvisioned",
    "Deactivated",
    "AttemptClosed",
    "StartRefused",
    "BadCursor",
    "NotReady",
    "Gone",
    "InvalidToken",
    "PatchError",
    "Unsatisfiable",
    "NotAuthorizedException",
    "PermissionDeniedException",
    "TooManyRequestsException",
}


def test_error_messages_come_from_the_catalog():
    """Every message raised toward a reply is a `msg(...)`, so it has a zh-CN translation: a string
    literal or f-string here would stay English. Convert it (see README, Language) and translate."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "service"
    literal = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in _MESSAGE_CALLS:
                continue
            given = node.args[:1] + [k.value for k in node.keywords if k.arg == "detail"]
            if any(
                isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Constant) and isinstance(a.value, str))
                for a in given
            ):
                literal.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not literal, "messages outside the catalog:\n" + "\n".join(literal)


def test_the_catalogs_pass_the_format_checks():
    """What `msgfmt -c` checks, without needing gettext: Babel's own checkers (`Catalog.check`:
    placeholders of python-format entries, plural forms) pass on every catalog, and the files flag
    python-format only on texts with a named `%(name)` placeholder (the only %-formatting here: a
    console template's text given values). A `%` that is only a percent sign ("95% interval", which
    Babel alone would guess is `% i`) is flagged no-python-format, so msgfmt leaves it alone. Where
    msgfmt is installed it runs too and must be silent."""
    import shutil
    import subprocess

    from service.i18n.__main__ import NAMED_PLACEHOLDER, mark_formats, python_format

    entry = re.compile(r'^#, ([^\n]*)\n(?:#[^\n]*\n)*msgid ((?:"[^\n]*"\n)+)', re.MULTILINE)
    for locale in SUPPORTED:
        path = po_path(locale)
        text = path.read_text(encoding="utf-8")
        flagged = 0
        for flags, quoted in entry.findall(text):
            msgid = "".join(re.findall(r'"(.*)"', quoted))
            names = {f.strip() for f in flags.split(",")}
            if "python-format" in names:
                flagged += 1
                assert NAMED_PLACEHOLDER.search(msgid), (
                    f"{path}: python-format without a placeholder: {msgid}"
                )
            if "%" in msgid and not NAMED_PLACEHOLDER.search(msgid):
                assert "no-python-format" in names, f"{path}: a bare % without no-python-format: {msgid}"
        assert flagged > 10  # the console's texts with values are checked
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale.replace("-", "_"))
        mark_formats(catalog)  # the file's flags (reading re-applies Babel's guess)
        assert any(python_format(m) for m in catalog)
        problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
        assert problems == [], f"{path}: {problems}"
        msgfmt = shutil.which("msgfmt")
        if msgfmt is not None:
            done = subprocess.run(
                [msgfmt, "-c", "-o", "/dev/null", str(path)], capture_output=True, text=True, check=False
            )
            assert (done.returncode, done.stderr) == (0, ""), f"msgfmt -c {path}: {done.stderr}"


def test_a_bare_percent_is_not_python_format_and_a_named_placeholder_is():
    from babel.messages.catalog import Catalog

    from service.i18n.__main__ import mark_formats

    catalog = Catalog(locale="zh_CN")
    catalog.add("Mean gain with its 95% interval", "平均提升及其95%置信区间")
    catalog.add("%(n)d of 95%% done", "95%% 中的 %(n)d")
    catalog.add("no percent", "无")
    assert "python-format" in catalog["Mean gain with its 95% interval"].flags  # Babel's guess
    mark_formats(catalog)
    assert catalog["Mean gain with its 95% interval"].flags == {"no-python-format"}
    assert catalog["%(n)d of 95%% done"].flags == {"python-format"}
    assert catalog["no percent"].flags == set()
    assert [m.id for m, _ in catalog.check()] == []
