"""Rescoring an assessment after a key correction or revised cut scores: preview, then commit.

A rescoring names the item versions (same type and options as what candidates answered) and
framework version that scoring should use from now on; it also applies the assessment's latest
published calibration (pinned in its `pins` when it is created), so past attempts gain abilities
from a newly published calibration (`service.results.abilities`): the preview counts them as
changed, the commit stores them with the old documents kept as history. A calibration published
after the rescoring was created makes its commit a conflict (preview again), and stops a running
commit (failed), rather than apply an older calibration than the one in force. It is a job (`service.jobqueue`: leased,
taken over if its worker dies) in two phases, each run in batches of `BATCH` attempts, each batch a
job of its own (`run_batch`, table `rescoring_batches`: one fenced transaction, done once however
often it is claimed), with progress in its row:
- preview: score every submitted attempt with the new pins and count, against the current
  scores, how many would change score or level, overall and per dimension; nothing is stored;
- commit: the pins come into force, and every attempt whose document would differ gets a new
  current score (the old one stays as history, with who rescored, when and why). `changed`
  counts the attempts whose credit, scores or levels moved; an attempt where only the versions
  named in its provenance differ gets a new row too (its document names the versions actually
  applied) but is not counted as changed. Rescoring with the pins already in force stores nothing.
  A commit that was interrupted is resumed by committing again (or by the worker that takes the
  job over); attempts already rescored are skipped because their document no longer differs.

Races with submissions: the commit takes the assessment's pins lock exclusively (see
`service.results.scores`) before its pins come into force and before it counts `total`, so every
attempt scored under older pins is counted and then seen by the batches; attempts submitted
after that are scored with the new pins at once (they are not counted: processed and changed
never exceed total). A commit superseded by a later one stops (failed) rather than apply old pins.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Annotated, Literal, Protocol, cast
from uuid import UUID, uuid4

import asyncpg
import msgspec

from service.assessments.assessments import assessment_facts, stored_by_code
from service.assessments.model import AssessmentContent, item_refs
from service.db import keyset
from service.db.pool import tenant_transaction
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.items import bank
from service.items.model import Item, item_type, option_keys
from service.items.validation import validate_item
from service.jobqueue import queue
from service.jobqueue.job import Job, LeaseLost
from service.results import calibrations
from service.results.scores import (
    ScoringPins,
    current_documents,
    current_stored,
    framework_indexes,
    gc_paused,
    lock_pins,
    pins_in_force,
    score_documents,
)
from service.rubrics import frameworks
from service.rubrics.model import Code, FrameworkContent
from service.scoring import lean
from service.scoring.engine import ScoreDocument
from service.scoring.lean import FrameworkIndex, LeanDocument, StoredForm
from service.sittings import attempts as sittings
from service.tenancy.fields import MAX_VERSION, TEXT_PATTERN
from service.tenancy.people import person_facts

BATCH = 500
SCAN = 5000  # attempts `affected` looks at per call, at most


class RescoringRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[
        str, msgspec.Meta(min_length=1, max_length=2000, pattern=TEXT_PATTERN)
    ]  # the column's 2000
    items: dict[Code, Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]] = msgspec.field(
        default_factory=dict
    )
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
    # attempts whose abilities (θ, SE, scale score, level, or the calibration named) would change,
    # e.g. past attempts given a newly published calibration; their percentage scores may not move
    abilities_changed: int = 0


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
    run_attempts: int = (
        0  # claims of its job by a worker so far: more than 1 when taken over from one that died
    )
    lease_expires_at: datetime | None = None  # queued or running: when another worker may take it over


_SELECT = (
    """SELECT r.id, a.code AS assessment, r.reason, r.requested_by, r.pins, r.status, r.total, r.processed,
                    r.changed, r.summary, r.error, r.created_at, r.committed_at, r.committed_by, r.finished_at,
                    """
    + queue.LEASE_COLUMNS
    + """
             FROM rescorings r CROSS JOIN LATERAL """
    + assessment_facts("r.tenant_id", "r.assessment_id")
    + " a"
    + queue.join("r")
)


async def latest_pins(conn: asyncpg.Connection, assessment_ids: list[UUID]) -> list[asyncpg.Record]:
    """Per assessment (of these), `assessment_id` and `pins` of its latest committed rescoring, if
    any: what `scores.pins_in_force` reads (it imports this module inside the function, since this
    module imports it)."""
    return await conn.fetch(
        """SELECT DISTINCT ON (assessment_id) assessment_id, pins FROM rescorings
           WHERE assessment_id = ANY($1::uuid[]) AND committed_at IS NOT NULL
           ORDER BY assessment_id, committed_at DESC""",
        assessment_ids,
    )


def _substance(document: ScoreDocument) -> ScoreDocument:
    """The document without which versions made it: a corrected key that leaves an attempt's
    credit, scores and levels as they were is no change to that attempt's score."""
    return msgspec.structs.replace(
        document,
        items=[msgspec.structs.replace(item, version=0) for item in document.items],
        provenance=msgspec.structs.replace(document.provenance, framework_hash="", item_versions={}),
    )


def _moved(
    old: ScoreDocument | LeanDocument, new: ScoreDocument | LeanDocument
) -> tuple[bool, bool, set[str], set[str]]:
    """(overall score differs, overall level differs, dimensions whose score / level differ): what a
    whole document and its lean form hold alike."""
    before = {d.dimension: d for d in old.dimensions}
    after = {d.dimension: d for d in new.dimensions}
    scores = {
        c
        for c in before.keys() | after.keys()
        if (before[c].scaled if c in before else None) != (after[c].scaled if c in after else None)
    }
    levels = {
        c
        for c in before.keys() | after.keys()
        if (before[c].level if c in before else None) != (after[c].level if c in after else None)
    }
    return old.overall.scaled != new.overall.scaled, old.overall.level != new.overall.level, scores, levels


def changes(old: ScoreDocument | None, new: ScoreDocument) -> tuple[bool, bool, bool, set[str], set[str]]:
    """(score differs, overall score differs, overall level differs, dimensions whose score / level differ)."""
    if old is None:
        return True, True, True, {d.dimension for d in new.dimensions}, {d.dimension for d in new.dimensions}
    return (_substance(old) != _substance(new), *_moved(old, new))


def _same_substance(old: LeanDocument, new: LeanDocument) -> bool:
    """`_substance` of the two documents these lean forms of one framework version hydrate to is the same:
    their items alike but for their versions (which alone decide the provenance's item versions), and
    everything else alike."""
    if len(old.items) != len(new.items):
        return False
    for before, after in zip(old.items, new.items, strict=True):
        if before != after and msgspec.structs.replace(before, version=after.version) != after:
            return False
    return msgspec.structs.replace(old, items=new.items) == new


class Tally(msgspec.Struct):
    """What comparing a batch's new documents with the current ones found (`compare`)."""

    counts: Counter[str]  # attempts, changed, score, level, abilities
    dimension_scores: Counter[str]
    dimension_levels: Counter[str]
    changed: set[UUID]  # whose credit, scores or levels moved
    stored: dict[UUID, ScoreDocument]  # whose document differs at all: what a commit stores
    forms: dict[UUID, StoredForm]  # the stored forms of those (`lean.store_forms`): what it writes


def compare(
    old: dict[UUID, StoredForm], new: dict[UUID, ScoreDocument], indexes: dict[str, FrameworkIndex]
) -> Tally:
    """The new documents of a batch against the current ones as stored (`scores.current_stored`), as
    `changes` compares whole documents; `indexes`: the framework versions of both (by content hash).
    The new documents are put in their stored forms first (`lean.store_forms`: what a commit writes).
    Where an old and a new one are both lean and of the same framework version, their lean forms are
    compared without hydrating: a lean form is stored only when it hydrates back to exactly its
    document, and strip(hydrate(x)) == x for those, so two such forms are equal exactly when their
    documents are, and alike but for item versions exactly when `_substance` is (test:
    tests/unit/test_rescoring_compare.py). Otherwise the old one is hydrated and compared whole."""
    ids = list(new)
    forms = dict(zip(ids, lean.store_forms([new[a] for a in ids], indexes), strict=True))
    tally = Tally(Counter(), Counter(), Counter(), set(), {}, {})
    for attempt in ids:
        document, form, previous = new[attempt], forms[attempt], old.get(attempt)
        if (
            isinstance(previous, LeanDocument)
            and isinstance(form, LeanDocument)
            and previous.provenance.framework_hash == form.provenance.framework_hash
        ):
            differs, (score_changed, level_changed, dims, levels) = (
                not _same_substance(previous, form),
                _moved(previous, form),
            )
            stored = previous != form
        else:
            whole = (
                lean.hydrate(previous, indexes[previous.provenance.framework_hash])
                if isinstance(previous, LeanDocument)
                else previous
            )
            differs, score_changed, level_changed, dims, levels = changes(whole, document)
            stored = whole != document
        tally.counts["attempts"] += 1
        tally.counts["changed"] += differs
        tally.counts["score"] += score_changed
        tally.counts["level"] += level_changed
        tally.counts["abilities"] += (previous.abilities if previous else None) != document.abilities
        tally.dimension_scores.update(dims)
        tally.dimension_levels.update(levels)
        if differs:
            tally.changed.add(attempt)
        if stored:  # new versions named in provenance, even if no credit moved
            tally.stored[attempt] = document
            tally.forms[attempt] = form
    return tally


def _compare_paused(
    old: dict[UUID, StoredForm], new: dict[UUID, ScoreDocument], indexes: dict[str, FrameworkIndex]
) -> Tally:
    """`compare`, the cyclic garbage collector paused meanwhile (`scores.gc_paused`)."""
    with gc_paused(len(new)):
        return compare(old, new, indexes)


async def get_rescoring(conn: asyncpg.Connection, code: str, rescoring_id: UUID) -> Rescoring:
    row = await conn.fetchrow(_SELECT + " WHERE a.code = $1 AND r.id = $2", code, rescoring_id)
    if row is None:
        raise NotFound(
            msg("assessment '{code}' has no rescoring {rescoring_id}", code=code, rescoring_id=rescoring_id)
        )
    return msgspec.convert(dict(row), Rescoring)


async def list_rescorings(
    conn: asyncpg.Connection, code: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[Rescoring]:
    """Newest first, the page after `before` (the last rescoring of the previous page)."""
    rows = await conn.fetch(
        _SELECT + " WHERE a.code = $1 AND " + keyset.newest_first("r", 2),
        code,
        *keyset.arguments(before, limit),
    )
    return [msgspec.convert(dict(row), Rescoring) for row in rows]


class AffectedAttempt(msgspec.Struct):
    """An attempt whose score a previewed rescoring would change: who, and from what to what."""

    attempt_id: UUID
    person: str  # external id
    scaled_before: float | None
    level_before: str | None
    scaled_after: float | None
    level_after: str | None
    dimensions: list[str]  # whose score or level would move


class AffectedPage(msgspec.Struct):
    items: list[AffectedAttempt]
    scanned_to: UUID | None  # the last attempt looked at: ask again after it for more (None: all seen)


async def affected(
    conn: asyncpg.Connection, code: str, rescoring_id: UUID, *, after: UUID | None, limit: int
) -> AffectedPage:
    """Who a previewed rescoring would change: its pins applied to the submitted attempts after `after`
    (in id order, a batch of `BATCH` at a time, at most `SCAN` looked at per call), compared with their
    current scores as the preview compares them (`changes`). Nothing is stored. Empty unless previewed:
    once committed the pins are in force and nothing differs any more."""
    job = await get_rescoring(conn, code, rescoring_id)
    if job.status != "previewed":
        return AffectedPage([], None)
    assessment_id = await conn.fetchval("SELECT assessment_id FROM rescorings WHERE id = $1", rescoring_id)
    found: list[AffectedAttempt] = []
    scanned = 0
    while scanned < SCAN and len(found) < limit:
        ids = await sittings.submitted_between(conn, assessment_id, after, None, BATCH)
        rows = await conn.fetch(
            f"""SELECT x.id, p.external_id FROM rescorings r
                CROSS JOIN unnest($2::uuid[]) WITH ORDINALITY AS x(id, n)
                CROSS JOIN LATERAL {sittings.attempt_facts("r.tenant_id", "x.id")} t
                CROSS JOIN LATERAL {person_facts("r.tenant_id", "t.person_id")} p
                WHERE r.id = $1 ORDER BY x.n""",
            rescoring_id,
            ids,
        )
        if not rows:
            return AffectedPage(found, None)
        ids = [row["id"] for row in rows]
        new = await score_documents(conn, ids, job.pins)
        old = await current_documents(conn, ids)
        for row in rows:
            before, now = old.get(row["id"]), new[row["id"]]
            differs, _, _, dims, levels = changes(before, now)
            after = row["id"]
            if differs:
                found.append(
                    AffectedAttempt(
                        row["id"],
                        row["external_id"],
                        before.overall.scaled if before else None,
                        before.overall.level if before else None,
                        now.overall.scaled,
                        now.overall.level,
                        sorted(dims | levels),
                    )
                )
                if len(found) == limit:
                    return AffectedPage(found, after)
        scanned += len(rows)
        if len(rows) < BATCH:
            return AffectedPage(found, None)
    return AffectedPage(found, after)


async def _check_pins(conn: asyncpg.Connection, content: AssessmentContent, pins: ScoringPins) -> None:
    """The new versions must be answerable with what candidates answered, and fit the framework version."""
    framework_version = pins.framework_version or content.framework.version
    record = await frameworks.version_record(conn, content.framework.code, framework_version)
    framework = record.content if record is not None and record.status != "draft" else None
    if framework is None:
        raise Unprocessable(
            msg("the framework version is not published"),
            [
                FieldError(
                    msg(
                        "framework '{code}' has no published version {version}",
                        code=content.framework.code,
                        version=framework_version,
                    ),
                    "/framework_version",
                )
            ],
        )
    framework_content = msgspec.convert(framework, FrameworkContent)
    # every item a candidate may have answered: fixed, drawn from a pool, adaptive, pretest
    delivered = {ref.code: ref.version for _, ref in item_refs(content)}
    errors: list[FieldError] = []
    wanted = {code: pins.items.get(code, version) for code, version in delivered.items()}
    either = sorted(set(wanted.items()) | set(delivered.items()))
    # keys read back with `int | None` versions (a pin's or a delivered one); a missing one is None
    found = cast("dict[tuple[str, int | None], Item]", await bank.versions_of(conn, either))
    originals = {code: found.get((code, version)) for code, version in delivered.items()}
    for code in pins.items:
        if code not in delivered:
            errors.append(
                FieldError(msg("item '{code}' is not in this assessment", code=code), f"/items/{code}")
            )
    for code, version in wanted.items():
        item = found.get((code, version))
        if item is None:
            errors.append(
                FieldError(
                    msg("item '{code}' has no version {version}", code=code, version=version),
                    f"/items/{code}",
                )
            )
            continue
        original = originals.get(code)
        if original is not None and (
            item_type(item) != item_type(original)
            or sorted(option_keys(item)) != sorted(option_keys(original))
        ):
            errors.append(
                FieldError(
                    msg(
                        "version {version} of '{code}' changes the type or the options; "
                        "candidates answered the delivered version, so only its key may "
                        "change",
                        version=version,
                        code=code,
                    ),
                    f"/items/{code}",
                )
            )
        for problem in validate_item(item, framework_content):
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' v{version}: {detail}",
                        code=code,
                        version=version,
                        detail=problem.detail,
                    ),
                    f"/items/{code}",
                )
            )
    if errors:
        raise Unprocessable(
            msg("{count} problem(s) with the rescoring; nothing was started", count=len(errors)), errors
        )


async def create(conn: asyncpg.Connection, code: str, data: RescoringRequest, requested_by: str) -> Rescoring:
    row = await stored_by_code(conn, code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    if row["status"] == "draft":
        raise Conflict(msg("assessment '{code}' is a draft: nothing has been scored yet", code=code))
    content = msgspec.convert(row["content"], AssessmentContent)
    current = (await pins_in_force(conn, [row["id"]])).get(row["id"], ScoringPins())
    pins = ScoringPins(
        framework_version=data.framework_version or current.framework_version,
        items={**current.items, **data.items},
        calibration=(await calibrations.in_force_ids(conn, [row["id"]])).get(row["id"]),
    )
    await _check_pins(conn, content, pins)
    total = await sittings.count_submitted(conn, row["id"])
    rescoring_id = await conn.fetchval(
        "INSERT INTO rescorings (assessment_id, reason, requested_by, pins, total) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id",
        row["id"],
        data.reason,
        requested_by,
        msgspec.to_builtins(pins),
        total,
    )
    await queue.enqueue(conn, "rescoring", rescoring_id)
    return await get_rescoring(conn, code, rescoring_id)


async def commit(conn: asyncpg.Connection, code: str, rescoring_id: UUID, committed_by: str) -> Rescoring:
    current = await get_rescoring(conn, code, rescoring_id)
    assessment_id = await conn.fetchval("SELECT assessment_id FROM rescorings WHERE id = $1", rescoring_id)
    # Every submission that read the pins in force commits before this goes on, and every later one
    # waits for this transaction and reads the new pins: `total` below counts every attempt scored
    # under older pins, and the batches (after this commits) see them all.
    await lock_pins(conn, [assessment_id], exclusive=True)
    published = (await calibrations.in_force_ids(conn, [assessment_id])).get(assessment_id)
    if published != current.pins.calibration:
        raise Conflict(
            msg(
                "calibration {calibration_id} was published after rescoring {rescoring_id} was "
                "previewed: start a new rescoring to preview it",
                calibration_id=published,
                rescoring_id=rescoring_id,
            )
        )
    done = await conn.fetchval(
        f"""UPDATE rescorings SET status = 'running', committed_at = coalesce(committed_at, now()),
                  committed_by = coalesce(committed_by, $2), processed = 0, error = NULL,
                  changed = CASE WHEN committed_at IS NULL THEN 0 ELSE changed END,
                  total = {sittings.submitted_count("$3")}
           WHERE id = $1 AND status IN ('previewed', 'failed') RETURNING id""",
        rescoring_id,
        committed_by,
        assessment_id,
    )
    if done is None:
        raise Conflict(
            msg(
                "rescoring {rescoring_id} is {status}: only a previewed (or failed) rescoring "
                "can be committed",
                rescoring_id=rescoring_id,
                status=current.status,
            )
        )
    # the commit's batches are planned afresh (a commit again after a failure: its old ones go)
    await conn.execute(
        "DELETE FROM rescoring_batches WHERE rescoring_id = $1 AND phase = 'commit'", rescoring_id
    )
    await queue.enqueue(conn, "rescoring", rescoring_id)
    return await get_rescoring(conn, code, rescoring_id)


class Superseded(Exception):
    """A later rescoring of the assessment was committed: its pins are the ones in force."""


class Store(Protocol):
    """How a commit stores its batches: the score pipeline's `store` (scores, aggregates, outbox in one
    transaction), given by the job registry (service/jobs/kinds.py), since this package sits below it."""

    async def __call__(
        self,
        conn: asyncpg.Connection,
        documents: dict[UUID, ScoreDocument],
        *,
        reason: str,
        scored_by: str,
        forms: dict[UUID, StoredForm] | None = None,
    ) -> None: ...


# How often a rescoring's job looks at its batches while other workers run the last of them
WAIT = 0.25
_PHASE_OF = {"previewing": "preview", "running": "commit"}


class BatchTally(msgspec.Struct):
    """What a done batch found (`rescoring_batches.tally`): summed into the summary at the end."""

    counts: dict[str, int]
    dimension_scores: dict[str, int]
    dimension_levels: dict[str, int]


async def run(job: Job, *, store: Store) -> None:
    """Run the preview or the commit of a rescoring to the end. Its attempts are split into batches of
    `BATCH` (in id order), each a job of its own (kind 'rescoring_batch', `run_batch`): this job runs
    them one after another, and every other worker's poll takes some (`service.jobs.runner`,
    BATCHES_PER_WORKER), so several processes score side by side. When none is left, the batches'
    tallies make the summary. A claim after a worker died goes on with the batches not done (a batch is
    one transaction: done, or not at all); committing again plans the commit's batches afresh (those
    already rescored change nothing: their documents no longer differ)."""
    pool, tenant_id, rescoring_id = job.pool, job.tenant_id, job.id
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        row = await conn.fetchrow("SELECT assessment_id, status FROM rescorings WHERE id = $1", rescoring_id)
        if row is None or row["status"] not in _PHASE_OF:
            await job.complete(conn)
            return
        phase = _PHASE_OF[row["status"]]
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM rescoring_batches WHERE rescoring_id = $1 AND phase = $2)",
            rescoring_id,
            phase,
        ):
            # progress restarts; a commit's `changed` does not: what an earlier run rescored no longer differs
            await conn.execute(
                "UPDATE rescorings SET processed = 0, changed = CASE WHEN status = 'running' THEN changed "
                "ELSE 0 END WHERE id = $1",
                rescoring_id,
            )
            bounds = await sittings.submitted_bounds(conn, row["assessment_id"], BATCH)
            ids = [uuid4() for _ in bounds]
            await conn.execute(
                """INSERT INTO rescoring_batches (id, rescoring_id, phase, number, after_id, upto_id)
                   SELECT b.id, $2, $3, b.n - 1, lag(b.upto) OVER (ORDER BY b.n), b.upto
                   FROM unnest($1::uuid[], $4::uuid[]) WITH ORDINALITY AS b(id, upto, n)""",
                ids,
                rescoring_id,
                phase,
                bounds,
            )
            await queue.enqueue_now(conn, "rescoring_batch", ids)
    await job.checkpoint()
    ran = 0
    while True:
        async with tenant_transaction(pool, tenant_id) as conn:
            await job.fence(conn)
            status = await conn.fetchval("SELECT status FROM rescorings WHERE id = $1", rescoring_id)
            if _PHASE_OF.get(status) != phase:  # a batch failed (mark_failed), or a later run took over
                await job.complete(conn)
                return
            pending = await conn.fetch(
                "SELECT b.id, jb.state, jb.error FROM rescoring_batches b"
                + queue.join("b")
                + " WHERE b.rescoring_id = $1 AND b.phase = $2 AND NOT b.done ORDER BY b.number",
                rescoring_id,
                phase,
            )
            failed = next((b for b in pending if b["state"] == "failed"), None)
            if failed is not None:
                await mark_failed(conn, rescoring_id, failed["error"] or "a batch failed")
                await job.complete(conn)
                return
            if not pending:
                await _finish(conn, rescoring_id, phase)
                await job.complete(conn)
                return
            claimed = await queue.claim(
                conn,
                f"{job.owner}:{ran}",
                job.settings.job_lease_seconds,
                job.settings.job_max_attempts,
                among=[b["id"] for b in pending],
            )
        if claimed is None:  # the rest are other workers' now
            await asyncio.sleep(WAIT)
            continue
        ran += 1
        assert claimed.owner is not None, "a claim names its owner"
        batch = Job(pool, tenant_id, claimed.id, claimed.kind, claimed.attempts, claimed.owner, job.settings)
        try:
            await run_batch(batch, store=store)
        except LeaseLost:
            continue
        except Exception as exc:  # the batch's failure is the rescoring's (as a worker's runner records it)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            async with tenant_transaction(pool, tenant_id) as conn:
                if await queue.finish(conn, batch.id, batch.owner, error):
                    await mark_failed(conn, rescoring_id, error)
            raise


async def _finish(conn: asyncpg.Connection, rescoring_id: UUID, phase: str) -> None:
    counts: Counter[str] = Counter()
    dimension_scores: Counter[str] = Counter()
    dimension_levels: Counter[str] = Counter()
    for row in await conn.fetch(
        "SELECT tally::text FROM rescoring_batches WHERE rescoring_id = $1 AND phase = $2",
        rescoring_id,
        phase,
    ):
        tally = _tally_decoder.decode(row["tally"])
        counts.update(tally.counts)
        dimension_scores.update(tally.dimension_scores)
        dimension_levels.update(tally.dimension_levels)
    summary = RescoringSummary(
        counts["attempts"],
        counts["changed"],
        counts["score"],
        counts["level"],
        [
            DimensionChange(d, dimension_scores[d], dimension_levels[d])
            for d in sorted(dimension_scores.keys() | dimension_levels.keys())
        ],
        counts["abilities"],
    )
    if phase == "commit":  # the summary stays the preview's (a resumed commit sees only what still differed)
        await conn.execute(
            "UPDATE rescorings SET status = 'done', processed = total, "
            "summary = coalesce(summary, $2), finished_at = now() WHERE id = $1",
            rescoring_id,
            msgspec.to_builtins(summary),
        )
    else:
        await conn.execute(
            "UPDATE rescorings SET status = 'previewed', summary = $2, processed = total WHERE id = $1",
            rescoring_id,
            msgspec.to_builtins(summary),
        )


_tally_decoder = msgspec.json.Decoder(BatchTally)


async def run_batch(job: Job, *, store: Store) -> None:
    """One batch of a rescoring's preview or commit, in one fenced transaction: score its attempts with
    the rescoring's pins, compare with the current scores, store what differs (a commit), record what it
    found and mark itself done, and complete its job. Done already (run twice: retried, taken over), or
    its rescoring no longer in that phase (failed, superseded, committed again): nothing happens."""
    pool, tenant_id = job.pool, job.tenant_id
    async with tenant_transaction(pool, tenant_id) as conn:
        await job.fence(conn)
        row = await conn.fetchrow(
            """SELECT b.rescoring_id, b.phase, b.after_id, b.upto_id, b.done, r.status, r.pins, r.assessment_id
               FROM rescoring_batches b JOIN rescorings r ON r.tenant_id = b.tenant_id AND r.id = b.rescoring_id
               WHERE b.id = $1 FOR UPDATE OF b""",  # a commit planned afresh deletes it after this batch
            job.id,
        )
        if row is None or row["done"] or _PHASE_OF.get(row["status"]) != row["phase"]:
            await job.complete(conn)
            return
        rescoring_id, assessment_id = row["rescoring_id"], row["assessment_id"]
        committing = row["phase"] == "commit"
        pins = msgspec.convert(row["pins"], ScoringPins)
        if committing:
            await lock_pins(conn, [assessment_id])
            latest = await conn.fetchval(
                "SELECT id FROM rescorings WHERE assessment_id = $1 AND committed_at IS NOT NULL "
                "ORDER BY committed_at DESC LIMIT 1",
                assessment_id,
            )
            if latest != rescoring_id:
                raise Superseded(
                    f"rescoring {latest} was committed after this one: its versions are in force"
                )
            published = (await calibrations.in_force_ids(conn, [assessment_id])).get(assessment_id)
            if published != pins.calibration:
                raise Superseded(
                    f"calibration {published} was published after this rescoring: it is in force"
                )
        # attempts submitted into the range since it was planned come too (scored with the pins in force,
        # they differ in nothing); `processed` never passes `total`
        ids = await sittings.submitted_between(
            conn, assessment_id, row["after_id"], row["upto_id"], 4 * BATCH
        )
        new = await score_documents(conn, ids, pins)
        old = await current_stored(conn, ids)
        indexes = await framework_indexes(
            conn,
            {d.provenance.framework_hash for d in new.values()} | lean.framework_hashes(list(old.values())),
        )
        # in a thread, as the engine is (`scores.THREAD_FROM`): the worker's requests go on meanwhile
        tally = await asyncio.to_thread(_compare_paused, old, new, indexes)
        await conn.execute(
            "UPDATE rescoring_batches SET done = true, tally = $2 WHERE id = $1",
            job.id,
            msgspec.to_builtins(
                BatchTally(dict(tally.counts), dict(tally.dimension_scores), dict(tally.dimension_levels))
            ),
        )
        await job.complete(conn)  # done when this transaction commits, with the batch's work
        if committing:  # its rollup writes come last (see pipeline.store)
            await store(
                conn,
                tally.stored,
                reason=f"rescoring {rescoring_id}",
                scored_by=f"rescoring:{rescoring_id}",
                forms=tally.forms,
            )
        # Last, right before the commit: batches running side by side all update this row, and each holds
        # it from here to its commit (attempts submitted after the commit started are scored with its
        # pins already: not counted)
        await conn.execute(
            "UPDATE rescorings SET processed = least(total, processed + $2), "
            "changed = least(total, changed + $3) WHERE id = $1",
            rescoring_id,
            len(ids),
            len(tally.changed),
        )


async def mark_batch_failed(conn: asyncpg.Connection, batch_id: UUID, error: str) -> None:
    """A batch failed (or its last worker died): so did its rescoring."""
    rescoring_id = await conn.fetchval("SELECT rescoring_id FROM rescoring_batches WHERE id = $1", batch_id)
    if rescoring_id is not None:
        await mark_failed(conn, rescoring_id, error)


async def mark_failed(conn: asyncpg.Connection, rescoring_id: UUID, error: str) -> None:
    """The job failed (or its last worker died): committing again retries it."""
    await conn.execute(
        "UPDATE rescorings SET status = 'failed', error = $2 WHERE id = $1 "
        "AND status IN ('previewing', 'running')",
        rescoring_id,
        error,
    )
