"""Adversarial tenant isolation through the HTTP API.

Two tenants, A and B, each with an org tree, people, an identity provider, frameworks, items,
assessments (published and draft), accommodations and a running attempt with answers, and some
keys (`HQ`, `shared-1`, `SHARED-SC`, `QUIZ`) that exist in both. A's admin, author and candidate
then aim every route that names an object at B's objects. Each answer must be the same 404 (or
422 for a foreign reference in a body, or the empty page for a list filter) that a key which
exists nowhere would get, and afterwards B, seen through its own token and directly in the
database, must be exactly as before.

The probes are data (`CROSS_TENANT_PROBES`, `OWN_KEY_PROBES`, `DRAFT_REFERENCE_PROBES`), and
`test_every_object_route_has_an_isolation_probe` walks the app's routes: a new route with a path
parameter, a new query parameter or a new body field that names an object fails the suite until
a probe here covers it.
"""

from __future__ import annotations

import asyncio
import copy
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.params import (
    BodyKwarg,
    CookieParameter,
    DependencyKwarg,
    HeaderParameter,
    ParameterKwarg,
    PathParameter,
)

from service.auth.keys import ServiceKeys
from service.config import Settings
from service.items.model import Item
from service.items.qti.write import package as qti_package
from service.rubrics.model import FrameworkContent
from tests.harness import app_for, snapshot
from tests.helpers import IdentityProvider, make_tenant, operator, user

PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------- the probes


@dataclass(frozen=True)
class Probe:
    """A's user `who` ("admin", "author" or "candidate") sends `method url body`; `route` is the app's
    template it exercises.

    `covers` says what the probe stands for: "path", "query:<name>", "header:<name>" or "body:<json pointer>"
    (list items written as `*`). `url`, `body` and `headers` may hold `{b_issuer}`-style placeholders;
    a body dict `{"$document": name, **fields}` is the document the world read under `name` (e.g. A's
    own export) with `fields` replaced. A 200 probe is a list filter naming B's key: its answer must be
    the empty page a key nobody has gets.
    """

    method: str
    route: str
    url: str
    status: int
    covers: str
    body: Any = None
    pointer: str | None = None  # for a 422: the field its errors[] must name
    headers: dict[str, str] | None = None  # extra request headers, e.g. If-Match with B's real ETag
    who: str = "admin"  # "console": A's admin signed in to the web console (cookie and CSRF header)
    files: dict[str, Any] | None = None  # a multipart upload instead of a JSON body
    form: dict[str, str] | None = None  # a console form's fields, posted form-encoded


def _l(text: str) -> dict[str, str]:
    return {"zh-CN": text, "en": text}


def _item(
    prefix: str, code: str, kind: str = "single_choice", indicator: str = "D1.1", framework: str | None = None
) -> dict[str, Any]:
    """An item of `prefix`'s tenant for its `<prefix>-FW`. Every text starts "<prefix> <prefix>-", so B's
    ("B B-item B-SC-1", "B B-rater notes") give themselves away wherever they show up in A's answers."""
    body: dict[str, Any] = {
        "type": kind,
        "code": code,
        "framework": framework or f"{prefix}-FW",
        "stem": _l(f"{prefix} {prefix}-item {code}"),
        "loadings": [{"indicator": indicator}],
        "note": f"{prefix} {prefix}-author note on {code}",
    }
    options = [{"key": k, "text": _l(f"{prefix} {prefix}-option {k} of {code}")} for k in "abcd"]
    if kind == "single_choice":
        return {**body, "options": options, "key": {"correct": "c"}}
    if kind == "ordering":
        return {**body, "options": options, "key": {"order": ["b", "d", "a", "c"]}}
    assert kind == "open_response", kind
    return {
        **body,
        "key": {
            "rater_notes": _l(f"{prefix} {prefix}-rater notes on {code}"),
            "exemplars": [_l(f"{prefix} {prefix}-exemplar for {code}")],
        },
    }


def _assessment(
    prefix: str,
    code: str,
    items: list[str],
    *,
    framework: str | None = None,
    pool: list[str] | None = None,
    adaptive: list[str] | None = None,
    pretest: list[str] | None = None,
    units: list[str] | None = None,
    people: list[str] | None = None,
) -> dict[str, Any]:
    """An assessment of `prefix`'s tenant: one section of fixed `items` (and a `pool` to draw one from,
    or an `adaptive` pool pinning a calibration nobody has, with `pretest` items), for `units` (default
    `<prefix>-ROOT`) and `people`."""
    section: dict[str, Any] = {"code": "main", "items": [{"code": c} for c in items]}
    if pool is not None:
        section["pool"] = {"items": [{"code": c} for c in pool], "draw": 1}
    if adaptive is not None:
        section["adaptive"] = {
            "items": [{"code": c} for c in adaptive],
            "calibration": "00000000-0000-0000-0000-00000000000a",
            "dimension": "D",
            "min_items": 1,
            "max_items": 1,
        }
        if pretest is not None:
            section["adaptive"]["pretest"] = {"items": [{"code": c} for c in pretest], "count": 1}
    return {
        "code": code,
        "title": _l(f"{prefix} {prefix}-assessment {code}"),
        "framework": {"code": framework or f"{prefix}-FW", "version": 1},
        "sections": [section],
        "audience": {"org_units": [f"{prefix}-ROOT"] if units is None else units, "people": people or []},
        "time_limit_minutes": 30,
        "note": f"{prefix} {prefix}-author note on {code}",
    }


# A's admin (or author, or candidate) reaching for B's objects, or pointing A's objects at B's:
# always refused.
AGGREGATE_VIEWS = [
    "aggregates",
    "aggregates.csv",
    "aggregates.xlsx",
    "aggregates/children",
    "aggregates/children.csv",
    "aggregates/children.xlsx",
    "aggregates/trend",
    "aggregates/trend.csv",
    "aggregates/trend.xlsx",
]


def _workbook(sheet: str, row: dict[str, Any]) -> bytes:
    """The item import template with one row filled in on `sheet`."""
    import io

    import openpyxl

    from service.items.spreadsheet import COLUMNS, template

    book = openpyxl.load_workbook(io.BytesIO(template()))
    for name, value in row.items():
        book[sheet].cell(row=3, column=COLUMNS[sheet].index(name) + 1, value=value)  # type: ignore[index]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _qti_package(item: dict[str, Any]) -> bytes:
    """A QTI 3.0 package of one item, as the service exports it (our extension carries its loadings)."""
    return qti_package([msgspec.convert(item, Item)], {}, "MANIFEST-A")


def _listed(response: httpx.Response) -> list[Any]:
    """What a 200 answer lists: a page's items, or a QTI package's item files."""
    if response.headers["content-type"].startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return [name for name in archive.namelist() if name.startswith("items/")]
    items: list[Any] = response.json()["items"]
    return items


B_IMAGE = b"\x89PNG\r\n\x1a\n" + b"B b-image of tenant B"

# Images and the spreadsheet import: B's image by its id (as staff and as a candidate), an item of A's
# showing B's image, and rows of A's workbook placed under B's framework.
IMAGE_PROBES: list[Probe] = [
    Probe("GET", "/v1/images/{image_id:str}", "/v1/images/{b_image}", 404, "path"),
    Probe("GET", "/v1/images/{image_id:str}", "/v1/images/{b_image}", 404, "path", who="candidate"),
    Probe(
        "POST",
        "/v1/items",
        "/v1/items",
        422,
        "body:/image",
        {**_item("A", "A-IMG"), "image": "{b_image}", "image_alt": {"en": "a chart"}},
        pointer="/image",
    ),
    Probe(
        "POST",
        "/v1/items/import/xlsx",
        "/v1/items/import/xlsx?framework=B-FW",
        422,
        "query:framework",
        files={
            "file": (
                "a.xlsx",
                _workbook("likert", {"code": "A-XLSX", "stem_en": "A A-x", "loadings": "D1.1"}),
                XLSX,
            )
        },
    ),
]

CROSS_TENANT_PROBES: list[Probe] = [
    *IMAGE_PROBES,
    Probe("GET", "/v1/org-units/{code:str}", "/v1/org-units/B-CITY", 404, "path"),
    Probe(
        "PATCH",
        "/v1/org-units/{code:str}",
        "/v1/org-units/B-CITY",
        404,
        "path",
        {"name": "pwned by A", "level": "pwned"},
    ),
    Probe("DELETE", "/v1/org-units/{code:str}", "/v1/org-units/B-LEAF", 404, "path"),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-CITY/move",
        404,
        "path",
        {"parent_code": None},
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-LEAF/move",
        404,
        "path",
        {"parent_code": "A-ROOT"},
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/B-LEAF/move",
        404,
        "path",
        {"parent_code": "B-ROOT"},
    ),
    Probe("GET", "/v1/people/{external_id:str}", "/v1/people/b-1", 404, "path"),
    Probe("GET", "/v1/org-units", "/v1/org-units?under=B-ROOT", 404, "query:under"),
    Probe("GET", "/v1/org-units", "/v1/org-units?parent=B-ROOT", 404, "query:parent"),
    Probe("GET", "/v1/org-units", "/v1/org-units?under=B-CITY&parent=B-CITY", 404, "query:under"),
    Probe("GET", "/v1/people", "/v1/people?under=B-ROOT", 404, "query:under"),
    Probe("GET", "/v1/people", "/v1/people?under=B-LEAF", 404, "query:under"),
    Probe(
        "POST",
        "/v1/org-units",
        "/v1/org-units",
        422,
        "body:/parent_code",
        {"code": "A-NEW", "name": "new", "parent_code": "B-ROOT"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/A-CITY/move",
        422,
        "body:/parent_code",
        {"parent_code": "B-ROOT"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/{code:str}/move",
        "/v1/org-units/HQ/move",
        422,
        "body:/parent_code",
        {"parent_code": "B-LEAF"},
        pointer="/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import",
        422,
        "body:/units/*/parent_code",
        {
            "units": [
                {"code": "A-NEW", "name": "new", "parent_code": "A-ROOT"},
                {"code": "A-NEW-2", "name": "new", "parent_code": "B-CITY"},
            ]
        },
        pointer="/units/1/parent_code",
    ),
    # upsert and sync place and move units by code: B's units are unknown codes, never parents
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import?mode=upsert",
        422,
        "body:/units/*/parent_code",
        {"units": [{"code": "A-NEW", "name": "new", "parent_code": "B-CITY"}]},
        pointer="/units/0/parent_code",
    ),
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import?mode=upsert",
        422,
        "body:/units/*/parent_code",
        {"units": [{"code": "A-CITY", "name": "moved to B", "parent_code": "B-ROOT"}]},
        pointer="/units/0/parent_code",
    ),
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/a-new",
        422,
        "body:/org_unit_code",
        {"org_unit_code": "B-CITY"},
        pointer="/org_unit_code",
    ),
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/a-1",
        422,
        "body:/org_unit_code",
        {"org_unit_code": "B-ROOT", "display_name": "moved to B"},
        pointer="/org_unit_code",
    ),
    Probe(
        "PATCH",
        "/v1/people/{external_id:str}",
        "/v1/people/b-1",
        404,
        "path",
        {"display_name": "pwned by A", "active": False},
    ),
    Probe(
        "PATCH",
        "/v1/people/{external_id:str}",
        "/v1/people/a-1",
        422,
        "body:/org_unit_code",
        {"org_unit_code": "B-CITY", "display_name": "moved to B"},
        pointer="/org_unit_code",
    ),
    Probe(
        "POST",
        "/v1/people/bulk",
        "/v1/people/bulk",
        422,
        "body:/people/*/org_unit_code",
        {
            "people": [
                {"external_id": "a-new", "org_unit_code": "A-CITY"},
                {"external_id": "a-1", "org_unit_code": "B-CITY"},
            ]
        },
        pointer="/people/1/org_unit_code",
    ),
    # Frameworks. B's B-FW has version 1 published and version 2 a draft, B-DRAFT a draft version 1,
    # B-IMPORTED a published version 1. The writes name real B versions with B's live ETag (or `*`)
    # and well-formed bodies, so a 404 can only come from the tenant boundary, never a 412.
    Probe("GET", "/v1/frameworks/{code:str}", "/v1/frameworks/B-FW", 404, "path"),
    Probe("GET", "/v1/frameworks/{code:str}", "/v1/frameworks/B-IMPORTED", 404, "path"),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-FW/versions/1",
        404,
        "path",
    ),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-FW/versions/2",
        404,
        "path",
    ),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/versions/{version:int}/rendered",
        "/v1/frameworks/B-FW/versions/1/rendered",
        404,
        "path",
        headers={"Accept-Language": "en"},
    ),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/versions/{version:int}/export",
        "/v1/frameworks/B-FW/versions/1/export?format=case",
        404,
        "path",
    ),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/versions/{version:int}/export",
        "/v1/frameworks/B-FW/versions/1/export?format=native",
        404,
        "path",
    ),
    Probe(
        "GET",
        "/v1/frameworks/{code:str}/diff",
        "/v1/frameworks/B-FW/diff?from=1&to=2",
        404,
        "path",
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions",
        "/v1/frameworks/B-FW/versions",
        404,
        "path",
        {},
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions",
        "/v1/frameworks/B-FW/versions",
        404,
        "path",
        {"from_version": 1},
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions",
        "/v1/frameworks/B-IMPORTED/versions",  # B-IMPORTED's only version is a published one
        404,
        "path",
        {"from_version": 1},
    ),
    Probe(
        "PUT",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-FW/versions/2",
        404,
        "path",
        {"$document": "a_content", "code": "B-FW"},
        headers={"If-Match": "{b_etag_v2}"},
    ),
    Probe(
        "PUT",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-DRAFT/versions/1",
        404,
        "path",
        {"$document": "a_content", "code": "B-DRAFT"},
        headers={"If-Match": "*"},
    ),
    Probe(
        "PATCH",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-FW/versions/2",
        404,
        "path",
        [{"op": "replace", "path": "/title", "value": {"en": "pwned by A"}}],
        headers={"If-Match": "{b_etag_v2}"},
    ),
    Probe(
        "PATCH",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/B-FW/versions/2",
        404,
        "path",
        [{"op": "replace", "path": "/title", "value": {"en": "pwned by A"}}],
        headers={"If-Match": "*"},
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions/{version:int}/validate",
        "/v1/frameworks/B-FW/versions/2/validate",
        404,
        "path",
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions/{version:int}/publish",
        "/v1/frameworks/B-FW/versions/2/publish",
        404,
        "path",
        headers={"If-Match": "{b_etag_v2}"},
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions/{version:int}/publish",
        "/v1/frameworks/B-DRAFT/versions/1/publish",
        404,
        "path",
        headers={"If-Match": "*"},
    ),
    Probe(
        "POST",
        "/v1/frameworks/{code:str}/versions/{version:int}/retire",
        "/v1/frameworks/B-FW/versions/1/retire",
        404,
        "path",
    ),
    # A's own draft pointed at B's framework code: the code of a draft cannot change at all.
    Probe(
        "PUT",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/A-FW/versions/2",
        422,
        "body:/code",
        {"$document": "a_content", "code": "B-FW"},
        pointer="/code",
        headers={"If-Match": "{a_etag_v2}"},
    ),
    Probe(
        "PATCH",
        "/v1/frameworks/{code:str}/versions/{version:int}",
        "/v1/frameworks/A-FW/versions/2",
        422,
        "body:/code",
        [{"op": "replace", "path": "/code", "value": "B-FW"}],
        pointer="/code",
        headers={"If-Match": "{a_etag_v2}"},
    ),
    # The item bank. B has B-SC-1, B-ORD-1 (on D2.1), B-OR-1 (on D3.1) and SHARED-SC, all pinned by
    # B's published B-QUIZ; A has A-SC-1 and its own SHARED-SC, nothing on D2.1 or D3.1. Writes carry a
    # well-formed item and B's live ETag (or `*`), so a 404 can only come from the tenant boundary.
    *[
        Probe(method, route, url, 404, "path", who=who)
        for who in ("admin", "author")
        for method, route, url in (
            ("GET", "/v1/items/{code:str}", "/v1/items/B-SC-1"),
            ("GET", "/v1/items/{code:str}", "/v1/items/B-OR-1"),
            ("GET", "/v1/items/{code:str}/versions/{version:int}", "/v1/items/B-OR-1/versions/1"),
            ("GET", "/v1/items/{code:str}/preview", "/v1/items/B-ORD-1/preview"),
            ("GET", "/v1/items/{code:str}/preview", "/v1/items/B-ORD-1/preview?version=1"),
            ("POST", "/v1/items/{code:str}/retire", "/v1/items/B-SC-1/retire"),
            ("POST", "/v1/items/{code:str}/restore", "/v1/items/B-SC-1/restore"),
        )
    ],
    Probe(
        "PUT",
        "/v1/items/{code:str}",
        "/v1/items/B-SC-1",
        404,
        "path",
        _item("A", "B-SC-1"),
        headers={"If-Match": "{b_item_etag}"},
        who="author",
    ),
    Probe(
        "PUT",
        "/v1/items/{code:str}",
        "/v1/items/B-ORD-1",
        404,
        "path",
        _item("A", "B-ORD-1", "ordering", "D2.1"),
        headers={"If-Match": "*"},
    ),
    # Filters naming B's framework or an indicator only B's items load on: A's own empty page.
    Probe("GET", "/v1/items", "/v1/items?framework=B-FW", 200, "query:framework"),
    Probe("GET", "/v1/items", "/v1/items?framework=B-FW&status=active", 200, "query:framework", who="author"),
    Probe("GET", "/v1/items", "/v1/items?indicator=D2.1", 200, "query:indicator"),
    Probe("GET", "/v1/items", "/v1/items?indicator=D3.1&type=open_response", 200, "query:indicator"),
    Probe("GET", "/v1/items/export", "/v1/items/export?framework=B-FW", 200, "query:framework"),
    Probe("GET", "/v1/items/export", "/v1/items/export?framework=B-FW&status=active", 200, "query:framework"),
    Probe("GET", "/v1/items/export/qti", "/v1/items/export/qti?framework=B-FW", 200, "query:framework"),
    # A QTI package imported under B's framework, or for an indicator named with B's framework: refused as a
    # framework A does not have, before the package is read.
    Probe(
        "POST",
        "/v1/items/import/qti",
        "/v1/items/import/qti?framework=B-FW",
        422,
        "query:framework",
        files={"file": ("a.zip", _qti_package(_item("A", "A-QTI-1")), "application/zip")},
        who="author",
    ),
    Probe(
        "POST",
        "/v1/items/import/qti",
        "/v1/items/import/qti?framework=B-FW&indicator=D2.1",
        422,
        "query:indicator",
        files={"file": ("a.zip", _qti_package(_item("A", "A-QTI-2")), "application/zip")},
    ),
    # A's items pointed at B's framework: B-FW has no published version *in A*.
    Probe(
        "POST",
        "/v1/items",
        "/v1/items",
        422,
        "body:/framework",
        _item("A", "A-NEW", framework="B-FW"),
        pointer="/framework",
        who="author",
    ),
    Probe(
        "POST",
        "/v1/items/import",
        "/v1/items/import",
        422,
        "body:/items/*/framework",
        {"items": [_item("A", "A-NEW"), _item("A", "A-NEW-2", "ordering", framework="B-FW")]},
        pointer="/items/1/framework",
        who="author",
    ),
    Probe(
        "POST",
        "/v1/items/import",
        "/v1/items/import",
        422,
        "body:/items/*/framework",
        {"items": [_item("A", "SHARED-SC", framework="B-FW")]},  # A's own SHARED-SC moved to B's framework
        pointer="/items/0/framework",
    ),
    # ?framework= places the import under B's framework: refused as a framework A does not have
    Probe(
        "POST",
        "/v1/items/import",
        "/v1/items/import?framework=B-FW",
        422,
        "query:framework",
        {"items": [_item("A", "A-NEW")]},
        who="author",
    ),
    # A's own item renamed to B's code or moved to B's framework: an item's identity cannot change.
    Probe(
        "PUT",
        "/v1/items/{code:str}",
        "/v1/items/A-SC-1",
        422,
        "body:/code",
        _item("A", "B-SC-1"),
        pointer="/code",
        headers={"If-Match": "{a_item_etag}"},
        who="author",
    ),
    Probe(
        "PUT",
        "/v1/items/{code:str}",
        "/v1/items/A-SC-1",
        422,
        "body:/framework",
        _item("A", "A-SC-1", framework="B-FW"),
        pointer="/framework",
        headers={"If-Match": "{a_item_etag}"},
    ),
    # Assessments. B has B-QUIZ (published, with attempts and accommodations), B-DRAFT-Q (a draft) and
    # QUIZ (published; A has a QUIZ of its own).
    *[
        Probe(method, route, url, 404, "path", who=who)
        for who in ("admin", "author")
        for method, route, url in (
            ("GET", "/v1/assessments/{code:str}", "/v1/assessments/B-QUIZ"),
            ("GET", "/v1/assessments/{code:str}", "/v1/assessments/B-DRAFT-Q"),
            ("GET", "/v1/assessments/{code:str}/check", "/v1/assessments/B-DRAFT-Q/check"),
            ("POST", "/v1/assessments/{code:str}/check", "/v1/assessments/B-DRAFT-Q/check"),
            ("GET", "/v1/assessments/{code:str}/preview", "/v1/assessments/B-QUIZ/preview"),
            ("GET", "/v1/assessments/{code:str}/preview", "/v1/assessments/B-QUIZ/preview?seed=7"),
            ("GET", "/v1/assessments/{code:str}/items/qti", "/v1/assessments/B-QUIZ/items/qti"),
            ("GET", "/v1/assessments/{code:str}/items/qti", "/v1/assessments/B-DRAFT-Q/items/qti"),
            ("GET", "/v1/assessments/{code:str}/accommodations", "/v1/assessments/B-QUIZ/accommodations"),
            ("GET", "/v1/assessments/{code:str}/attempts", "/v1/assessments/B-QUIZ/attempts"),
            (
                "GET",
                "/v1/assessments/{code:str}/attempts",
                "/v1/assessments/B-QUIZ/attempts?status=in_progress",
            ),
            ("DELETE", "/v1/assessments/{code:str}", "/v1/assessments/B-DRAFT-Q"),
            ("POST", "/v1/assessments/{code:str}/close", "/v1/assessments/B-QUIZ/close"),
            (
                "GET",
                "/v1/assessments/{code:str}/attempts/{attempt_id:uuid}/scores",
                "/v1/assessments/B-QUIZ/attempts/{b_attempt}/scores",
            ),
            (  # A's own assessment, B's attempt
                "GET",
                "/v1/assessments/{code:str}/attempts/{attempt_id:uuid}/scores",
                "/v1/assessments/QUIZ/attempts/{b_attempt}/scores",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/attempts/{attempt_id:uuid}/scores",
                "/v1/assessments/B-QUIZ/attempts/{b_scored_attempt}/scores",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/attempts/{attempt_id:uuid}/scores",
                "/v1/assessments/QUIZ/attempts/{b_scored_attempt}/scores",
            ),
            (  # B's assessment, A's person; A's assessment, B's person
                "GET",
                "/v1/assessments/{code:str}/people/{external_id:str}/report",
                "/v1/assessments/B-QUIZ/people/a-1/report",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/people/{external_id:str}/report",
                "/v1/assessments/QUIZ/people/b-1/report",
            ),
            ("GET", "/v1/assessments/{code:str}/rater-agreement", "/v1/assessments/B-QUIZ/rater-agreement"),
            ("GET", "/v1/assessments/{code:str}/item-statistics", "/v1/assessments/B-QUIZ/item-statistics"),
            (
                "GET",
                "/v1/assessments/{code:str}/item-statistics.csv",
                "/v1/assessments/B-QUIZ/item-statistics.csv",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/item-statistics.xlsx",
                "/v1/assessments/B-QUIZ/item-statistics.xlsx",
            ),
            ("POST", "/v1/assessments/{code:str}/item-statistics", "/v1/assessments/B-QUIZ/item-statistics"),
            ("GET", "/v1/assessments/{code:str}/rescorings", "/v1/assessments/B-QUIZ/rescorings"),
            (
                "GET",
                "/v1/assessments/{code:str}/rescorings/{rescoring_id:uuid}",
                "/v1/assessments/B-QUIZ/rescorings/{b_rescoring}",
            ),
            (  # A's own assessment, B's rescoring
                "GET",
                "/v1/assessments/{code:str}/rescorings/{rescoring_id:uuid}",
                "/v1/assessments/QUIZ/rescorings/{b_rescoring}",
            ),
            (
                "POST",
                "/v1/assessments/{code:str}/rescorings/{rescoring_id:uuid}/commit",
                "/v1/assessments/B-QUIZ/rescorings/{b_rescoring}/commit",
            ),
            (
                "POST",
                "/v1/assessments/{code:str}/rescorings/{rescoring_id:uuid}/commit",
                "/v1/assessments/QUIZ/rescorings/{b_rescoring}/commit",
            ),
        )
    ],
    # Aggregates: B's assessment by path, B's units by `unit`, B's assessment as `after`, B's jobs.
    *[
        Probe(method, route, url, status, covers)
        for method, route, url, status, covers in (
            *(
                (kind, f"/v1/assessments/{{code:str}}/{path}", f"/v1/assessments/B-QUIZ/{path}", 404, "path")
                for path, kind in [(p, "GET") for p in AGGREGATE_VIEWS]
                + [("aggregate-jobs", "GET"), ("aggregate-jobs", "POST")]
            ),
            *(
                (
                    "GET",
                    f"/v1/assessments/{{code:str}}/{path}",
                    f"/v1/assessments/QUIZ/{path}?unit=B-CITY",
                    422,
                    "query:unit",
                )
                for path in AGGREGATE_VIEWS
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/training-effect",
                "/v1/assessments/B-QUIZ/training-effect?after=QUIZ",
                404,
                "path",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/training-effect",
                "/v1/assessments/QUIZ/training-effect?after=B-QUIZ",
                404,
                "query:after",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/training-effect",
                "/v1/assessments/QUIZ/training-effect?after=QUIZ&unit=B-ROOT",
                422,
                "query:unit",
            ),
            *(
                probe
                for ext in ("csv", "xlsx")
                for probe in (
                    (
                        "GET",
                        f"/v1/assessments/{{code:str}}/training-effect.{ext}",
                        f"/v1/assessments/B-QUIZ/training-effect.{ext}?after=QUIZ",
                        404,
                        "path",
                    ),
                    (
                        "GET",
                        f"/v1/assessments/{{code:str}}/training-effect.{ext}",
                        f"/v1/assessments/QUIZ/training-effect.{ext}?after=B-QUIZ",
                        404,
                        "query:after",
                    ),
                    (
                        "GET",
                        f"/v1/assessments/{{code:str}}/training-effect.{ext}",
                        f"/v1/assessments/QUIZ/training-effect.{ext}?after=QUIZ&unit=B-ROOT",
                        422,
                        "query:unit",
                    ),
                )
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/aggregate-jobs/{job_id:uuid}",
                "/v1/assessments/B-QUIZ/aggregate-jobs/{b_aggregate_job}",
                404,
                "path",
            ),
            (
                "GET",
                "/v1/assessments/{code:str}/aggregate-jobs/{job_id:uuid}",
                "/v1/assessments/QUIZ/aggregate-jobs/{b_aggregate_job}",
                404,
                "path",
            ),
        )
    ],
    # IRT calibrations: B's assessment to calibrate or list; B's calibration to read or publish, through
    # B's assessment and through A's own QUIZ.
    *[
        Probe(method, route, url, 404, "path")
        for method, route, url in (
            ("POST", "/v1/assessments/{code:str}/calibrations", "/v1/assessments/B-QUIZ/calibrations"),
            ("GET", "/v1/assessments/{code:str}/calibrations", "/v1/assessments/B-QUIZ/calibrations"),
            *(
                (
                    method,
                    f"/v1/assessments/{{code:str}}/calibrations/{{calibration_id:uuid}}{tail}",
                    f"/v1/assessments/{code}/calibrations/{{b_calibration}}{tail}",
                )
                for method, tail in (("GET", ""), ("POST", "/publish"))
                for code in ("B-QUIZ", "QUIZ")
            ),
        )
    ],
    # Adopting a calibration: into B's assessment, or B's calibration into A's own QUIZ (not one A can see).
    Probe(
        "POST",
        "/v1/assessments/{code:str}/calibrations/adopt",
        "/v1/assessments/B-QUIZ/calibrations/adopt",
        404,
        "path",
        body={"calibration": "{b_calibration}"},
    ),
    Probe(
        "POST",
        "/v1/assessments/{code:str}/calibrations/adopt",
        "/v1/assessments/QUIZ/calibrations/adopt",
        422,
        "body:/calibration",
        body={"calibration": "{b_calibration}"},
        pointer="/calibration",
    ),
    # The score feed and exports: B's assessment, units and people named as filters or in the path.
    Probe("GET", "/v1/scores", "/v1/scores?assessment=B-QUIZ", 404, "query:assessment"),
    Probe("GET", "/v1/scores", "/v1/scores?under=B-ROOT", 404, "query:under"),
    Probe("GET", "/v1/scores", "/v1/scores?person=b-1", 404, "query:person"),
    Probe("GET", "/v1/scores/latest", "/v1/scores/latest?assessment=B-QUIZ", 404, "query:assessment"),
    Probe("GET", "/v1/scores/latest", "/v1/scores/latest?person=b-1", 404, "query:person"),
    Probe("GET", "/v1/assessments/{code:str}/scores.csv", "/v1/assessments/B-QUIZ/scores.csv", 404, "path"),
    Probe("GET", "/v1/assessments/{code:str}/scores.xlsx", "/v1/assessments/B-QUIZ/scores.xlsx", 404, "path"),
    Probe(
        "GET", "/v1/assessments/{code:str}/scores.jsonl", "/v1/assessments/B-QUIZ/scores.jsonl", 404, "path"
    ),
    # Score export jobs: B's assessment to export from, B's finished export to poll, download (also a
    # range of it, with its real ETag) or delete.
    Probe(
        "POST",
        "/v1/assessments/{code:str}/score-exports",
        "/v1/assessments/B-QUIZ/score-exports",
        404,
        "path",
    ),
    Probe("GET", "/v1/score-exports/{export_id:uuid}", "/v1/score-exports/{b_score_export}", 404, "path"),
    Probe(
        "GET",
        "/v1/score-exports/{export_id:uuid}/file",
        "/v1/score-exports/{b_score_export}/file",
        404,
        "path",
    ),
    Probe(
        "GET",
        "/v1/score-exports/{export_id:uuid}/file",
        "/v1/score-exports/{b_score_export}/file",
        404,
        "path",
        headers={"Range": "bytes=0-", "If-Range": "{b_score_export_etag}"},
    ),
    Probe("DELETE", "/v1/score-exports/{export_id:uuid}", "/v1/score-exports/{b_score_export}", 404, "path"),
    # B's service client (HR system): A's admin can neither read, rotate nor revoke it.
    Probe("GET", "/v1/clients/{client_id:uuid}", "/v1/clients/{b_client}", 404, "path"),
    Probe(
        "POST",
        "/v1/clients/{client_id:uuid}/rotate",
        "/v1/clients/{b_client}/rotate",
        404,
        "path",
        {"grace_seconds": 0},
    ),
    Probe("POST", "/v1/clients/{client_id:uuid}/revoke", "/v1/clients/{b_client}/revoke", 404, "path"),
    Probe(
        "PUT",
        "/v1/assessments/{code:str}",
        "/v1/assessments/B-DRAFT-Q",
        404,
        "path",
        _assessment("A", "B-DRAFT-Q", ["A-SC-1"]),
        headers={"If-Match": "{b_draft_etag}"},
        who="author",
    ),
    Probe(
        "PUT",
        "/v1/assessments/{code:str}",
        "/v1/assessments/B-DRAFT-Q",
        404,
        "path",
        _assessment("A", "B-DRAFT-Q", ["A-SC-1"]),
        headers={"If-Match": "*"},
    ),
    Probe(
        "POST",
        "/v1/assessments/{code:str}/publish",
        "/v1/assessments/B-DRAFT-Q/publish",
        404,
        "path",
        headers={"If-Match": "{b_draft_etag}"},
        who="author",
    ),
    Probe(
        "POST",
        "/v1/assessments/{code:str}/publish",
        "/v1/assessments/B-DRAFT-Q/publish",
        404,
        "path",
        headers={"If-Match": "*"},
    ),
    # Accommodations: B's assessment with B's person, with A's namesake person, and A's QUIZ with B's person.
    *[
        Probe(
            "PUT",
            "/v1/assessments/{code:str}/accommodations/{external_id:str}",
            url,
            404,
            "path",
            {"extra_time_factor": 2.0, "note": "pwned by A"},
        )
        for url in (
            "/v1/assessments/B-QUIZ/accommodations/b-1",
            "/v1/assessments/B-QUIZ/accommodations/shared-1",
            "/v1/assessments/QUIZ/accommodations/b-1",
        )
    ],
    # Rescorings: of B's assessment; of A's own QUIZ with corrected versions of B's items.
    Probe(
        "POST",
        "/v1/assessments/{code:str}/rescorings",
        "/v1/assessments/B-QUIZ/rescorings",
        404,
        "path",
        {"reason": "pwned by A"},
        who="author",
    ),
    Probe(
        "POST",
        "/v1/assessments/{code:str}/rescorings",
        "/v1/assessments/QUIZ/rescorings",
        422,
        "body:/items/*",
        {"reason": "pwned by A", "items": {"B-SC-1": 1}},
        pointer="/items/B-SC-1",
        who="author",
    ),
    # A's draft renamed to B's code: an assessment's code cannot change.
    Probe(
        "PUT",
        "/v1/assessments/{code:str}",
        "/v1/assessments/A-DRAFT-Q",
        422,
        "body:/code",
        _assessment("A", "B-DRAFT-Q", ["A-SC-1"]),
        pointer="/code",
        headers={"If-Match": "{a_draft_etag}"},
        who="author",
    ),
    # A's candidate (A's shared-1; B's shared-1 is named in B-QUIZ's audience and has B's running attempt).
    Probe(
        "POST",
        "/v1/me/assessments/{code:str}/attempts",
        "/v1/me/assessments/B-QUIZ/attempts",
        404,
        "path",
        {},
        who="candidate",
    ),
    Probe(
        "POST",
        "/v1/me/assessments/{code:str}/attempts",
        "/v1/me/assessments/B-QUIZ/attempts",
        404,
        "path",
        {"number": 1},
        who="candidate",
    ),
    Probe(
        "GET",
        "/v1/me/attempts/{attempt_id:uuid}",
        "/v1/me/attempts/{b_attempt}",
        404,
        "path",
        who="candidate",
    ),
    Probe(
        "PUT",
        "/v1/me/attempts/{attempt_id:uuid}/answers/{item:str}",
        "/v1/me/attempts/{b_attempt}/answers/B-SC-1",
        404,
        "path",
        {"revision": 99, "answer": {"choice": "a"}},
        who="candidate",
    ),
    Probe(
        "PUT",
        "/v1/me/attempts/{attempt_id:uuid}/answers/{item:str}",
        "/v1/me/attempts/{b_attempt}/answers/SHARED-SC",  # in both attempts' forms
        404,
        "path",
        {"revision": 99, "answer": {"choice": "a"}},
        who="candidate",
    ),
    Probe(
        "PUT",
        "/v1/me/attempts/{attempt_id:uuid}/answers/{item:str}",
        "/v1/me/attempts/{a_attempt}/answers/B-SC-1",  # A's own attempt, B's item
        404,
        "path",
        {"revision": 99, "answer": {"choice": "a"}},
        who="candidate",
    ),
    Probe(
        "POST",
        "/v1/me/attempts/{attempt_id:uuid}/answers",
        "/v1/me/attempts/{b_attempt}/answers",
        404,
        "path",
        {"answers": [{"item": "SHARED-SC", "revision": 99, "answer": {"choice": "a"}}]},
        who="candidate",
    ),
    Probe(
        "POST",
        "/v1/me/attempts/{attempt_id:uuid}/answers",
        "/v1/me/attempts/{a_attempt}/answers",
        422,
        "body:/answers/*/item",
        {
            "answers": [
                {"item": "A-SC-1", "revision": 99, "answer": {"choice": "a"}},
                {"item": "B-OR-1", "revision": 99, "answer": {"text": "pwned by A"}},
            ]
        },
        pointer="/answers/1/item",
        who="candidate",
    ),
    Probe(
        "POST",
        "/v1/me/attempts/{attempt_id:uuid}/submit",
        "/v1/me/attempts/{b_attempt}/submit",
        404,
        "path",
        who="candidate",
    ),
    Probe(
        "GET",
        "/v1/me/attempts/{attempt_id:uuid}/report",
        "/v1/me/attempts/{b_attempt}/report",
        404,
        "path",
        who="candidate",
    ),
    Probe(
        "GET",
        "/v1/me/attempts/{attempt_id:uuid}/report",
        "/v1/me/attempts/{b_scored_attempt}/report",
        404,
        "path",
        who="candidate",
    ),
    # Credentials. A's admin aims at B-QUIZ's credential settings. B holds no credential in this world (its
    # one scored attempt awaits a rating), so the file probe's id exists nowhere; A's candidate asking for
    # a credential another tenant issued is tested in tests/test_credentials.py.
    Probe(
        "GET",
        "/v1/assessments/{code:str}/credential-settings",
        "/v1/assessments/B-QUIZ/credential-settings",
        404,
        "path",
    ),
    Probe(
        "PUT",
        "/v1/assessments/{code:str}/credential-settings",
        "/v1/assessments/B-QUIZ/credential-settings",
        404,
        "path",
        {"enabled": False},
    ),
    Probe(
        "GET",
        "/v1/me/credentials/{credential_id:uuid}/file",
        "/v1/me/credentials/0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b/file",
        404,
        "path",
        who="candidate",
    ),
    # Ratings. B's open rating task is for b-1's answer to B-OR-1 on B-QUIZ.
    Probe("GET", "/v1/rating-tasks/{task_id:uuid}", "/v1/rating-tasks/{b_task}", 404, "path", who="rater"),
    Probe("GET", "/v1/rating-tasks/{task_id:uuid}", "/v1/rating-tasks/{b_task}", 404, "path"),
    Probe(
        "POST",
        "/v1/rating-tasks/{task_id:uuid}/ratings",
        "/v1/rating-tasks/{b_task}/ratings",
        404,
        "path",
        {"value": 1, "comment": "pwned by A"},
        who="rater",
    ),
    Probe(
        "GET", "/v1/rating-tasks", "/v1/rating-tasks?assessment=B-QUIZ", 200, "query:assessment", who="rater"
    ),
    Probe(
        "GET",
        "/v1/rating-tasks/{task_id:uuid}/ratings/mine",
        "/v1/rating-tasks/{b_task}/ratings/mine",
        404,
        "path",
        who="rater",
    ),
    Probe(
        "PUT",
        "/v1/rating-tasks/{task_id:uuid}/ratings/mine",
        "/v1/rating-tasks/{b_task}/ratings/mine",
        404,
        "path",
        {"value": 0, "comment": "pwned by A"},
        headers={"If-Match": '"1"'},  # the first revision of any rating
        who="rater",
    ),
    Probe(
        "GET",
        "/v1/assessments/{code:str}/rating-progress",
        "/v1/assessments/B-QUIZ/rating-progress",
        404,
        "path",
    ),
    # Participation of a sitting, over the API and in the console; the console's marking and agreement.
    *(
        probe
        for prefix, who in (("/v1", "admin"), ("/console", "console_admin"))
        for suffix in (
            [
                "/participation",
                "/participation/not-started",
                "/participation/not-started.csv",
                "/participation/not-started.xlsx",
            ]
            if prefix == "/v1"
            else ["/participation", "/participation/not-started.csv", "/participation/not-started.xlsx"]
        )
        for probe in (
            Probe(
                "GET",
                f"{prefix}/assessments/{{code:str}}{suffix}",
                f"{prefix}/assessments/B-QUIZ{suffix}",
                404,
                "path",
                who=who,
            ),
            Probe(
                "GET",
                f"{prefix}/assessments/{{code:str}}{suffix}",
                f"{prefix}/assessments/QUIZ{suffix}?unit=B-CITY",
                422,
                "query:unit",
                who=who,
            ),
        )
    ),
    Probe(
        "GET",
        "/console/assessments/{code:str}/agreement",
        "/console/assessments/B-QUIZ/agreement",
        404,
        "path",
        who="console_admin",
    ),
    # The console's analysis screens: B's assessment by path, B's units by `unit`, B's assessment as
    # `after`, B's person by `external_id`; refused with an error page (text/html).
    *(
        Probe(
            "GET",
            f"/console/assessments/{{code:str}}/analysis{suffix}",
            url,
            status,
            covers,
            who="console",
        )
        for suffix, url, status, covers in (
            *(
                (suffix, f"/console/assessments/B-QUIZ/analysis{suffix}{query}", 404, "path")
                for suffix, query in (
                    ("", ""),
                    ("/report", ""),
                    ("/trend", ""),
                    ("/effect", "?after=QUIZ"),
                    ("/table", "?view=drill"),
                    ("/items", ""),
                    ("/items/table", ""),
                    ("/person", "?external_id=a-1"),
                )
            ),
            *(
                (suffix, f"/console/assessments/QUIZ/analysis{suffix}?{query}unit=B-CITY", 422, "query:unit")
                for suffix, query in (
                    ("", ""),
                    ("/report", ""),
                    ("/trend", ""),
                    ("/effect", "after=QUIZ&"),
                    ("/table", "view=drill&"),
                )
            ),
            ("/effect", "/console/assessments/QUIZ/analysis/effect?after=B-QUIZ", 422, "query:after"),
            (
                "/table",
                "/console/assessments/QUIZ/analysis/table?view=effect&after=B-QUIZ",
                404,
                "query:after",
            ),
            (
                "/person",
                "/console/assessments/QUIZ/analysis/person?external_id=b-1",
                404,
                "query:external_id",
            ),
        )
    ),
    # The console's attempts, score traces, rescorings and rating allocation (and the API's unit filter).
    Probe(
        "GET",
        "/v1/assessments/{code:str}/attempts",
        "/v1/assessments/QUIZ/attempts?unit=B-CITY",
        422,
        "query:unit",
    ),
    *[
        Probe(method, route, url, status, covers, who="console_admin", form=form)
        for method, route, url, status, covers, form in (
            (
                "GET",
                "/console/assessments/{code:str}/attempts",
                "/console/assessments/B-QUIZ/attempts",
                404,
                "path",
                None,
            ),
            (
                "GET",
                "/console/assessments/{code:str}/attempts",
                "/console/assessments/QUIZ/attempts?unit=B-CITY",
                422,
                "query:unit",
                None,
            ),
            *(
                (
                    "GET",
                    "/console/assessments/{code:str}/attempts/{attempt_id:uuid}",
                    f"/console/assessments/{code}/attempts/{{{attempt}}}",
                    404,
                    "path",
                    None,
                )
                for code in ("B-QUIZ", "QUIZ")
                for attempt in ("b_attempt", "b_scored_attempt")
            ),
            (
                "GET",
                "/console/assessments/{code:str}/rescorings",
                "/console/assessments/B-QUIZ/rescorings",
                404,
                "path",
                None,
            ),
            (
                "POST",
                "/console/assessments/{code:str}/rescorings",
                "/console/assessments/B-QUIZ/rescorings",
                404,
                "path",
                {"reason": "pwned by A", "item:B-SC-1": "1"},
            ),
            *(
                (
                    method,
                    route,
                    f"/console/assessments/{code}/rescorings/{{b_rescoring}}{suffix}",
                    404,
                    "path",
                    None,
                )
                for code in ("B-QUIZ", "QUIZ")
                for method, route, suffix in (
                    ("GET", "/console/assessments/{code:str}/rescorings/{rescoring_id:uuid}", ""),
                    (
                        "POST",
                        "/console/assessments/{code:str}/rescorings/{rescoring_id:uuid}/commit",
                        "/commit",
                    ),
                )
            ),
            (
                "GET",
                "/console/assessments/{code:str}/rating-allocations",
                "/console/assessments/B-QUIZ/rating-allocations",
                404,
                "path",
                None,
            ),
            (
                "POST",
                "/console/assessments/{code:str}/rating-allocations",
                "/console/assessments/B-QUIZ/rating-allocations",
                404,
                "path",
                {"rater": "rater-1", "limit": "5"},
            ),
            (
                "POST",
                "/console/assessments/{code:str}/rating-allocations/release",
                "/console/assessments/B-QUIZ/rating-allocations/release",
                404,
                "path",
                {"rater": "rater-1"},
            ),
        )
    ],
    Probe(
        "GET",
        "/console/marking/{task_id:uuid}",
        "/console/marking/{b_task}",
        404,
        "path",
        who="console_rater",
    ),
    Probe(
        "POST",
        "/console/marking/{task_id:uuid}",
        "/console/marking/{b_task}",
        404,
        "path",
        who="console_rater",
    ),
    Probe(
        "POST",
        "/console/marking/{task_id:uuid}/correct",
        "/console/marking/{b_task}/correct",
        404,
        "path",
        who="console_rater",
    ),
    Probe(
        "DELETE",
        "/v1/rating-allocations",
        "/v1/rating-allocations?rater=rater-1&assessment=B-QUIZ",
        404,
        "query:assessment",
    ),
    *[
        Probe(
            "POST",
            "/v1/rating-allocations",
            "/v1/rating-allocations",
            422,
            f"body:{pointer}",
            {"rater": "rater-2", "assessment": "QUIZ", **body},
            pointer=pointer,
        )
        for pointer, body in (
            ("/assessment", {"assessment": "B-QUIZ"}),
            ("/org_unit", {"org_unit": "B-ROOT"}),
        )
    ],
    # Webhooks: B's endpoint (and its delivery log), and A's own endpoint with B's delivery.
    *[
        Probe(method, route, url, 404, "path", body)
        for method, route, url, body in (
            ("GET", "/v1/webhooks/{webhook_id:uuid}", "/v1/webhooks/{b_webhook}", None),
            (
                "PATCH",
                "/v1/webhooks/{webhook_id:uuid}",
                "/v1/webhooks/{b_webhook}",
                {"url": "https://hooks.a.example/pwned", "active": True},
            ),
            ("DELETE", "/v1/webhooks/{webhook_id:uuid}", "/v1/webhooks/{b_webhook}", None),
            (
                "POST",
                "/v1/webhooks/{webhook_id:uuid}/rotate-secret",
                "/v1/webhooks/{b_webhook}/rotate-secret",
                None,
            ),
            ("POST", "/v1/webhooks/{webhook_id:uuid}/test", "/v1/webhooks/{b_webhook}/test", None),
            ("GET", "/v1/webhooks/{webhook_id:uuid}/deliveries", "/v1/webhooks/{b_webhook}/deliveries", None),
            (
                "POST",
                "/v1/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
                "/v1/webhooks/{b_webhook}/deliveries/{b_webhook_delivery}/redeliver",
                None,
            ),
            (
                "POST",
                "/v1/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
                "/v1/webhooks/{a_webhook}/deliveries/{b_webhook_delivery}/redeliver",
                None,
            ),
        )
    ],
    # xAPI: A's admin redelivers B's statement through A's own LRS log.
    Probe(
        "POST",
        "/v1/lrs/statements/{statement_id:uuid}/redeliver",
        "/v1/lrs/statements/{b_lrs_statement}/redeliver",
        404,
        "path",
    ),
    # The console's LRS and credential screens (service/console/lrs.py, credentials.py): the same refusals.
    Probe(
        "POST",
        "/console/lrs/statements/{statement_id:uuid}/redeliver",
        "/console/lrs/statements/{b_lrs_statement}/redeliver",
        404,
        "path",
        who="console",
        form={},
    ),
    Probe(
        "GET",
        "/console/assessments/{code:str}/credentials",
        "/console/assessments/B-QUIZ/credentials",
        404,
        "path",
        who="console",
    ),
    Probe(
        "POST",
        "/console/assessments/{code:str}/credentials",
        "/console/assessments/B-QUIZ/credentials",
        404,
        "path",
        who="console",
        form={"enabled": "on", "overall": "L1"},
    ),
    # The web console's assessment screens (service/console/assessments.py): B's codes are unknown codes.
    *[
        Probe(method, route, url, 404, "path", who="console", form=form)
        for method, route, url, form in (
            ("GET", "/console/assessments/{code:str}", "/console/assessments/B-QUIZ", None),
            ("GET", "/console/assessments/{code:str}", "/console/assessments/B-DRAFT-Q", None),
            (
                "POST",
                "/console/assessments/{code:str}",
                "/console/assessments/B-DRAFT-Q",
                {"action": "save", "etag": '"1"', "title_en": "x", "framework": "B-FW", "s0_code": "main"},
            ),
            (
                "POST",
                "/console/assessments/{code:str}/publish",
                "/console/assessments/B-DRAFT-Q/publish",
                {"etag": '"1"'},
            ),
            ("POST", "/console/assessments/{code:str}/close", "/console/assessments/B-QUIZ/close", {}),
            ("POST", "/console/assessments/{code:str}/delete", "/console/assessments/B-DRAFT-Q/delete", {}),
            ("GET", "/console/assessments/{code:str}/preview", "/console/assessments/B-QUIZ/preview", None),
            (
                "GET",
                "/console/assessments/{code:str}/preview",
                "/console/assessments/B-DRAFT-Q/preview?seed=7",
                None,
            ),
            (
                "GET",
                "/console/assessments/{code:str}/accommodations",
                "/console/assessments/B-QUIZ/accommodations",
                None,
            ),
            (
                "POST",
                "/console/assessments/{code:str}/accommodations",
                "/console/assessments/B-QUIZ/accommodations",
                {"external_id": "b-1", "extra_time_factor": "2"},
            ),
        )
    ],
    # The console's administration screens (org_tree.py, people.py, integrations.py): B's keys are unknown.
    *[
        Probe(method, route, url, 404, covers, who="console", form=form)
        for method, route, url, covers, form in (
            (
                "GET",
                "/console/org-units/-/children",
                "/console/org-units/-/children?parent=B-ROOT",
                "query:parent",
                None,
            ),
            ("GET", "/console/org-units/{code:str}", "/console/org-units/B-CITY", "path", None),
            (
                "POST",
                "/console/org-units/{code:str}/move",
                "/console/org-units/B-CITY/move",
                "path",
                {"parent_code": ""},
            ),
            (
                "POST",
                "/console/org-units/{code:str}/move",
                "/console/org-units/B-LEAF/move",
                "path",
                {"parent_code": "A-ROOT"},
            ),
            ("GET", "/console/people", "/console/people?under=B-ROOT", "query:under", None),
            ("GET", "/console/people/{external_id:str}", "/console/people/b-1", "path", None),
            (
                "POST",
                "/console/people/{external_id:str}",
                "/console/people/b-1",
                "path",
                {"display_name": "pwned"},
            ),
            (
                "POST",
                "/console/people/{external_id:str}/deactivate",
                "/console/people/b-1/deactivate",
                "path",
                {},
            ),
            (
                "POST",
                "/console/clients/{client_id:uuid}/rotate",
                "/console/clients/{b_client}/rotate",
                "path",
                {"grace_seconds": "0"},
            ),
            (
                "POST",
                "/console/clients/{client_id:uuid}/revoke",
                "/console/clients/{b_client}/revoke",
                "path",
                {},
            ),
            ("GET", "/console/webhooks/{webhook_id:uuid}", "/console/webhooks/{b_webhook}", "path", None),
            (
                "POST",
                "/console/webhooks/{webhook_id:uuid}/test",
                "/console/webhooks/{b_webhook}/test",
                "path",
                {},
            ),
            (
                "POST",
                "/console/webhooks/{webhook_id:uuid}/rotate-secret",
                "/console/webhooks/{b_webhook}/rotate-secret",
                "path",
                {"grace_seconds": "0"},
            ),
            (
                "POST",
                "/console/webhooks/{webhook_id:uuid}/active",
                "/console/webhooks/{b_webhook}/active",
                "path",
                {"active": "false"},
            ),
            *[
                (
                    "POST",
                    "/console/webhooks/{webhook_id:uuid}/delete",
                    "/console/webhooks/{b_webhook}/delete",
                    "path",
                    form,
                )
                for form in ({"confirm": "yes"}, {})
            ],
            *[
                (
                    "POST",
                    "/console/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver",
                    f"/console/webhooks/{{{hook}}}/deliveries/{{b_webhook_delivery}}/redeliver",
                    "path",
                    {},
                )
                for hook in ("b_webhook", "a_webhook")
            ],
        )
    ],
    # A's own move, import and edit naming B's units: unknown, named next to the field or by row and column.
    Probe(
        "POST",
        "/console/org-units/{code:str}/move",
        "/console/org-units/A-CITY/move",
        422,
        "form:parent_code",
        who="console",
        form={"parent_code": "B-ROOT"},
    ),
    Probe(
        "POST",
        "/console/people/{external_id:str}",
        "/console/people/a-1",
        422,
        "form:org_unit_code",
        who="console",
        form={"org_unit_code": "B-ROOT"},
    ),
    *[
        Probe("POST", route, route, 422, "form:file", who="console", form=form, files={"file": file})
        for route, form, file in (
            (
                "/console/people/-/import",
                {},
                ("p.csv", b"external_id,org_unit_code\na-9,B-ROOT\n", "text/csv"),
            ),
            (
                "/console/org-units/-/import",
                {"mode": "upsert"},
                ("u.csv", b"code,name,parent_code\nA-NEW-2,x,B-ROOT\nA-CITY,A city,B-CITY\n", "text/csv"),
            ),
        )
    ],
    # A's own assessment, B's person: the person is unknown, named next to the field.
    Probe(
        "POST",
        "/console/assessments/{code:str}/accommodations",
        "/console/assessments/QUIZ/accommodations",
        422,
        "form:external_id",
        who="console",
        form={"external_id": "b-1", "extra_time_factor": "2"},
    ),
]

# A's users using B's keys as keys of their own: allowed, creates A's own objects, never touches B's.
OWN_KEY_PROBES: list[Probe] = [
    Probe(
        "PUT",
        "/v1/people/{external_id:str}",
        "/v1/people/b-2",
        201,
        "path",
        {"display_name": "A's own b-2", "category": "teacher"},
    ),
    Probe(
        "POST",
        "/v1/org-units",
        "/v1/org-units",
        201,
        "body:/code",
        {"code": "B-ROOT", "name": "A's own B-ROOT"},
    ),
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import",
        201,
        "body:/units/*/code",
        {
            "units": [
                {"code": "B-CITY", "name": "A's own B-CITY", "parent_code": "B-ROOT"},
                {"code": "B-LEAF", "name": "A's own B-LEAF", "parent_code": "B-CITY"},
            ]
        },
    ),
    # an upsert names A's own B-LEAF (just imported above): it renames A's, never B's
    Probe(
        "POST",
        "/v1/org-units/import",
        "/v1/org-units/import?mode=upsert",
        200,
        "body:/units/*/code",
        {"units": [{"code": "B-LEAF", "name": "A's own B-LEAF, renamed", "parent_code": "B-CITY"}]},
    ),
    Probe(
        "POST",
        "/v1/people/bulk",
        "/v1/people/bulk",
        200,
        "body:/people/*/external_id",
        {"people": [{"external_id": "b-1", "org_unit_code": "B-CITY", "display_name": "A's own b-1"}]},
    ),
    # A new framework's code (adopt's `code`, a native document's `code`, import/case's `?code=`)
    # names the caller's new framework, like PUT /v1/people/{external_id}: B's codes are free in A.
    Probe(
        "POST",
        "/v1/frameworks",
        "/v1/frameworks",
        201,
        "body:/code",
        {"template": "unesco-ai-competency-teachers", "code": "B-DRAFT", "title": {"en": "A's own B-DRAFT"}},
    ),
    Probe(
        "POST",
        "/v1/frameworks/import/case",
        "/v1/frameworks/import/case?code=B-FW",
        201,
        "query:code",
        {"$document": "a_case"},
    ),
    Probe(
        "POST",
        "/v1/frameworks/import/native",
        "/v1/frameworks/import/native",
        201,
        "body:/code",
        {"$document": "a_native", "code": "B-IMPORTED"},
    ),
    # Item and assessment codes name the caller's new object too: B's codes are free in A.
    Probe("POST", "/v1/items", "/v1/items", 201, "body:/code", _item("A", "B-SC-1"), who="author"),
    Probe(
        "POST",
        "/v1/items/import",
        "/v1/items/import",
        200,
        "body:/items/*/code",
        {"items": [_item("A", "B-ORD-1", "ordering"), _item("A", "B-OR-1", "open_response")]},
        who="author",
    ),
    Probe(
        "POST",
        "/v1/assessments",
        "/v1/assessments",
        201,
        "body:/code",
        _assessment("A", "B-QUIZ", ["B-SC-1", "B-ORD-1"]),  # A's own B-QUIZ, made of A's own B-* items
        who="author",
    ),
]

# An assessment draft is checked in full only on publish, so a draft naming B's items, org units,
# people or framework is stored (in A, as a draft). It must never publish: `check` reports every such
# reference exactly as it reports a key nobody has, and publish is refused (422 at `pointer`) with
# nothing pinned or locked, in A or in B. The author sends them; PUTs replace A's draft A-DRAFT-Q.
DRAFT_REFERENCE_PROBES: list[Probe] = [
    *[
        Probe(
            method,
            route,
            url,
            status,
            covers,
            body,
            pointer=pointer,
            who="author",
            headers={"If-Match": "*"} if method == "PUT" else None,
        )
        for method, route, url, status, code in (
            ("POST", "/v1/assessments", "/v1/assessments", 201, "A-REFS-B"),
            ("PUT", "/v1/assessments/{code:str}", "/v1/assessments/A-DRAFT-Q", 200, "A-DRAFT-Q"),
        )
        for covers, body, pointer in (
            (
                "body:/sections/*/items/*/code",
                _assessment("A", code, ["A-SC-1", "B-SC-1"]),
                "/sections/0/items/1/code",
            ),
            ("body:/sections/*/items/*/code", _assessment("A", code, ["B-OR-1"]), "/sections/0/items/0/code"),
            (
                "body:/sections/*/pool/items/*/code",
                _assessment("A", code, ["A-SC-1"], pool=["SHARED-SC", "B-ORD-1"]),
                "/sections/0/pool/items/1/code",
            ),
            (
                "body:/sections/*/adaptive/items/*/code",
                _assessment("A", code, ["A-SC-1"], adaptive=["SHARED-SC", "B-ORD-1"]),
                "/sections/0/adaptive/items/1/code",
            ),
            (
                "body:/sections/*/adaptive/pretest/items/*/code",
                _assessment("A", code, ["A-SC-1"], adaptive=["SHARED-SC"], pretest=["B-SC-1"]),
                "/sections/0/adaptive/pretest/items/0/code",
            ),
            ("body:/framework/code", _assessment("A", code, ["A-SC-1"], framework="B-FW"), "/framework"),
            (
                "body:/audience/org_units/*",
                _assessment("A", code, ["A-SC-1"], units=["A-ROOT", "B-CITY"]),
                "/audience/org_units/1",
            ),
            (
                "body:/audience/people/*",
                _assessment("A", code, ["A-SC-1"], units=[], people=["a-1", "b-2"]),
                "/audience/people/1",
            ),
        )
    ],
]

# Query parameters that filter by a value, not by naming an object: nothing to reach across.
# `version`, `from`, `to` are version numbers *within* the framework or item the path names (the
# path is probed); `bom` starts a CSV with a byte order mark; `format` picks an export format; `status` and `type` are fixed vocabularies (an
# item's or an assessment's status, an attempt's, an item type); `q` is free text matched against
# the caller's own items (test_lists_show_only_the_callers_tenant searches for B's texts); `seed`
# replays a form draw of the assessment the path names; `rater` is a token subject, not a stored object
# (releasing allocations touches only the caller's tenant's rows: B's allocation is in the DB views). Items' `framework` and `indicator` are
# references (to a framework, and to an indicator by its code): probed above.
NON_REFERENCE_QUERY_PARAMS = {
    "mode",
    "lang",  # the language of the texts returned, not an object
    "limit",
    "cursor",
    "level",
    "category",
    "active",
    "version",
    "format",
    "from",
    "to",
    "status",
    "type",
    "q",  # free text searched for (the console's searches, GET /v1/org-units?q=), never a key
    "seed",
    "kind",
    "interval",
    "rater",
    "bom",
    "threshold",  # the console's agreement page: a kappa to highlight raters below
    "language",  # a QTI import's language for items that name none
    "partial",  # a QTI import creates the items it can and reports the others
    "view",  # the console's analysis tables: which screen's table (drill, trend, effect)
}

# Request headers that carry no object key: If-Match and If-Range carry an ETag of the object the path
# names (probed with B's real ETag above), Accept-Language a language preference, Range a byte range.
NON_REFERENCE_HEADERS = {"if-match", "accept-language", "range", "if-range"}

# Body fields whose name looks like a reference but which name parts of the document being sent:
# a framework document's dimension, indicator and level codes are its own outline (they are
# unique within the document, never looked up in any table), so there is no other tenant's
# object they could reach. The document's top-level `/code` is not here: it is probed.
# Not flagged by the walker's name pattern, but references all the same: Adopt's `template`
# names a shipped template, global read-only data shared by every tenant (see
# test_both_tenants_read_the_same_shared_templates); NewDraft's `from_version` is a version of
# the framework the path names, which the path probes cover.
# An assessment's section codes likewise name its own sections (unique within the document). Its
# item codes, framework code, audience units and people are references: DRAFT_REFERENCE_PROBES.
# The walker does not flag `/framework` of an item (probed above), nor a batch save's
# `/answers/*/item` (an item ref within the attempt the path names; probed above too).
DOCUMENT_INTERNAL_BODY_FIELDS = {
    ("/v1/assessments", "/sections/*/code"),
    ("/v1/assessments/{code:str}", "/sections/*/code"),
    ("/v1/frameworks/{code:str}/versions/{version:int}", "/levels/*/code"),
    ("/v1/frameworks/{code:str}/versions/{version:int}", "/dimensions/*/code"),
    ("/v1/frameworks/{code:str}/versions/{version:int}", "/dimensions/*/indicators/*/code"),
    ("/v1/frameworks/import/native", "/levels/*/code"),
    ("/v1/frameworks/import/native", "/dimensions/*/code"),
    ("/v1/frameworks/import/native", "/dimensions/*/indicators/*/code"),
}


def _operator_route(path: str) -> bool:
    return path == "/v1/tenants" or path.startswith("/v1/tenants/")


def _shared_template_route(path: str) -> bool:
    return path == "/v1/rubric-templates" or path.startswith("/v1/rubric-templates/")


def _exempt(path: str) -> bool:
    """Routes that are cross-tenant by design, or documentation.

    - the operator's /v1/tenants...: it manages every tenant;
    - /v1/rubric-templates...: templates are global read-only data shipped with the service, the
      same for every tenant (nothing is stored per tenant, nothing can be written); a tenant
      adopts one into a framework of its own, and those /v1/frameworks routes are probed;
    - /static/...: the service's own files (the docs UI's scripts), the same for everyone;
    - /take/...: the candidate client's files (service/console/take.py), the same for everyone; the
      client reads and writes through the /v1/me routes, probed like any other;
    - /credentials/{tenant}/...: a credential issuer's public documents (DID document, JWKS, status
      list), public by design so that anyone can verify a credential: each answers for the tenant its
      path names, in that tenant's transaction, with public keys and revocation bits only
      (tests/test_credentials.py).
    """
    return (
        _operator_route(path)
        or _shared_template_route(path)
        or path.startswith(("/docs", "/static/", "/take", "/credentials/"))
    )


_REFERENCE_FIELD = re.compile(r"(^|_)(code|id)$")
_RESERVED_KWARGS = {
    "data",
    "request",
    "socket",
    "headers",
    "cookies",
    "query",
    "state",
    "scope",
    "body",
    "self",
}


# --------------------------------------------------------------------------- the world


TEMPLATE = "unesco-ai-competency-teachers"


@dataclass
class World:
    a: dict[str, Any]
    b: dict[str, Any]
    idp_a: IdentityProvider
    idp_b: IdentityProvider
    b_issuer: str
    a_issuer: str
    etags: dict[str, str]  # `b_etag_v2`: B-FW's draft version 2 as B last read it, ...
    documents: dict[str, Any]  # `a_content`, `a_case`, `a_native`: A's own framework, read by A
    ids: dict[str, str]  # `b_attempt`: B's shared-1's running attempt, `a_attempt`: A's shared-1's

    @property
    def placeholders(self) -> dict[str, Any]:
        return {
            "b_issuer": self.b_issuer,
            "a_issuer": self.a_issuer,
            **self.etags,
            **self.documents,
            **self.ids,
        }


async def _created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


async def _build_tenant(
    client: httpx.AsyncClient, keys: ServiceKeys, slug: str, prefix: str, idp: IdentityProvider
) -> tuple[dict[str, Any], str]:
    tenant = await make_tenant(client, keys, slug)
    h = tenant["admin"]
    p = prefix.lower()
    for code, parent, level in (
        (f"{prefix}-ROOT", None, "province"),
        (f"{prefix}-CITY", f"{prefix}-ROOT", "city"),
        (f"{prefix}-LEAF", f"{prefix}-CITY", "county"),
        ("HQ", None, None),
    ):
        body = {"code": code, "name": f"{prefix} {code}", "level": level, "parent_code": parent}
        created = await _created(await client.post("/v1/org-units", json=body, headers=h))
        assert created["code"] == code and created["parent_code"] == parent
    for external_id, unit in ((f"{p}-1", f"{prefix}-ROOT"), (f"{p}-2", f"{prefix}-CITY"), ("shared-1", "HQ")):
        body = {"org_unit_code": unit, "display_name": f"{prefix} {external_id}", "category": "civil_servant"}
        response = await client.put(f"/v1/people/{external_id}", json=body, headers=h)
        assert response.status_code == 201, response.text
    issuer = await _created(
        await client.post(
            f"/v1/tenants/{slug}/issuers",
            headers=operator(keys),
            json={"issuer": idp.issuer, "audience": f"{p}-app", "jwks": idp.jwks()},
        )
    )
    return tenant, issuer["id"]


async def _adopt(client: httpx.AsyncClient, h: dict[str, str], prefix: str, code: str) -> dict[str, Any]:
    title = {"zh-CN": f"{prefix} {code}", "en": f"{prefix} {code}"}
    body = {"template": TEMPLATE, "code": code, "title": title}
    response = await client.post("/v1/frameworks", json=body, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


async def _publish(client: httpx.AsyncClient, h: dict[str, str], code: str, version: int) -> None:
    read = await client.get(f"/v1/frameworks/{code}/versions/{version}", headers=h)
    assert read.status_code == 200, read.text
    published = await client.post(
        f"/v1/frameworks/{code}/versions/{version}/publish", headers={**h, "If-Match": read.headers["etag"]}
    )
    assert published.status_code == 200 and published.json()["status"] == "published", published.text


async def _published_with_draft(client: httpx.AsyncClient, h: dict[str, str], prefix: str, code: str) -> str:
    """Adopt the template as `code`, publish version 1, start draft version 2; the draft's ETag."""
    await _adopt(client, h, prefix, code)
    await _publish(client, h, code, 1)
    draft = await client.post(f"/v1/frameworks/{code}/versions", json={}, headers=h)
    assert draft.status_code == 201 and draft.json()["version"] == 2, draft.text
    return draft.headers["etag"]


async def _build_frameworks(
    client: httpx.AsyncClient, a: dict[str, str], b: dict[str, str]
) -> tuple[dict[str, str], dict[str, Any]]:
    """B: B-FW (v1 published, v2 draft), B-DRAFT (v1 draft), B-IMPORTED (native import, v1 published).
    A: A-FW (v1 published, v2 draft), adopted from the same shared template."""
    etags = {"b_etag_v2": await _published_with_draft(client, b, "B", "B-FW")}
    await _adopt(client, b, "B", "B-DRAFT")
    native = (await client.get("/v1/frameworks/B-FW/versions/1/export?format=native", headers=b)).json()
    imported = await client.post(
        "/v1/frameworks/import/native", json={**native, "code": "B-IMPORTED"}, headers=b
    )
    assert imported.status_code == 201, imported.text
    await _publish(client, b, "B-IMPORTED", 1)

    etags["a_etag_v2"] = await _published_with_draft(client, a, "A", "A-FW")
    documents: dict[str, Any] = {}
    for name, url in (
        ("a_case", "/v1/frameworks/A-FW/versions/1/export?format=case"),
        ("a_native", "/v1/frameworks/A-FW/versions/1/export?format=native"),
    ):
        response = await client.get(url, headers=a)
        assert response.status_code == 200, response.text
        documents[name] = response.json()
    documents["a_content"] = (await client.get("/v1/frameworks/A-FW/versions/2", headers=a)).json()["content"]
    return etags, documents


def user_of(tenant: dict[str, Any], external_id: str) -> dict[str, str]:
    """Candidate headers for one of the tenant's people."""
    return user(tenant["keys"], tenant["id"], ["candidate"], sub=external_id)


SHARED_1_EXTRA_TIME = {"A": 1.5, "B": 2.5}  # each tenant's shared-1, granted before the attempt starts


async def _build_delivery(
    client: httpx.AsyncClient, a: dict[str, Any], b: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """B: items B-SC-1, B-ORD-1 (on D2.1), B-OR-1 (on D3.1) and SHARED-SC; published B-QUIZ (all four, for
    B-ROOT and, by name, shared-1) and QUIZ (SHARED-SC); draft B-DRAFT-Q; B's shared-1's running attempt
    on B-QUIZ with answers; accommodations on B-QUIZ for shared-1 (before the attempt started) and b-1.
    A: items A-SC-1 and SHARED-SC; published QUIZ (for A-ROOT and shared-1); draft A-DRAFT-Q; A's
    shared-1's running attempt on QUIZ with an answer; accommodations on QUIZ for shared-1 (before the
    attempt started) and a-1.
    B's b-1 then submits B-QUIZ (scored), leaving a rating task for B-OR-1 open.
    Returns the ETags (`b_item_etag` of B-SC-1, `a_item_etag` of A-SC-1, `b_draft_etag`, `a_draft_etag`)
    and the ids (`b_attempt`, `a_attempt`, `b_scored_attempt`, `b_task`)."""
    etags: dict[str, str] = {}
    ids: dict[str, str] = {}
    for tenant, prefix, items, published, answers in (
        (
            b,
            "B",
            [
                _item("B", "B-SC-1"),
                _item("B", "B-ORD-1", "ordering", "D2.1"),
                _item("B", "B-OR-1", "open_response", "D3.1"),
                _item("B", "SHARED-SC"),
            ],
            [
                _assessment("B", "B-QUIZ", ["B-SC-1", "B-ORD-1", "B-OR-1", "SHARED-SC"], people=["shared-1"]),
                _assessment("B", "QUIZ", ["SHARED-SC"]),
            ],
            {
                "B-SC-1": {"choice": "c"},
                "B-OR-1": {"text": "B b-answer of shared-1"},
                "SHARED-SC": {"choice": "b"},
            },
        ),
        (
            a,
            "A",
            [_item("A", "A-SC-1"), _item("A", "SHARED-SC")],
            [_assessment("A", "QUIZ", ["A-SC-1", "SHARED-SC"], people=["shared-1"])],
            {"A-SC-1": {"choice": "a"}},
        ),
    ):
        author, p = tenant["author"], prefix.lower()
        imported = await client.post("/v1/items/import", json={"items": items}, headers=author)
        assert imported.status_code == 200 and len(imported.json()["created"]) == len(items), imported.text
        for body in published:
            created = await _created(await client.post("/v1/assessments", json=body, headers=author))
            etag = f'"{created["revision"]}"'
            done = await client.post(
                f"/v1/assessments/{body['code']}/publish", headers={**author, "If-Match": etag}
            )
            assert done.status_code == 200 and done.json()["status"] == "published", done.text
        draft = await client.post(
            "/v1/assessments",
            json=_assessment(prefix, f"{prefix}-DRAFT-Q", [items[0]["code"]]),
            headers=author,
        )
        assert draft.status_code == 201, draft.text
        etags[f"{p}_draft_etag"] = draft.headers["etag"]
        etags[f"{p}_item_etag"] = (await client.get(f"/v1/items/{items[0]['code']}", headers=author)).headers[
            "etag"
        ]

        quiz = published[0]["code"]
        for person, factor in (("shared-1", SHARED_1_EXTRA_TIME[prefix]), (f"{p}-1", 1.25)):
            body = {"extra_time_factor": factor, "note": f"{prefix} {p}-note for {person}"}
            accommodated = await client.put(
                f"/v1/assessments/{quiz}/accommodations/{person}", json=body, headers=tenant["admin"]
            )
            assert accommodated.status_code == 200, accommodated.text
        started = await client.post(
            f"/v1/me/assessments/{quiz}/attempts", json={}, headers=tenant["candidate"]
        )
        assert started.status_code == 201, started.text
        ids[f"{p}_attempt"] = attempt = started.json()["attempt"]["id"]
        batch = [{"item": ref, "revision": 1, "answer": answer} for ref, answer in answers.items()]
        saved = await client.post(
            f"/v1/me/attempts/{attempt}/answers", json={"answers": batch}, headers=tenant["candidate"]
        )
        assert saved.status_code == 200 and all(r["applied"] for r in saved.json()["results"]), saved.text

    # B's LRS records B-QUIZ's attempt (xAPI statements in its log); paused once they are queued, so
    # no dispatcher changes them while probed. A has an LRS of its own, paused too.
    for tenant, p, active in ((b, "b", True), (a, "a", False)):
        lrs = {
            "url": f"https://lrs.{p}.example/xAPI/",
            "key": f"{p}-key",
            "secret": f"{p}-secret",
            "home_page": f"https://idp.{p}.example",
            "active": active,
        }
        assert (await client.put("/v1/lrs", json=lrs, headers=tenant["admin"])).status_code == 200
    # B's b-1 submits B-QUIZ: a scored attempt, and a rating task for its open response (left unrated).
    b_1 = user_of(b, "b-1")
    submitted = await client.post("/v1/me/assessments/B-QUIZ/attempts", json={}, headers=b_1)
    assert submitted.status_code == 201, submitted.text
    ids["b_scored_attempt"] = scored = submitted.json()["attempt"]["id"]
    answer = {"revision": 1, "answer": {"text": "B b-response of b-1"}}
    assert (
        await client.put(f"/v1/me/attempts/{scored}/answers/B-OR-1", json=answer, headers=b_1)
    ).status_code == 200
    done = await client.post(f"/v1/me/attempts/{scored}/submit", headers=b_1)
    assert done.status_code == 200 and done.json()["status"] == "submitted", done.text
    paused = {"url": "https://lrs.b.example/xAPI/", "key": "b-key", "secret": "b-secret"}
    paused |= {"home_page": "https://idp.b.example", "active": False}
    assert (await client.put("/v1/lrs", json=paused, headers=b["admin"])).status_code == 200
    statements = await client.get("/v1/lrs/statements", headers=b["admin"])
    assert statements.status_code == 200 and statements.json()["items"], statements.text
    ids["b_lrs_statement"] = statements.json()["items"][0]["id"]
    queue = await client.get("/v1/rating-tasks", params={"assessment": "B-QUIZ"}, headers=b["rater"])
    assert queue.status_code == 200, queue.text
    [task] = queue.json()["items"]
    ids["b_task"] = task["id"]
    # B's admin allocates the task to B's rater-1 (left unrated): an allocation A must not touch.
    allocated = await client.post(
        "/v1/rating-allocations", json={"rater": "rater-1", "assessment": "B-QUIZ"}, headers=b["admin"]
    )
    assert allocated.status_code == 200 and allocated.json()["allocated"] == 1, allocated.text

    # B's author previews a rescoring of B-QUIZ (left uncommitted) and computes its item statistics.
    # Both are jobs run after the response; the test client returns once they have finished.
    started = await client.post(
        "/v1/assessments/B-QUIZ/rescorings", json={"reason": "B b-rescoring"}, headers=b["author"]
    )
    assert started.status_code == 202, started.text
    ids["b_rescoring"] = started.json()["id"]
    previewed = await client.get(
        f"/v1/assessments/B-QUIZ/rescorings/{ids['b_rescoring']}", headers=b["author"]
    )
    assert previewed.status_code == 200 and previewed.json()["status"] == "previewed", previewed.text
    computed = await client.post("/v1/assessments/B-QUIZ/item-statistics", headers=b["author"])
    assert computed.status_code == 202, computed.text
    statistics = await client.get("/v1/assessments/B-QUIZ/item-statistics", headers=b["author"])
    assert statistics.status_code == 200 and statistics.json()["status"] == "done", statistics.text
    # B's admin calibrates B-QUIZ (a job, finished when the test client returns: one attempt is too few
    # to calibrate, so it fails, which is all the probes need).
    calibrated = await client.post("/v1/assessments/B-QUIZ/calibrations", headers=b["admin"])
    assert calibrated.status_code == 202, calibrated.text
    ids["b_calibration"] = calibrated.json()["id"]
    # B's admin checks B-QUIZ's aggregates (a job, finished when the test client returns).
    checked = await client.post(
        "/v1/assessments/B-QUIZ/aggregate-jobs", params={"kind": "check"}, headers=b["admin"]
    )
    assert checked.status_code == 202, checked.text
    ids["b_aggregate_job"] = checked.json()["id"]
    return etags, ids


async def _build_webhooks(client: httpx.AsyncClient, a: dict[str, Any], b: dict[str, Any]) -> dict[str, str]:
    """B: an endpoint with a delivery in its log, then disabled (so no dispatcher changes it while probed).
    A: an active endpoint of its own. Returns `b_webhook`, `b_webhook_delivery`, `a_webhook`."""
    ids = {}
    for tenant, p, events in ((b, "b", ["score.finalized"]), (a, "a", ["score.rescored"])):
        body = {
            "url": f"https://hooks.{p}.example/assess",
            "events": events,
            "description": f"{p.upper()} {p}-hook",
        }
        ids[f"{p}_webhook"] = (
            await _created(await client.post("/v1/webhooks", json=body, headers=tenant["admin"]))
        )["id"]
    queued = await client.post(f"/v1/webhooks/{ids['b_webhook']}/test", headers=b["admin"])
    assert queued.status_code == 202, queued.text
    ids["b_webhook_delivery"] = queued.json()["id"]
    await _created(
        await client.patch(f"/v1/webhooks/{ids['b_webhook']}", json={"active": False}, headers=b["admin"]),
        200,
    )
    return ids


@pytest.fixture
@snapshot
async def world(client: httpx.AsyncClient, service_keys: ServiceKeys) -> World:
    idp_a, idp_b = IdentityProvider("https://idp.a.example"), IdentityProvider("https://idp.b.example")
    a, a_issuer = await _build_tenant(client, service_keys, "iso-a", "A", idp_a)
    b, b_issuer = await _build_tenant(client, service_keys, "iso-b", "B", idp_b)
    for tenant in (a, b):
        tenant["author"] = user(service_keys, tenant["id"], ["author"], sub="author-1")
        # shared-1 is a person of both tenants: each tenant's candidate is its own shared-1.
        tenant["candidate"] = user(service_keys, tenant["id"], ["candidate"], sub="shared-1")
        tenant["rater"] = user(service_keys, tenant["id"], ["rater"], sub="rater-1")
        tenant["keys"] = service_keys
        # Console probes: a session's cookie and CSRF header, in place of a bearer token.
        for who, roles in (("console_admin", ["tenant_admin"]), ("console_rater", ["rater"])):
            session_id, csrf = await _console_session(client, tenant["id"], roles)
            tenant[who] = {"Cookie": f"assess_console={session_id}", "X-CSRF-Token": csrf}
    etags, documents = await _build_frameworks(client, a["admin"], b["admin"])
    delivery_etags, ids = await _build_delivery(client, a, b)
    session_id, csrf = await _console_session(client, a["id"], ["tenant_admin", "author"])
    a["console"] = {"Cookie": f"assess_console={session_id}", "X-CSRF-Token": csrf}
    ids.update(await _build_webhooks(client, a, b))
    # B's HR system: a service client whose id A's admin aims at.
    made = await client.post(
        "/v1/clients", json={"name": "B b-hr system", "scopes": ["people:write"]}, headers=b["admin"]
    )
    assert made.status_code == 201, made.text
    ids["b_client"] = made.json()["id"]
    # B's score export of B-QUIZ (a job, finished when the test client returns).
    exported = await client.post("/v1/assessments/B-QUIZ/score-exports", headers=b["admin"])
    assert exported.status_code == 202, exported.text
    ids["b_score_export"] = exported.json()["id"]
    downloaded = await client.get(f"/v1/score-exports/{ids['b_score_export']}/file", headers=b["admin"])
    assert downloaded.status_code == 200 and downloaded.content, downloaded.text
    ids["b_score_export_etag"] = downloaded.headers["etag"]
    image = await client.post(
        "/v1/images", files={"file": ("b.png", B_IMAGE, "image/png")}, headers=b["admin"]
    )
    assert image.status_code == 201, image.text
    ids["b_image"] = image.json()["id"]
    return World(a, b, idp_a, idp_b, b_issuer, a_issuer, {**etags, **delivery_etags}, documents, ids)


async def _db_view(
    owner: asyncpg.Connection, tenant_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """All rows (or one tenant's) of every table, every column, including paths and updated_at."""
    where = "" if tenant_id is None else " WHERE tenant_id = $1"
    args = () if tenant_id is None else (UUID(tenant_id),)
    view = {
        table: [dict(r) for r in await owner.fetch(f"SELECT * FROM {table}{where} ORDER BY {order}", *args)]
        for table, order in (
            ("org_units", "id"),
            ("people", "id"),
            ("trusted_issuers", "id"),
            ("frameworks", "id"),
            ("framework_versions", "framework_id, version"),  # revision, status, content_hash, updated_at...
            ("items", "id"),
            ("item_versions", "item_id, version"),  # revision, locked, content...
            ("assessments", "id"),  # status, revision, content, forms...
            ("accommodations", "assessment_id, person_id"),
            ("attempts", "id"),  # status, deadline, form...
            ("responses", "attempt_id, item_ref"),
            ("scores", "attempt_id, version"),
            ("rating_tasks", "id"),
            ("webhook_endpoints", "id"),  # url, events, secret, active...
            ("webhook_events", "id"),
            ("webhook_deliveries", "id"),  # status, attempts, next_attempt_at...
            ("lrs_endpoints", "tenant_id"),  # url, key, secret, active...
            ("lrs_statements", "tenant_id, id"),  # status, attempts, next_attempt_at...
            ("ratings", "id"),
            ("rating_corrections", "rating_id, revision"),
            ("rating_allocations", "task_id, rater"),
            ("rescorings", "id"),
            ("statistics_runs", "id"),
            ("calibrations", "id"),  # state, status, result, published_at...
            ("service_clients", "id"),  # secret hashes, revoked_at...
            ("score_exports", "id"),  # status, progress, expiry...
            ("score_export_chunks", "export_id, seq"),
            ("jobs", "id"),  # state, lease, attempts...
            ("console_sessions", "id_hash"),  # web console sign-ins: locale, expiry...
            ("item_images", "id"),  # uploaded images' bytes
        )
    }
    tenants_where = "" if tenant_id is None else " WHERE id = $1"
    view["tenants"] = [
        dict(r) for r in await owner.fetch(f"SELECT * FROM tenants{tenants_where} ORDER BY id", *args)
    ]
    return view


async def _api_view(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """What a tenant's admin sees of its own tenant, read through the API."""
    view: dict[str, Any] = {}
    for name, url in (
        ("units", "/v1/org-units?limit=500"),
        ("people", "/v1/people?limit=500"),
        ("issuers", "/v1/issuers"),
        ("tenant", "/v1/tenant"),
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        view[name] = response.json()
    for unit in view["units"]["items"]:
        view[f"unit:{unit['code']}"] = (
            await client.get(f"/v1/org-units/{unit['code']}", headers=headers)
        ).json()
    for person in view["people"]["items"]:
        view[f"person:{person['external_id']}"] = (
            await client.get(f"/v1/people/{person['external_id']}", headers=headers)
        ).json()
    frameworks = await client.get("/v1/frameworks?limit=500", headers=headers)
    assert frameworks.status_code == 200, frameworks.text
    view["frameworks"] = frameworks.json()
    for framework in view["frameworks"]["items"]:
        code = framework["code"]
        view[f"framework:{code}"] = (await client.get(f"/v1/frameworks/{code}", headers=headers)).json()
        for summary in framework["versions"]:
            version = await client.get(
                f"/v1/frameworks/{code}/versions/{summary['version']}", headers=headers
            )
            assert version.status_code == 200, version.text
            view[f"framework:{code}:{summary['version']}"] = (version.headers["etag"], version.json())
    for name, url in (("items", "/v1/items?limit=500"), ("assessments", "/v1/assessments?limit=500")):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        view[name] = response.json()
    for item in view["items"]["items"]:
        code = item["code"]
        for version in range(1, item["latest_version"] + 1):
            read = await client.get(f"/v1/items/{code}/versions/{version}", headers=headers)
            assert read.status_code == 200, read.text
            view[f"item:{code}:{version}"] = (read.headers["etag"], read.json())
        view[f"item:{code}:preview"] = (await client.get(f"/v1/items/{code}/preview", headers=headers)).json()
    for assessment in view["assessments"]["items"]:
        code = assessment["code"]
        read = await client.get(f"/v1/assessments/{code}", headers=headers)
        assert read.status_code == 200, read.text
        view[f"assessment:{code}"] = (read.headers["etag"], read.json())
        drawn = ["preview?seed=1"] if read.json()["status"] != "draft" else []  # a draft has no forms yet
        for part in ("check", "accommodations", "attempts", *drawn):
            response = await client.get(f"/v1/assessments/{code}/{part}", headers=headers)
            assert response.status_code == 200, response.text
            view[f"assessment:{code}:{part}"] = response.json()
    return view


def _fill(value: Any, placeholders: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**placeholders)
    if isinstance(value, list):
        return [_fill(v, placeholders) for v in value]
    if isinstance(value, dict):
        if "$document" in value:
            fields = {k: _fill(v, placeholders) for k, v in value.items() if k != "$document"}
            return {**copy.deepcopy(placeholders[value["$document"]]), **fields}
        return {k: _fill(v, placeholders) for k, v in value.items()}
    return value


async def _send(
    client: httpx.AsyncClient, probe: Probe, headers: dict[str, str], placeholders: dict[str, Any]
) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": {**headers, **_fill(probe.headers or {}, placeholders)}}
    if probe.body is not None:
        kwargs["json"] = _fill(probe.body, placeholders)
    if probe.files is not None:
        kwargs["files"] = probe.files
    if probe.form is not None:
        kwargs["data"] = _fill(probe.form, placeholders)
    return await client.request(probe.method, _fill(probe.url, placeholders), **kwargs)


def assert_problem(response: httpx.Response, status: int, context: str = "") -> dict[str, Any]:
    assert response.status_code == status, f"{context}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), context
    body = response.json()
    assert body["status"] == status, context
    assert body["type"].startswith("urn:assess:problem:"), context
    return body


def _scrub(problem: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A problem without its request id, with the probed key replaced, for comparing two answers."""
    text = msgspec.json.encode({k: v for k, v in problem.items() if k != "request_id"}).decode()
    for key in keys:
        text = text.replace(key, "<key>")
    return msgspec.json.decode(text)


# --------------------------------------------------------------------------- cross-tenant reach


async def test_a_cannot_reach_or_reference_any_of_bs_objects(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    all_db_before = await _db_view(owner)
    # The writes below carry B's live ETag: B itself could make them with exactly these headers.
    assert b_api_before["framework:B-FW:2"][0] == world.etags["b_etag_v2"]
    assert b_api_before["framework:B-FW:2"][1]["status"] == "draft"
    assert [v["status"] for v in b_api_before["framework:B-FW"]["versions"]] == ["published", "draft"]

    for probe in CROSS_TENANT_PROBES:
        if probe.who == "console":  # test_the_console_cannot_reach_bs_objects
            continue
        context = f"{probe.who}: {probe.method} {probe.url} {probe.headers} {probe.body}"
        response = await _send(client, probe, world.a[probe.who], world.placeholders)
        if probe.status == 200:  # a list filter naming B's key: A's empty page, where B's own page is not
            assert response.status_code == 200, (context, response.text)
            assert _listed(response) == [], context
            mine = await client.get(_fill(probe.url, world.placeholders), headers=world.b[probe.who])
            assert mine.status_code == 200 and _listed(mine), (context, mine.text)
            continue
        if probe.url.startswith("/console/"):  # a console page: the console's error page, not problem+json
            assert response.status_code == probe.status, (context, response.text)
            assert response.headers["content-type"].startswith("text/html"), context
            for secret in (world.b["id"], world.b["slug"], "B B-", "B b-"):
                assert secret not in response.text, (context, secret)
            continue
        body = assert_problem(response, probe.status, context)
        if probe.status == 404:
            assert body["type"] == "urn:assess:problem:not-found", context
        if probe.pointer is not None:
            assert probe.pointer in [e.get("pointer") for e in body.get("errors", [])], context
        # Nothing about B leaks into the answer: neither its id, slug nor its names.
        for secret in (world.b["id"], world.b["slug"], "B B-", "B b-"):
            assert secret not in response.text, (context, secret)

    # Every refused request left the whole database, not only B's part, as it was.
    assert await _db_view(owner) == all_db_before
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before


async def test_a_404_for_bs_key_is_indistinguishable_from_a_missing_key(
    client: httpx.AsyncClient, world: World
):
    """Existence of B's objects must not be observable: B's key and a key nobody has get the same answer."""
    h = world.a["admin"]
    pairs = [
        ("GET", "/v1/org-units/{}", "B-CITY", "NOWHERE-1", None),
        ("PATCH", "/v1/org-units/{}", "B-CITY", "NOWHERE-1", {"name": "x"}),
        ("DELETE", "/v1/org-units/{}", "B-LEAF", "NOWHERE-1", None),
        ("DELETE", "/v1/org-units/{}", "B-ROOT", "NOWHERE-1", None),  # B-ROOT has children and people in B
        ("POST", "/v1/org-units/{}/move", "B-CITY", "NOWHERE-1", {"parent_code": None}),
        ("GET", "/v1/people/{}", "b-1", "nowhere-1", None),
        ("GET", "/v1/org-units?under={}", "B-ROOT", "NOWHERE-1", None),
        ("GET", "/v1/org-units?parent={}", "B-ROOT", "NOWHERE-1", None),
        ("GET", "/v1/people?under={}", "B-ROOT", "NOWHERE-1", None),
        ("POST", "/v1/org-units", "B-ROOT", "NOWHERE-1", "parent"),
    ]
    for method, template, b_key, missing_key, body in pairs:
        answers = []
        for key in (b_key, missing_key):
            if body == "parent":
                response = await client.post(
                    "/v1/org-units", headers=h, json={"code": "A-X", "name": "x", "parent_code": key}
                )
            else:
                response = await client.request(
                    method, template.format(key), headers=h, **({"json": body} if body is not None else {})
                )
            answers.append((response.status_code, _scrub(response.json(), key)))
        assert answers[0] == answers[1], (method, template, answers)

    # Frameworks: B's code (even with B's real ETag on writes) answers exactly like a code nobody has.
    etag = world.etags["b_etag_v2"]
    patch = [{"op": "replace", "path": "/title", "value": {"en": "x"}}]
    framework_pairs: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", "/v1/frameworks/{}", None, {}),
        ("GET", "/v1/frameworks/{}/versions/1", None, {}),
        ("GET", "/v1/frameworks/{}/versions/2/rendered", None, {"Accept-Language": "zh-CN"}),
        ("GET", "/v1/frameworks/{}/versions/1/export?format=case", None, {}),
        ("GET", "/v1/frameworks/{}/diff?from=1&to=2", None, {}),
        ("POST", "/v1/frameworks/{}/versions", {}, {}),
        ("PUT", "/v1/frameworks/{}/versions/2", "content", {"If-Match": etag}),
        ("PATCH", "/v1/frameworks/{}/versions/2", patch, {"If-Match": etag}),
        # Without If-Match: 428 is decided before any lookup, so it too is the same for B's code.
        ("PATCH", "/v1/frameworks/{}/versions/2", patch, {}),
        ("POST", "/v1/frameworks/{}/versions/2/validate", None, {}),
        ("POST", "/v1/frameworks/{}/versions/2/publish", None, {"If-Match": etag}),
        ("POST", "/v1/frameworks/{}/versions/1/retire", None, {}),
    ]
    for method, template, body, extra in framework_pairs:
        answers = []
        for key in ("B-FW", "NOWHERE-FW"):
            json_body = {**world.documents["a_content"], "code": key} if body == "content" else body
            response = await client.request(
                method,
                template.format(key),
                headers={**h, **extra},
                **({"json": json_body} if json_body is not None else {}),
            )
            answers.append((response.status_code, _scrub(response.json(), key)))
        assert answers[0] == answers[1], (method, template, answers)
        assert answers[0][0] == (428 if "If-Match" not in extra and method == "PATCH" else 404), answers

    # Items, assessments and attempts, for A's admin, author and candidate: B's key (with B's real ETag
    # on writes) answers exactly like a key nobody has; a list filter with the same empty page; a
    # missing If-Match is a 428 decided before any lookup, so it too is the same.
    random_attempt, a_attempt, scored = str(uuid4()), world.ids["a_attempt"], world.ids["b_scored_attempt"]
    rescoring = world.ids["b_rescoring"]
    item, quiz = _item("A", "X-1"), _assessment("A", "X-1", ["A-SC-1"])
    answer = {"revision": 99, "answer": {"choice": "a"}}
    batch = {"answers": [{"item": "SHARED-SC", **answer}]}
    b_item, b_draft = {"If-Match": world.etags["b_item_etag"]}, {"If-Match": world.etags["b_draft_etag"]}
    delivery_pairs: list[tuple[str, int, str, str, str, str, Any, dict[str, str]]] = [
        ("author", 404, "GET", "/v1/items/{}", "B-SC-1", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/items/{}/versions/1", "B-OR-1", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/items/{}/preview", "B-ORD-1", "NOWHERE-1", None, {}),
        ("author", 404, "PUT", "/v1/items/{}", "B-SC-1", "NOWHERE-1", item, b_item),
        ("author", 428, "PUT", "/v1/items/{}", "B-SC-1", "NOWHERE-1", item, {}),
        ("author", 404, "POST", "/v1/items/{}/retire", "B-SC-1", "NOWHERE-1", None, {}),
        ("admin", 404, "POST", "/v1/items/{}/restore", "B-SC-1", "NOWHERE-1", None, {}),
        ("admin", 200, "GET", "/v1/items?framework={}", "B-FW", "NOWHERE-1", None, {}),
        ("admin", 200, "GET", "/v1/items?indicator={}", "D2.1", "NOWHERE.1", None, {}),
        ("author", 200, "GET", "/v1/items/export?framework={}", "B-FW", "NOWHERE-1", None, {}),
        (
            "author",
            422,
            "POST",
            "/v1/items",
            "B-FW",
            "NOWHERE-1",
            lambda k: _item("A", "X-1", framework=k),
            {},
        ),
        ("author", 404, "GET", "/v1/assessments/{}", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/assessments/{}/check", "B-DRAFT-Q", "NOWHERE-1", None, {}),
        ("author", 404, "POST", "/v1/assessments/{}/check", "B-DRAFT-Q", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/assessments/{}/preview?seed=1", "B-QUIZ", "NOWHERE-1", None, {}),
        ("admin", 404, "GET", "/v1/assessments/{}/accommodations", "B-QUIZ", "NOWHERE-1", None, {}),
        ("admin", 404, "GET", "/v1/assessments/{}/attempts", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "PUT", "/v1/assessments/{}", "B-DRAFT-Q", "NOWHERE-1", quiz, b_draft),
        ("author", 428, "PUT", "/v1/assessments/{}", "B-DRAFT-Q", "NOWHERE-1", quiz, {}),
        ("author", 404, "DELETE", "/v1/assessments/{}", "B-DRAFT-Q", "NOWHERE-1", None, {}),
        ("author", 404, "POST", "/v1/assessments/{}/publish", "B-DRAFT-Q", "NOWHERE-1", None, b_draft),
        ("author", 428, "POST", "/v1/assessments/{}/publish", "B-DRAFT-Q", "NOWHERE-1", None, {}),
        ("author", 404, "POST", "/v1/assessments/{}/close", "B-QUIZ", "NOWHERE-1", None, {}),
        (
            "admin",
            404,
            "PUT",
            "/v1/assessments/{}/accommodations/shared-1",
            "B-QUIZ",
            "NOWHERE-1",
            {"extra_time_factor": 2},
            {},
        ),
        (
            "admin",
            404,
            "PUT",
            "/v1/assessments/QUIZ/accommodations/{}",
            "b-1",
            "nowhere-1",
            {"extra_time_factor": 2},
            {},
        ),
        ("candidate", 404, "POST", "/v1/me/assessments/{}/attempts", "B-QUIZ", "NOWHERE-1", {}, {}),
        ("candidate", 404, "GET", "/v1/me/attempts/{}", world.ids["b_attempt"], random_attempt, None, {}),
        (
            "candidate",
            404,
            "PUT",
            "/v1/me/attempts/{}/answers/SHARED-SC",
            world.ids["b_attempt"],
            random_attempt,
            answer,
            {},
        ),
        (
            "candidate",
            404,
            "PUT",
            "/v1/me/attempts/" + a_attempt + "/answers/{}",
            "B-SC-1",
            "NOWHERE-1",
            answer,
            {},
        ),
        (
            "candidate",
            404,
            "POST",
            "/v1/me/attempts/{}/answers",
            world.ids["b_attempt"],
            random_attempt,
            batch,
            {},
        ),
        (
            "candidate",
            422,
            "POST",
            "/v1/me/attempts/" + a_attempt + "/answers",
            "B-SC-1",
            "NOWHERE-1",
            lambda k: {"answers": [{"item": k, **answer}]},
            {},
        ),
        (
            "candidate",
            404,
            "POST",
            "/v1/me/attempts/{}/submit",
            world.ids["b_attempt"],
            random_attempt,
            None,
            {},
        ),
        (
            "candidate",
            404,
            "GET",
            "/v1/me/attempts/{}/report",
            world.ids["b_attempt"],
            random_attempt,
            None,
            {},
        ),
        (
            "author",
            404,
            "GET",
            "/v1/assessments/QUIZ/attempts/{}/scores",
            world.ids["b_attempt"],
            random_attempt,
            None,
            {},
        ),
        (
            "author",
            404,
            "GET",
            "/v1/assessments/{}/attempts/" + world.ids["b_attempt"] + "/scores",
            "B-QUIZ",
            "NOWHERE-1",
            None,
            {},
        ),
        ("candidate", 404, "GET", "/v1/me/attempts/{}/report", scored, random_attempt, None, {}),
        ("author", 404, "GET", "/v1/assessments/B-QUIZ/attempts/{}/scores", scored, random_attempt, None, {}),
        ("admin", 404, "GET", "/v1/assessments/{}/rater-agreement", "B-QUIZ", "NOWHERE-1", None, {}),
        ("rater", 404, "GET", "/v1/rating-tasks/{}", world.ids["b_task"], random_attempt, None, {}),
        ("admin", 404, "GET", "/v1/rating-tasks/{}", world.ids["b_task"], random_attempt, None, {}),
        (
            "rater",
            404,
            "POST",
            "/v1/rating-tasks/{}/ratings",
            world.ids["b_task"],
            random_attempt,
            {"value": 1},
            {},
        ),
        ("rater", 200, "GET", "/v1/rating-tasks?assessment={}", "B-QUIZ", "NOWHERE-1", None, {}),
        (
            "rater",
            404,
            "GET",
            "/v1/rating-tasks/{}/ratings/mine",
            world.ids["b_task"],
            random_attempt,
            None,
            {},
        ),
        (
            "rater",
            404,
            "PUT",
            "/v1/rating-tasks/{}/ratings/mine",
            world.ids["b_task"],
            random_attempt,
            {"value": 1},
            {"If-Match": '"1"'},
        ),
        ("admin", 404, "GET", "/v1/assessments/{}/rating-progress", "B-QUIZ", "NOWHERE-1", None, {}),
        (
            "admin",
            404,
            "DELETE",
            "/v1/rating-allocations?rater=rater-1&assessment={}",
            "B-QUIZ",
            "NOWHERE-1",
            None,
            {},
        ),
        (
            "admin",
            422,
            "POST",
            "/v1/rating-allocations",
            "B-QUIZ",
            "NOWHERE-1",
            lambda k: {"rater": "rater-1", "assessment": k},
            {},
        ),
        (
            "admin",
            422,
            "POST",
            "/v1/rating-allocations",
            "B-ROOT",
            "NOWHERE-1",
            lambda k: {"rater": "rater-1", "assessment": "QUIZ", "org_unit": k},
            {},
        ),
        ("author", 404, "GET", "/v1/assessments/{}/rescorings", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/assessments/QUIZ/rescorings/{}", rescoring, random_attempt, None, {}),
        (
            "author",
            404,
            "POST",
            "/v1/assessments/QUIZ/rescorings/{}/commit",
            rescoring,
            random_attempt,
            None,
            {},
        ),
        ("author", 404, "POST", "/v1/assessments/{}/rescorings", "B-QUIZ", "NOWHERE-1", {"reason": "x"}, {}),
        (
            "author",
            422,
            "POST",
            "/v1/assessments/QUIZ/rescorings",
            "B-SC-1",
            "NOWHERE-1",
            lambda k: {"reason": "x", "items": {k: 1}},
            {},
        ),
        ("author", 404, "GET", "/v1/assessments/{}/item-statistics", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/assessments/{}/item-statistics.csv", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "GET", "/v1/assessments/{}/item-statistics.xlsx", "B-QUIZ", "NOWHERE-1", None, {}),
        ("author", 404, "POST", "/v1/assessments/{}/item-statistics", "B-QUIZ", "NOWHERE-1", None, {}),
    ]
    for who, status, method, template, b_key, missing_key, body, extra in delivery_pairs:
        answers = []
        for key in (b_key, missing_key):
            json_body = body(key) if callable(body) else body
            response = await client.request(
                method,
                template.format(key),
                headers={**world.a[who], **extra},
                **({"json": json_body} if json_body is not None else {}),
            )
            answers.append((response.status_code, _scrub(response.json(), key)))
        assert answers[0] == answers[1], (who, method, template, answers)
        assert answers[0][0] == status, (who, method, template, answers)


async def test_own_keys_equal_to_bs_keys_create_new_objects_in_a_only(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    a_people_before = {
        p["external_id"] for p in (await _api_view(client, world.a["admin"]))["people"]["items"]
    }

    for probe in OWN_KEY_PROBES:
        response = await _send(client, probe, world.a[probe.who], world.placeholders)
        assert response.status_code == probe.status, f"{probe.method} {probe.url}: {response.text}"

    # The PUT created a new person in A (a new id), it did not adopt or replace B's b-2.
    b_people = {p["external_id"]: p for p in b_api_before["people"]["items"]}
    a_b2 = (await client.get("/v1/people/b-2", headers=world.a["admin"])).json()
    assert a_b2["display_name"] == "A's own b-2" and a_b2["category"] == "teacher"
    assert a_b2["id"] != b_people["b-2"]["id"]
    a_b1 = (await client.get("/v1/people/b-1", headers=world.a["admin"])).json()
    assert a_b1["id"] != b_people["b-1"]["id"] and a_b1["org_unit_code"] == "B-CITY"
    a_people_after = {
        p["external_id"] for p in (await _api_view(client, world.a["admin"]))["people"]["items"]
    }
    assert a_people_after == a_people_before | {"b-1", "b-2"}

    # A's "B-*" units are A's own tree: ids differ from B's, and A's subtree listing shows A's only.
    b_units = {u["code"]: u for u in b_api_before["units"]["items"]}
    a_units = (await client.get("/v1/org-units?under=B-ROOT", headers=world.a["admin"])).json()["items"]
    assert {u["code"] for u in a_units} == {"B-ROOT", "B-CITY", "B-LEAF"}
    assert not {u["id"] for u in a_units} & {u["id"] for u in b_units.values()}
    a_listed = (await client.get("/v1/people?under=B-ROOT", headers=world.a["admin"])).json()["items"]
    assert [p["external_id"] for p in a_listed] == ["b-1"] and a_listed[0]["id"] == a_b1["id"]

    # In the database: the new rows belong to A, and each person's unit is a unit of A.
    rows = await owner.fetch(
        "SELECT p.tenant_id, u.tenant_id AS unit_tenant "
        "FROM people p JOIN org_units u ON u.id = p.org_unit_id "
        "WHERE p.external_id IN ('b-1', 'b-2') AND p.tenant_id = $1",
        UUID(world.a["id"]),
    )
    assert {(str(r["tenant_id"]), str(r["unit_tenant"])) for r in rows} == {(world.a["id"], world.a["id"])}

    # A's B-FW (imported from A's own CASE export), B-DRAFT (adopted) and B-IMPORTED (native import)
    # are new frameworks of A, with A's content: not B's frameworks, nor copies of them.
    a_frameworks = (await client.get("/v1/frameworks?limit=500", headers=world.a["admin"])).json()["items"]
    assert {f["code"] for f in a_frameworks} == {"A-FW", "B-FW", "B-DRAFT", "B-IMPORTED"}
    b_framework_ids = {f["id"] for f in b_api_before["frameworks"]["items"]}
    for code, origin, title in (
        ("B-FW", "case", "A A-FW"),
        ("B-DRAFT", "template", "A's own B-DRAFT"),
        ("B-IMPORTED", "native", "A A-FW"),
    ):
        mine = (await client.get(f"/v1/frameworks/{code}", headers=world.a["admin"])).json()
        assert mine["id"] not in b_framework_ids and mine["id"] != b_api_before[f"framework:{code}"]["id"]
        assert mine["origin"]["kind"] == origin and mine["title"]["en"] == title, mine
        assert [(v["version"], v["status"]) for v in mine["versions"]] == [(1, "draft")]
        content = (await client.get(f"/v1/frameworks/{code}/versions/1", headers=world.a["admin"])).json()
        assert content["content"]["code"] == code and not content["content"]["title"]["en"].startswith("B ")
    rows = await owner.fetch(
        "SELECT f.tenant_id, v.tenant_id AS version_tenant FROM frameworks f "
        "JOIN framework_versions v ON v.framework_id = f.id "
        "WHERE f.code IN ('B-FW', 'B-DRAFT', 'B-IMPORTED') AND f.tenant_id = $1",
        UUID(world.a["id"]),
    )
    assert len(rows) == 3
    assert {(str(r["tenant_id"]), str(r["version_tenant"])) for r in rows} == {(world.a["id"], world.a["id"])}

    # A's B-SC-1, B-ORD-1 and B-OR-1 are new items of A, with A's texts; A's B-QUIZ a new draft of A's.
    author = world.a["author"]
    for code in ("B-SC-1", "B-ORD-1", "B-OR-1"):
        mine = (await client.get(f"/v1/items/{code}", headers=author)).json()
        assert mine["content"]["stem"]["en"] == f"A A-item {code}", mine
        assert (mine["version"], mine["locked"], mine["content"]["framework"]) == (1, False, "A-FW")
        assert mine != b_api_before[f"item:{code}:1"][1]
    quiz = await client.get("/v1/assessments/B-QUIZ", headers=author)
    assert (
        quiz.json()["status"] == "draft" and quiz.json()["content"]["title"]["en"] == "A A-assessment B-QUIZ"
    )
    assert quiz.json()["id"] != b_api_before["assessment:B-QUIZ"][1]["id"]
    # Published, it pins A's B-SC-1 and B-ORD-1: its form shows A's texts.
    published = await client.post(
        "/v1/assessments/B-QUIZ/publish", headers={**author, "If-Match": quiz.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    form = (await client.get("/v1/assessments/B-QUIZ/preview?seed=3", headers=author)).json()
    assert {i["view"]["ref"]: i["view"]["stem"]["en"] for i in form["items"]} == {
        "B-SC-1": "A A-item B-SC-1",
        "B-ORD-1": "A A-item B-ORD-1",
    }
    rows = await owner.fetch(
        "SELECT i.tenant_id, v.tenant_id AS version_tenant, v.locked FROM items i "
        "JOIN item_versions v ON v.item_id = i.id WHERE i.code = ANY($1::text[]) AND i.tenant_id = $2",
        ["B-SC-1", "B-ORD-1", "B-OR-1"],
        UUID(world.a["id"]),
    )
    assert sorted((str(r["tenant_id"]), str(r["version_tenant"]), r["locked"]) for r in rows) == sorted(
        [(world.a["id"], world.a["id"], True)] * 2 + [(world.a["id"], world.a["id"], False)]
    )
    # B is untouched.
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before


def _at(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def _replaced(document: Any, pointer: str, value: Any) -> Any:
    """A copy of `document` with `value` at `pointer`."""
    document = copy.deepcopy(document)
    *parents, last = pointer.strip("/").split("/")
    parent = _at(document, "/" + "/".join(parents)) if parents else document
    parent[int(last) if isinstance(parent, list) else last] = value
    return document


async def test_a_draft_naming_bs_objects_never_publishes(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """A's author writes drafts naming B's items (fixed or in a pool), org units, people or framework.

    Drafts are stored unchecked, in A. `check` reports B's key in the very words it uses for a key
    nobody has, publish is refused naming the field, and nothing is pinned or locked anywhere."""
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    versions = "SELECT * FROM item_versions ORDER BY tenant_id, item_id, version"
    versions_before = [dict(r) for r in await owner.fetch(versions)]
    author = world.a["author"]

    for probe in DRAFT_REFERENCE_PROBES:
        body = _fill(probe.body, world.placeholders)
        code, referenced = body["code"], _at(body, probe.pointer)
        key_pointer = f"{probe.pointer}/code" if isinstance(referenced, dict) else probe.pointer
        b_key = _at(body, key_pointer)
        answers = []
        for key in (b_key, "NOWHERE-1"):
            context = f"{probe.method} {probe.url} {probe.covers} = {key}"
            sent = await client.request(
                probe.method,
                probe.url,
                json=_replaced(body, key_pointer, key),
                headers={**world.a[probe.who], **(probe.headers or {})},
            )
            assert sent.status_code == probe.status, (context, sent.text)
            checked = await client.post(f"/v1/assessments/{code}/check", headers=author)
            assert checked.status_code == 200 and not checked.json()["valid"], (context, checked.text)
            problems = checked.json()["problems"]
            assert probe.pointer in [p["pointer"] for p in problems], (context, problems)
            read = await client.get(f"/v1/assessments/{code}", headers=author)
            refused = await client.post(
                f"/v1/assessments/{code}/publish", headers={**author, "If-Match": read.headers["etag"]}
            )
            problem = assert_problem(refused, 422, context)
            assert probe.pointer in [e.get("pointer") for e in problem["errors"]], context
            after = (await client.get(f"/v1/assessments/{code}", headers=author)).json()
            assert after["status"] == "draft" and after["published_at"] is None, context
            for secret in (world.b["id"], world.b["slug"], "B B-", "B b-"):
                assert secret not in checked.text + refused.text, (context, secret)
            answers.append(_scrub({"problems": problems}, key))
            if probe.method == "POST":  # the next probe creates the same code
                assert (await client.delete(f"/v1/assessments/{code}", headers=author)).status_code == 204
        assert answers[0] == answers[1], (probe.covers, answers)

    # Nothing was pinned or locked, in A or B; B is exactly as it was.
    assert [dict(r) for r in await owner.fetch(versions)] == versions_before
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before


async def test_keys_that_exist_in_both_tenants_resolve_to_the_callers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """`HQ` and `shared-1` exist in A and B: everything A does with them lands on A's."""
    a, b = world.a["admin"], world.b["admin"]
    b_api_before = await _api_view(client, b)
    b_db_before = await _db_view(owner, world.b["id"])
    b_hq = b_api_before["unit:HQ"]

    a_hq = (await client.get("/v1/org-units/HQ", headers=a)).json()
    assert a_hq["id"] != b_hq["id"] and a_hq["name"] == "A HQ"
    patched = await client.patch("/v1/org-units/HQ", json={"name": "A renamed HQ"}, headers=a)
    assert patched.status_code == 200 and patched.json()["id"] == a_hq["id"]
    moved = await client.post("/v1/org-units/HQ/move", json={"parent_code": "A-ROOT"}, headers=a)
    assert moved.status_code == 200 and moved.json()["parent_code"] == "A-ROOT"
    replaced = await client.put(
        "/v1/people/shared-1", json={"org_unit_code": "HQ", "display_name": "A renamed"}, headers=a
    )
    assert replaced.status_code == 200, replaced.text  # replaced A's own, did not create
    under = (await client.get("/v1/people?under=A-ROOT", headers=a)).json()["items"]
    assert "shared-1" in {p["external_id"] for p in under}
    assert_problem(await client.delete("/v1/org-units/HQ", headers=a), 409)  # A's HQ still has A's shared-1
    assert (
        await client.put("/v1/people/shared-1", json={"org_unit_code": "A-ROOT"}, headers=a)
    ).status_code == 200
    assert (await client.delete("/v1/org-units/HQ", headers=a)).status_code == 204
    assert_problem(await client.get("/v1/org-units/HQ", headers=a), 404)

    # B's HQ and shared-1 are exactly as they were.
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, b) == b_api_before


async def test_item_and_assessment_codes_in_both_tenants_resolve_to_the_callers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """SHARED-SC and QUIZ exist in A and B, and shared-1 is a candidate of both: everything A's author
    and A's shared-1 do with them lands on A's, and B's shared-1 carries on with B's attempt."""
    b_api_before = await _api_view(client, world.b["admin"])
    b_db_before = await _db_view(owner, world.b["id"])
    author, me, a_attempt = world.a["author"], world.a["candidate"], world.ids["a_attempt"]

    # A's QUIZ pinned A's SHARED-SC: its forms and A's shared-1's attempt show A's texts only.
    form = (await client.get("/v1/assessments/QUIZ/preview?seed=5", headers=author)).json()
    assert sorted(i["view"]["stem"]["en"] for i in form["items"]) == ["A A-item A-SC-1", "A A-item SHARED-SC"]
    again = await client.post("/v1/me/assessments/QUIZ/attempts", json={}, headers=me)
    assert again.status_code == 200 and again.json()["attempt"]["id"] == a_attempt, again.text
    state = again.json()
    assert state["title"]["en"] == "A A-assessment QUIZ"
    shown = [i["stem"]["en"] for i in state["items"]] + [
        o["text"]["en"] for i in state["items"] for o in i["options"]
    ]
    assert shown and all(text.startswith("A A-") for text in shown), shown
    assert {a["item"]: a["answer"] for a in state["answers"]} == {"A-SC-1": {"choice": "a"}}

    # A's shared-1 answers SHARED-SC and submits; A's author edits SHARED-SC (pinned: a new version),
    # retires it and closes QUIZ.
    saved = await client.put(
        f"/v1/me/attempts/{a_attempt}/answers/SHARED-SC",
        json={"revision": 5, "answer": {"choice": "d"}},
        headers=me,
    )
    assert saved.status_code == 200 and saved.json()["applied"], saved.text
    submitted = await client.post(f"/v1/me/attempts/{a_attempt}/submit", headers=me)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted", submitted.text
    read = await client.get("/v1/items/SHARED-SC", headers=author)
    edited = await client.put(
        "/v1/items/SHARED-SC",
        json={**_item("A", "SHARED-SC"), "stem": _l("A A-item SHARED-SC, edited")},
        headers={**author, "If-Match": read.headers["etag"]},
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2, edited.text
    assert (await client.post("/v1/items/SHARED-SC/retire", headers=author)).json()["status"] == "retired"
    closed = await client.post("/v1/assessments/QUIZ/close", headers=author)
    assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text

    # B's SHARED-SC, QUIZ, and shared-1's attempt and answers are exactly as they were.
    assert await _db_view(owner, world.b["id"]) == b_db_before
    assert await _api_view(client, world.b["admin"]) == b_api_before
    b_state = await client.get(f"/v1/me/attempts/{world.ids['b_attempt']}", headers=world.b["candidate"])
    assert b_state.status_code == 200 and b_state.json()["attempt"]["status"] == "in_progress", b_state.text
    assert {a["item"]: a["answer"] for a in b_state.json()["answers"]}["SHARED-SC"] == {"choice": "b"}
    b_saved = await client.put(
        f"/v1/me/attempts/{world.ids['b_attempt']}/answers/SHARED-SC",
        json={"revision": 2, "answer": {"choice": "a"}},
        headers=world.b["candidate"],
    )
    assert b_saved.status_code == 200 and b_saved.json()["applied"], b_saved.text


async def test_each_shared_1_starts_with_its_own_tenants_extra_time(client: httpx.AsyncClient, world: World):
    """A granted its shared-1 1.5, B its shared-1 2.5, both before the attempts started: each attempt
    runs with its own tenant's factor (30 minutes become 45 and 75)."""
    for tenant, prefix in ((world.a, "A"), (world.b, "B")):
        attempt = world.ids[f"{prefix.lower()}_attempt"]
        state = (await client.get(f"/v1/me/attempts/{attempt}", headers=tenant["candidate"])).json()[
            "attempt"
        ]
        factor = SHARED_1_EXTRA_TIME[prefix]
        assert state["extra_time_factor"] == factor, (prefix, state)
        started, deadline = (datetime.fromisoformat(state[k]) for k in ("started_at", "deadline"))
        assert abs((deadline - started) - timedelta(minutes=30 * factor)) < timedelta(seconds=1), (
            prefix,
            state,
        )
        [offered] = (await client.get("/v1/me/assessments", headers=tenant["candidate"])).json()
        assert offered["extra_time_factor"] == factor


async def test_accommodating_a_person_of_both_tenants_touches_only_the_callers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """shared-1 has a running attempt in A (QUIZ) and in B (B-QUIZ): A's admin granting A's shared-1
    extra time (after start) moves A's attempt's deadline, and nothing of B's."""
    b_db_before = await _db_view(owner, world.b["id"])
    granted = await client.put(
        "/v1/assessments/QUIZ/accommodations/shared-1",
        json={"extra_time_factor": 2.0, "note": "A's own shared-1"},
        headers=world.a["admin"],
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["external_id"] == "shared-1" and granted.json()["extra_time_factor"] == 2.0
    mine = await client.get(f"/v1/me/attempts/{world.ids['a_attempt']}", headers=world.a["candidate"])
    assert mine.json()["attempt"]["extra_time_factor"] == 2.0
    assert mine.json()["attempt"]["deadline"] == granted.json()["running_attempt_deadline"]
    assert await _db_view(owner, world.b["id"]) == b_db_before


async def _console_session(client: httpx.AsyncClient, tenant_id: str, roles: list[str]) -> tuple[str, str]:
    """A web console session of the tenant's admin, as a sign-in creates it: (cookie value, CSRF token)."""
    from service.auth.principal import Principal
    from service.console import sessions
    from service.db.pool import tenant_transaction

    pool = client._transport.app.state.runtime.pool  # type: ignore[attr-defined]
    principal = Principal("user", "admin-1", frozenset(roles), UUID(tenant_id), "https://idp.example", 0.0)
    async with tenant_transaction(pool, UUID(tenant_id)) as conn:
        session_id = await sessions.create(conn, principal, "en", idle_seconds=600, max_seconds=3600)
        csrf = await conn.fetchval(
            "SELECT csrf_token FROM console_sessions WHERE id_hash = $1", sessions.id_hash(session_id)
        )
    return session_id, csrf


async def test_console_shows_and_writes_only_the_sessions_tenant(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """The console's pages run on the session's tenant transaction: A's session lists A's frameworks only,
    and adopting under B's framework code creates A's own framework, leaving B exactly as it was."""
    b_db_before = await _db_view(owner, world.b["id"])
    session_id, csrf = await _console_session(client, world.a["id"], ["tenant_admin"])
    cookies = {"Cookie": f"assess_console={session_id}"}
    listed = await client.get("/console/frameworks", headers=cookies)
    assert listed.status_code == 200
    assert (
        'data-testid="framework-A-FW"' in listed.text
        and "B-FW" not in listed.text
        and "B B-" not in listed.text
    )
    # The item list: A's items only, SHARED-SC as A wrote it; filters naming B's framework or an
    # indicator only B's items load on give A's empty list, as GET /v1/items does.
    items = await client.get("/console/items", headers=cookies)
    assert items.status_code == 200, items.text
    assert 'data-testid="item-A-SC-1"' in items.text and "A A-item SHARED-SC" in items.text
    assert "B-SC-1" not in items.text and "B B-" not in items.text
    for query in ("framework=B-FW", "indicator=D2.1", "indicator=D3.1&type=open_response", "q=B-ORD"):
        filtered = await client.get(f"/console/items?{query}", headers=cookies)
        assert filtered.status_code == 200 and 'data-testid="no-items"' in filtered.text, query
        assert "B B-" not in filtered.text and 'data-testid="item-' not in filtered.text, query
    adopted = await client.post(
        "/console/templates/adopt",
        headers=cookies,
        data={"template": TEMPLATE, "code": "B-FW", "csrf_token": csrf},
    )
    assert adopted.status_code == 303, adopted.text
    assert 'data-testid="framework-B-FW"' in (await client.get("/console/frameworks", headers=cookies)).text
    assert await _db_view(owner, world.b["id"]) == b_db_before
    # B's session is B's: its list is B's own.
    b_session, _ = await _console_session(client, world.b["id"], ["analyst"])
    b_listed = await client.get("/console/frameworks", headers={"Cookie": f"assess_console={b_session}"})
    assert "A-FW" not in b_listed.text and 'data-testid="framework-B-FW"' in b_listed.text
    b_items = await client.get(
        "/console/items?indicator=D2.1", headers={"Cookie": f"assess_console={b_session}"}
    )
    assert 'data-testid="item-B-ORD-1"' in b_items.text and "A A-" not in b_items.text


# The console's item pages with B's keys, sent with A's console session (form posts carry A's CSRF token).
CONSOLE_PROBES: list[Probe] = [
    Probe("GET", "/console/items/{code:str}", "/console/items/B-SC-1", 404, "path", who="console"),
    Probe("GET", "/console/items/{code:str}", "/console/items/B-OR-1?version=1", 404, "path", who="console"),
    Probe("GET", "/console/items/{code:str}/edit", "/console/items/B-SC-1/edit", 404, "path", who="console"),
    Probe(
        "POST",
        "/console/items/{code:str}/edit",
        "/console/items/B-SC-1/edit",
        404,
        "path",
        {"code": "B-SC-1", "stem.en": "pwned by A", "etag": "*"},
        who="console",
    ),
    Probe(
        "POST", "/console/items/{code:str}/retire", "/console/items/B-SC-1/retire", 404, "path", who="console"
    ),
    Probe(
        "POST",
        "/console/items/{code:str}/restore",
        "/console/items/B-OR-1/restore",
        404,
        "path",
        who="console",
    ),
    Probe("GET", "/console/images/{image_id:str}", "/console/images/{b_image}", 404, "path", who="console"),
]


async def test_console_item_pages_never_reach_bs_items_or_images(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """A's console session asking for B's items and images: 404 pages exactly like a key nobody has, and
    nothing of B changes or shows."""
    all_db_before = await _db_view(owner)
    all_db_before.pop("console_sessions")  # A's own session is created and touched below
    session_id, csrf = await _console_session(client, world.a["id"], ["tenant_admin"])
    cookies = {"Cookie": f"assess_console={session_id}"}
    for probe in CONSOLE_PROBES:
        url = _fill(probe.url, world.placeholders)
        if probe.method == "POST":
            response = await client.post(
                url, headers=cookies, data={"csrf_token": csrf, **(probe.body or {})}
            )
        else:
            response = await client.get(url, headers=cookies)
        assert response.status_code == probe.status, (probe.url, response.status_code, response.text[:500])
        for secret in (world.b["id"], world.b["slug"], "B B-", "B b-", "pwned"):
            assert secret not in response.text, (probe.url, secret)
        missing = (
            url.replace("B-SC-1", "NOWHERE-1")
            .replace("B-OR-1", "NOWHERE-1")
            .replace(world.ids["b_image"], "0" * 64)
        )
        if probe.method == "POST":
            nobody = await client.post(
                missing, headers=cookies, data={"csrf_token": csrf, **(probe.body or {})}
            )
        else:
            nobody = await client.get(missing, headers=cookies)
        assert nobody.status_code == response.status_code, probe.url
        assert re.sub(r'content="[^"]+"|value="[^"]+"', "", nobody.text) == re.sub(
            r'content="[^"]+"|value="[^"]+"', "", response.text
        ), probe.url
    after = await _db_view(owner)
    after.pop("console_sessions")
    assert after == all_db_before


async def test_the_console_cannot_reach_bs_objects(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """The console probes of CROSS_TENANT_PROBES: a page with the status a key nobody has gets, nothing of
    B's in it, and B as it was. (Apart from the API's probes: a console page renews A's session row.)"""
    b_db_before = await _db_view(owner, world.b["id"])
    probes = [p for p in CROSS_TENANT_PROBES if p.who == "console"]
    assert probes
    for probe in probes:
        context = f"console: {probe.method} {probe.url} {probe.form}"
        response = await _send(client, probe, world.a["console"], world.placeholders)
        assert response.status_code == probe.status, (context, response.text)
        assert response.headers["content-type"].startswith("text/html"), context
        for secret in (world.b["id"], world.b["slug"], "B B-", "B b-"):
            assert secret not in response.text, (context, secret)
    # A's own draft pointed at B's items, units and people: the check names each as unknown, the
    # audience count does not reach B's people, the pickers do not show B's units or items.
    cookies = world.a["console"]
    saved = await client.post(
        "/console/assessments/A-DRAFT-Q",
        headers=cookies,
        data={
            "action": "check",
            "etag": (await client.get("/v1/assessments/A-DRAFT-Q", headers=world.a["admin"])).headers["etag"],
            "title_en": "A draft",
            "framework": "A-FW",
            "framework_version": "1",
            "section_count": "1",
            "s0_code": "main",
            "s0_items": "B-SC-1",
            "s0_pool_items": "B-ORD-1",
            "s0_pool_draw": "1",
            "audience_units": "B-ROOT",
            "audience_people": "b-1",
        },
    )
    assert saved.status_code == 303, saved.text
    checked = (await client.get(saved.headers["location"], headers=cookies)).text
    for shown in (
        "no item &#39;B-SC-1&#39;",
        "no item &#39;B-ORD-1&#39;",
        "no org unit &#39;B-ROOT&#39;",
        "no person &#39;b-1&#39;",
    ):
        assert shown in checked, shown
    assert 'data-count="0"' in checked and "B B-" not in checked
    preview = await client.get("/console/assessments/A-DRAFT-Q/preview", headers=cookies)
    assert preview.status_code == 422 and "B B-" not in preview.text
    for url in (
        "/console/assessments/-/audience?audience_units=B-ROOT&audience_people=b-1",
        "/console/assessments/-/audience?audience_units=B-CITY&audience_categories=unspecified",
    ):
        counted = await client.get(url, headers=cookies)
        assert counted.status_code == 200 and 'data-count="0"' in counted.text, url
    units = await client.get("/console/assessments/-/org-units?parent=B-ROOT", headers=cookies)
    assert "B-CITY" not in units.text and "B B-" not in units.text
    roots = await client.get("/console/assessments/-/org-units", headers=cookies)
    assert (
        'data-testid="unit-A-ROOT"' in roots.text and "B-ROOT" not in roots.text and "B B-" not in roots.text
    )
    staff = await client.get("/console/assessments/-/people?under=B-ROOT", headers=cookies)
    assert "b-1" not in staff.text and "B B-" not in staff.text and "Nobody here" in staff.text
    found = await client.get("/console/assessments/-/items?item_q=B-", headers=cookies)
    assert "B-SC-1" not in found.text and "B B-" not in found.text
    listed = await client.get("/console/assessments", headers=cookies)
    assert 'data-testid="assessment-QUIZ"' in listed.text and "B-QUIZ" not in listed.text
    assert "B B-" not in listed.text
    assert await _db_view(owner, world.b["id"]) == b_db_before


# The framework editor's pages (service/console/frameworks.py), aimed by A's console session at B's
# frameworks; bodies are the editor's form fields. Each must answer the 404 page a key nobody has gets.
FRAMEWORK_CONSOLE_PROBES: list[Probe] = [
    Probe("GET", "/console/frameworks/{code:str}", "/console/frameworks/B-FW", 404, "path"),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions",
        "/console/frameworks/B-IMPORTED/versions",
        404,
        "path",
        {"from_version": "1"},
    ),
    Probe(
        "GET",
        "/console/frameworks/{code:str}/versions/{version:int}",
        "/console/frameworks/B-FW/versions/2",
        404,
        "path",
    ),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions/{version:int}",
        "/console/frameworks/B-FW/versions/2",
        404,
        "path",
        {"etag": "{b_etag_v2}", "/code": "B-FW", "/title/en": "pwned by A", "action": "save"},
    ),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions/{version:int}",
        "/console/frameworks/B-DRAFT/versions/1",
        404,
        "path",
        {"etag": "*", "/code": "B-DRAFT", "/title/en": "pwned by A", "action": "publish"},
    ),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions/{version:int}/check",
        "/console/frameworks/B-FW/versions/2/check",
        404,
        "path",
        {"/code": "B-FW", "/title/en": "x"},
    ),
    Probe(
        "GET",
        "/console/frameworks/{code:str}/versions/{version:int}/dimensions/{dimension:int}",
        "/console/frameworks/B-FW/versions/2/dimensions/0",
        404,
        "path",
    ),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions/{version:int}/dimensions/{dimension:int}",
        "/console/frameworks/B-FW/versions/2/dimensions/0",
        404,
        "path",
        {"etag": "{b_etag_v2}", "/code": "B-FW", "/dimensions/0/name/en": "pwned by A", "action": "save"},
    ),
    Probe(
        "POST",
        "/console/frameworks/{code:str}/versions/{version:int}/dimensions/{dimension:int}/check",
        "/console/frameworks/B-FW/versions/2/dimensions/0/check",
        404,
        "path",
        {"/code": "B-FW", "/dimensions/0/name/en": "x"},
    ),
    Probe(
        "GET",
        "/console/frameworks/{code:str}/versions/{version:int}/export",
        "/console/frameworks/B-FW/versions/1/export",
        404,
        "path",
    ),
    Probe(
        "GET", "/console/frameworks/{code:str}/diff", "/console/frameworks/B-FW/diff?from=1&to=2", 404, "path"
    ),
]


async def test_console_framework_pages_cannot_reach_bs_frameworks(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """Every framework editor route with a key, aimed at B's: the same 404 page as a key nobody has, B
    unchanged; a CASE import under B's framework code creates A's own framework."""
    b_db_before = await _db_view(owner, world.b["id"])
    session_id, csrf = await _console_session(client, world.a["id"], ["tenant_admin"])
    headers = {"Cookie": f"assess_console={session_id}", "X-CSRF-Token": csrf}
    for probe in FRAMEWORK_CONSOLE_PROBES:
        url = _fill(probe.url, world.placeholders)
        data = _fill(probe.body, world.placeholders)
        response = await client.request(probe.method, url, headers=headers, data=data)
        context = f"{probe.method} {url}"
        assert response.status_code == 404 and "text/html" in response.headers["content-type"], context
        for secret in (world.b["id"], world.b["slug"], "B B-", "pwned"):
            assert secret not in response.text, (context, secret)
        key = url.split("/")[3]
        nobody = await client.request(probe.method, url.replace(key, "NO-SUCH"), headers=headers, data=data)
        assert nobody.status_code == 404, context
        assert nobody.text.replace("NO-SUCH", "<key>") == response.text.replace(key, "<key>"), context
    imported = await client.post(
        "/console/frameworks/import",
        headers=headers,
        data={"code": "B-DRAFT"},
        files={"package": ("a.json", msgspec.json.encode(world.documents["a_case"]), "application/json")},
    )
    assert imported.status_code == 303 and imported.headers["location"] == "/console/frameworks/B-DRAFT"
    mine = await client.get("/console/frameworks/B-DRAFT", headers=headers)
    assert mine.status_code == 200 and "B B-" not in mine.text and "A A-FW" in mine.text
    assert await _db_view(owner, world.b["id"]) == b_db_before


def test_console_routes_join_the_route_walk(settings: Settings):
    """Console routes are not exempt: one that takes an object key in its path, query or `data` body
    fails test_every_object_route_has_an_isolation_probe until it has a probe (a console probe signs
    in with `_console_session`)."""
    console = [p for _, p, _ in _routes(app_for(settings)) if p.startswith("/console")]
    assert "/console/frameworks" in console and not any(_exempt(p) for p in console)


async def test_lists_show_only_the_callers_tenant(client: httpx.AsyncClient, world: World):
    for me, other in ((world.a, world.b), (world.b, world.a)):
        view = await _api_view(client, me["admin"])
        prefix, other_prefix = me["slug"][-1].upper(), other["slug"][-1].upper()
        assert {u["code"] for u in view["units"]["items"]} == {
            f"{prefix}-ROOT",
            f"{prefix}-CITY",
            f"{prefix}-LEAF",
            "HQ",
        }
        assert all(u["name"].startswith(f"{prefix} ") for u in view["units"]["items"])
        assert {p["external_id"] for p in view["people"]["items"]} == {
            f"{prefix.lower()}-1",
            f"{prefix.lower()}-2",
            "shared-1",
        }
        assert all(p["display_name"].startswith(f"{prefix} ") for p in view["people"]["items"])
        assert [i["issuer"] for i in view["issuers"]] == [f"https://idp.{prefix.lower()}.example"]
        own_frameworks = {"A": {"A-FW"}, "B": {"B-FW", "B-DRAFT", "B-IMPORTED"}}[prefix]
        assert {f["code"] for f in view["frameworks"]["items"]} == own_frameworks
        assert all(f["title"]["en"].startswith(f"{prefix} ") for f in view["frameworks"]["items"])
        assert view["tenant"]["id"] == me["id"]
        # Value filters never widen the list to the other tenant.
        for url in (
            "/v1/org-units?level=city",
            "/v1/org-units?level=province",
            "/v1/people?category=civil_servant",
            "/v1/people?active=true",
            "/v1/org-units?limit=1",
            "/v1/people?limit=1",
            "/v1/frameworks?limit=1",
        ):
            items = (await client.get(url, headers=me["admin"])).json()["items"]
            assert items and all(
                not str(i.get("name", i.get("display_name", i.get("title", {}).get("en", "")))).startswith(
                    f"{other_prefix} "
                )
                for i in items
            ), url
        # Items, assessments, their attempts; every value filter and text search stays in the caller's tenant.
        own_items = {"A": {"A-SC-1", "SHARED-SC"}, "B": {"B-SC-1", "B-ORD-1", "B-OR-1", "SHARED-SC"}}[prefix]
        assert {i["code"] for i in view["items"]["items"]} == own_items
        own_assessments = {"A": {"QUIZ", "A-DRAFT-Q"}, "B": {"QUIZ", "B-QUIZ", "B-DRAFT-Q"}}[prefix]
        assert {a["code"] for a in view["assessments"]["items"]} == own_assessments
        quiz = "QUIZ" if prefix == "A" else "B-QUIZ"
        own_attempts = {(world.ids[f"{prefix.lower()}_attempt"], "shared-1")}
        if prefix == "B":
            own_attempts.add((world.ids["b_scored_attempt"], "b-1"))
        assert {
            (t["id"], t["external_id"]) for t in view[f"assessment:{quiz}:attempts"]["items"]
        } == own_attempts
        accommodations = view[f"assessment:{quiz}:accommodations"]["items"]
        assert [(c["external_id"], c["extra_time_factor"]) for c in accommodations] == [
            (f"{prefix.lower()}-1", 1.25),
            ("shared-1", SHARED_1_EXTRA_TIME[prefix]),
        ]
        for url in (
            "/v1/items?limit=500",
            "/v1/items?type=single_choice",
            "/v1/items?status=active",
            "/v1/items?indicator=D1.1",
            "/v1/items?q=item",
            "/v1/items?q=SHARED",
            "/v1/items?limit=1",
            "/v1/items/export",
            "/v1/assessments?status=published",
            "/v1/assessments?limit=1",
            f"/v1/assessments/{quiz}/attempts?status=in_progress",
        ):
            items = (await client.get(url, headers=me["author"])).json()["items"]
            texts = [(i.get("stem") or i.get("title") or {}).get("en") or i.get("external_id") for i in items]
            assert texts and all(t.startswith((f"{prefix} ", "shared-1")) for t in texts), (url, texts)
        # Text search finds nothing of the other tenant's texts; nor of anyone's keys or notes.
        for text in (
            f"{other_prefix}-item",
            f"{other_prefix}-option",
            "rater notes",
            "exemplar",
            "author note",
        ):
            found = await client.get("/v1/items", params={"q": text}, headers=me["author"])
            assert found.status_code == 200 and found.json()["items"] == [], (text, found.text)
        # The candidate (each tenant's own shared-1) is offered its own tenant's assessments only, though
        # B-QUIZ names shared-1 in its audience.
        offered = await client.get("/v1/me/assessments", headers=me["candidate"])
        assert offered.status_code == 200, offered.text
        assert [(a["code"], a["title"]["en"]) for a in offered.json()] == [
            (quiz, f"{prefix} {prefix}-assessment {quiz}")
        ]
        assert [t["id"] for t in offered.json()[0]["attempts"]] == [world.ids[f"{prefix.lower()}_attempt"]]


async def test_pagination_cursor_from_b_reveals_nothing_to_a(client: httpx.AsyncClient, world: World):
    """A cursor is only a position: B's cursor handed to A pages through A's rows, never B's."""
    first = (await client.get("/v1/people?limit=1", headers=world.b["admin"])).json()
    cursor = first["next_cursor"]
    assert cursor
    seen: list[str] = []
    while cursor:
        page = (
            await client.get("/v1/people", params={"limit": 1, "cursor": cursor}, headers=world.a["admin"])
        ).json()
        seen += [p["display_name"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert seen and all(name.startswith("A ") for name in seen)

    first = (await client.get("/v1/frameworks?limit=1", headers=world.b["admin"])).json()
    cursor = first["next_cursor"]
    assert cursor
    while cursor:  # B's cursor points past "B-DRAFT": A's frameworks after it (none), never B's
        page = (
            await client.get(
                "/v1/frameworks", params={"limit": 1, "cursor": cursor}, headers=world.a["admin"]
            )
        ).json()
        assert all(f["title"]["en"].startswith("A ") for f in page["items"]), page
        cursor = page["next_cursor"]

    # Items (B's cursor points past "B-OR-1": A's SHARED-SC follows), assessments, accommodations (B's
    # cursor past B's b-1 on B-QUIZ: A's shared-1 on A's QUIZ follows, with A's factor): every row A is
    # shown is a row of A's own full list.
    for b_url, a_url in (
        ("/v1/items", "/v1/items"),
        ("/v1/assessments", "/v1/assessments"),
        ("/v1/assessments/B-QUIZ/accommodations", "/v1/assessments/QUIZ/accommodations"),
    ):
        first = (await client.get(b_url, params={"limit": 1}, headers=world.b["admin"])).json()
        cursor = first["next_cursor"]
        assert cursor, b_url
        mine = (await client.get(a_url, params={"limit": 500}, headers=world.a["admin"])).json()["items"]
        seen = []
        while cursor:
            page = (
                await client.get(a_url, params={"limit": 1, "cursor": cursor}, headers=world.a["admin"])
            ).json()
            seen += page["items"]
            cursor = page["next_cursor"]
        assert seen and all(row in mine for row in seen), (a_url, seen, mine)
    # A cursor after B's attempt, on A's attempts of A's QUIZ: A's attempt or nothing, never B's.
    first = (
        await client.get("/v1/assessments/B-QUIZ/attempts", params={"limit": 1}, headers=world.b["admin"])
    ).json()
    b_attempts = {world.ids["b_attempt"], world.ids["b_scored_attempt"]}
    assert len(first["items"]) == 1 and first["items"][0]["id"] in b_attempts and first["next_cursor"]
    page = await client.get(
        "/v1/assessments/QUIZ/attempts", params={"cursor": first["next_cursor"]}, headers=world.a["admin"]
    )
    assert page.status_code == 200 and {a["id"] for a in page.json()["items"]} <= {world.ids["a_attempt"]}
    # Score exports: B's list holds B's export; A's, even from B's cursor, holds none of it.
    first = (await client.get("/v1/score-exports", params={"limit": 1}, headers=world.b["admin"])).json()
    assert [e["id"] for e in first["items"]] == [world.ids["b_score_export"]] and first["next_cursor"]
    for params in ({}, {"cursor": first["next_cursor"]}):
        page = await client.get("/v1/score-exports", params=params, headers=world.a["admin"])
        assert page.status_code == 200 and page.json()["items"] == [], page.text


async def test_concurrent_requests_of_two_tenants_never_see_each_others_rows(
    client: httpx.AsyncClient, world: World
):
    """Interleaved requests share the pool's few connections; each must see its own tenant only."""

    async def read(tenant: dict[str, Any], url: str) -> tuple[str, list[dict[str, Any]]]:
        response = await client.get(url, headers=tenant["admin"])
        assert response.status_code == 200, response.text
        return tenant["slug"], response.json()["items"]

    jobs = [
        read(t, url)
        for _ in range(15)
        for t in (world.a, world.b)
        for url in ("/v1/people?limit=500", "/v1/org-units?limit=500")
    ]
    for slug, items in await asyncio.gather(*jobs):
        prefix = slug[-1].upper()
        names = [i.get("display_name") or i.get("name") for i in items]
        assert names and all(n.startswith(f"{prefix} ") for n in names), (slug, names)


async def test_public_metrics_and_access_log_carry_no_tenant_keys(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
):
    """/metrics (open to loopback clients, as this one is): its labels, like the access log, must be route templates, never B's keys."""
    secrets = ("B-SECRET-UNIT", "b-secret-person")
    with caplog.at_level(logging.INFO, logger="assess.access"):
        b = world.b["admin"]
        assert (
            await client.post("/v1/org-units", json={"code": secrets[0], "name": "x"}, headers=b)
        ).status_code == 201
        assert (await client.get(f"/v1/org-units/{secrets[0]}", headers=b)).status_code == 200
        assert (await client.put(f"/v1/people/{secrets[1]}", json={}, headers=b)).status_code == 201
        assert (await client.get(f"/v1/people?under={secrets[0]}", headers=b)).status_code == 200
        assert (await client.get(f"/v1/org-units/{secrets[0]}", headers=world.a["admin"])).status_code == 404
    access = [r.getMessage() for r in caplog.records if r.name == "assess.access"]
    assert len(access) >= 5
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "/v1/org-units/{code:str}" in metrics.text or "/v1/org-units/{code}" in metrics.text
    for secret in (*secrets, world.b_issuer):
        assert secret not in metrics.text, secret
        assert not [line for line in access if secret in line], secret


async def test_both_tenants_read_the_same_shared_templates(client: httpx.AsyncClient, world: World):
    """Templates are global read-only data (exempt from the route walk): A and B read the very same one,
    and a tenant adopting it gets a framework of its own that the other cannot see."""
    answers = []
    for tenant in (world.a, world.b):
        h = tenant["admin"]
        listed = await client.get("/v1/rubric-templates", headers=h)
        full = await client.get(f"/v1/rubric-templates/{TEMPLATE}", headers=h)
        rendered = await client.get(
            f"/v1/rubric-templates/{TEMPLATE}/rendered", headers={**h, "Accept-Language": "en"}
        )
        for response in (listed, full, rendered):
            assert response.status_code == 200, response.text
        answers.append((listed.json(), full.json(), rendered.json(), rendered.headers["content-language"]))
    assert answers[0] == answers[1]
    assert answers[0][1]["code"] == TEMPLATE and answers[0][1]["content_hash"].startswith("sha256:")
    # Both adopted this template (world): the same template version, two unrelated frameworks.
    a_fw = (await client.get("/v1/frameworks/A-FW", headers=world.a["admin"])).json()
    b_fw = (await client.get("/v1/frameworks/B-FW", headers=world.b["admin"])).json()
    assert (
        a_fw["origin"] == b_fw["origin"] and a_fw["origin"]["content_hash"] == answers[0][1]["content_hash"]
    )
    assert a_fw["id"] != b_fw["id"]


# --------------------------------------------------------------------------- tokens and roles


async def test_operator_token_is_refused_on_every_tenant_route(
    client: httpx.AsyncClient,
    world: World,
    service_keys: ServiceKeys,
    settings: Settings,
    owner: asyncpg.Connection,
):
    """The operator manages tenants; it never reads or writes a tenant's data."""
    all_db_before = await _db_view(owner)
    checked, frameworks_checked, delivery_checked = 0, 0, 0
    queries = {
        "/v1/frameworks/{code:str}/diff": "?from=1&to=2",
        "/v1/frameworks/{code:str}/versions/{version:int}/export": "?format=native",
        "/v1/frameworks/import/case": "?code=OP-FW",
    }
    for method, path, handler in _routes(client._transport.app):  # type: ignore[attr-defined]
        # Shared templates are not exempt here: global data, but still only for tenants' users.
        if _operator_route(path) or path.startswith("/docs") or handler.opt.get("exclude_from_auth"):
            continue
        if path.startswith("/v1/frameworks/"):
            sample_code = "B-FW"
        elif _shared_template_route(path):
            sample_code = TEMPLATE
        elif path.startswith("/v1/items/"):
            sample_code = "B-SC-1"
        elif path.startswith(("/v1/assessments/", "/v1/me/assessments/")):
            sample_code = "B-QUIZ"
        else:
            sample_code = "B-CITY"
        url = (
            path.replace("{code:str}", sample_code)
            .replace("{version:int}", "2" if path.startswith("/v1/frameworks/") else "1")
            .replace("{external_id:str}", "b-1")
            .replace("{issuer_id:uuid}", world.b_issuer)
            .replace("{attempt_id:uuid}", world.ids["b_attempt"])
            .replace("{item:str}", "B-SC-1")
            .replace("{task_id:uuid}", world.ids["b_task"])
            .replace("{rescoring_id:uuid}", world.ids["b_rescoring"])
            .replace("{calibration_id:uuid}", world.ids["b_calibration"])
            .replace("{job_id:uuid}", world.ids["b_aggregate_job"])
            .replace("{webhook_id:uuid}", world.ids["b_webhook"])
            .replace("{delivery_id:uuid}", world.ids["b_webhook_delivery"])
            .replace("{statement_id:uuid}", world.ids["b_lrs_statement"])
            .replace("{client_id:uuid}", world.ids["b_client"])
            .replace("{export_id:uuid}", world.ids["b_score_export"])
            .replace("{image_id:str}", world.ids["b_image"])
            .replace("{credential_id:uuid}", "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b")
        ) + queries.get(path, "")
        assert "{" not in url, f"add a sample value for {path}"
        headers = {**operator(service_keys), "If-Match": world.etags["b_etag_v2"]}
        body: Any = None
        if method in ("POST", "PUT", "PATCH"):
            body = {}
            if path == "/v1/frameworks":
                body = {"template": TEMPLATE, "code": "OP-FW"}
            elif path == "/v1/frameworks/import/native" or (
                method == "PUT" and path.startswith("/v1/frameworks/")
            ):
                body = {**world.documents["a_content"], "code": sample_code if method == "PUT" else "OP-FW"}
            elif path == "/v1/frameworks/import/case":
                body = world.documents["a_case"]
            elif method == "PATCH" and path.startswith("/v1/frameworks/"):
                body = [{"op": "replace", "path": "/title", "value": {"en": "by the operator"}}]
            elif path in ("/v1/items", "/v1/items/{code:str}"):
                body = _item("A", "B-SC-1" if method == "PUT" else "OP-ITEM")
            elif path == "/v1/items/import":
                body = {"items": [_item("A", "OP-ITEM")]}
            elif path in ("/v1/assessments", "/v1/assessments/{code:str}"):
                body = _assessment("A", "B-QUIZ" if method == "PUT" else "OP-QUIZ", ["A-SC-1"])
            elif path.endswith("/accommodations/{external_id:str}"):
                body = {"extra_time_factor": 2.0}
            elif path.endswith("/answers/{item:str}"):
                body = {"revision": 99, "answer": {"choice": "a"}}
            elif path.endswith("/answers"):
                body = {"answers": [{"item": "B-SC-1", "revision": 99, "answer": {"choice": "a"}}]}
            elif path.endswith("/ratings"):
                body = {"value": 1}
            elif path.endswith("/rescorings"):
                body = {"reason": "by the operator"}
        response = await client.request(
            method, url, headers=headers, **({"json": body} if body is not None else {})
        )
        assert_problem(response, 403, f"{method} {url}")
        checked += 1
        frameworks_checked += path.startswith(("/v1/frameworks", "/v1/rubric-templates"))
        delivery_checked += path.startswith(("/v1/items", "/v1/assessments", "/v1/me/"))
    assert checked >= 14 + 17 + 28
    assert frameworks_checked >= 17  # 14 framework routes and 3 template routes
    assert delivery_checked >= 28  # 10 item routes, 12 assessment routes, 6 candidate routes
    assert_problem(await client.get("/v1/org-units?under=B-ROOT", headers=operator(service_keys)), 403)
    assert_problem(await client.get("/v1/people?under=B-ROOT", headers=operator(service_keys)), 403)
    # Nothing the operator sent reached B's (or anyone's) frameworks.
    assert await _db_view(owner) == all_db_before


async def test_tenant_admin_token_is_refused_on_operator_routes(
    client: httpx.AsyncClient, world: World, settings: Settings
):
    checked = 0
    for method, path, _ in _routes(client._transport.app):  # type: ignore[attr-defined]
        if not _operator_route(path):
            continue
        url = path.replace("{slug:str}", world.b["slug"]).replace("{issuer_id:uuid}", world.b_issuer)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = await client.request(
            method, url, headers=world.a["admin"], **({"json": body} if body is not None else {})
        )
        assert_problem(response, 403, f"{method} {url}")
        checked += 1
    assert checked >= 6


async def test_service_token_for_an_unknown_tenant_is_refused(
    client: httpx.AsyncClient, world: World, service_keys: ServiceKeys
):
    forged = user(service_keys, "00000000-0000-4000-8000-000000000001", ["tenant_admin"])
    assert_problem(await client.get("/v1/org-units", headers=forged), 401)


async def test_identity_provider_tokens_map_to_their_own_tenant_only(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection, service_keys: ServiceKeys
):
    b_db_before = await _db_view(owner, world.b["id"])
    b_shared_response = await client.get("/v1/people/shared-1", headers=world.b["admin"])
    assert b_shared_response.status_code == 200, b_shared_response.text
    b_shared = b_shared_response.json()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # B's IdP signs in B's shared-1: it is B's record, not A's namesake.
    me = await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="shared-1")))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == b_shared["id"]
    # A's person is not provisioned in B: B's IdP cannot sign in as them.
    assert_problem(await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="a-1"))), 403)
    # A B token naming A as its tenant (by id or slug) is refused outright.
    for tenant in (world.a["id"], world.a["slug"]):
        token = world.idp_b.token("b-app", sub="shared-1", tenant=tenant)
        assert_problem(await client.get("/v1/me", headers=bearer(token)), 401)
    # B's IdP cannot mint tokens for A's audience, nor A's IdP for B's, nor either under the other's name.
    assert_problem(
        await client.get("/v1/me", headers=bearer(world.idp_b.token("a-app", sub="shared-1"))), 401
    )
    assert_problem(
        await client.get("/v1/me", headers=bearer(world.idp_a.token("b-app", sub="shared-1"))), 401
    )
    impostor = IdentityProvider(world.idp_b.issuer, kid=world.idp_b.kid)  # same iss and kid, other key
    assert_problem(await client.get("/v1/me", headers=bearer(impostor.token("b-app", sub="shared-1"))), 401)

    # A trusts its own key under B's issuer name (a different audience): that can only ever reach A.
    attacker = IdentityProvider(world.idp_b.issuer, kid="attacker")
    registered = await client.post(
        f"/v1/tenants/{world.a['slug']}/issuers",
        headers=operator(service_keys),
        json={
            "issuer": world.idp_b.issuer,
            "audience": "a-hijack",
            "jwks": attacker.jwks(),
            "default_roles": ["tenant_admin"],
            "allowed_roles": ["tenant_admin"],
        },
    )
    assert registered.status_code == 201, registered.text
    mine = await client.get("/v1/tenant", headers=bearer(attacker.token("a-hijack", sub="x")))
    assert mine.status_code == 200 and mine.json()["id"] == world.a["id"]
    for audience in ("b-app", ["b-app", "a-hijack"]):
        token = attacker.token(audience, sub="shared-1")  # type: ignore[arg-type]
        assert_problem(await client.get("/v1/me", headers=bearer(token)), 401)
        assert_problem(await client.get("/v1/tenant", headers=bearer(token)), 401)
    # B's real tokens still reach B, and only B.
    me_again = await client.get("/v1/me", headers=bearer(world.idp_b.token("b-app", sub="shared-1")))
    assert me_again.status_code == 200 and me_again.json()["id"] == b_shared["id"]
    assert await _db_view(owner, world.b["id"]) == b_db_before


async def test_tenant_admins_cannot_register_or_remove_issuers(
    client: httpx.AsyncClient, world: World, owner: asyncpg.Connection
):
    """Only the operator binds an (issuer, audience) to a tenant.

    If tenant admins could, A could register B's identity provider (B's issuer, audience
    and public keys) before B does, and B's tokens would sign in to A.
    """
    b_db_before = await _db_view(owner, world.b["id"])
    body = {"issuer": world.idp_b.issuer, "audience": "b-app", "jwks": world.idp_b.jwks()}
    assert_problem(await client.post("/v1/issuers", headers=world.a["admin"], json=body), 405)
    assert_problem(await client.delete(f"/v1/issuers/{world.b_issuer}", headers=world.a["admin"]), 404)
    assert [i["audience"] for i in (await client.get("/v1/issuers", headers=world.a["admin"])).json()] == [
        "a-app"
    ]
    assert await _db_view(owner, world.b["id"]) == b_db_before


# --------------------------------------------------------------------------- route coverage


def _routes(app: Litestar) -> Iterator[tuple[str, str, BaseRouteHandler]]:
    """(method, path template, handler) of every route; non-HTTP routes come with method '*'."""
    for route in app.routes:
        for handler in route.route_handlers:
            methods = handler.http_methods if isinstance(handler, HTTPRouteHandler) else {"*"}
            for method in sorted(set(methods) - {"OPTIONS", "HEAD"}):
                yield method, route.path, handler


def _request_params(route_path: str, handler: BaseRouteHandler) -> Iterator[tuple[str, str]]:
    """("query" | "header", name on the wire) of every handler parameter that is not a path
    parameter, a dependency, the body or a framework kwarg. Aliases (`QueryParameter(name="from")`)
    are reported by their wire name; a parameter without a kwarg definition is a query parameter."""
    path_params = set(re.findall(r"{(\w+):", route_path))
    skip = set(handler.resolve_dependencies()) | path_params | _RESERVED_KWARGS
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if name in skip or isinstance(kwarg, (PathParameter, BodyKwarg, DependencyKwarg)):
            continue
        if isinstance(kwarg, (HeaderParameter, CookieParameter)) or (
            isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie)
        ):
            kind = "cookie" if isinstance(kwarg, CookieParameter) or kwarg.cookie else "header"
            yield kind, (kwarg.name or kwarg.header or kwarg.cookie or name).lower()
        elif isinstance(kwarg, ParameterKwarg):
            yield "query", kwarg.name or kwarg.query or name
        else:
            yield "query", name


def _query_params(route_path: str, handler: BaseRouteHandler) -> set[str]:
    return {name for kind, name in _request_params(route_path, handler) if kind == "query"}


def _header_params(route_path: str, handler: BaseRouteHandler) -> set[str]:
    return {name for kind, name in _request_params(route_path, handler) if kind != "query"}


def _reference_fields(
    info: msgspec.inspect.Type, pointer: str = "", enclosing: frozenset[type] = frozenset()
) -> Iterator[str]:
    """JSON pointers (list items and dict values as `*`) of every body field whose name says it names an object.

    Recursive types (a `Dimension` holds `children: list[Dimension]`) are walked once per path:
    `enclosing` holds the struct types being walked above this point, and a type met again inside
    itself is not descended into, since its fields were already reported where it first appeared.
    """
    if isinstance(info, msgspec.inspect.Metadata):
        yield from _reference_fields(info.type, pointer, enclosing)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from _reference_fields(member, pointer, enclosing)
    elif isinstance(
        info,
        (
            msgspec.inspect.ListType,
            msgspec.inspect.SetType,
            msgspec.inspect.FrozenSetType,
            msgspec.inspect.VarTupleType,
        ),
    ):
        yield from _reference_fields(info.item_type, pointer + "/*", enclosing)
    elif isinstance(info, msgspec.inspect.TupleType):
        for item in info.item_types:
            yield from _reference_fields(item, pointer + "/*", enclosing)
    elif isinstance(info, msgspec.inspect.DictType):
        yield from _reference_fields(info.value_type, pointer + "/*", enclosing)
    elif isinstance(
        info, (msgspec.inspect.StructType, msgspec.inspect.DataclassType, msgspec.inspect.TypedDictType)
    ):
        if info.cls in enclosing:
            return
        inside = enclosing | {info.cls}
        for f in info.fields:
            here = f"{pointer}/{f.encode_name}"
            if _REFERENCE_FIELD.search(f.name):
                yield here
            yield from _reference_fields(f.type, here, inside)


def _body_fields(handler: BaseRouteHandler) -> set[str]:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return set()
    return set(_reference_fields(msgspec.inspect.type_info(data.annotation)))


async def test_every_object_route_has_an_isolation_probe(settings: Settings):
    app = app_for(settings)
    probes = (
        CROSS_TENANT_PROBES
        + OWN_KEY_PROBES
        + DRAFT_REFERENCE_PROBES
        + CONSOLE_PROBES
        + FRAMEWORK_CONSOLE_PROBES
    )
    covered = {(p.method, p.route, p.covers) for p in probes}
    routes = list(_routes(app))
    known = {(m, path) for m, path, _ in routes}
    # Every probe names a real route (no stale entries that cover nothing).
    assert {(p.method, p.route) for p in probes} <= known

    missing: list[str] = []
    checked_paths = 0
    for method, path, handler in routes:
        if _exempt(path):
            continue
        if "{" in path:
            checked_paths += 1
            if (method, path, "path") not in covered:
                missing.append(f"{method} {path}: no cross-tenant probe on its path parameter")
        for name in sorted(_query_params(path, handler) - NON_REFERENCE_QUERY_PARAMS):
            if (method, path, f"query:{name}") not in covered:
                missing.append(
                    f"{method} {path}?{name}=: no probe (or list it in NON_REFERENCE_QUERY_PARAMS)"
                )
        for name in sorted(_header_params(path, handler) - NON_REFERENCE_HEADERS):
            if (method, path, f"header:{name}") not in covered:
                missing.append(
                    f"{method} {path} header {name}: no probe (or list it in NON_REFERENCE_HEADERS)"
                )
        for pointer in sorted(_body_fields(handler)):
            if (path, pointer) in DOCUMENT_INTERNAL_BODY_FIELDS:
                continue
            if (method, path, f"body:{pointer}") not in covered:
                missing.append(f"{method} {path} body {pointer}: no probe with another tenant's key")
    assert missing == [], "routes without a tenant-isolation test:\n" + "\n".join(missing)
    assert checked_paths >= 16 + 21  # the walk saw the object routes (guards against a silently empty walk)
    # Every exemption still names a field some route's body has (no stale entries).
    bodies = {(path, pointer) for _, path, handler in routes for pointer in _body_fields(handler)}
    assert bodies >= DOCUMENT_INTERNAL_BODY_FIELDS


def test_route_walk_recognises_the_known_object_routes(settings: Settings):
    """The walker itself: it finds (at least) today's object routes, query references and body references."""
    app = app_for(settings)
    walked = {(m, p) for m, p, _ in _routes(app) if "{" in p and not _exempt(p)}
    assert walked >= {
        ("GET", "/v1/org-units/{code:str}"),
        ("PATCH", "/v1/org-units/{code:str}"),
        ("DELETE", "/v1/org-units/{code:str}"),
        ("POST", "/v1/org-units/{code:str}/move"),
        ("GET", "/v1/people/{external_id:str}"),
        ("PUT", "/v1/people/{external_id:str}"),
        ("GET", "/v1/frameworks/{code:str}"),
        ("POST", "/v1/frameworks/{code:str}/versions"),
        ("GET", "/v1/frameworks/{code:str}/versions/{version:int}"),
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}"),
        ("PATCH", "/v1/frameworks/{code:str}/versions/{version:int}"),
        ("GET", "/v1/frameworks/{code:str}/versions/{version:int}/rendered"),
        ("GET", "/v1/frameworks/{code:str}/versions/{version:int}/export"),
        ("POST", "/v1/frameworks/{code:str}/versions/{version:int}/validate"),
        ("POST", "/v1/frameworks/{code:str}/versions/{version:int}/publish"),
        ("POST", "/v1/frameworks/{code:str}/versions/{version:int}/retire"),
        ("GET", "/v1/frameworks/{code:str}/diff"),
        ("GET", "/v1/items/{code:str}"),
        ("PUT", "/v1/items/{code:str}"),
        ("GET", "/v1/items/{code:str}/preview"),
        ("GET", "/v1/assessments/{code:str}"),
        ("POST", "/v1/assessments/{code:str}/publish"),
        ("PUT", "/v1/assessments/{code:str}/accommodations/{external_id:str}"),
        ("POST", "/v1/me/assessments/{code:str}/attempts"),
        ("GET", "/v1/me/attempts/{attempt_id:uuid}"),
        ("PUT", "/v1/me/attempts/{attempt_id:uuid}/answers/{item:str}"),
        ("POST", "/v1/me/attempts/{attempt_id:uuid}/submit"),
    }
    # Shared templates are exempt by design; the walk must not count them as tenant object routes.
    assert not {p for _, p in walked if p.startswith("/v1/rubric-templates")}
    queries = {
        (m, p, q)
        for m, p, h in _routes(app)
        if not _exempt(p)
        for q in _query_params(p, h) - NON_REFERENCE_QUERY_PARAMS
    }
    assert queries >= {
        ("GET", "/v1/org-units", "under"),
        ("GET", "/v1/org-units", "parent"),
        ("GET", "/v1/people", "under"),
        ("POST", "/v1/frameworks/import/case", "code"),
        ("GET", "/v1/items", "framework"),
        ("GET", "/v1/items", "indicator"),
        ("GET", "/v1/items/export", "framework"),
    }
    # Query aliases are reported by their wire name, headers separately from query parameters.
    every_query = {(m, p, q) for m, p, h in _routes(app) for q in _query_params(p, h)}
    assert every_query >= {
        ("GET", "/v1/frameworks/{code:str}/diff", "from"),
        ("GET", "/v1/frameworks/{code:str}/diff", "to"),
        ("GET", "/v1/frameworks/{code:str}/versions/{version:int}/export", "format"),
    }
    assert not {q for _, _, q in every_query} & {"if_match", "if-match", "accept_language", "accept-language"}
    headers = {(m, p, name) for m, p, h in _routes(app) for name in _header_params(p, h)}
    assert headers >= {
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}", "if-match"),
        ("PATCH", "/v1/frameworks/{code:str}/versions/{version:int}", "if-match"),
        ("POST", "/v1/frameworks/{code:str}/versions/{version:int}/publish", "if-match"),
        ("GET", "/v1/frameworks/{code:str}/versions/{version:int}/rendered", "accept-language"),
    }
    bodies = {(m, p, f) for m, p, h in _routes(app) if not _exempt(p) for f in _body_fields(h)}
    assert bodies >= {
        ("POST", "/v1/org-units", "/code"),
        ("POST", "/v1/org-units", "/parent_code"),
        ("POST", "/v1/org-units/import", "/units/*/code"),
        ("POST", "/v1/org-units/import", "/units/*/parent_code"),
        ("POST", "/v1/org-units/{code:str}/move", "/parent_code"),
        ("PUT", "/v1/people/{external_id:str}", "/org_unit_code"),
        ("POST", "/v1/people/bulk", "/people/*/org_unit_code"),
        ("POST", "/v1/people/bulk", "/people/*/external_id"),
        ("POST", "/v1/frameworks", "/code"),
        ("POST", "/v1/frameworks/import/native", "/code"),
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}", "/code"),
        # Inside the recursive Dimension (children: list[Dimension]): walked, once.
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}", "/dimensions/*/code"),
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}", "/dimensions/*/indicators/*/code"),
        ("PUT", "/v1/frameworks/{code:str}/versions/{version:int}", "/levels/*/code"),
        ("POST", "/v1/items", "/code"),
        ("POST", "/v1/items/import", "/items/*/code"),
        ("POST", "/v1/assessments", "/framework/code"),
        ("POST", "/v1/assessments", "/sections/*/items/*/code"),
        ("POST", "/v1/assessments", "/sections/*/pool/items/*/code"),
        ("PUT", "/v1/assessments/{code:str}", "/sections/*/items/*/code"),
    }


class _Node(msgspec.Struct):
    code: str
    parent_id: str | None = None
    children: list[_Node] = []
    by_name: dict[str, _Node] = {}


class _Root(msgspec.Struct):
    nodes: list[_Node]
    tree: _Node


def test_reference_walker_terminates_on_recursive_types():
    """A type that contains itself is walked once per path, and still yields what sits beside the recursion."""
    assert set(_reference_fields(msgspec.inspect.type_info(_Root))) == {
        "/nodes/*/code",
        "/nodes/*/parent_id",
        "/tree/code",
        "/tree/parent_id",
    }
    content = set(_reference_fields(msgspec.inspect.type_info(FrameworkContent)))
    assert content == {"/code", "/levels/*/code", "/dimensions/*/code", "/dimensions/*/indicators/*/code"}
