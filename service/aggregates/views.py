"""Aggregate views read from rollups: a subtree, its children (drill-down), a trend over time.

Each call reads a bounded number of rollup rows, whatever the number of attempts: the counts
of the units on the path from the tenant to the asked unit and of their children (to decide
what is withheld), and the full rows of the asked unit (and its children). Which cells are
withheld is decided by `privacy.protect` along three splits, each cell's decision depending
only on its parent's, so every call gives the same answer for the same cell:
- org units: a unit's subtree = its child units' subtrees + the people placed in it directly;
- categories (when one is asked): all categories = each category;
- time (when a period is asked): the whole period = ISO-week months = their weeks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.aggregates import paired, rollups
from service.aggregates.effect import Gain, gain, theta_gain
from service.aggregates.privacy import month_of, months_of, suppress
from service.aggregates.rollups import ALL_CATEGORIES, OVERALL, ROOT, ancestors
from service.aggregates.stats import Summary, Tally, summarise
from service.assessments.assessments import id_by_code, stored_by_code
from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.results import calibrations
from service.results.scores import current_abilities, pins_in_force
from service.rubrics import frameworks
from service.tenancy import org_units, tenants
from service.tenancy.tree import subtree_range

DIRECT = "direct"  # the people placed in a unit itself, not in any of its child units

Weeks = frozenset[date] | None  # None: the whole period


class Period(msgspec.Struct):
    first_week: date
    last_week: date


class Cell(msgspec.Struct):
    """One group of people: withheld (`suppressed`) when it could single anyone out."""

    unit: str | None  # code; None for the whole tenant (or, in a drill-down, the direct cell)
    name: str | None
    scope: Literal["subtree", "direct"]
    suppressed: bool
    n: int | None = None
    measures: list[Summary] = msgspec.field(default_factory=list)
    withheld_measures: list[str] = msgspec.field(default_factory=list)


class AggregateView(msgspec.Struct):
    assessment: str
    unit: str | None
    category: str | None
    period: Period | None
    min_group_size: int
    cell: Cell


class DrillDown(msgspec.Struct):
    assessment: str
    unit: str | None
    category: str | None
    period: Period | None
    min_group_size: int
    parent: Cell
    children: list[Cell]


class TrendPoint(msgspec.Struct):
    start: date  # the first day of the month, or the Monday of the week
    weeks: list[date]
    cell: Cell


class Trend(msgspec.Struct):
    assessment: str
    unit: str | None
    interval: Literal["month", "week"]
    min_group_size: int
    points: list[TrendPoint]


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


ALL = ("all",)  # the column of a unit's whole subtree


class _Scope:
    """What one call needs: the path to the unit, each path node's children, the counts per
    (unit, category, week) of all of them; and which cells are withheld.

    Every unit's children are decided together in one table (`_table`): rows are the child
    units and the unit's direct cell; columns are the whole (`ALL`), each category, each month
    and each week. Each row's categories, months, and weeks within a month add up to it; each
    column adds up to the unit's own cell in that column, decided one level up. So a cell is
    decided once, in its parent's table, whichever call asks, and `privacy.suppress` keeps every
    one of those sums from giving away a group under k."""

    def __init__(
        self,
        path: list[UUID],
        children: dict[UUID, list[UUID]],
        counts: dict[UUID, dict[tuple[str, date], int]],
        k: int,
        compact: dict[UUID, str] | None = None,
    ) -> None:
        self.path = path
        # compact units (rollups: no per-(category, week) rows) and their paths: read from their results
        self.compact = compact or {}
        self.children = {node: sorted(kids, key=str) for node, kids in children.items()}
        self.parent = {child: node for node, kids in children.items() for child in kids}
        self.counts = counts
        self.k = k
        self.weeks = sorted({week for _, week in counts.get(ROOT, {})})
        self.months = months_of(self.weeks)
        self.categories = sorted({category for by in counts.values() for category, _ in by})
        self.columns: list[tuple] = [
            ALL,
            *(("c", c) for c in self.categories),
            *(("m", m) for m in self.months),
            *(("w", w) for w in self.weeks),
        ]
        self._tables: dict[UUID | None, set] = {}
        self._week_columns = {week: month for month, weeks in self.months.items() for week in weeks}
        self._by_column: dict[UUID, dict[tuple, int]] = {}

    def normal(self, weeks: Iterable[date] | None) -> Weeks:
        """A week set covering the whole period is no filter."""
        if weeks is None:
            return None
        chosen = frozenset(weeks) & frozenset(self.weeks)
        return None if chosen == frozenset(self.weeks) else chosen

    def n(self, unit: UUID, category: str | None, weeks: Weeks) -> int:
        return sum(
            n
            for (c, w), n in self.counts.get(unit, {}).items()
            if (category is None or c == category) and (weeks is None or w in weeks)
        )

    def _column_counts(self, unit: UUID) -> dict[tuple, int]:
        """A unit's count in every column, in one pass over its (category, week) counts."""
        found = self._by_column.get(unit)
        if found is None:
            found = self._by_column[unit] = dict.fromkeys(self.columns, 0)
            weeks = self._week_columns
            for (category, week), n in self.counts.get(unit, {}).items():
                found[ALL] += n
                found["c", category] += n
                if week in weeks:
                    found["w", week] += n
                    found["m", weeks[week]] += n
        return found

    def split(self, node: UUID, category: str | None, weeks: Weeks) -> dict[UUID | str, int]:
        """A unit's subtree as its child units plus its direct cell; the parts add up to it."""
        parts: dict[UUID | str, int] = {
            child: self.n(child, category, weeks) for child in self.children.get(node, [])
        }
        parts[DIRECT] = self.n(node, category, weeks) - sum(parts.values())
        return parts

    def _table(self, node: UUID | None) -> set:
        """The withheld cells (row, column) among `node`'s children (None: the tenant itself)."""
        if node in self._tables:
            return self._tables[node]
        rows: list[UUID | str] = [ROOT] if node is None else [*self.children.get(node, []), DIRECT]
        cells: dict[tuple, int] = {}
        for row in rows:
            if row == DIRECT:
                assert node is not None  # DIRECT is a row of a unit's own table only
                kids = [self._column_counts(child) for child in self.children.get(node, [])]
                own = self._column_counts(node)
                for column in self.columns:
                    cells[(row, column)] = own[column] - sum(kid[column] for kid in kids)
            else:
                counts = self._column_counts(row)  # type: ignore[arg-type]  # ROOT counts like a unit
                for column in self.columns:
                    cells[(row, column)] = counts[column]
        lines: list[tuple] = []
        for row in rows:
            lines.append(((row, ALL), [(row, ("c", c)) for c in self.categories]))
            lines.append(((row, ALL), [(row, ("m", m)) for m in self.months]))
            lines += [((row, ("m", m)), [(row, ("w", w)) for w in weeks]) for m, weeks in self.months.items()]
        if node is None:  # the tenant: nobody above it, withheld whole below k
            lines.append((0 < cells[(ROOT, ALL)] < self.k, [(ROOT, ALL)]))
        else:
            lines += [
                (self._hidden_cell(node, column), [(row, column) for row in rows]) for column in self.columns
            ]
        self._tables[node] = hidden = suppress(cells, lines, self.k)
        return hidden

    def _hidden_cell(self, unit: UUID, column: tuple) -> bool:
        return (unit, column) in self._table(self.parent.get(unit) if unit != ROOT else None)

    def _hidden_in(self, node: UUID | None, row: UUID | str, category: str | None, weeks: Weeks) -> bool:
        table = self._table(node)
        if category is not None:
            return (row, ("c", category)) in table
        if weeks is None:
            return (row, ALL) in table
        hidden = False  # a period: its whole months as months, the rest week by week
        for month, month_weeks in self.months.items():
            inside = weeks & frozenset(month_weeks)
            if inside == frozenset(month_weeks):
                hidden |= (row, ("m", month)) in table
            else:
                hidden |= any((row, ("w", w)) in table for w in inside)
        return hidden

    def hidden(self, unit: UUID, category: str | None, weeks: Weeks) -> bool:
        node = self.parent.get(unit) if unit != ROOT else None
        return self._hidden_in(node, unit, category, weeks)

    def direct_hidden(self, node: UUID, category: str | None, weeks: Weeks) -> bool:
        return self._hidden_in(node, DIRECT, category, weeks)


class _Assessment(msgspec.Struct):
    id: UUID
    code: str
    levels: list[str]


async def _assessment(conn: asyncpg.Connection, code: str) -> _Assessment:
    row = await stored_by_code(conn, code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    ref = row["content"]["framework"]
    pins = (await pins_in_force(conn, [row["id"]])).get(row["id"])
    version = (pins.framework_version if pins else None) or ref["version"]
    found = await frameworks.version_record(conn, ref["code"], version)
    levels = [level["code"] for level in found.content.get("levels", [])] if found is not None else []
    return _Assessment(row["id"], code, levels)


class _Unit(msgspec.Struct):
    id: UUID
    code: str | None
    name: str | None


async def _scope(
    conn: asyncpg.Connection, assessment_id: UUID, unit_code: str | None
) -> tuple[_Scope, _Unit, dict[UUID, _Unit]]:
    if unit_code is None:
        unit, path, paths = _Unit(ROOT, None, None), [ROOT], {}
    else:
        row = await org_units.unit_by_code(conn, unit_code)
        if row is None:
            raise Unprocessable(
                msg("no such org unit"),
                [FieldError(msg("no org unit '{code}'", code=unit_code), parameter="unit")],
            )
        unit = _Unit(row["id"], row["code"], row["name"])
        parts = row["path"].strip("/").split("/")
        path = [ROOT] + [UUID(part) for part in parts]
        paths = {UUID(part): "/" + "/".join(parts[: i + 1]) + "/" for i, part in enumerate(parts)}
    rows = await org_units.children_of_any(conn, path, ROOT)
    children: dict[UUID, list[UUID]] = {node: [] for node in path}
    units = {unit.id: unit}
    for row in rows:
        children[row["parent_id"]].append(row["id"])
        units[row["id"]] = _Unit(row["id"], row["code"], row["name"])
        paths[row["id"]] = row["path"]
    counts: dict[UUID, dict[tuple[str, date], int]] = {}
    wanted = list({*path, *(c for kids in children.values() for c in kids)})
    counting = set()  # the units whose whole row counts people
    for row in await rollups.unit_counts(conn, assessment_id, wanted):
        if row["category"] == ALL_CATEGORIES:
            counting.add(row["unit_id"])
        else:
            counts.setdefault(row["unit_id"], {})[(row["category"], row["week"])] = row["n"]
    # a compact unit's cells: its subtree's results, counted
    compact = {u: paths[u] for u in counting if u not in counts and u != ROOT}
    counts.update(await rollups.compact_counts(conn, assessment_id, compact))
    k = await tenants.min_group_size(conn)
    return _Scope(path, children, counts, k, compact), unit, units


async def _tallies(
    conn: asyncpg.Connection,
    assessment_id: UUID,
    units: list[UUID],
    category: str | None,
    weeks: Weeks,
    *,
    by_week: bool = False,
    compact: dict[UUID, str] | None = None,
) -> dict[UUID, dict[str, dict[date, Tally]]]:
    """Per unit, measure and week: the rows' tallies (categories added up). Unfiltered and not
    by week: the all-categories, all-weeks rows alone. A compact unit's (`compact`: the compact
    units' paths) per-week tallies are summed from its subtree's results."""
    out: dict[UUID, dict[str, dict[date, Tally]]] = {unit: {} for unit in units}
    whole = category is None and weeks is None and not by_week
    if not whole and compact and any(unit in compact for unit in units):
        people = await rollups.compact_results(
            conn, assessment_id, {unit: compact[unit] for unit in units if unit in compact}
        )
        for unit, results in people.items():
            for result in results:
                if (category is not None and result["category"] != category) or (
                    weeks is not None and result["week"] not in weeks
                ):
                    continue
                for measure, scaled, rank in zip(
                    result["measures"], result["scaled"], result["level_ranks"], strict=True
                ):
                    weekly = out[unit].setdefault(measure, {})
                    tally = Tally.of(scaled, rank)
                    if result["week"] in weekly:
                        weekly[result["week"]].add(tally)
                    else:
                        weekly[result["week"]] = tally
        units = [unit for unit in units if unit not in compact]
    for row in await rollups.unit_tallies(
        conn, assessment_id, units, category, sorted(weeks) if weeks is not None else None, whole=whole
    ):
        weekly = out[row["unit_id"]].setdefault(row["measure"], {})
        tally = Tally(row["n"], row["total"], row["total_sq"], row["hist"], row["levels"])
        if row["week"] in weekly:
            weekly[row["week"]].add(tally)
        else:
            weekly[row["week"]] = tally
    return out


def _cell(
    unit: _Unit | None,
    scope: Literal["subtree", "direct"],
    hidden: bool,
    tallies: dict[str, Tally],
    k: int,
    levels: list[str],
) -> Cell:
    code, name = (unit.code, unit.name) if unit else (None, None)
    overall = tallies.get(OVERALL)
    n = overall.n if overall else 0
    if hidden:
        return Cell(code, name, scope, True)
    measures, withheld = [], []
    for measure in [OVERALL, *sorted(m for m in tallies if m != OVERALL)]:
        tally = tallies.get(measure)
        if tally is None or tally.n <= 0:
            continue
        if tally.n < k:
            withheld.append(measure)
        else:
            summary = summarise(measure, tally, levels)
            if summary is not None:
                measures.append(summary)
    return Cell(code, name, scope, False, n, measures, withheld)


def _sum_weeks(
    by_measure: dict[str, dict[date, Tally]], weeks: Iterable[date] | None = None
) -> dict[str, Tally]:
    chosen = None if weeks is None else set(weeks)
    out: dict[str, Tally] = {}
    for measure, by_week in by_measure.items():
        total = Tally()
        for week, tally in by_week.items():
            if chosen is None or week in chosen:
                total.add(tally)
        out[measure] = total
    return out


def _weeks(scope: _Scope, since: date | None, until: date | None, category: str | None = None) -> Weeks:
    if category is not None and (since is not None or until is not None):
        raise Unprocessable(
            msg("a category and a period cannot be combined"),
            [
                FieldError(
                    msg(
                        "filter by category or by period, not both: cells split both ways at once could be "
                        "subtracted from the single-split figures to single out small groups"
                    ),
                    parameter="category",
                )
            ],
        )
    if since is not None and until is not None and since > until:
        raise Unprocessable(
            msg("the period ends before it starts"),
            [FieldError(msg("must not be after 'to'"), parameter="from")],
        )
    if since is None and until is None:
        return None
    first, last = monday(since or date.min + timedelta(days=7)), monday(until or date.max - timedelta(days=7))
    return scope.normal(w for w in scope.weeks if first <= w <= last) if scope.weeks else None


def _period(weeks: Weeks) -> Period | None:
    return Period(min(weeks), max(weeks)) if weeks else None


async def subtree(
    conn: asyncpg.Connection,
    code: str,
    *,
    unit: str | None,
    category: str | None,
    since: date | None,
    until: date | None,
) -> AggregateView:
    assessment = await _assessment(conn, code)
    scope, target, _ = await _scope(conn, assessment.id, unit)
    weeks = _weeks(scope, since, until, category)
    hidden = scope.hidden(target.id, category, weeks)
    tallies = (
        {}
        if hidden
        else _sum_weeks(
            (await _tallies(conn, assessment.id, [target.id], category, weeks, compact=scope.compact))[
                target.id
            ]
        )
    )
    return AggregateView(
        code,
        unit,
        category,
        _period(weeks),
        scope.k,
        _cell(target, "subtree", hidden, tallies, scope.k, assessment.levels),
    )


async def drill_down(
    conn: asyncpg.Connection,
    code: str,
    *,
    unit: str | None,
    category: str | None,
    since: date | None,
    until: date | None,
) -> DrillDown:
    assessment = await _assessment(conn, code)
    scope, target, units = await _scope(conn, assessment.id, unit)
    weeks = _weeks(scope, since, until, category)
    kids = scope.children.get(target.id, [])
    rows = await _tallies(conn, assessment.id, [target.id, *kids], category, weeks, compact=scope.compact)
    parent_tallies = _sum_weeks(rows.get(target.id, {}))
    parent = _cell(
        target,
        "subtree",
        scope.hidden(target.id, category, weeks),
        parent_tallies,
        scope.k,
        assessment.levels,
    )
    children = []
    direct = {m: Tally().add(t) for m, t in parent_tallies.items()}
    for kid in sorted(kids, key=lambda u: units[u].code or ""):
        kid_tallies = _sum_weeks(rows.get(kid, {}))
        for measure, tally in kid_tallies.items():
            direct[measure] = direct.get(measure, Tally()).minus(tally)
        children.append(
            _cell(
                units[kid],
                "subtree",
                scope.hidden(kid, category, weeks),
                kid_tallies,
                scope.k,
                assessment.levels,
            )
        )
    direct_cell = _cell(
        target,
        "direct",
        scope.direct_hidden(target.id, category, weeks),
        {m: t for m, t in direct.items() if t.n > 0},
        scope.k,
        assessment.levels,
    )
    return DrillDown(code, unit, category, _period(weeks), scope.k, parent, [direct_cell, *children])


async def trend(
    conn: asyncpg.Connection,
    code: str,
    *,
    unit: str | None,
    interval: Literal["month", "week"],
    since: date | None,
    until: date | None,
) -> Trend:
    """Per month or week for the unit's subtree (all categories: splitting each period by
    category as well would make cells that differencing could single people out with)."""
    category = None
    assessment = await _assessment(conn, code)
    scope, target, _ = await _scope(conn, assessment.id, unit)
    weeks = _weeks(scope, since, until)
    chosen = scope.weeks if weeks is None else sorted(weeks)
    rows = (
        await _tallies(conn, assessment.id, [target.id], category, None, by_week=True, compact=scope.compact)
    )[target.id]
    buckets: dict[date, list[date]] = {}
    for week in chosen:
        buckets.setdefault(month_of(week) if interval == "month" else week, []).append(week)
    points = []
    for start, bucket in sorted(buckets.items()):
        if interval == "month":
            bucket = scope.months[start]  # a month is always whole in a monthly trend
        filt = scope.normal(bucket)
        hidden = scope.hidden(target.id, category, filt)
        points.append(
            TrendPoint(
                start,
                bucket,
                _cell(
                    target,
                    "subtree",
                    hidden,
                    {} if hidden else _sum_weeks(rows, bucket),
                    scope.k,
                    assessment.levels,
                ),
            )
        )
    return Trend(code, unit, interval, scope.k, points)


class TrainingEffect(msgspec.Struct):
    before: str
    after: str
    unit: str | None
    category: str | None
    min_group_size: int
    suppressed: bool
    n: int | None = None
    gains: list[Gain] = msgspec.field(default_factory=list)
    withheld_measures: list[str] = msgspec.field(default_factory=list)
    # Gains on θ (per calibrated top-level dimension) when both assessments' abilities come from one
    # calibration (its id: the fitted one, which the other adopted); pairs whose documents name
    # another calibration, or none, are left out. Withheld below k people like the others.
    theta_calibration: str | None = None
    theta_gains: list[Gain] = msgspec.field(default_factory=list)
    theta_withheld_measures: list[str] = msgspec.field(default_factory=list)


async def _theta_gains(
    conn: asyncpg.Connection,
    before: UUID,
    after: UUID,
    low: str | None,
    high: str | None,
    category: str | None,
    k: int,
) -> tuple[str | None, list[Gain], list[str]]:
    """(the shared calibration, gains on θ, measures withheld) for the same people as the other gains."""
    in_force = await calibrations.in_force_ids(conn, [before, after])
    if before not in in_force or after not in in_force:
        return None, [], []
    roots = await calibrations.scale_roots(conn, [in_force[before], in_force[after]])
    shared = roots[in_force[before]]
    if roots[in_force[after]] != shared:
        return None, [], []
    pairs = await paired.paired_attempts(conn, before, after, low, high, category)
    found = await current_abilities(conn, [p["before"] for p in pairs] + [p["after"] for p in pairs])
    named = {UUID(a.calibration) for a in found.values()}
    on_scale = {
        str(c) for c, root in (await calibrations.scale_roots(conn, list(named))).items() if root == shared
    }
    thetas: dict[str, tuple[list[float], list[float]]] = {}
    for pair in pairs:
        first, second = found.get(pair["before"]), found.get(pair["after"])
        if first is None or second is None or not {first.calibration, second.calibration} <= on_scale:
            continue
        then = {d.dimension: d.theta for d in first.dimensions}
        for d in second.dimensions:
            if d.dimension in then:
                lists = thetas.setdefault(d.dimension, ([], []))
                lists[0].append(then[d.dimension])
                lists[1].append(d.theta)
    gains, withheld = [], []
    for measure in sorted(thetas):
        b, a = thetas[measure]
        if len(b) < k:
            withheld.append(measure)
        else:
            gains.append(theta_gain(measure, b, a))
    return shared, gains, withheld


async def training_effect(
    conn: asyncpg.Connection, before: str, after: str, *, unit: str | None, category: str | None
) -> TrainingEffect:
    """People who took both, placed by their `after` result. Withheld below k people, and when
    the people left out of the unit (or the category) number fewer than k, since subtracting
    this answer from the wider one would describe them."""
    # the ids alone (one statement each): the effect needs no level names
    first = await id_by_code(conn, before)
    if first is None:
        raise NotFound(msg("no assessment '{code}'", code=before))
    second = await id_by_code(conn, after)
    if second is None:
        raise NotFound(
            msg("no assessment '{code}' (the `after` parameter)", code=after),
            [FieldError(msg("no assessment '{code}'", code=after), parameter="after")],
        )
    k = await tenants.min_group_size(conn)
    path, unit_id = None, ROOT
    if unit is not None:
        found = await org_units.unit_by_code(conn, unit)
        if found is None:
            raise Unprocessable(
                msg("no such org unit"),
                [FieldError(msg("no org unit '{code}'", code=unit), parameter="unit")],
            )
        path, unit_id = found["path"], found["id"]
    parent_path = path[: path.rstrip("/").rfind("/") + 1] if path is not None else None
    if await paired.ready(conn, first, second):
        # the pair's sums, kept ahead: the unit's rows and its parent's, whatever the number of people
        parent_id = ancestors(path)[-2] if path is not None else None
        built = await paired.figures(conn, first, second, [unit_id, *([parent_id] if parent_id else [])])

        async def figures(of: str | None, category: str | None) -> dict[str, paired.Paired]:
            return paired.total(built, unit_id if of == path else (parent_id or ROOT), category)
    else:

        async def figures(of: str | None, category: str | None) -> dict[str, paired.Paired]:
            low, high = subtree_range(of) if of else (None, None)
            return await paired.reference(conn, first, second, low, high, category)

    rows = await figures(path, category)
    n = rows[OVERALL].n if OVERALL in rows else 0
    wider = []
    if path is not None:
        wider.append(await figures(parent_path if parent_path != "/" else None, category))
    if category is not None:
        wider.append(await figures(path, None))
    outside = [(w[OVERALL].n if OVERALL in w else 0) - n for w in wider]
    if 0 < n < k or any(0 < gap < k for gap in outside):
        return TrainingEffect(before, after, unit, category, k, True)
    gains, withheld = [], []
    for measure in [OVERALL, *sorted(m for m in rows if m != OVERALL)]:
        if measure not in rows:
            continue
        row = rows[measure]
        if row.n < k:
            withheld.append(measure)
            continue
        gains.append(
            gain(
                measure,
                row.n,
                row.mean_before,
                row.mean_after,
                row.sd_gain,
                row.sd_before,
                row.sd_after,
            )
        )
    low, high = subtree_range(path) if path else (None, None)
    shared, theta_gains, theta_withheld = await _theta_gains(conn, first, second, low, high, category, k)
    return TrainingEffect(
        before, after, unit, category, k, False, n, gains, withheld, shared, theta_gains, theta_withheld
    )
