"""Participation in an assessment while it runs: per org unit, how many people its audience reaches,
how many have started, submitted, or not started; and who has not started in a unit. Runs on a
tenant-scoped connection.

The audience is the one `audience.includes` decides for a candidate (named people; otherwise the
listed units' subtrees and the listed categories), applied in SQL to the tenant's active people.
A person *started* with any attempt, *submitted* with any submitted attempt (a later attempt in
progress does not undo that), and is *in progress* when started but not submitted.

The counts come from tallies that triggers keep (migrations 0019 and 0029; per statement since 0030
for people and 0032 for attempts, so bulk writes sum before they write): per unit and category
(`audience_tallies`, `participation_tallies`) and per unit's whole subtree, category and shard
(`audience_subtree_tallies`, `participation_subtree_tallies`). A child unit of the chosen one is
read from its subtree rows (a few rows, however many villages lie below it) when the audience's
filter takes its whole subtree (it or a unit above it is listed, or no unit is), left out when no
listed unit lies in its subtree, and summed from the per-unit rows of its subtree only when a listed
unit lies strictly inside it and none above; the people attached to the chosen unit itself come
from its per-unit rows. So a 300,000-person audience costs a few hundred tally rows, not 300,000 people nor
every village's rows (bench/participation.py). The audience's filter (units, categories) applies to
a tally row as it would to each person in it; named people outside the filter are counted one by
one. The list of who has not started is read person by person, for one unit at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import stored_by_code
from service.assessments.model import AssessmentContent
from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg, render
from service.results import xlsx
from service.sittings import attempts as sittings
from service.tenancy import org_units, tree
from service.tenancy import people as tenancy_people


class UnitRef(msgspec.Struct):
    code: str
    name: str


class Counts(msgspec.Struct):
    audience: int = 0
    started: int = 0
    in_progress: int = 0
    submitted: int = 0
    not_started: int = 0


class UnitParticipation(msgspec.Struct):
    """A child unit's whole subtree; or, with `unit` null, the people attached to the chosen unit itself
    (at the top: people in no unit)."""

    unit: str | None
    name: str | None
    has_children: bool
    counts: Counts


class Participation(msgspec.Struct):
    assessment: str
    unit: UnitRef | None  # null: the whole tenant
    path: list[UnitRef]  # the chosen unit's ancestors, from the top, then the unit itself
    total: Counts
    rows: list[UnitParticipation]


class NotStarted(msgspec.Struct):
    external_id: str
    name: str | None
    unit: str | None
    unit_name: str | None


class _Audience(msgspec.Struct, frozen=True):
    id: UUID
    named: list[str]
    unit_paths: list[str]
    categories: list[str]
    by_filter: bool  # units or categories listed: people outside `named` can be in it


class _Scope(msgspec.Struct, frozen=True):
    unit: UnitRef | None
    unit_id: UUID | None
    path: str | None
    depth: int
    ancestors: list[UnitRef]


async def _audience(conn: asyncpg.Connection, code: str) -> _Audience:
    row = await stored_by_code(conn, code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    audience = msgspec.convert(row["content"], AssessmentContent).audience
    paths = await org_units.paths_of(conn, audience.org_units) if audience.org_units else []
    if audience.org_units and not paths:  # listed units the tree no longer has: only the named people
        return _Audience(row["id"], list(audience.people), [], [], False)
    return _Audience(
        row["id"],
        list(audience.people),
        paths,
        list(audience.categories),
        bool(audience.org_units or audience.categories),
    )


async def _scope(conn: asyncpg.Connection, unit: str | None) -> _Scope:
    if unit is None:
        return _Scope(None, None, None, -1, [])
    row = await org_units.unit_by_code(conn, unit)
    if row is None:
        raise Unprocessable(
            msg("no such org unit"),
            [FieldError(msg("no org unit '{code}'", code=unit), parameter="unit")],
        )
    ancestors = [UnitRef(u.code, u.name) for u in await org_units.ancestry(conn, row["code"])]
    return _Scope(UnitRef(row["code"], row["name"]), row["id"], row["path"], row["depth"], ancestors)


# Whether a unit and category fall in the audience's filter: $3 paths of the listed units, $4
# categories, $5 whether units or categories are listed. `u` is the unit (null: in no unit), `cat`
# the category.
def _in_filter(cat: str) -> str:
    return f"""($5 AND (cardinality($3::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS listed(path)
                                                          WHERE starts_with(u.path, listed.path)))
            AND (cardinality($4::text[]) = 0 OR {cat} = ANY($4::text[])))"""


# Active people in the audience, as `audience.includes` decides it ($2: the named external ids).
_IN_AUDIENCE = f"(p.external_id = ANY($2::text[]) OR {_in_filter('p.category')})"

# $6 the chosen unit's path (null: the whole tenant), $7 the path segment that names the child unit
# a unit lies under ('' for the chosen unit itself, and for people in no unit).
_CHILD = "coalesce(split_part(u.path, '/', $7), '')"
_IN_SCOPE = "($6::text IS NULL OR starts_with(u.path, $6))"


# Everyone the filter reaches, from the per-unit tallies (a row per unit and category, not per
# person): the audience, then who started and submitted; `where` picks the units read ($8).
def _tallied(table: str, measures: str, where: str) -> str:
    return f"""
    SELECT {_CHILD} AS child, {measures}
    FROM {table} t LEFT JOIN LATERAL {org_units.unit_facts("t.tenant_id", "t.org_unit_id")} u ON true
    WHERE (t.org_unit_id IS NULL OR u.id IS NOT NULL) AND {_in_filter("t.category")} AND {_IN_SCOPE}
      AND $2::text[] IS NOT NULL AND {"$1::uuid IS NOT NULL" if table == "audience_tallies" else "t.assessment_id = $1"}
      AND {where}
    GROUP BY 1"""


_AUDIENCE_MEASURES = "sum(t.people)::int AS audience, 0 AS started, 0 AS submitted"
_PARTICIPATION_MEASURES = "0 AS audience, sum(t.started)::int AS started, sum(t.submitted)::int AS submitted"
# The people attached to the chosen unit ($8; at the top, null: people in no unit).
_ATTACHED = "t.org_unit_id = $8"
_ATTACHED_AT_TOP = "(t.org_unit_id IS NULL AND $8::uuid IS NULL)"
# The units in the subtrees of the children ($8: their paths) that a listed unit lies strictly inside.
_MIXED = "EXISTS (SELECT 1 FROM unnest($8::text[]) AS mixed(path) WHERE starts_with(u.path, mixed.path))"

# The children whose whole subtree the filter takes ($1: their ids), from their subtree rows, with
# the categories filter ($2); $3 the assessment.
_SUBTREES = """
    SELECT t.org_unit_id::text AS child, sum(t.people)::int AS audience, 0 AS started, 0 AS submitted
    FROM audience_subtree_tallies t
    WHERE t.org_unit_id = ANY($1::uuid[]) AND (cardinality($2::text[]) = 0 OR t.category = ANY($2::text[]))
      AND $3::uuid IS NOT NULL
    GROUP BY 1
    UNION ALL
    SELECT t.org_unit_id::text, 0, sum(t.started)::int, sum(t.submitted)::int
    FROM participation_subtree_tallies t
    WHERE t.assessment_id = $3 AND t.org_unit_id = ANY($1::uuid[])
      AND (cardinality($2::text[]) = 0 OR t.category = ANY($2::text[]))
    GROUP BY 1"""


def split_children(
    children: list[tuple[UUID, str]], listed: list[str], by_filter: bool
) -> tuple[list[UUID], list[str]]:
    """Of the child units (id, path): those whose whole subtree the audience's unit filter takes (no
    units listed, or the child or a unit above it listed: `listed` are paths), and the paths of the
    others that a listed unit lies strictly inside, whose units the filter takes one by one. The
    rest lie outside it. With no units or categories listed (`by_filter` false), none."""
    whole: list[UUID] = []
    mixed: list[str] = []
    if not by_filter:
        return whole, mixed
    for unit_id, path in children:
        if not listed or any(path.startswith(p) for p in listed):  # it or a unit above it is listed
            whole.append(unit_id)
        elif any(p.startswith(path) for p in listed):  # a unit below it is
            mixed.append(path)
    return whole, mixed


# Named people the filter does not reach, one by one (a named list is short).
_NAMED = f"""
    SELECT {_CHILD} AS child, count(*)::int AS audience, count(*) FILTER (WHERE x.started)::int AS started,
           count(*) FILTER (WHERE x.submitted)::int AS submitted
    FROM {tenancy_people.active_people()} p LEFT JOIN LATERAL {org_units.unit_facts("p.tenant_id", "p.org_unit_id")} u ON true
    CROSS JOIN LATERAL {sittings.sat("p.id", "p.tenant_id", "$1")} x
    WHERE p.external_id = ANY($2::text[]) AND NOT {_in_filter("p.category")} AND {_IN_SCOPE}
    GROUP BY 1"""


def _counts(audience: int, started: int, submitted: int) -> Counts:
    return Counts(audience, started, started - submitted, submitted, audience - started)


async def participation(conn: asyncpg.Connection, code: str, unit: str | None) -> Participation:
    """Counts for `unit`'s subtree (default: the whole tenant), one row per child unit, and one for the
    people attached to `unit` itself (at the top: people in no unit) when there are any."""
    audience = await _audience(conn, code)
    scope = await _scope(conn, unit)
    children = await org_units.children(conn, scope.unit_id)
    # '/a/b/' split on '/' is '', a, b, '': a unit at depth d is segment d + 2, its children d + 3.
    args = (
        audience.id,
        audience.named,
        audience.unit_paths,
        audience.categories,
        audience.by_filter,
        scope.path,
        scope.depth + 3,
    )
    whole, mixed = split_children(
        [(c["id"], tree.child_path(scope.path, c["id"])) for c in children],
        audience.unit_paths,
        audience.by_filter,
    )
    attached = _ATTACHED if scope.unit_id is not None else _ATTACHED_AT_TOP
    queries: list[tuple[str, tuple[object, ...]]] = [
        (_SUBTREES, (whole, audience.categories, audience.id)),
        (_tallied("audience_tallies", _AUDIENCE_MEASURES, attached), (*args, scope.unit_id)),
        (_tallied("participation_tallies", _PARTICIPATION_MEASURES, attached), (*args, scope.unit_id)),
        (_NAMED, args),
    ]
    if mixed:
        queries += [
            (_tallied("audience_tallies", _AUDIENCE_MEASURES, _MIXED), (*args, mixed)),
            (_tallied("participation_tallies", _PARTICIPATION_MEASURES, _MIXED), (*args, mixed)),
        ]
    counted: dict[str, list[int]] = {}
    for query, query_args in queries:
        for row in await conn.fetch(query, *query_args):
            found = counted.setdefault(row["child"], [0, 0, 0])
            for i, key in enumerate(("audience", "started", "submitted")):
                found[i] += row[key]
    rows = []
    for child in children:
        tally = counted.get(str(child["id"]))
        counts = _counts(*tally) if tally else Counts()
        rows.append(UnitParticipation(child["code"], child["name"], child["has_children"], counts))
    direct = counted.get("")
    if direct is not None:
        rows.append(UnitParticipation(None, None, False, _counts(*direct)))
    total = _counts(*(sum(r[i] for r in counted.values()) for i in range(3)))
    return Participation(code, scope.unit, scope.ancestors, total, rows)


async def not_started(conn: asyncpg.Connection, code: str, unit: str | None) -> list[NotStarted]:
    """Who in `unit`'s subtree (default: the whole tenant) the audience reaches and who has no attempt
    yet, by unit code then external id."""
    audience = await _audience(conn, code)
    scope = await _scope(conn, unit)
    rows = await conn.fetch(
        f"""SELECT p.external_id, p.display_name AS name, u.code AS unit, u.name AS unit_name
            FROM {tenancy_people.active_people()} p LEFT JOIN LATERAL {org_units.unit_facts("p.tenant_id", "p.org_unit_id")} u ON true
            WHERE {_IN_AUDIENCE} AND ($6::text IS NULL OR starts_with(u.path, $6))
              AND NOT {sittings.has_attempt("p.id", "p.tenant_id", "$1")}
            ORDER BY u.code NULLS FIRST, p.external_id""",
        audience.id,
        audience.named,
        audience.unit_paths,
        audience.categories,
        audience.by_filter,
        scope.path,
    )
    return [NotStarted(**dict(row)) for row in rows]


NOT_STARTED_COLUMNS = ("external_id", "name", "unit", "unit_name")


def _not_started_rows(people: list[NotStarted]) -> list[list[str | None]]:
    return [[p.external_id, p.name, p.unit, p.unit_name] for p in people]


def not_started_csv(people: list[NotStarted], bom: bool) -> bytes:
    """UTF-8 CSV, codes as the header; with `bom`, a leading U+FEFF so Excel reads Chinese names."""
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(NOT_STARTED_COLUMNS)
    writer.writerows([["" if v is None else v for v in row] for row in _not_started_rows(people)])
    return out.getvalue().encode("utf-8")


def not_started_xlsx(people: list[NotStarted], locale: str) -> AsyncIterator[bytes]:
    """The list as a workbook: column names in `locale` above their codes."""
    labels = [
        render(label, locale)
        for label in (msg("External id"), msg("Name"), msg("Org unit code"), msg("Org unit"))
    ]
    return xlsx.workbook(
        render(msg("Not started"), locale), labels, NOT_STARTED_COLUMNS, _not_started_rows(people)
    )
