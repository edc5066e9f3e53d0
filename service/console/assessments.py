"""The console's assessments: list, composer, audience picker, check, preview, publish, close, accommodations.

Every action is the REST route's domain function on the request's tenant transaction behind the
same role guard (service/api/assessments.py): `assessments.create_assessment`/`replace_draft`
(the draft under its ETag, here a hidden field), `check`, `publish`, `close`, `delete_draft`,
`set_accommodation`/`list_accommodations`, and `monitor.preview_form` (the delivery's own
form-drawing code, before and after publishing). The composer is one plain form: its fields
become an `AssessmentContent` through msgspec exactly as a JSON body would, so a bad value gets
the API's message, and every problem's JSON pointer (`/sections/0/pool/draw`) is mapped to the
input it concerns (`s0_pool_draw`). The audience picker's count is `people.count_audience`, the
rule of `service.assessments.audience.includes` as one query.

Helper routes live under `/console/assessments/-/...`: `-` can never start an assessment code.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template

from service.api.assessments import RESULT_READERS, AssessmentCode, admin, read, write
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from service.assessments import assessments
from service.assessments.assessments import AccommodationSet, Assessment, AssessmentStatus
from service.assessments.model import AssessmentContent
from service.console.forms import FORM, errors_by_field, unique_errors
from service.console.views import page
from service.console.web import session_of
from service.delivery import attempts, monitor
from service.errors import DomainError, FieldError, NotFound, msgspec_field_error
from service.i18n import msg, render
from service.items import bank
from service.items.model import ITEM_TYPES
from service.results import calibrations
from service.rubrics import frameworks
from service.tenancy import org_units, people, tenants
from service.tenancy.fields import Category, ExternalId

LANGS = (("zh", "zh-CN"), ("en", "en"))
FEEDBACK = ("immediate", "after_window", "never")
STATUSES = ("draft", "published", "closed")
SCALARS = ("time_limit_minutes", "attempts_allowed", "grace_seconds", "feedback")
CATEGORIES: tuple[str, ...] = get_args(Category)
MAX_SECTIONS = 20
Seed = Annotated[int, msgspec.Meta(ge=0, le=2**62)]  # as GET /v1/assessments/{code}/preview?seed=
_SPLIT = re.compile(r"[\s,，;；]+")
_SECTION_POINTER = re.compile(r"^/sections/(\d+)(/.*)?$")


# --------------------------------------------------------------------------- form <-> document


def codes(text: str) -> list[str]:
    return [c for c in _SPLIT.split(text or "") if c]


def _refs(text: str) -> list[dict[str, Any]]:
    """`CODE` or `CODE@3` (a pinned version), separated by spaces, commas or new lines; a trailing
    `*` marks an unscored pretest item (`ItemRef.unscored`)."""
    found: list[dict[str, Any]] = []
    for token in codes(text):
        unscored = token.endswith("*") and len(token) > 1
        code, at, version = (token[:-1] if unscored else token).partition("@")
        ref: dict[str, Any] = {"code": code, "version": version} if at else {"code": code}
        found.append(ref | {"unscored": True} if unscored else ref)
    return found


def _localized(data: dict[str, str], name: str) -> dict[str, str] | None:
    texts = {lang: data.get(f"{name}_{short}", "").strip() for short, lang in LANGS}
    kept = {lang: text for lang, text in texts.items() if text}
    return kept or None


def section_count(data: dict[str, str]) -> int:
    try:
        return max(0, min(MAX_SECTIONS, int(data.get("section_count", "1"))))
    except ValueError:
        return 1


def _local_time(text: str, zone: ZoneInfo) -> datetime | str:
    """A `datetime-local` value in the tenant's time zone; anything else is passed on for msgspec to refuse."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        return text


def raw_document(
    data: dict[str, str], lists: dict[str, list[str]], zone: ZoneInfo, base: dict[str, Any] | None
) -> dict[str, Any]:
    """The composer's fields as the JSON body POST /v1/assessments would take. `base` (the stored draft)
    keeps what the composer does not show (marking, note), as a PUT of the whole document would."""
    raw: dict[str, Any] = {
        k: v for k, v in (base or {}).items() if k in ("marking", "note", "shuffle_options")
    }
    raw["code"] = data.get("code", "").strip()
    raw["title"] = _localized(data, "title") or {}
    for name in ("description", "instructions"):
        text = _localized(data, name)
        if text:
            raw[name] = text
    framework: dict[str, Any] = {"code": data.get("framework", "").strip()}
    if data.get("framework_version", "").strip():
        framework["version"] = data["framework_version"].strip()
    raw["framework"] = framework
    for name in SCALARS:
        value = data.get(name, "").strip()
        if value:
            raw[name] = value
    raw["shuffle_options"] = data.get("shuffle_options") == "on"
    window: dict[str, Any] = {}
    for name in ("opens_at", "closes_at"):
        value = data.get(name, "").strip()
        if value:
            window[name] = _local_time(value, zone)
    raw["window"] = window
    raw["audience"] = {
        "org_units": codes(data.get("audience_units", "")),
        "categories": lists.get("audience_categories", []),
        "people": codes(data.get("audience_people", "")),
    }
    stored = {
        s.get("code"): s
        for s in (base or {}).get("sections", [])
        if isinstance(s, dict) and s.get("adaptive")
    }
    sections = []
    for i in range(section_count(data)):
        p = f"s{i}_"
        kept = data.get(p + "adaptive_of", "").strip()
        if kept:  # an adaptive section: the stored one, as it is (the composer does not edit them)
            sections.append(
                copy.deepcopy(stored[kept]) if kept in stored else {"code": kept, "adaptive": None}
            )
            continue
        section: dict[str, Any] = {
            "code": data.get(p + "code", "").strip(),
            "items": _refs(data.get(p + "items", "")),
            "shuffle_items": data.get(p + "shuffle") == "on",
        }
        title = _localized(data, p + "title")
        if title:
            section["title"] = title
        pool_items, draw = _refs(data.get(p + "pool_items", "")), data.get(p + "pool_draw", "").strip()
        if pool_items or draw:
            section["pool"] = {"items": pool_items, "balance_by_indicator": data.get(p + "balance") == "on"}
            if draw:
                section["pool"]["draw"] = draw
        sections.append(section)
    raw["sections"] = sections
    return raw


def unknown_adaptive(data: dict[str, str], base: dict[str, Any] | None) -> list[FieldError]:
    """An adaptive section the form names by code (`sN_adaptive_of`) that the stored draft does not
    hold: the composer never makes one (they are written through the API)."""
    stored = {
        s.get("code") for s in (base or {}).get("sections", []) if isinstance(s, dict) and s.get("adaptive")
    }
    return [
        FieldError(
            msg(
                "adaptive section '{code}' is not in the stored draft; adaptive sections are written "
                "through the API",
                code=kept,
            ),
            f"/sections/{i}/adaptive",
        )
        for i in range(section_count(data))
        if (kept := data.get(f"s{i}_adaptive_of", "").strip()) and kept not in stored
    ]


def _remove(raw: Any, tokens: list[str]) -> bool:
    """Drop the value at `tokens` (a list element goes whole), so the next conversion reports the next problem."""
    parent = raw
    for token in tokens[:-1]:
        if isinstance(parent, dict) and token in parent:
            parent = parent[token]
        elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
            parent = parent[int(token)]
        else:
            return False
    last = tokens[-1] if tokens else None
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list) and last is not None and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
        return True
    return False


# Valid stand-ins for a required value taken out, so the conversion can go on to the next problem.
PLACEHOLDERS: dict[str, Any] = {
    "title": {"en": "x"},
    "framework": {"code": "x", "version": 1},
    "sections": [],
    "audience": {},
}


def _drop(raw: dict[str, Any], tokens: list[str]) -> bool:
    """Take the bad value at `tokens` out (or put a valid stand-in in its place); False when nothing changed."""
    try:
        return _drop_at(raw, tokens)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):  # a pointer this document lacks
        return False


def _drop_at(raw: dict[str, Any], tokens: list[str]) -> bool:
    while tokens:
        if tokens[-1] == "code" or (len(tokens) == 1 and tokens[0] in PLACEHOLDERS):
            parent: Any = raw
            for token in tokens[:-1]:
                parent = parent[int(token)] if isinstance(parent, list) else parent.get(token)
            stand_in = "x" if tokens[-1] == "code" else PLACEHOLDERS[tokens[0]]
            if isinstance(parent, dict) and parent.get(tokens[-1]) != stand_in:
                parent[tokens[-1]] = copy.deepcopy(stand_in)
                return True
            return False
        if _remove(raw, tokens):
            return True
        tokens = tokens[:-1]
    return False


def convert(raw: dict[str, Any]) -> tuple[AssessmentContent | None, list[FieldError]]:
    """The document, or every problem msgspec finds in it (the API names the first): each bad value
    is taken out and the conversion tried again."""
    problems: list[FieldError] = []
    seen: set[str] = set()
    for _ in range(40):
        try:
            content = msgspec.convert(raw, AssessmentContent, strict=False)
            return (content if not problems else None), problems
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            pointer = problem.pointer or ""
            if pointer not in seen:
                problems.append(problem)
                seen.add(pointer)
            if not _drop(raw, pointer.split("/")[1:] if pointer else []):
                break
    return None, problems


def field_of(pointer: str | None) -> str:
    """The composer input a JSON pointer concerns ("" for the form as a whole)."""
    pointer = pointer or ""
    found = _SECTION_POINTER.match(pointer)
    if found:
        prefix, rest = f"s{found.group(1)}_", found.group(2) or ""
        if rest.startswith("/pool/draw"):
            return prefix + "pool_draw"
        if rest.startswith("/pool"):
            return prefix + "pool_items"
        if rest.startswith("/items"):
            return prefix + "items"
        if rest.startswith("/code"):
            return prefix + "code"
        if rest.startswith("/title"):
            return prefix + "title"
        return prefix + "section"
    top = pointer.lstrip("/").split("/")
    head = top[0]
    if head == "framework":
        return "framework_version" if top[1:2] == ["version"] else "framework"
    if head == "window":
        return top[1] if len(top) > 1 and top[1] in ("opens_at", "closes_at") else "closes_at"
    if head == "audience":
        names = {
            "org_units": "audience_units",
            "people": "audience_people",
            "categories": "audience_categories",
        }
        return names.get(top[1], "audience") if len(top) > 1 else "audience"
    if head in ("code", "title", "description", "instructions", "sections", "shuffle_options", *SCALARS):
        return head
    return FORM


def errors_of(problems: list[FieldError], detail: str, locale: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(field_of(problem.pointer), []).append(render(problem.detail, locale))
    if not found and detail:
        found[FORM] = [render(detail, locale)]
    return found


def _ref_text(refs: list[Any]) -> str:
    return "\n".join(
        (f"{r.code}@{r.version}" if r.version else r.code) + ("*" if r.unscored else "") for r in refs
    )


def _local_text(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""


def values_of(content: AssessmentContent, zone: ZoneInfo) -> dict[str, Any]:
    """The composer's fields for a stored document."""
    values: dict[str, Any] = {
        "code": content.code,
        "framework": content.framework.code,
        "framework_version": str(content.framework.version),
        "time_limit_minutes": str(content.time_limit_minutes or ""),
        "attempts_allowed": str(content.attempts_allowed),
        "grace_seconds": str(content.grace_seconds),
        "feedback": content.feedback,
        "shuffle_options": "on" if content.shuffle_options else "",
        "opens_at": _local_text(content.window.opens_at, zone),
        "closes_at": _local_text(content.window.closes_at, zone),
        "audience_units": "\n".join(content.audience.org_units),
        "audience_people": "\n".join(content.audience.people),
        "audience_categories": list(content.audience.categories),
        "section_count": str(len(content.sections)),
    }
    for name in ("title", "description", "instructions"):
        text = getattr(content, name) or {}
        for short, lang in LANGS:
            values[f"{name}_{short}"] = text.get(lang, "")
    for i, section in enumerate(content.sections):
        p = f"s{i}_"
        if section.adaptive is not None:  # shown read-only, kept as stored (`raw_document`)
            values[p + "adaptive_of"] = section.code
            continue
        values[p + "code"] = section.code
        for short, lang in LANGS:
            values[f"{p}title_{short}"] = (section.title or {}).get(lang, "")
        values[p + "items"] = _ref_text(section.items)
        values[p + "shuffle"] = "on" if section.shuffle_items else ""
        values[p + "pool_items"] = _ref_text(section.pool.items) if section.pool else ""
        values[p + "pool_draw"] = str(section.pool.draw) if section.pool else ""
        values[p + "balance"] = "on" if section.pool is None or section.pool.balance_by_indicator else ""
    return values


def blank_values() -> dict[str, Any]:
    return {
        "attempts_allowed": "1",
        "grace_seconds": "30",
        "feedback": "after_window",
        "shuffle_options": "on",
        "audience_categories": [],
        "section_count": "1",
        "s0_code": "main",
        "s0_balance": "on",
    }


async def posted(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The form's single fields, and the repeated ones (checkboxes) as lists."""
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    return single, {
        "audience_categories": [v for v in form.getall("audience_categories", []) if isinstance(v, str)]
    }


# --------------------------------------------------------------------------- pages


async def _zone(request: Request, conn: asyncpg.Connection) -> ZoneInfo:
    return ZoneInfo((await tenants.get_tenant_by_id(conn, session_of(request).tenant_id)).timezone)


def _can(request: Request, roles: frozenset[str]) -> bool:
    return session_of(request).principal().has_any(roles)


WRITERS = frozenset({"tenant_admin", "author"})
ADMINS = frozenset({"tenant_admin"})
ANALYSTS = frozenset({"tenant_admin", "analyst"})  # the analysis screens (service/console/analysis.py)


async def _missing(request: Request, conn: asyncpg.Connection, exc: NotFound) -> Template:
    return await page(
        request,
        conn,
        "error.html",
        status_code=404,
        status=404,
        detail=render(exc.message, session_of(request).locale),
    )


async def _framework_codes(conn: asyncpg.Connection) -> list[str]:
    return [f.code for f in await frameworks.list_frameworks(conn, after=None, limit=200)]


class AssessmentScreens(Controller):
    """Authoring → Assessments."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _composer(
        self,
        request: Request,
        conn: asyncpg.Connection,
        *,
        values: dict[str, Any],
        errors: dict[str, list[str]],
        current: Assessment | None,
        status_code: int = 200,
        notice: str | None = None,
        audience_count: int | None = None,
    ) -> Template:
        zone = await _zone(request, conn)
        if audience_count is None:
            audience_count = await people.count_audience(
                conn,
                org_units=codes(values.get("audience_units", "")),
                categories=list(values.get("audience_categories", [])),
                people=codes(values.get("audience_people", "")),
            )
        return await page(
            request,
            conn,
            "assessment_edit.html",
            status_code=status_code,
            values=values,
            errors=errors,
            current=current,
            sections=range(section_count(values)),
            adaptive={s.code: s for s in current.content.sections if s.adaptive} if current else {},
            frameworks=await _framework_codes(conn),
            feedbacks=FEEDBACK,
            categories=CATEGORIES,
            timezone=zone.key,
            notice=notice,
            audience_count=audience_count,
            can_write=_can(request, WRITERS),
            types=ITEM_TYPES,
        )

    @get("/", guards=[read])
    async def assessment_list(self, request: Request, conn: Conn) -> Template:
        locale = session_of(request).locale
        status = request.query_params.get("status") or None
        errors: dict[str, list[str]] = {}
        found: list[assessments.AssessmentSummary] = []
        more = None
        try:
            msgspec.convert(status, AssessmentStatus | None)
        except msgspec.ValidationError as exc:
            errors["status"] = [render(msgspec_field_error(str(exc)).detail, locale)]
        if not errors:
            try:
                found = await assessments.list_assessments(
                    conn,
                    status=status,
                    after=decode_cursor("assessments", request.query_params.get("cursor")),
                    limit=DEFAULT_LIMIT,
                )
                more = next_cursor("assessments", [a.code for a in found], DEFAULT_LIMIT)
            except DomainError as exc:
                errors = errors_of(exc.errors, exc.message, locale)
                errors = {FORM: [e for es in errors.values() for e in es]}
        shown = {"status": status} if status else {}
        return await page(
            request,
            conn,
            "assessment_list.html",
            status_code=422 if errors else 200,
            assessments=found,
            statuses=STATUSES,
            values=shown,
            errors=errors,
            next_url=f"/console/assessments?{urlencode({**shown, 'cursor': more})}" if more else None,
            can_write=_can(request, WRITERS),
            sees_results=_can(request, RESULT_READERS),
            sees_analysis=_can(request, ANALYSTS),
            allocates=_can(request, ADMINS),
            zone=await _zone(request, conn),
        )

    @get("/-/new", guards=[write])
    async def new(self, request: Request, conn: Conn) -> Template:
        return await self._composer(request, conn, values=blank_values(), errors={}, current=None)

    @post("/", guards=[write], status_code=200)
    async def create(self, request: Request, conn: Conn) -> Template | Redirect:
        data, lists = await posted(request)
        action = data.get("action", "save")
        values = _reshaped(data, lists, action)
        if action != "save" and action != "check":
            return await self._composer(request, conn, values=values, errors={}, current=None)
        locale = session_of(request).locale
        content, problems = convert(raw_document(data, lists, await _zone(request, conn), None))
        problems = unknown_adaptive(data, None) + problems
        if problems:
            content = None
        if content is None:
            errors = errors_of(problems, msg("correct the fields marked below"), locale)
            return await self._composer(
                request, conn, values=values, errors=errors, current=None, status_code=422
            )
        try:
            async with conn.transaction():  # a savepoint: a taken code leaves the transaction usable
                await assessments.create_assessment(conn, content)
        except asyncpg.UniqueViolationError as exc:
            errors = unique_errors(exc, ("code",), locale)
            return await self._composer(
                request, conn, values=values, errors=errors, current=None, status_code=422
            )
        suffix = "?checked=1" if action == "check" else ""
        return Redirect(f"/console/assessments/{content.code}{suffix}", status_code=303)

    @get("/{code:str}", guards=[read])
    async def detail(self, request: Request, conn: Conn, code: AssessmentCode) -> Template:
        try:
            current = await assessments.get_assessment(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        zone = await _zone(request, conn)
        if current.status == "draft" and _can(request, WRITERS):
            errors: dict[str, list[str]] = {}
            notice = "saved" if request.query_params.get("saved") else None
            if request.query_params.get("checked"):
                report = await assessments.check(conn, code, calibrations=calibrations.covers)
                errors = errors_of(report.problems, "", session_of(request).locale)
                notice = "ready" if report.valid else "problems"
            return await self._composer(
                request,
                conn,
                values=values_of(current.content, zone),
                errors=errors,
                current=current,
                notice=notice,
                status_code=200,
            )
        return await self._summary(request, conn, current, zone)

    async def _summary(
        self, request: Request, conn: asyncpg.Connection, current: Assessment, zone: ZoneInfo, **extra: Any
    ) -> Template:
        audience = current.content.audience
        count = await people.count_audience(
            conn, org_units=audience.org_units, categories=list(audience.categories), people=audience.people
        )
        return await page(
            request,
            conn,
            "assessment_view.html",
            a=current,
            c=current.content,
            zone=zone,
            timezone=zone.key,
            audience_count=count,
            can_write=_can(request, WRITERS),
            can_admin=_can(request, ADMINS),
            **extra,
        )

    @post("/{code:str}", guards=[write], status_code=200)
    async def save(self, request: Request, conn: Conn, code: AssessmentCode) -> Template | Redirect:
        """Save the draft (`replace_draft` under the ETag the page was rendered with); "check" saves, then
        runs the API's check and shows each problem next to its field."""
        data, lists = await posted(request)
        action = data.get("action", "save")
        locale = session_of(request).locale
        try:
            current = await assessments.get_assessment(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        values = _reshaped(data, lists, action)
        values["code"] = code
        if action not in ("save", "check"):
            return await self._composer(request, conn, values=values, errors={}, current=current)
        base = msgspec.to_builtins(current.content)
        content, problems = convert(
            raw_document({**data, "code": code}, lists, await _zone(request, conn), base)
        )
        problems = unknown_adaptive(data, base) + problems
        if problems:
            content = None
        if content is None:
            errors = errors_of(problems, msg("correct the fields marked below"), locale)
            return await self._composer(
                request, conn, values=values, errors=errors, current=current, status_code=422
            )
        try:
            await assessments.replace_draft(conn, code, content, data.get("etag", ""))
        except DomainError as exc:  # published meanwhile (409), or saved elsewhere (412)
            errors = errors_of(exc.errors, exc.message, locale)
            return await self._composer(
                request, conn, values=values, errors=errors, current=current, status_code=exc.status
            )
        suffix = "?checked=1" if action == "check" else "?saved=1"
        return Redirect(f"/console/assessments/{code}{suffix}", status_code=303)

    @post("/{code:str}/publish", guards=[write], status_code=200)
    async def publish(self, request: Request, conn: Conn, code: AssessmentCode) -> Template | Redirect:
        data, _ = await posted(request)
        locale = session_of(request).locale
        try:
            await assessments.publish(conn, code, data.get("etag", ""), calibrations=calibrations.covers)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        except DomainError as exc:  # the check's problems (422), or changed meanwhile (409, 412)
            current = await assessments.get_assessment(conn, code)
            zone = await _zone(request, conn)
            errors = errors_of(exc.errors, exc.message, locale)
            if exc.errors:
                errors.setdefault(FORM, []).insert(0, render(exc.message, locale))
            if current.status != "draft":
                return await self._summary(request, conn, current, zone, error=render(exc.message, locale))
            return await self._composer(
                request,
                conn,
                values=values_of(current.content, zone),
                errors=errors,
                current=current,
                status_code=exc.status,
                notice="problems" if exc.errors else None,
            )
        return Redirect(f"/console/assessments/{code}", status_code=303)

    @post("/{code:str}/close", guards=[write], status_code=200)
    async def close(self, request: Request, conn: Conn, code: AssessmentCode) -> Template | Redirect:
        try:
            await assessments.close(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        except DomainError as exc:  # a draft: delete it instead
            current = await assessments.get_assessment(conn, code)
            zone = await _zone(request, conn)
            return await self._composer(
                request,
                conn,
                values=values_of(current.content, zone),
                errors={FORM: [render(exc.message, session_of(request).locale)]},
                current=current,
                status_code=exc.status,
            )
        return Redirect(f"/console/assessments/{code}", status_code=303)

    @post("/{code:str}/delete", guards=[write], status_code=200)
    async def delete(self, request: Request, conn: Conn, code: AssessmentCode) -> Template | Redirect:
        try:
            await assessments.delete_draft(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        except DomainError as exc:  # published or closed: it stays
            current = await assessments.get_assessment(conn, code)
            return await self._summary(
                request,
                conn,
                current,
                await _zone(request, conn),
                error=render(exc.message, session_of(request).locale),
            )
        return Redirect("/console/assessments", status_code=303)

    @get("/{code:str}/preview", guards=[read])
    async def preview(self, request: Request, conn: Conn, code: AssessmentCode) -> Template:
        """A form drawn as delivery draws it (`monitor.preview_form`, as GET /v1/assessments/{code}/preview)."""
        locale = session_of(request).locale
        seed_text = request.query_params.get("seed")
        errors: dict[str, list[str]] = {}
        seed = random.getrandbits(62)
        if seed_text is not None:
            try:
                seed = msgspec.convert(seed_text, Seed, strict=False)
            except msgspec.ValidationError as exc:
                errors["seed"] = [render(msgspec_field_error(str(exc)).detail, locale)]
        try:
            current = await assessments.get_assessment(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        form = None
        if not errors:
            try:
                form = await monitor.preview_form(conn, code, seed)
            except NotFound as exc:
                return await _missing(request, conn, exc)
            except DomainError as exc:  # a draft naming items that do not exist
                errors = errors_of(exc.errors, exc.message, locale)
                errors = {
                    FORM: [render(exc.message, locale)] + [e for k, es in errors.items() for e in es if k]
                }
        titles = {s.code: s.title for s in current.content.sections}
        groups: list[dict[str, Any]] = []
        for number, placed in enumerate(form.items if form else [], start=1):
            if not groups or groups[-1]["code"] != placed.section:
                groups.append(
                    {
                        "code": placed.section,
                        "title": titles.get(placed.section),
                        "start": number,
                        "items": [],
                    }
                )
            groups[-1]["items"].append(placed)
        return await page(
            request,
            conn,
            "assessment_preview.html",
            status_code=422 if errors else 200,
            a=current,
            form=form,
            groups=groups,
            errors=errors,
            seed=seed,
        )

    @get("/{code:str}/accommodations", guards=[read])
    async def accommodations(self, request: Request, conn: Conn, code: AssessmentCode) -> Template:
        return await self._accommodations(request, conn, code, values={}, errors={})

    async def _accommodations(
        self,
        request: Request,
        conn: asyncpg.Connection,
        code: str,
        *,
        values: dict[str, str],
        errors: dict[str, list[str]],
        status_code: int = 200,
        saved: str | None = None,
    ) -> Template:
        locale = session_of(request).locale
        try:
            current = await assessments.get_assessment(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        cursor = request.query_params.get("cursor")
        try:
            found = await assessments.list_accommodations(
                conn, code, after=decode_cursor("accommodations", cursor), limit=DEFAULT_LIMIT
            )
        except NotFound as exc:
            return await _missing(request, conn, exc)
        except DomainError as exc:  # a cursor this list did not hand out
            found, errors = [], {**errors, FORM: [render(exc.message, locale)]}
            status_code = 422
        more = next_cursor("accommodations", [a.external_id for a in found], DEFAULT_LIMIT)
        return await page(
            request,
            conn,
            "assessment_accommodations.html",
            status_code=status_code,
            a=current,
            accommodations=found,
            values=values,
            errors=errors,
            saved=saved,
            next_url=f"/console/assessments/{code}/accommodations?{urlencode({'cursor': more})}"
            if more
            else None,
            can_admin=_can(request, ADMINS),
            zone=await _zone(request, conn),
        )

    @post("/{code:str}/accommodations", guards=[admin], status_code=200)
    async def set_accommodation(self, request: Request, conn: Conn, code: AssessmentCode) -> Template:
        """`assessments.set_accommodation`, as PUT /v1/assessments/{code}/accommodations/{external_id}."""
        data, _ = await posted(request)
        locale = session_of(request).locale
        values = {k: data.get(k, "").strip() for k in ("external_id", "extra_time_factor", "note")}
        errors: dict[str, list[str]] = {}
        try:
            msgspec.convert(values["external_id"], ExternalId)
        except msgspec.ValidationError as exc:
            errors["external_id"] = [render(msgspec_field_error(str(exc)).detail, locale)]
        try:
            await assessments.get_assessment(conn, code)
        except NotFound as exc:
            return await _missing(request, conn, exc)
        body: dict[str, Any] = {"extra_time_factor": values["extra_time_factor"] or None}
        if values["note"]:
            body["note"] = values["note"]
        try:
            change = msgspec.convert(body, AccommodationSet, strict=False)
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors.update(errors_by_field([problem], problem.detail, ("extra_time_factor", "note"), locale))
            change = None
        if change is not None and not errors:
            try:
                async with conn.transaction():
                    await attempts.set_accommodation(conn, code, values["external_id"], change)
            except NotFound as exc:  # the assessment is there: the person is not
                errors["external_id"] = [render(exc.message, locale)]
        if errors:
            return await self._accommodations(
                request, conn, code, values=values, errors=errors, status_code=422
            )
        return await self._accommodations(
            request, conn, code, values={}, errors={}, saved=values["external_id"]
        )

    # ----------------------------------------------------------------------- the composer's helpers

    @get("/-/audience", guards=[read])
    async def audience(self, request: Request, conn: Conn) -> Template:
        """How many people the audience being picked reaches (htmx, as its fields change)."""
        query = request.query_params
        count = await people.count_audience(
            conn,
            org_units=codes(query.get("audience_units", "")),
            categories=[c for c in query.getall("audience_categories", []) if c in CATEGORIES],
            people=codes(query.get("audience_people", "")),
        )
        return await page(request, conn, "_assessment_audience.html", audience_count=count)

    @get("/-/org-units", guards=[read])
    async def unit_tree(self, request: Request, conn: Conn) -> Template:
        """One level of the org tree (the roots, or `parent`'s children), for the audience picker."""
        parent = request.query_params.get("parent") or None
        try:
            units = await org_units.list_org_units(
                conn,
                under=None,
                parent=parent,
                level=None,
                after=None,
                limit=200,
                active=True,
                roots=parent is None,
            )
        except NotFound:  # an unknown unit (or another tenant's) has no children here
            units = []
        return await page(request, conn, "_assessment_units.html", units=units, parent=parent)

    @get("/-/people", guards=[read])
    async def people_in_unit(self, request: Request, conn: Conn) -> Template:
        """Active people directly or indirectly in a unit (`people.list_people`, as GET /v1/people?under=),
        to name in the audience."""
        under = request.query_params.get("under") or None
        found: list[people.Person] = []
        if under is not None:
            try:
                found = await people.list_people(
                    conn, under=under, category=None, active=True, after=None, limit=100
                )
            except NotFound:  # an unknown unit (or another tenant's) has nobody here
                found = []
        return await page(request, conn, "_assessment_people.html", found=found)

    @get("/-/items", guards=[read])
    async def item_search(self, request: Request, conn: Conn) -> Template:
        """Items to add to a section: `bank.search_items`, as GET /v1/items (active items only)."""
        query = request.query_params
        text = (query.get("item_q") or "").strip()[:200] or None
        framework = (query.get("framework") or "").strip() or None
        indicator = (query.get("item_indicator") or "").strip() or None
        found: list[bank.ItemSummary] = []
        try:
            found = await bank.search_items(
                conn,
                framework=framework,
                indicator=indicator,
                type_=None,
                status="active",
                text=text,
                after=None,
                limit=20,
            )
        except DomainError:
            found = []
        return await page(request, conn, "_assessment_items.html", found=found)


def _reshaped(data: dict[str, str], lists: dict[str, list[str]], action: str) -> dict[str, Any]:
    """The posted fields to show again, with a section added or removed when the button asked for it."""
    values: dict[str, Any] = {**data, **lists}
    count = section_count(data)
    if action == "add_section" and count < MAX_SECTIONS:
        values[f"s{count}_balance"] = "on"
        values["section_count"] = str(count + 1)
    elif action.startswith("remove_section-") and action.split("-", 1)[1].isdigit():
        gone = int(action.split("-", 1)[1])
        if gone < count:
            sections = [
                {k[len(f"s{i}_") :]: v for k, v in values.items() if k.startswith(f"s{i}_")}
                for i in range(count)
            ]
            for key in [k for k in values if re.match(r"s\d+_", k)]:
                del values[key]
            del sections[gone]
            for i, section in enumerate(sections):
                values.update({f"s{i}_{k}": v for k, v in section.items()})
            values["section_count"] = str(count - 1)
    return values
