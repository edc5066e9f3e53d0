"""Rescoring an assessment after a key correction or revised cut scores: preview, then commit.

A rescoring names the item versions (same type and options as what candidates answered) and
framework version that scoring should use from now on. It is a job in two phases, each run
in batches of `BATCH` attempts, one transaction per batch, with progress in its row:
- preview: score every submitted attempt with the new pins and count, against the current
  scores, how many would change score or level, overall and per dimension; nothing is stored;
- commit: the pins come into force, and every attempt whose document would differ gets a new
  current score (the old one stays as history, with who rescored, when and why). An attempt
  whose document would not change gets no new row: rescoring an unchanged assessment changes
  nothing, and neither does one whose new versions leave an attempt's credit, scores and levels
  as they were (only the versions named in the document would differ). A commit that was
  interrupted is resumed by committing again; attempts already rescored are skipped because
  their document no longer differs.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.model import AssessmentContent
from service.db import keyset
from service.db.pool import tenant_transaction
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.items.model import Item, item_type, option_keys
from service.items.validation import validate_item
from service.results.scores import ScoringPins, current_documents, pins_in_force, score_documents, store_documents
from service.rubrics.model import Code, FrameworkContent
from service.scoring.engine import ScoreDocument
from service.tenancy.fields import MAX_VERSION, TEXT_PATTERN

log = logging.getLogger("assess.rescoring")
BATCH = 500


class RescoringRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=TEXT_PATTERN)]  # the column's 2000
    items: dict[Code, Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]] = msgspec.field(default_factory=dict)
    framework_version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)] | None = None


class DimensionChange(msgspec.Struct):
    dimension: str
    score_changed: int
    level_changed: int


class RescoringSummary(msgspec.Struct):
    attempts: int
    changed: int
    overall_score_changed: int
    overall_level_changed: int
    dimensions: list[DimensionChange]


class Rescoring(msgspec.Struct):
    id: UUID
    assessment: str
    reason: str
    requested_by: str
    pins: ScoringPins
    status: Literal["previewing", "previewed", "running", "done", "failed"]
    total: int
    processed: int
    changed: int
    summary: RescoringSummary | None
    error: str | None
    created_at: datetime
    committed_at: datetime | None
    committed_by: str | None
    finished_at: datetime | None


_SELECT = """SELECT r.id, a.code AS assessment, r.reason, r.requested_by, r.pins, r.status, r.total, r.processed,
                    r.changed, r.summary, r.error, r.created_at, r.committed_at, r.committed_by, r.finished_at
             FROM rescorings r JOIN assessments a ON a.tenant_id = r.tenant_id AND a.id = r.assessment_id"""


def _substance(document: ScoreDocument) -> ScoreDocument:
    """The document without which versions made it: a corrected key that leaves an attempt's
    credit, scores and levels as they were is no change to that attempt's score."""
    return msgspec.structs.replace(
        document, items=[msgspec.structs.replace(item, version=0) for item in document.items],
        provenance=msgspec.structs.replace(document.provenance, framework_hash="", item_versions={}))


def changes(old: ScoreDocument | None, new: ScoreDocument) -> tuple[bool, bool, bool, set[str], set[str]]:
    """(score differs, overall score differs, overall level differs, dimensions whose score / level differ)."""
    if old is None:
        return True, True, True, {d.dimension for d in new.dimensions}, {d.dimension for d in new.dimensions}
    before = {d.dimension: d for d in old.dimensions}
    after = {d.dimension: d for d in new.dimensions}
    scores = {c for c in before.keys() | after.keys()
              if (before[c].scaled if c in before else None) != (after[c].scaled if c in after else None)}
    levels = {c for c in before.keys() | after.keys()
              if (before[c].level if c in before else None) != (after[c].level if c in after else None)}
    return (_substance(old) != _substance(new), old.overall.scaled != new.overall.scaled, old.overall.level != new.overall.level,
            scores, levels)


async def get_rescoring(conn: asyncpg.Connection, code: str, rescoring_id: UUID) -> Rescoring:
    row = await conn.fetchrow(_SELECT + " WHERE a.code = $1 AND r.id = $2", code, rescoring_id)
    if row is None:
        raise NotFound(msg("assessment '{code}' has no rescoring {rescoring_id}", code=code,
                           rescoring_id=rescoring_id))
    return msgspec.convert(dict(row), Rescoring)


async def list_rescorings(conn: asyncpg.Connection, code: str, *, before: tuple[datetime, UUID] | None,
                          limit: int) -> list[Rescoring]:
    """Newest first, the page after `before` (the last rescoring of the previous page)."""
    rows = await conn.fetch(_SELECT + " WHERE a.code = $1 AND " + keyset.newest_first("r", 2),
                            code, *keyset.arguments(before, limit))
    return [msgspec.convert(dict(row), Rescoring) for row in rows]


async def _check_pins(conn: asyncpg.Connection, content: AssessmentContent, pins: ScoringPins) -> None:
    """The new versions must be answerable with what candidates answered, and fit the framework version."""
    framework_version = pins.framework_version or content.framework.version
    framework = await conn.fetchval(
        """SELECT v.content FROM framework_versions v JOIN frameworks f ON f.tenant_id = v.tenant_id
             AND f.id = v.framework_id WHERE f.code = $1 AND v.version = $2 AND v.status <> 'draft'""",
        content.framework.code, framework_version)
    if framework is None:
        raise Unprocessable(msg("the framework version is not published"),
                            [FieldError(msg("framework '{code}' has no published version {version}",
                                            code=content.framework.code, version=framework_version),
                                        "/framework_version")])
    framework_content = msgspec.convert(framework, FrameworkContent)
    delivered = {ref.code: ref.version for section in content.sections
                 for ref in section.items + (section.pool.items if section.pool else [])}
    errors: list[FieldError] = []
    wanted = {code: pins.items.get(code, version) for code, version in delivered.items()}
    either = sorted(set(wanted.items()) | set(delivered.items()))
    rows = await conn.fetch(
        """SELECT i.code, v.version, v.content FROM item_versions v JOIN items i ON i.tenant_id = v.tenant_id
             AND i.id = v.item_id JOIN unnest($1::text[], $2::int[]) AS w(code, version)
             ON w.code = i.code AND w.version = v.version""", [e[0] for e in either], [e[1] for e in either])
    found: dict[tuple[str, int], Item] = {(r["code"], r["version"]): msgspec.convert(r["content"], Item)  # type: ignore[arg-type]
                                          for r in rows}
    originals = {code: found.get((code, version)) for code, version in delivered.items()}
    for code in pins.items:
        if code not in delivered:
            errors.append(FieldError(msg("item '{code}' is not in this assessment", code=code),
                                     f"/items/{code}"))
    for code, version in wanted.items():
        item = found.get((code, version))
        if item is None:
            errors.append(FieldError(msg("item '{code}' has no version {version}", code=code,
                                         version=version), f"/items/{code}"))
            continue
        original = originals.get(code)
        if original is not None and (item_type(item) != item_type(original)
                                     or sorted(option_keys(item)) != sorted(option_keys(original))):
            errors.append(FieldError(msg("version {version} of '{code}' changes the type or the options; "
                                         "candidates answered the delivered version, so only its key may "
                                         "change", version=version, code=code), f"/items/{code}"))
        for problem in validate_item(item, framework_content):
            errors.append(FieldError(msg("item '{code}' v{version}: {detail}", code=code, version=version,
                                         detail=problem.detail), f"/items/{code}"))
    if errors:
        raise Unprocessable(msg("{count} problem(s) with the rescoring; nothing was started",
                                count=len(errors)), errors)


async def create(conn: asyncpg.Connection, code: str, data: RescoringRequest, requested_by: str) -> Rescoring:
    row = await conn.fetchrow("SELECT id, status, content FROM assessments WHERE code = $1", code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    if row["status"] == "draft":
        raise Conflict(msg("assessment '{code}' is a draft: nothing has been scored yet", code=code))
    content = msgspec.convert(row["content"], AssessmentContent)
    current = (await pins_in_force(conn, [row["id"]])).get(row["id"], ScoringPins())
    pins = ScoringPins(framework_version=data.framework_version or current.framework_version,
                       items={**current.items, **data.items})
    await _check_pins(conn, content, pins)
    total = await conn.fetchval("SELECT count(*) FROM attempts WHERE assessment_id = $1 AND status = 'submitted'",
                                row["id"])
    rescoring_id = await conn.fetchval(
        "INSERT INTO rescorings (assessment_id, reason, requested_by, pins, total) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", row["id"], data.reason, requested_by, msgspec.to_builtins(pins), total)
    return await get_rescoring(conn, code, rescoring_id)


async def commit(conn: asyncpg.Connection, code: str, rescoring_id: UUID, committed_by: str) -> Rescoring:
    current = await get_rescoring(conn, code, rescoring_id)
    done = await conn.fetchval(
        """UPDATE rescorings SET status = 'running', committed_at = coalesce(committed_at, now()),
                  committed_by = coalesce(committed_by, $2), processed = 0, changed = 0, error = NULL
           WHERE id = $1 AND status IN ('previewed', 'failed') RETURNING id""", rescoring_id, committed_by)
    if done is None:
        raise Conflict(msg("rescoring {rescoring_id} is {status}: only a previewed (or failed) rescoring "
                           "can be committed", rescoring_id=rescoring_id, status=current.status))
    return await get_rescoring(conn, code, rescoring_id)


async def _batches(pool: asyncpg.Pool, tenant_id: UUID, assessment_id: UUID):  # type: ignore[no-untyped-def]
    after = None
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            ids = [row["id"] for row in await conn.fetch(
                """SELECT id FROM attempts WHERE assessment_id = $1 AND status = 'submitted'
                     AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3""", assessment_id, after, BATCH)]
        if not ids:
            return
        yield ids
        after = ids[-1]


async def run(pool: asyncpg.Pool, tenant_id: UUID, rescoring_id: UUID) -> None:
    """Run the preview or the commit of a rescoring to the end (a background task)."""
    try:
        async with tenant_transaction(pool, tenant_id) as conn:
            row = await conn.fetchrow("SELECT assessment_id, status, pins FROM rescorings WHERE id = $1", rescoring_id)
        if row is None or row["status"] not in ("previewing", "running"):
            return
        committing = row["status"] == "running"
        pins = msgspec.convert(row["pins"], ScoringPins)
        counts: Counter[str] = Counter()
        dimension_scores: Counter[str] = Counter()
        dimension_levels: Counter[str] = Counter()
        async for ids in _batches(pool, tenant_id, row["assessment_id"]):
            async with tenant_transaction(pool, tenant_id) as conn:
                new = await score_documents(conn, ids, pins)
                old = await current_documents(conn, ids)
                changed = {}
                for attempt, document in new.items():
                    differs, score_changed, level_changed, dims, levels = changes(old.get(attempt), document)
                    counts["attempts"] += 1
                    counts["changed"] += differs
                    counts["score"] += score_changed
                    counts["level"] += level_changed
                    dimension_scores.update(dims)
                    dimension_levels.update(levels)
                    if differs:
                        changed[attempt] = document
                if committing:
                    await store_documents(conn, changed, reason=f"rescoring {rescoring_id}",
                                          scored_by=f"rescoring:{rescoring_id}")
                await conn.execute("UPDATE rescorings SET processed = processed + $2, changed = changed + $3 "
                                   "WHERE id = $1", rescoring_id, len(ids), len(changed))
        summary = RescoringSummary(
            counts["attempts"], counts["changed"], counts["score"], counts["level"],
            [DimensionChange(d, dimension_scores[d], dimension_levels[d])
             for d in sorted(dimension_scores.keys() | dimension_levels.keys())])
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute(
                "UPDATE rescorings SET status = $2, summary = $3, finished_at = CASE WHEN $2 = 'done' THEN now() END "
                "WHERE id = $1", rescoring_id, "done" if committing else "previewed", msgspec.to_builtins(summary))
    except Exception as exc:  # a job has no caller to raise to: record the failure where the client polls
        log.exception("rescoring %s failed", rescoring_id)
        async with tenant_transaction(pool, tenant_id) as conn:
            await conn.execute("UPDATE rescorings SET status = 'failed', error = $2 WHERE id = $1", rescoring_id,
                               f"{type(exc).__name__}: {exc}"[:2000])
