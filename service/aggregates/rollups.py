"""Results that count and the rollups built from them, kept in step inside the scoring transaction.

- `results` holds, per person and assessment, the result that counts: their latest attempt
  with a final score, placed where the attempt was submitted (org unit and category recorded
  by the database at submission) and in the ISO week of submission (tenant's time zone). This
  module decides which result counts (`_COUNTED`); the rows are stored and read through their
  owner, `service/results/counted.py`, a layer below (the score feed reads them too).
- `rollups` holds one `Tally` per (assessment, unit, measure) over all categories and weeks
  (`ALL_CATEGORIES`, `ALL_WEEKS`: the *whole* rows), where a unit's row covers its whole subtree and
  the zero uuid stands for the whole tenant; and, for the tenant and each unit that is *split*, one
  per (assessment, unit, measure, category, week). A unit is split when it has child units: a
  leaf (a village: a few dozen people over some thirty category and week cells, most of the rows
  there would be) is *compact*, and what its cells hold is read from its own `results` rows
  (`compact_results`). Which a unit is, is read from the rows themselves (`_split`): split rows
  with people, or, for a unit counting nobody yet, whether it has child units; so a unit that
  gains children while it counts people stays compact (and is read from its subtree's results)
  until a rebuild splits it. A change of a result moves the whole rows of the unit and each
  ancestor, and the split rows of the split ones, by the difference, in the transaction that made
  the score final (submission, last rating) or changed it (rescoring).
- Moving an org unit moves its subtree's figures (summed from its results) from the old ancestors
  to the new ones, and splits or compacts the two parents as their children changed.
- `rebuild` recomputes an assessment's results and rollups from the current final scores;
  `check` compares what is stored with that computation, without changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import UUID

import asyncpg
import msgspec

from service.aggregates import paired
from service.aggregates.stats import BINS, Tally
from service.results import counted as counted_results
from service.results.counted import result_rows
from service.results.scores import final_score_facts
from service.rubrics import frameworks
from service.sittings.attempts import assessment_people, attempt_rows
from service.tenancy import org_units
from service.tenancy.org_units import has_child, unit_facts
from service.tenancy.people import person_facts
from service.tenancy.tenants import tenant_facts
from service.tenancy.tree import subtree_range

ROOT = UUID(int=0)  # the whole tenant's row
OVERALL = "overall"
# Besides a row per (category, week), each unit and measure has a row of all categories and all
# weeks together: what an unfiltered view reads, a handful of rows whatever the number of people.
ALL_CATEGORIES = "*"
ALL_WEEKS = date(1970, 1, 1)  # a Thursday: never the Monday of a real week

_Key = tuple[UUID, UUID, str, str, date]  # assessment, unit, measure, category, week


def _split(assessment: str, unit: str) -> str:
    """SQL: whether `unit` keeps per-(category, week) rows for `assessment` (in the statement's
    snapshot): the tenant always; a unit with split rows that count people; a unit that counts
    nobody yet if it has child units. Otherwise it is compact (its whole rows only)."""
    return f"""({unit} = '{ROOT}'::uuid
        OR EXISTS (SELECT 1 FROM rollups x WHERE x.assessment_id = {assessment} AND x.unit_id = {unit}
                   AND x.category <> '{ALL_CATEGORIES}' AND x.n <> 0)
        OR (NOT EXISTS (SELECT 1 FROM rollups x WHERE x.assessment_id = {assessment} AND x.unit_id = {unit}
                        AND x.category = '{ALL_CATEGORIES}' AND x.n <> 0)
            AND {has_child(unit)}))"""


def ancestors(path: str | None) -> list[UUID]:
    """The tenant row and every unit on the path, the unit itself included."""
    return [ROOT] + ([UUID(part) for part in path.strip("/").split("/")] if path else [])


class Result(msgspec.Struct, frozen=True):
    attempt_id: UUID
    path: str | None
    category: str
    week: date
    measures: tuple[str, ...]
    scaled: tuple[float, ...]
    level_ranks: tuple[int, ...]


def _deltas(assessment_id: UUID, result: Result, sign: int, into: dict[_Key, Tally]) -> None:
    for unit in ancestors(result.path):
        for measure, scaled, rank in zip(result.measures, result.scaled, result.level_ranks, strict=True):
            for category, week in ((result.category, result.week), (ALL_CATEGORIES, ALL_WEEKS)):
                key = (assessment_id, unit, measure, category, week)
                into.setdefault(key, Tally()).add(Tally.of(scaled, rank, sign))


async def write_deltas(conn: asyncpg.Connection, deltas: dict[_Key, Tally]) -> None:
    """Add the tallies to their rows, in key order (two transactions never lock rows in opposite orders)."""
    keys = sorted(
        (key for key, tally in deltas.items() if not tally.is_zero()), key=lambda k: tuple(map(str, k))
    )
    if not keys:
        return
    width = max(len(deltas[key].levels) for key in keys) or 1
    await conn.execute(
        f"""INSERT INTO rollups AS r (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist, levels)
            SELECT d.a, d.u, d.m, d.c, d.w, d.n, d.t, d.tq, ($9::int[])[(d.i - 1) * {BINS} + 1 : d.i * {BINS}],
                   ($10::int[])[(d.i - 1) * $11::int + 1 : d.i * $11::int]
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::date[], $6::int[], $7::float8[],
                        $8::float8[]) WITH ORDINALITY AS d(a, u, m, c, w, n, t, tq, i)
            WHERE d.c = '{ALL_CATEGORIES}' OR {_split("d.a", "d.u")}
            ORDER BY d.i
            ON CONFLICT (tenant_id, assessment_id, unit_id, measure, category, week) DO UPDATE SET
                n = r.n + excluded.n, total = r.total + excluded.total, total_sq = r.total_sq + excluded.total_sq,
                hist = int_array_add(r.hist, excluded.hist), levels = int_array_add(r.levels, excluded.levels)""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [k[4] for k in keys],
        [deltas[k].n for k in keys],
        [deltas[k].total for k in keys],
        [deltas[k].total_sq for k in keys],
        [c for k in keys for c in deltas[k].hist],
        [c for k in keys for c in deltas[k].levels + [0] * (width - len(deltas[k].levels))],
        width,
    )


async def _level_codes(conn: asyncpg.Connection, hashes: Iterable[str]) -> dict[str, list[str]]:
    return await frameworks.level_codes_by_hash(conn, list(set(hashes)))


_COUNTED = f"""
    SELECT DISTINCT ON (t.assessment_id, t.person_id) t.assessment_id, t.person_id, t.id AS attempt_id,
           u.id AS unit_id, u.path, coalesce(t.category, p.category) AS category,
           date_trunc('week', t.submitted_at AT TIME ZONE tn.timezone)::date AS week,
           s.overall_scaled, s.overall_level, s.document->'provenance'->>'framework_hash' AS framework_hash,
           x.dimensions, x.dim_scaled, x.dim_levels
    FROM {attempt_rows()} t
    CROSS JOIN LATERAL {final_score_facts("t.tenant_id", "t.id")} s
    -- the dimensions read from the (large, compressed) document once, not once per array
    CROSS JOIN LATERAL (SELECT coalesce(array_agg(d->>'dimension' ORDER BY o), '{{}}') AS dimensions,
                               coalesce(array_agg((d->>'scaled')::float8 ORDER BY o), '{{}}') AS dim_scaled,
                               coalesce(array_agg(d->>'level' ORDER BY o), '{{}}') AS dim_levels
                        FROM jsonb_array_elements(s.document->'dimensions') WITH ORDINALITY AS e(d, o)) x
    CROSS JOIN LATERAL {person_facts("t.tenant_id", "t.person_id")} p
    CROSS JOIN LATERAL {tenant_facts("t.tenant_id")} tn
    LEFT JOIN LATERAL {unit_facts("t.tenant_id", "coalesce(t.org_unit_id, p.org_unit_id)")} u ON true
    WHERE t.status = 'submitted' AND s.overall_scaled IS NOT NULL"""


def _result(row: asyncpg.Record, codes: dict[str, list[str]]) -> Result:
    levels = codes.get(row["framework_hash"], [])

    def rank(code: str) -> int:
        return levels.index(code) if code in levels else 0

    return Result(
        row["attempt_id"],
        row["path"],
        row["category"],
        row["week"],
        (OVERALL, *row["dimensions"]),
        (row["overall_scaled"], *row["dim_scaled"]),
        (rank(row["overall_level"]), *(rank(code) for code in row["dim_levels"])),
    )


async def lock_assessment(conn: asyncpg.Connection, assessment_id: UUID, *, exclusive: bool = False) -> None:
    """Refreshes of an assessment run side by side (shared); a rebuild waits for them and holds them off."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {function}(hashtextextended($1::text, 8))", str(assessment_id))


async def refresh(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> None:
    """After the current scores of these attempts changed: for each person and assessment they
    belong to, work out which result counts now and move the rollups by the difference."""
    if not attempt_ids:
        return
    pairs = await assessment_people(conn, attempt_ids)
    assessments, people = [p["assessment_id"] for p in pairs], [p["person_id"] for p in pairs]
    for assessment_id in sorted(set(assessments), key=str):
        await lock_assessment(conn, assessment_id)
    # a placeholder row for each pair, then a row lock on each: concurrent refreshes of one person queue here
    stored = await counted_results.hold(conn, assessments, people)
    counted = await conn.fetch(
        _COUNTED
        + """ AND (t.assessment_id, t.person_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
                       ORDER BY t.assessment_id, t.person_id, t.number DESC""",
        assessments,
        people,
    )
    codes = await _level_codes(conn, (row["framework_hash"] for row in counted))
    new = {(row["assessment_id"], row["person_id"]): (row["unit_id"], _result(row, codes)) for row in counted}
    deltas: dict[_Key, Tally] = {}
    updates, changes = [], []
    for row in stored:
        pair = (row["assessment_id"], row["person_id"])
        old = (
            None
            if row["attempt_id"] is None
            else Result(
                row["attempt_id"],
                row["path"],
                row["category"],
                row["week"],
                tuple(row["measures"]),
                tuple(row["scaled"]),
                tuple(row["level_ranks"]),
            )
        )
        unit, now = new.get(pair, (None, None))
        if old == now:
            continue
        if old is not None:
            _deltas(pair[0], old, -1, deltas)
        if now is not None:
            _deltas(pair[0], now, 1, deltas)
        updates.append((pair, unit, now))
        changes.append((pair[0], pair[1], old, now))
    if updates:
        rows = [
            {
                "a": str(a),
                "p": str(p),
                "attempt_id": str(now.attempt_id) if now else None,
                "unit_id": str(unit) if unit else None,
                "category": now.category if now else None,
                "week": now.week.isoformat() if now else None,
                "measures": list(now.measures) if now else [],
                "scaled": list(now.scaled) if now else [],
                "level_ranks": list(now.level_ranks) if now else [],
            }
            for (a, p), unit, now in updates
        ]
        await counted_results.store(conn, rows)
    await paired.results_changed(conn, changes)  # the training effect's pairs (service/aggregates/paired.py)
    # the shared rows last (the tenant's, each ancestor's): locked from here to the caller's commit
    await write_deltas(conn, deltas)


def subtree_tallies(range_params: str, assessments: str = "true") -> str:
    """SQL: the tallies of the counted results in a subtree (org units with `path >= low AND path <
    high`, the two parameters named by `range_params`), per assessment: a whole row per measure and a
    row per (measure, category, week); the same sums as a rebuild's (one `int_hist` per row)."""
    low, high = range_params.split(",")
    key = "assessment_id, measure, category, week"
    both = f"int_hist(array_agg(bin) || array_agg({BINS} + rank), array_agg(1) || array_agg(1), {BINS} + max(rank) + 1)"
    per_person = f"""SELECT r.assessment_id, m.measure, r.category, r.week, m.scaled, m.rank::int AS rank,
                            least({BINS - 1}, greatest(0, floor(m.scaled)))::int AS bin
                     FROM {result_rows()} r
                     CROSS JOIN LATERAL {unit_facts("r.tenant_id", "r.org_unit_id")} u
                     CROSS JOIN LATERAL unnest(r.measures, r.scaled, r.level_ranks) AS m(measure, scaled, rank)
                     WHERE r.attempt_id IS NOT NULL AND u.path >= {low} AND u.path < {high} AND {assessments}"""
    return f"""SELECT {key}, n, total, total_sq, h[1:{BINS}] AS hist, h[{BINS + 1}:] AS levels
        FROM (SELECT {key}, count(*)::int AS n, sum(scaled) AS total, sum(scaled * scaled) AS total_sq, {both} AS h
              FROM ({per_person}) p GROUP BY {key}
              UNION ALL
              SELECT assessment_id, measure, '{ALL_CATEGORIES}', DATE '{ALL_WEEKS.isoformat()}', count(*)::int,
                     sum(scaled), sum(scaled * scaled), {both}
              FROM ({per_person}) p GROUP BY assessment_id, measure) g"""


_ADD = """ON CONFLICT (tenant_id, assessment_id, unit_id, measure, category, week) DO UPDATE SET
                n = r.n + excluded.n, total = r.total + excluded.total, total_sq = r.total_sq + excluded.total_sq,
                hist = int_array_add(r.hist, excluded.hist), levels = int_array_add(r.levels, excluded.levels)"""


async def move_unit(conn: asyncpg.Connection, unit_id: UUID, old_path: str, new_path: str) -> None:
    """A unit (with its subtree, already at `new_path`) moved: its subtree's figures, summed from
    its results, leave the old ancestors and join the new ones (whole rows always, split rows where
    the ancestor is split); then each parent is split or made compact as its children now say."""
    old, new = set(ancestors(old_path)), set(ancestors(new_path))
    signs = dict.fromkeys(old - new, -1) | dict.fromkeys(new - old, 1)
    signs.pop(unit_id, None)
    if signs:
        units = sorted(signs, key=str)
        await conn.execute(
            f"""INSERT INTO rollups AS r (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist,
                                          levels)
                SELECT x.assessment_id, a.id, x.measure, x.category, x.week, a.sign * x.n, a.sign * x.total,
                       a.sign * x.total_sq,
                       ARRAY(SELECT a.sign * v FROM unnest(x.hist) WITH ORDINALITY h(v, o) ORDER BY o),
                       ARRAY(SELECT a.sign * v FROM unnest(x.levels) WITH ORDINALITY l(v, o) ORDER BY o)
                FROM ({subtree_tallies("$1,$2")}) x CROSS JOIN unnest($3::uuid[], $4::int[]) WITH ORDINALITY AS a(id, sign, o)
                WHERE x.category = '{ALL_CATEGORIES}' OR {_split("x.assessment_id", "a.id")}
                ORDER BY x.assessment_id, a.o, x.measure, x.category, x.week
                {_ADD}""",
            *subtree_range(new_path),
            units,
            [signs[u] for u in units],
        )
    await reshape(conn, [ancestors(path)[-2] for path in (old_path, new_path)])
    await paired.move_unit(conn, unit_id, old_path, new_path)  # the training effect's pairs (paired.py)


async def reshape(conn: asyncpg.Connection, unit_ids: list[UUID]) -> None:
    """Make units split or compact as their children now say, where they count people: a compact
    unit with child units gets its split rows (summed from its subtree's results), a unit without
    children loses them (its cells are then read from its results). The figures stay the same."""
    for unit_id in sorted(set(unit_ids) - {ROOT}, key=str):
        path = await org_units.path_by_id(conn, unit_id)
        if path is None:
            continue
        if not await org_units.has_children(conn, unit_id):
            await conn.execute(
                "DELETE FROM rollups WHERE unit_id = $1 AND category <> $2", unit_id, ALL_CATEGORIES
            )
            continue
        compact = await conn.fetch(
            f"""SELECT DISTINCT w.assessment_id FROM rollups w
                WHERE w.unit_id = $1 AND w.category = '{ALL_CATEGORIES}' AND w.n <> 0
                  AND NOT {_split("w.assessment_id", "w.unit_id")}""",
            unit_id,
        )
        if not compact:
            continue
        await conn.execute(
            f"""INSERT INTO rollups AS r (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist,
                                          levels)
                SELECT x.assessment_id, $3, x.measure, x.category, x.week, x.n, x.total, x.total_sq, x.hist, x.levels
                FROM ({subtree_tallies("$1,$2", "r.assessment_id = ANY($4::uuid[])")}) x
                WHERE x.category <> '{ALL_CATEGORIES}'
                ORDER BY x.assessment_id, x.measure, x.category, x.week
                ON CONFLICT (tenant_id, assessment_id, unit_id, measure, category, week) DO UPDATE SET
                    n = excluded.n, total = excluded.total, total_sq = excluded.total_sq, hist = excluded.hist,
                    levels = excluded.levels""",
            *subtree_range(path),
            unit_id,
            [row["assessment_id"] for row in compact],
        )


async def reshape_parents(conn: asyncpg.Connection, codes: list[str]) -> None:
    """After units were created (or moved) under new parents: `reshape` the parents of these units."""
    # a new child splits only a parent that counts people (one without had its rows summed as it should)
    parents = await conn.fetch(
        f"""SELECT DISTINCT c.parent_id FROM {org_units.units_with_codes("$1::text[]")} c
            WHERE c.parent_id IS NOT NULL
              AND EXISTS (SELECT 1 FROM rollups w WHERE w.unit_id = c.parent_id AND w.category = '{ALL_CATEGORIES}'
                          AND w.n <> 0)""",
        codes,
    )
    await reshape(conn, [row["parent_id"] for row in parents])


async def has_results(conn: asyncpg.Connection, unit_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {result_rows()} r WHERE r.org_unit_id = $1)", unit_id
        )
    )


async def forget_unit(conn: asyncpg.Connection, unit_id: UUID) -> None:
    """A unit with no results in its subtree is deleted: its (empty) rows go with it, and a parent
    left without children is made compact (its figures are its own results' already)."""
    await conn.execute("DELETE FROM rollups WHERE unit_id = $1 AND n = 0", unit_id)
    await paired.forget_unit(conn, unit_id)
    await conn.execute(
        f"""DELETE FROM rollups r USING {org_units.unit_row("$1")} u
           WHERE r.unit_id = u.parent_id AND r.category <> $2
             AND NOT {has_child("u.parent_id", "$1")}""",
        unit_id,
        ALL_CATEGORIES,
    )


_COMPACT = f"""
    FROM unnest($2::uuid[], $3::text[], $4::text[]) AS q(id, low, high)
    CROSS JOIN LATERAL {org_units.units_in_range("q.low", "q.high")} d
    CROSS JOIN LATERAL (SELECT r.person_id, r.category, r.week, r.measures, r.scaled, r.level_ranks
                        FROM {result_rows()} r
                        WHERE r.org_unit_id = d.id AND r.assessment_id = $1 AND r.attempt_id IS NOT NULL
                        OFFSET 0) x"""
# unit by unit (OFFSET 0 keeps each lateral a nested index scan: the subtree's units by path, their
# results by unit), never a join of all the assessment's results


def _compact_arguments(assessment_id: UUID, paths: dict[UUID, str]) -> list[object]:
    units = sorted(paths, key=str)
    ranges = [subtree_range(paths[u]) for u in units]
    return [assessment_id, units, [low for low, _ in ranges], [high for _, high in ranges]]


async def compact_counts(
    conn: asyncpg.Connection, assessment_id: UUID, paths: dict[UUID, str]
) -> dict[UUID, dict[tuple[str, date], int]]:
    """The people counted per (category, week) in the subtree of each compact unit (by its path)."""
    out: dict[UUID, dict[tuple[str, date], int]] = {unit: {} for unit in paths}
    if paths:
        for row in await conn.fetch(
            "SELECT q.id, x.category, x.week, count(*)::int AS n"
            + _COMPACT
            + " GROUP BY q.id, x.category, x.week",
            *_compact_arguments(assessment_id, paths),
        ):
            out[row["id"]][(row["category"], row["week"])] = row["n"]
    return out


async def compact_results(
    conn: asyncpg.Connection, assessment_id: UUID, paths: dict[UUID, str]
) -> dict[UUID, list[asyncpg.Record]]:
    """The counted results (category, week, measures, scaled, level_ranks) in the subtree of each
    compact unit (by its path), person by person: what its per-(category, week) cells hold."""
    out: dict[UUID, list[asyncpg.Record]] = {unit: [] for unit in paths}
    if paths:
        for row in await conn.fetch(
            "SELECT q.id, x.category, x.week, x.measures, x.scaled, x.level_ranks"
            + _COMPACT
            + " ORDER BY q.id, x.person_id",
            *_compact_arguments(assessment_id, paths),
        ):
            out[row["id"]].append(row)
    return out


async def unit_counts(
    conn: asyncpg.Connection, assessment_id: UUID, units: list[UUID]
) -> list[asyncpg.Record]:
    """The head counts of these units' rows (overall measure, counting anyone): `unit_id`, `category`,
    `week`, `n`; a unit's whole row (category `ALL_CATEGORIES`) and, if it is split, its per-(category,
    week) rows (the aggregate views' scope)."""
    return await conn.fetch(
        """SELECT unit_id, category, week, n FROM rollups
               WHERE assessment_id = $1 AND measure = $2 AND unit_id = ANY($3::uuid[]) AND n <> 0""",
        assessment_id,
        OVERALL,
        units,
    )


async def unit_tallies(
    conn: asyncpg.Connection,
    assessment_id: UUID,
    units: list[UUID],
    category: str | None,
    weeks: list[date] | None,
    *,
    whole: bool,
) -> list[asyncpg.Record]:
    """These units' rows that count anyone, every measure: `unit_id`, `measure`, `week` and the tally
    (`n`, `total`, `total_sq`, `hist`, `levels`). `whole`: the all-categories, all-weeks rows alone;
    otherwise the per-(category, week) rows, of `category` and within `weeks` where given."""
    return await conn.fetch(
        """SELECT unit_id, measure, week, n, total, total_sq, hist, levels FROM rollups
               WHERE assessment_id = $1 AND unit_id = ANY($2::uuid[])
                 AND CASE WHEN $5 THEN category = $6 ELSE category <> $6 END
                 AND ($3::text IS NULL OR category = $3)
                 AND ($4::date[] IS NULL OR week = ANY($4::date[])) AND n <> 0""",
        assessment_id,
        units,
        category,
        weeks,
        whole,
        ALL_CATEGORIES,
    )


# Two tallies alike: the same counts, and sums within what adding the same floats in another order
# changes (the check's tolerance). Level counts compare without trailing zeros (an incremental row's
# array is as wide as the widest change written with it).
def _levels_trimmed(column: str) -> str:
    return f"regexp_replace(',' || array_to_string({column}, ','), '(,0)+$', '')"


_SAME_TALLY = f"""s.n = f.n AND s.hist = f.hist
    AND (s.levels = f.levels OR {_levels_trimmed("s.levels")} = {_levels_trimmed("f.levels")})
    AND abs(s.total - f.total) <= 1e-6 * greatest(1, abs(f.total))
    AND abs(s.total_sq - f.total_sq) <= 1e-6 * greatest(1, abs(f.total_sq))"""
_ROLLUP_KEY = (
    "s.unit_id = f.unit_id AND s.measure = f.measure AND s.category = f.category AND s.week = f.week"
)


async def replace_with(
    conn: asyncpg.Connection, assessment_id: UUID, fresh_results: str, fresh_rollups: str
) -> dict[str, int]:
    """Make an assessment's results and rollups those of two freshly computed tables (a rebuild's
    temporary tables of this assessment alone), writing only the rows that differ: the rows the
    fresh tables lack are deleted, the ones that differ updated, the new ones inserted. A rebuild of
    figures in step writes nothing; the figures a reader sees are the same as if every row had been
    replaced. The caller holds the assessment's exclusive lock (`lock_assessment`)."""
    written: dict[str, int] = {}

    async def run(name: str, sql: str) -> None:
        done = await conn.execute(sql, assessment_id)
        written[name] = int(done.split()[-1])

    # the results first, by their owner (service/results/counted.py)
    written.update(await counted_results.replace_with(conn, assessment_id, fresh_results))
    # the rows that differ, found in one pass over the stored and the fresh rows, with the fresh
    # figures; then each kind of change is applied from that list alone, by key
    await conn.execute(
        f"""DROP TABLE IF EXISTS pg_temp.rollup_changes;
            CREATE TEMP TABLE rollup_changes ON COMMIT DROP AS
            SELECT CASE WHEN f.unit_id IS NULL THEN 'delete' WHEN s.unit_id IS NULL THEN 'insert' ELSE 'update' END
                       AS change,
                   coalesce(s.unit_id, f.unit_id) AS unit_id, coalesce(s.measure, f.measure) AS measure,
                   coalesce(s.category, f.category) AS category, coalesce(s.week, f.week) AS week,
                   f.n, f.total, f.total_sq, f.hist, f.levels
            FROM (SELECT unit_id, measure, category, week, n, total, total_sq, hist, levels
                  FROM rollups WHERE assessment_id = '{assessment_id}'::uuid) s
            FULL JOIN {fresh_rollups} f ON {_ROLLUP_KEY}
            WHERE s.unit_id IS NULL OR f.unit_id IS NULL OR NOT ({_SAME_TALLY});
            ANALYZE pg_temp.rollup_changes"""
    )
    await run(
        "rollup_rows_deleted",
        f"""DELETE FROM rollups s USING rollup_changes f
            WHERE s.assessment_id = $1 AND f.change = 'delete' AND {_ROLLUP_KEY}""",
    )
    await run(
        "rollup_rows_updated",
        f"""UPDATE rollups s SET n = f.n, total = f.total, total_sq = f.total_sq, hist = f.hist, levels = f.levels
            FROM rollup_changes f
            WHERE s.assessment_id = $1 AND f.change = 'update' AND {_ROLLUP_KEY}""",
    )
    await run(
        "rollup_rows_inserted",
        """INSERT INTO rollups (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist, levels)
            SELECT $1, f.unit_id, f.measure, f.category, f.week, f.n, f.total, f.total_sq, f.hist, f.levels
            FROM rollup_changes f WHERE f.change = 'insert'
            ORDER BY f.unit_id, f.measure, f.category, f.week""",
    )
    return written


async def differences(
    conn: asyncpg.Connection, assessment_id: UUID, fresh_results: str, fresh_rollups: str
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The stored results and rollup rows of an assessment that differ from freshly computed ones
    (by the same comparison as `replace_with`): what a rebuild would write."""
    results = await counted_results.differences(conn, assessment_id, fresh_results)
    tallies = await conn.fetch(
        f"""SELECT coalesce(s.unit_id, f.unit_id) AS unit_id, coalesce(s.measure, f.measure) AS measure,
                   coalesce(s.category, f.category) AS category, coalesce(s.week, f.week) AS week,
                   to_jsonb(s) - 'tenant_id' - 'assessment_id' AS stored,
                   to_jsonb(f) - 'tenant_id' - 'assessment_id' AS fresh
            FROM (SELECT * FROM rollups WHERE assessment_id = $1 AND n <> 0) s
            FULL JOIN {fresh_rollups} f USING (assessment_id, unit_id, measure, category, week)
            WHERE s.n IS NULL OR f.n IS NULL OR NOT ({_SAME_TALLY})""",
        assessment_id,
    )
    return results, tallies
