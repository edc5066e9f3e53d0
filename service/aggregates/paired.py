"""The training effect's paired figures, kept ahead per pair of assessments (`effect_pairs`, `effect_rollups`).

The effect of (before, after) is over the people with a counted result on both, placed by their
`after` result (its unit's subtree, its category), per measure matched by name. Summed over all
of them (`reference`) it is a join of the two assessments' results, which grows with the results.
So a pair is registered the first time it is asked for (answered by the join meanwhile), a job
(`run`) sums it per (unit subtree, category, measure) under both assessments' exclusive locks, and
from then on every change of either side's results moves those sums by the difference in the same
transaction (`results_changed`, called by `rollups.refresh`), as the rollups do. A reader then adds
a handful of rows (`figures`), whatever the number of people. A rebuild of either assessment
(`assessment_rebuilt`) sends its pairs back to the job; a unit's move carries its rows (`move_unit`).

Concurrency: a person's two results may change in two transactions at once (a rescoring of one
assessment, a submission of the other), and each needs the other's value. Whoever moves a pair's
sums first takes a transaction lock on each of its people (in order) and only then reads the other
side, so the second sees the first's committed result: the sums end as if one ran after the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import msgspec

# rollups calls this module's hooks, so it is imported whole (its names read at call time)
from service.aggregates import rollups
from service.db.pool import tenant_transaction
from service.jobqueue import queue
from service.jobqueue.job import Job
from service.results.counted import result_rows
from service.tenancy.org_units import unit_facts

if TYPE_CHECKING:
    from service.aggregates.rollups import Result


class Paired(msgspec.Struct, array_like=True):
    n: int
    mean_before: float
    mean_after: float
    sd_gain: float | None
    sd_before: float | None
    sd_after: float | None


# ---- the reference: a join of the two assessments' results ----------------------------------------

_PAIRS = f"""
    FROM {result_rows()} rb
    JOIN {result_rows()} ra ON ra.tenant_id = rb.tenant_id AND ra.person_id = rb.person_id AND ra.assessment_id = $2
    LEFT JOIN LATERAL {{unit}} u ON true
    {{lateral}}
    WHERE rb.assessment_id = $1 AND rb.attempt_id IS NOT NULL AND ra.attempt_id IS NOT NULL
      AND ($3::text IS NULL OR (u.path >= $3 AND u.path < $4)) AND ($5::text IS NULL OR ra.category = $5)"""


def _pairs(lateral: str) -> str:
    return _PAIRS.format(unit=unit_facts("ra.tenant_id", "ra.org_unit_id"), lateral=lateral)


# A row per person and measure, the two results' measures matched by name.
PAIRED = (
    """
    SELECT b.measure, count(*)::int AS n, avg(b.s) AS mean_before, avg(a.s) AS mean_after,
           stddev_samp(a.s - b.s) AS sd_gain, stddev_samp(b.s) AS sd_before, stddev_samp(a.s) AS sd_after"""
    + _pairs(
        """CROSS JOIN LATERAL unnest(rb.measures, rb.scaled) AS b(measure, s)
    JOIN LATERAL unnest(ra.measures, ra.scaled) AS a(measure, s) ON a.measure = b.measure"""
    )
    + " GROUP BY b.measure"
)

PAIRED_ATTEMPTS = "SELECT rb.attempt_id AS before, ra.attempt_id AS after" + _pairs("")


def _by_position(width: int) -> str:
    """The same aggregates, a row per person: grouped by the two results' measure lists, measure i
    in column i. One group, the lists alike (every result with the same measures: the usual case):
    measure i of one is measure i of the other, with no row per measure and no join per person."""
    columns = []
    for i in range(1, width + 1):
        a, b = f"ra.scaled[{i}]", f"rb.scaled[{i}]"
        columns.append(
            f"count({a})::int, avg({b}), avg({a}), stddev_samp({a} - {b}), stddev_samp({b}), stddev_samp({a})"
        )
    return (
        f"SELECT rb.measures, ra.measures AS after_measures, {', '.join(columns)}"
        + _pairs("")
        + " GROUP BY rb.measures, ra.measures"
    )


async def reference(
    conn: asyncpg.Connection,
    before: UUID,
    after: UUID,
    low: str | None,
    high: str | None,
    category: str | None,
) -> dict[str, Paired]:
    """Per measure, over the people with a counted result on both (placed by `after`, within the
    path range and category): n, the two means and the sds of the gains and of each side."""
    # the width of one result's measure list: the query groups by the lists, so any other list shows
    width = await conn.fetchval(
        f"SELECT cardinality(r.measures) FROM {result_rows()} r WHERE r.assessment_id = $1 AND r.attempt_id IS NOT NULL"
        " LIMIT 1",
        before,
    )
    if not width:
        return {}
    groups = await conn.fetch(_by_position(width), before, after, low, high, category)
    if len(groups) > 1 or any(
        g["measures"] != g["after_measures"] or len(g["measures"]) != width for g in groups
    ):
        # results with different measure lists: a row per person and measure
        rows = await conn.fetch(PAIRED, before, after, low, high, category)
        return {row["measure"]: Paired(*list(row)[1:]) for row in rows}
    out: dict[str, Paired] = {}
    for group in groups:
        for i, measure in enumerate(group["measures"]):
            figures = Paired(*list(group)[2 + 6 * i : 8 + 6 * i])
            if figures.n:
                out[measure] = figures
    return out


async def paired_attempts(
    conn: asyncpg.Connection,
    before: UUID,
    after: UUID,
    low: str | None,
    high: str | None,
    category: str | None,
) -> list[asyncpg.Record]:
    """(before, after) attempt ids of the people who took both, placed like the other figures."""
    return await conn.fetch(PAIRED_ATTEMPTS, before, after, low, high, category)


# ---- sums ------------------------------------------------------------------------------------------


class Sums:
    """n and the sums one row holds; those of disjoint groups add up."""

    __slots__ = ("after", "after_sq", "before", "before_sq", "gain_sq", "n")

    def __init__(
        self,
        n: int = 0,
        before: float = 0.0,
        after: float = 0.0,
        before_sq: float = 0.0,
        after_sq: float = 0.0,
        gain_sq: float = 0.0,
    ) -> None:
        self.n, self.before, self.after = n, before, after
        self.before_sq, self.after_sq, self.gain_sq = before_sq, after_sq, gain_sq

    def add(self, other: Sums, sign: int = 1) -> Sums:
        self.n += sign * other.n
        self.before += sign * other.before
        self.after += sign * other.after
        self.before_sq += sign * other.before_sq
        self.after_sq += sign * other.after_sq
        self.gain_sq += sign * other.gain_sq
        return self

    def paired(self) -> Paired:
        n = self.n
        mean_before, mean_after = self.before / n, self.after / n
        mean_gain = mean_after - mean_before

        def sd(total_sq: float, mean: float) -> float | None:
            if n < 2:
                return None
            spread = total_sq - n * mean * mean
            # what is left of equal values after adding and subtracting in another order: zero
            if spread <= 1e-9 * max(1.0, total_sq):
                return 0.0
            return math.sqrt(spread / (n - 1))

        return Paired(
            n,
            mean_before,
            mean_after,
            sd(self.gain_sq, mean_gain),
            sd(self.before_sq, mean_before),
            sd(self.after_sq, mean_after),
        )


class _Side(msgspec.Struct, frozen=True):
    path: str | None
    category: str
    measures: tuple[str, ...]
    scaled: tuple[float, ...]


def _side(result: Result | None) -> _Side | None:
    if result is None:
        return None
    return _Side(result.path, result.category or "", result.measures, result.scaled)


_Key = tuple[UUID, str, str]  # unit, category, measure
# adding signed sums to a pair's rows (a change of results, a unit's move)
_ADD = """ON CONFLICT (tenant_id, before_id, after_id, unit_id, category, measure) DO UPDATE SET
               n = r.n + excluded.n, sum_before = r.sum_before + excluded.sum_before,
               sum_after = r.sum_after + excluded.sum_after,
               sum_before_sq = r.sum_before_sq + excluded.sum_before_sq,
               sum_after_sq = r.sum_after_sq + excluded.sum_after_sq,
               sum_gain_sq = r.sum_gain_sq + excluded.sum_gain_sq"""


def _contribution(before: _Side | None, after: _Side | None, sign: int, into: dict[_Key, Sums]) -> None:
    """One person's part of a pair's rows (placed by the after result), added with `sign`."""
    if before is None or after is None:
        return
    then = dict(zip(before.measures, before.scaled, strict=True))
    units = rollups.ancestors(after.path)
    for measure, a in zip(after.measures, after.scaled, strict=True):
        if measure not in then:
            continue
        b = then[measure]
        part = Sums(1, b, a, b * b, a * a, (a - b) * (a - b))
        for unit in units:
            into.setdefault((unit, after.category, measure), Sums()).add(part, sign)


async def _write(conn: asyncpg.Connection, before: UUID, after: UUID, deltas: dict[_Key, Sums]) -> None:
    """Add the deltas to their rows, in key order (two writers never lock rows in opposite orders)."""
    keys = sorted(
        (k for k, s in deltas.items() if any((s.n, s.before, s.after, s.before_sq, s.after_sq, s.gain_sq))),
        key=lambda k: tuple(map(str, k)),
    )
    if not keys:
        return
    await conn.execute(
        f"""INSERT INTO effect_rollups AS r (before_id, after_id, unit_id, category, measure, n, sum_before,
                                            sum_after, sum_before_sq, sum_after_sq, sum_gain_sq)
           SELECT $1, $2, d.u, d.c, d.m, d.n, d.b, d.a, d.bb, d.aa, d.gg
           FROM unnest($3::uuid[], $4::text[], $5::text[], $6::int[], $7::float8[], $8::float8[], $9::float8[],
                       $10::float8[], $11::float8[]) WITH ORDINALITY AS d(u, c, m, n, b, a, bb, aa, gg, i)
           ORDER BY d.i
           {_ADD}""",
        before,
        after,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [deltas[k].n for k in keys],
        [deltas[k].before for k in keys],
        [deltas[k].after for k in keys],
        [deltas[k].before_sq for k in keys],
        [deltas[k].after_sq for k in keys],
        [deltas[k].gain_sq for k in keys],
    )


# ---- kept in step by the score pipeline ------------------------------------------------------------

Change = tuple[UUID, UUID, "Result | None", "Result | None"]  # assessment, person, old, new


async def results_changed(conn: asyncpg.Connection, changes: Sequence[Change]) -> None:
    """After `rollups.refresh` stored these results (old -> new): move the sums of every built pair
    that one of their assessments belongs to by the difference. The caller holds a shared lock on
    each of the changed assessments (`lock_assessment`), so no build of theirs runs meanwhile."""
    if not changes:
        return
    changed: dict[tuple[UUID, UUID], tuple[Result | None, Result | None]] = {}
    for a, p, old, new in changes:  # a pair changed twice: from its first old to its last new
        changed[(a, p)] = (changed[(a, p)][0] if (a, p) in changed else old, new)
    assessments = sorted({a for a, _ in changed}, key=str)
    pairs = await conn.fetch(
        """SELECT before_id, after_id FROM effect_pairs
           WHERE state = 'ready' AND (before_id = ANY($1::uuid[]) OR after_id = ANY($1::uuid[]))
           ORDER BY before_id, after_id""",
        assessments,
    )
    if not pairs:
        return
    people = sorted({p for _, p in changed}, key=str)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(p::text, 26)) FROM unnest($1::uuid[]) AS p ORDER BY p::text",
        people,
    )
    involved = sorted({x for pair in pairs for x in pair}, key=str)
    current: dict[tuple[UUID, UUID], _Side] = {}
    for row in await conn.fetch(
        f"""SELECT r.assessment_id, r.person_id, u.path, r.category, r.measures, r.scaled
            FROM {result_rows()} r LEFT JOIN LATERAL {unit_facts("r.tenant_id", "r.org_unit_id")} u ON true
            WHERE r.assessment_id = ANY($1::uuid[]) AND r.person_id = ANY($2::uuid[])
              AND r.attempt_id IS NOT NULL""",
        involved,
        people,
    ):
        current[(row["assessment_id"], row["person_id"])] = _Side(
            row["path"], row["category"] or "", tuple(row["measures"]), tuple(row["scaled"])
        )
    for pair in pairs:
        before, after = pair["before_id"], pair["after_id"]
        deltas: dict[_Key, Sums] = {}
        for person in people:
            if (before, person) not in changed and (after, person) not in changed:
                continue
            now_b, now_a = current.get((before, person)), current.get((after, person))
            then_b = _side(changed[(before, person)][0]) if (before, person) in changed else now_b
            then_a = _side(changed[(after, person)][0]) if (after, person) in changed else now_a
            _contribution(then_b, then_a, -1, deltas)
            _contribution(now_b, now_a, 1, deltas)
        await _write(conn, before, after, deltas)


async def move_unit(conn: asyncpg.Connection, unit_id: UUID, old_path: str, new_path: str) -> None:
    """A unit (with its subtree) moved: its rows' sums leave the old ancestors and join the new ones."""
    old, new = set(rollups.ancestors(old_path)), set(rollups.ancestors(new_path))
    signs = dict.fromkeys(old - new, -1) | dict.fromkeys(new - old, 1)
    signs.pop(unit_id, None)
    if not signs:
        return
    units = sorted(signs, key=str)
    await conn.execute(
        f"""INSERT INTO effect_rollups AS r (before_id, after_id, unit_id, category, measure, n, sum_before,
                                            sum_after, sum_before_sq, sum_after_sq, sum_gain_sq)
           SELECT x.before_id, x.after_id, a.id, x.category, x.measure, a.sign * x.n, a.sign * x.sum_before,
                  a.sign * x.sum_after, a.sign * x.sum_before_sq, a.sign * x.sum_after_sq, a.sign * x.sum_gain_sq
           FROM effect_rollups x CROSS JOIN unnest($2::uuid[], $3::int[]) WITH ORDINALITY AS a(id, sign, o)
           WHERE x.unit_id = $1
           ORDER BY x.before_id, x.after_id, a.o, x.category, x.measure
           {_ADD}""",
        unit_id,
        units,
        [signs[u] for u in units],
    )


async def forget_unit(conn: asyncpg.Connection, unit_id: UUID) -> None:
    """A unit with no results in its subtree is deleted: its (empty) rows go with it."""
    await conn.execute("DELETE FROM effect_rollups WHERE unit_id = $1 AND n = 0", unit_id)


async def assessment_rebuilt(conn: asyncpg.Connection, assessment_id: UUID) -> None:
    """An assessment's results were recomputed wholesale (`rebuild`): its pairs are built again by
    their job (answered by the join meanwhile)."""
    for job_id in await conn.fetch(
        """UPDATE effect_pairs SET state = 'building', error = NULL
           WHERE before_id = $1 OR after_id = $1 RETURNING id""",
        assessment_id,
    ):
        await queue.enqueue(conn, "training_effect", job_id["id"])


# ---- registered when asked for, built by a job -----------------------------------------------------


async def ready(conn: asyncpg.Connection, before: UUID, after: UUID) -> bool:
    """Whether the pair's sums are built; if the pair was never asked for (or its build failed),
    it is registered and its build queued."""
    state = await conn.fetchval(
        "SELECT state FROM effect_pairs WHERE before_id = $1 AND after_id = $2", before, after
    )
    if state == "ready":
        return True
    if state is None:
        job_id = await conn.fetchval(
            """INSERT INTO effect_pairs (before_id, after_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING id""",
            before,
            after,
        )
        if job_id is not None:
            await queue.enqueue(conn, "training_effect", job_id)
    elif state == "failed":
        job_id = await conn.fetchval(
            """UPDATE effect_pairs SET state = 'building', error = NULL
               WHERE before_id = $1 AND after_id = $2 AND state = 'failed' RETURNING id""",
            before,
            after,
        )
        if job_id is not None:
            await queue.enqueue(conn, "training_effect", job_id)
    return False


async def build(conn: asyncpg.Connection, before: UUID, after: UUID) -> int:
    """The pair's rows from the two assessments' results (the caller holds both exclusive locks):
    summed per (placed unit, category, measure) first, then carried to each ancestor. Rows written."""
    await conn.execute("DELETE FROM effect_rollups WHERE before_id = $1 AND after_id = $2", before, after)
    done = await conn.execute(
        f"""INSERT INTO effect_rollups (before_id, after_id, unit_id, category, measure, n, sum_before, sum_after,
                                        sum_before_sq, sum_after_sq, sum_gain_sq)
            SELECT $1, $2, anc.unit_id, d.category, d.measure, sum(d.n), sum(d.b), sum(d.a), sum(d.bb), sum(d.aa),
                   sum(d.gg)
            FROM (SELECT ra.tenant_id, ra.org_unit_id, coalesce(ra.category, '') AS category, b.measure,
                         count(*) AS n, sum(b.s) AS b, sum(a.s) AS a, sum(b.s * b.s) AS bb, sum(a.s * a.s) AS aa,
                         sum((a.s - b.s) * (a.s - b.s)) AS gg
                  FROM {result_rows()} rb
                  JOIN {result_rows()} ra ON ra.tenant_id = rb.tenant_id AND ra.person_id = rb.person_id
                                 AND ra.assessment_id = $2
                  CROSS JOIN LATERAL unnest(rb.measures, rb.scaled) AS b(measure, s)
                  JOIN LATERAL unnest(ra.measures, ra.scaled) AS a(measure, s) ON a.measure = b.measure
                  WHERE rb.assessment_id = $1 AND rb.attempt_id IS NOT NULL AND ra.attempt_id IS NOT NULL
                  GROUP BY 1, 2, 3, 4) d
            LEFT JOIN LATERAL {unit_facts("d.tenant_id", "d.org_unit_id")} u ON true
            CROSS JOIN LATERAL unnest(ARRAY[$3::uuid]
                || coalesce(string_to_array(btrim(u.path, '/'), '/')::uuid[], '{{}}')) AS anc(unit_id)
            GROUP BY anc.unit_id, d.category, d.measure
            ORDER BY anc.unit_id, d.category, d.measure""",
        before,
        after,
        rollups.ROOT,
    )
    return int(done.split()[-1])


async def run(job: Job) -> None:
    """Build a registered pair: one transaction under both assessments' exclusive locks (taken in
    order), so no change of either side's results runs meanwhile and every later one moves the sums."""
    async with tenant_transaction(job.pool, job.tenant_id) as conn:
        await job.fence(conn)
        found = await conn.fetchrow(
            "SELECT before_id, after_id FROM effect_pairs WHERE id = $1 AND state = 'building'", job.id
        )
        if found is None:
            await job.complete(conn)
            return
    await job.checkpoint()
    async with tenant_transaction(job.pool, job.tenant_id) as conn:
        await job.fence(conn)
        for assessment_id in sorted({found["before_id"], found["after_id"]}, key=str):
            await rollups.lock_assessment(conn, assessment_id, exclusive=True)
        await conn.execute("SET LOCAL work_mem = '256MB'")
        await build(conn, found["before_id"], found["after_id"])
        await conn.execute(
            "UPDATE effect_pairs SET state = 'ready', built_at = now() WHERE id = $1 AND state = 'building'",
            job.id,
        )
        await job.complete(conn)


async def mark_failed(conn: asyncpg.Connection, job_id: UUID, error: str) -> None:
    await conn.execute(
        "UPDATE effect_pairs SET state = 'failed', error = $2 WHERE id = $1 AND state = 'building'",
        job_id,
        error,
    )


# ---- read ------------------------------------------------------------------------------------------


async def figures(
    conn: asyncpg.Connection, before: UUID, after: UUID, units: Iterable[UUID]
) -> dict[tuple[UUID, str], dict[str, Sums]]:
    """Per (unit, category) and measure: the built sums (the caller checked `ready`)."""
    out: dict[tuple[UUID, str], dict[str, Sums]] = {}
    for row in await conn.fetch(
        """SELECT unit_id, category, measure, n, sum_before, sum_after, sum_before_sq, sum_after_sq, sum_gain_sq
           FROM effect_rollups WHERE before_id = $1 AND after_id = $2 AND unit_id = ANY($3::uuid[]) AND n <> 0""",
        before,
        after,
        list(units),
    ):
        out.setdefault((row["unit_id"], row["category"]), {})[row["measure"]] = Sums(*list(row)[3:])
    return out


def total(
    rows: dict[tuple[UUID, str], dict[str, Sums]], unit: UUID, category: str | None
) -> dict[str, Paired]:
    """A unit's figures in one category (None: all of them added up)."""
    sums: dict[str, Sums] = {}
    for (row_unit, row_category), by_measure in rows.items():
        if row_unit != unit or (category is not None and row_category != category):
            continue
        for measure, part in by_measure.items():
            sums.setdefault(measure, Sums()).add(part)
    return {m: s.paired() for m, s in sums.items() if s.n > 0}
