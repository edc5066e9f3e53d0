"""What every candidate of a published assessment shares, held once per worker: the assessment's
content and forms, and the candidate's view of each item version it pins, rendered.

When an exam opens, thousands of candidates start the same assessment within a minute. Each start
used to read the assessment's whole content and every pinned item version's document again, and
render all of its views again; only the draw, the order and the candidate's own answers differ.

Why an entry cannot go stale: it is keyed by ids that name immutable content. An assessment's
content and forms change only with its `revision` (a draft's edit, publishing), so an entry is
keyed by (tenant, assessment id, revision). An item view is cached only for a *locked* item
version (publishing locks the versions it pins; an edit of a locked version makes a new version
number): the decoded version by (tenant, item code, version), its views by (tenant, item code,
version, option order, language).

Why it cannot leak: the tenant is part of every key (the tenant of the row that row-level security
let through, or of the connection's context: the same), and an entry is filled only from a read on
that tenant's connection for a person allowed to see it; a hit returns what the same read would.

All three caches are bounded (least recently used goes first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar
from uuid import UUID

import asyncpg
import msgspec

from service.assessments import assessments
from service.assessments.forms import FormItem, FrozenItem, Placement
from service.assessments.model import AssessmentContent
from service.items import bank
from service.items.model import Item
from service.items.views import CandidateItem, candidate_view, in_one_language

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A dict that forgets its least recently used entry beyond `size` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class Published(msgspec.Struct, frozen=True):
    """One revision of a published (or closed) assessment, as delivery reads it."""

    tenant_id: UUID
    id: UUID
    code: str
    revision: int
    content: AssessmentContent
    forms: dict[str, FormItem]


class Delivered(msgspec.Struct, frozen=True):
    """An assessment as delivered now: its status (which changes without a new revision) and content."""

    status: str
    published: Published


_ASSESSMENTS: Bounded[tuple[UUID, UUID, int], Published] = Bounded(1_000)
ViewKey = tuple[UUID, str, int, tuple[str, ...] | None, str | None]
_ITEMS: Bounded[tuple[UUID, str, int], Item] = Bounded(5_000)
_VIEWS: Bounded[ViewKey, CandidateItem] = Bounded(20_000)


def forget() -> None:
    """Empty both caches (tests)."""
    _ASSESSMENTS.entries.clear()
    _ITEMS.entries.clear()
    _VIEWS.entries.clear()


def held_views() -> int:
    return len(_VIEWS.entries)


async def delivered(conn: asyncpg.Connection, tenant_id: UUID, code: str | None = None) -> list[Delivered]:
    """The tenant's published and closed assessments (or the one with this code); content and forms
    are read and decoded only for a revision this worker does not hold yet."""
    known = {key[1]: key[2] for key in list(_ASSESSMENTS.entries) if key[0] == tenant_id}
    found = []
    for row in await assessments.delivered(conn, code, known):
        key = (row["tenant_id"], row["id"], row["revision"])
        held = _ASSESSMENTS.get(key) if row["content"] is None else None
        if row["content"] is None and held is None:  # forgotten while the query ran: read it again
            [row] = await assessments.delivered(conn, row["code"])
        if held is None:
            held = Published(
                row["tenant_id"],
                row["id"],
                row["code"],
                row["revision"],
                msgspec.convert(row["content"], AssessmentContent),
                {code: msgspec.convert(f, FormItem) for code, f in row["forms"].items()},
            )
            _ASSESSMENTS.put(key, held)
        found.append(Delivered(row["status"], held))
    return found


async def views(
    conn: asyncpg.Connection, tenant_id: UUID, form: list[Placement], locale: str | None = None
) -> list[FrozenItem]:
    """The form as the candidate sees it (options in the form's order; every text in `locale` only,
    when given). Reads only the item versions this worker does not hold yet, and renders only the
    views (item version, option order, language) it has not rendered yet."""
    shown: list[FrozenItem] = []
    unlocked: dict[str, Item] = {}  # read now, not cached: used for this form only
    missing: dict[str, int | None] = {
        p.code: p.version
        for p in form
        if _VIEWS.get(_view_key(tenant_id, p, locale)) is None
        and _ITEMS.get((tenant_id, p.code, p.version)) is None
    }
    if missing:
        for code, version in (await bank.pinned_versions(conn, missing)).items():
            if version.locked:
                _ITEMS.put((tenant_id, code, version.version), version.content)
            else:
                unlocked[code] = version.content
    for p in form:
        key = _view_key(tenant_id, p, locale)
        view = _VIEWS.get(key)
        if view is None:
            item = unlocked.get(p.code) or _ITEMS.get((tenant_id, p.code, p.version))
            if item is None:  # forgotten while the read ran
                version = (await bank.pinned_versions(conn, {p.code: p.version}))[p.code]
                item = version.content
                if not version.locked:
                    unlocked[p.code] = item
            view = candidate_view(item, p.option_order)
            if locale is not None:
                view = in_one_language(view, locale)
            if p.code not in unlocked:
                _VIEWS.put(key, view)
        shown.append(FrozenItem(p.section, p.version, view))
    return shown


def _view_key(tenant_id: UUID, p: Placement, locale: str | None) -> ViewKey:
    return (
        tenant_id,
        p.code,
        p.version,
        tuple(p.option_order) if p.option_order is not None else None,
        locale,
    )
