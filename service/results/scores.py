"""Score documents of attempts: computed by the pure engine, stored with their history.

Runs on a tenant-scoped connection, inside the transaction that submits the attempt (or
rescoring it), so an attempt is never submitted without its score, nor scored twice by a
retried submit. Each scoring adds a row; the previous one stops being `current` but stays.
This module computes and stores; the sequence around it (aggregates, webhooks) is the score
pipeline's, service/pipeline.py, the one caller of `store_documents` outside tests.

Pins and rescoring commits. Scoring in force (`_inputs` without explicit pins) reads the pins
while holding the assessment's pins lock in shared mode until its transaction ends; a rescoring
commit takes it exclusively (`lock_pins`) before its pins come into force. So a submission that
read the old pins has committed before the commit can count and select the attempts it rescores,
and one that has not read them yet waits and reads the new ones: no interleaving leaves a
submitted attempt scored under pins older than the latest commit (issue 14, item 1).

Abilities (issue 20): a final document also gets θ, its SE, a scale score and a level per
calibrated dimension from the assessment's latest published calibration (a rescoring: the one its
pins name), computed by the pure `service.results.abilities` after the engine, which never sees it.
A publication takes the same pins lock exclusively, so it orders with submissions the same way.

Lean documents (issue 19): a document is stored without what its framework version and itself give
again (`service.scoring.lean`: the localized feedback, tags, top-level dimensions, the omitted and
pending lists, the item versions), and every reader here gets it whole again (`_hydrated`), from the
framework version its provenance names, indexed once per content hash per process (`_indexes`); but for
a rescoring batch, which compares the stored forms as they are (`current_stored`, `rescoring.compare`).
Documents stored whole before stay whole and read as they are. SQL inside the documents (here, the
score feed's rows, rollups) reads only what the lean form keeps as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import assessment_facts, contents_as_text, id_by_code
from service.assessments.forms import Placement, pretest_placements, scored_placements
from service.assessments.model import AssessmentContent
from service.errors import NotFound
from service.i18n import msg
from service.items import bank
from service.items.views import Answer
from service.results import abilities, calibrations, ratings
from service.results.calibration_result import PublishedCalibration
from service.results.report import CandidateReport, candidate_report, profile
from service.rubrics import frameworks
from service.rubrics.model import FrameworkContent
from service.scoring import lean
from service.scoring.engine import (
    Abilities,
    AgreedRating,
    ScoredItem,
    ScoreDocument,
    ScoringInput,
    score_many,
)
from service.sittings import attempts as sittings
from service.tenancy import people

log = logging.getLogger("assess.scores")
_answers_decoder = msgspec.json.Decoder(dict[str, Answer])
_form_decoder = msgspec.json.Decoder(list[Placement])
_content_decoder = msgspec.json.Decoder(AssessmentContent)


class StoredScore(msgspec.Struct):
    attempt_id: UUID
    version: int
    status: Literal["final", "provisional"]
    current: bool
    reason: str
    scored_by: str
    created_at: datetime
    document: ScoreDocument


class ScoringPins(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Versions scoring uses instead of the ones delivery pinned: a corrected item key, revised cut scores;
    and the published calibration a rescoring applies (None: none was published when it was created)."""

    framework_version: int | None = None
    items: dict[str, int] = msgspec.field(default_factory=dict)
    calibration: UUID | None = None


async def lock_pins(conn: asyncpg.Connection, assessment_ids: list[UUID], *, exclusive: bool = False) -> None:
    """Until the transaction ends: the pins of these assessments stay as read (shared), or nobody scores
    with pins in force until the new ones are committed (exclusive, a rescoring commit). A statement of
    its own: under READ COMMITTED the next statement's snapshot sees what the wait let commit."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for assessment_id in sorted(set(assessment_ids)):  # one order everywhere: no deadlock between lockers
        await conn.execute(f"SELECT {function}(hashtextextended($1::text, 14))", str(assessment_id))


# After the pins are read, before the scoring transaction goes on to commit: tests hold a submission
# here to run a rescoring commit in between (None in production).
after_pins_read: Callable[[list[UUID]], Awaitable[None]] | None = None


async def pins_in_force(conn: asyncpg.Connection, assessment_ids: list[UUID]) -> dict[UUID, ScoringPins]:
    """Per assessment, the pins of its latest committed rescoring (none: delivery's pins)."""
    from service.results import rescoring  # the owner of rescorings, built on this module (which it imports)

    rows = await rescoring.latest_pins(conn, assessment_ids)
    return {row["assessment_id"]: msgspec.convert(row["pins"], ScoringPins) for row in rows}


async def _inputs(
    conn: asyncpg.Connection, attempt_ids: list[UUID], pins: ScoringPins | None = None
) -> tuple[dict[UUID, ScoringInput], dict[UUID, PublishedCalibration]]:
    """Everything the engine needs for each attempt: a handful of queries, however many attempts; and the
    published calibration each attempt's abilities use (if any). `pins` overrides the pins in force (a
    rescoring preview or commit), its calibration included; without them, the calibration in force is
    the assessment's latest published one (read under the same pins lock a publication takes)."""
    # the form as text, decoded straight into placements; each assessment's content once, not per attempt
    rows = await sittings.forms_as_text(conn, attempt_ids)
    assessment_contents = {
        assessment: _content_decoder.decode(content)
        for assessment, content in (
            await contents_as_text(conn, list({row["assessment_id"] for row in rows}))
        ).items()
    }
    in_force = {}
    calibration_ids: dict[UUID, UUID] = {}  # attempt -> calibration
    if pins is None:
        assessments = list({row["assessment_id"] for row in rows})
        await lock_pins(conn, assessments)
        in_force = await pins_in_force(conn, assessments)
        published = await calibrations.in_force_ids(conn, assessments)
        calibration_ids = {
            row["id"]: published[row["assessment_id"]] for row in rows if row["assessment_id"] in published
        }
        if after_pins_read is not None:
            await after_pins_read(assessments)
    elif pins.calibration is not None:
        calibration_ids = {row["id"]: pins.calibration for row in rows}
    found = await calibrations.published(conn, set(calibration_ids.values()))
    calibration_of = {attempt: found[c] for attempt, c in calibration_ids.items() if c in found}
    attempt_pins = {row["id"]: pins or in_force.get(row["assessment_id"], ScoringPins()) for row in rows}
    forms = {
        row["id"]: [
            msgspec.structs.replace(f, version=attempt_pins[row["id"]].items.get(f.code, f.version))
            for f in _form_decoder.decode(row["form"])
        ]
        for row in rows
    }
    pinned = {}
    contents = {row["id"]: assessment_contents[row["assessment_id"]] for row in rows}
    for row in rows:
        ref = contents[row["id"]].framework
        pinned[row["id"]] = (ref.code, attempt_pins[row["id"]].framework_version or ref.version)

    versions_in_use: dict[tuple[str, int], tuple[FrameworkContent, str]] = {
        key: (msgspec.convert(found.content, FrameworkContent), found.content_hash)
        for key, found in (await frameworks.version_records(conn, sorted(set(pinned.values())))).items()
    }

    items = await bank.versions_of(
        conn, sorted({(f.code, f.version) for form in forms.values() for f in form})
    )

    # one row per attempt, its answers one JSON object decoded in one call (not a row and a call per answer)
    answers: dict[UUID, dict[str, Answer]] = {attempt: {} for attempt in forms}
    for row in await sittings.answers_as_text(conn, attempt_ids):
        answers[row["attempt_id"]] = _answers_decoder.decode(row["answers"])

    agreed = await ratings.agreed_ratings(conn, attempt_ids)
    inputs = {}
    for attempt, form in forms.items():
        framework, digest = versions_in_use[pinned[attempt]]
        top = len(framework.levels)
        scored = scored_placements(contents[attempt], form, answers[attempt])
        pretest = pretest_placements(contents[attempt], form, answers[attempt])
        inputs[attempt] = ScoringInput(
            framework=framework,
            framework_hash=digest,
            items=[ScoredItem(f.version, items[(f.code, f.version)]) for f in scored],
            answers=answers[attempt],
            ratings={
                code: AgreedRating(value / top, ids) for code, (value, ids) in agreed.get(attempt, {}).items()
            },
            pretest=[ScoredItem(f.version, items[(f.code, f.version)]) for f in pretest],
        )
    return inputs, calibration_of


# Framework versions indexed for hydrating, by content hash: a version's content never changes, and equal
# hashes mean equal content whichever tenant holds it, so the index serves every tenant that reads it (each
# fetched under the reader's own row-level security the first time). The most recently used few are kept.
_indexes: OrderedDict[str, lean.FrameworkIndex] = OrderedDict()
_INDEXES_KEPT = 64


async def framework_indexes(
    conn: asyncpg.Connection, hashes: Iterable[str]
) -> dict[str, lean.FrameworkIndex]:
    """The index of each framework version named (by content hash) that the tenant can read: what
    `lean.store_forms` and `lean.hydrate` need (a rescoring strips and compares with them). Kept per
    process, the most recently used `_INDEXES_KEPT`."""
    wanted = set(hashes)
    missing = sorted(wanted - _indexes.keys())
    if missing:
        for digest, content in (await frameworks.contents_by_hash(conn, missing)).items():
            _indexes[digest] = lean.FrameworkIndex(msgspec.convert(content, FrameworkContent))
    found = {}
    for digest in wanted:
        if digest in _indexes:
            _indexes.move_to_end(digest)
            found[digest] = _indexes[digest]
    while len(_indexes) > max(_INDEXES_KEPT, len(wanted)):
        _indexes.popitem(last=False)
    return found


async def _hydrated(conn: asyncpg.Connection, stored: list[str]) -> list[ScoreDocument]:
    """Stored documents (their JSON text), whole: lean ones hydrated from their framework versions."""
    decoded = [lean.decode(text) for text in stored]
    indexes = await framework_indexes(conn, lean.framework_hashes(decoded))
    unreadable = lean.framework_hashes(decoded) - indexes.keys()
    if unreadable:
        raise RuntimeError(f"lean score documents name framework versions not readable here: {unreadable}")
    return [
        lean.hydrate(d, indexes[d.provenance.framework_hash]) if isinstance(d, lean.LeanDocument) else d
        for d in decoded
    ]


async def score_documents(
    conn: asyncpg.Connection, attempt_ids: list[UUID], pins: ScoringPins | None = None
) -> dict[UUID, ScoreDocument]:
    """Score the attempts without storing anything. A final document gains its abilities when a published
    calibration applies (`service.results.abilities`); the percentage scores are the engine's as ever."""
    if not attempt_ids:
        return {}
    inputs, calibration_of = await _inputs(conn, attempt_ids, pins)
    if len(inputs) < THREAD_FROM:
        return _score(inputs, calibration_of)
    return await asyncio.to_thread(_score, inputs, calibration_of)


# From this many attempts on (a rescoring's batch), the engine runs in a thread of its own: the event loop
# of the worker (the requests it serves, submissions of the same assessment among them) keeps turning
# meanwhile, the GIL handed over every few milliseconds, instead of stopping for the whole batch
# (up to seconds on a loaded machine: bench/README.md, rescoring).
THREAD_FROM = 50


_gc_lock = threading.Lock()
_gc_pauses = 0  # sections in `gc_paused` now, in any thread
_gc_was_enabled = False  # whether the cyclic collector ran before the first of them


@contextlib.contextmanager
def gc_paused(attempts: int) -> Iterator[None]:
    """The cyclic garbage collector off while a batch's documents are made, decoded or compared (from
    `GC_PAUSE_FROM` attempts on), back on when the last such section, in any thread, ends. These sections
    allocate hundreds of thousands of objects that live until the batch ends, each a fraction of a
    second of CPU; the collections they set off traversed every live object again and again (a third of
    a batch's Python CPU: bench/README.md, rescoring). They create no cycles; cycles others create
    meanwhile are collected once the collector is back on."""
    global _gc_pauses, _gc_was_enabled
    if attempts < GC_PAUSE_FROM:
        yield
        return
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


GC_PAUSE_FROM = 50


def _score(
    inputs: dict[UUID, ScoringInput], calibration_of: dict[UUID, PublishedCalibration]
) -> dict[UUID, ScoreDocument]:
    with gc_paused(len(inputs)):
        return _score_all(inputs, calibration_of)


def _score_all(
    inputs: dict[UUID, ScoringInput], calibration_of: dict[UUID, PublishedCalibration]
) -> dict[UUID, ScoreDocument]:
    documents = dict(zip(inputs, score_many(list(inputs.values())), strict=True))
    measured = [a for a, d in documents.items() if a in calibration_of and d.status == "final"]
    estimates = abilities.many_abilities(
        [(documents[a], calibration_of[a], inputs[a].framework) for a in measured]
    )
    for attempt, estimated in zip(measured, estimates, strict=True):
        if estimated.dimensions:
            documents[attempt] = msgspec.structs.replace(documents[attempt], abilities=estimated)
    return documents


# From this many documents on, `store_documents` COPYs them into a staging table (a rescoring's batch: the
# documents are large, and COPY's binary rows cost the server less than a statement's arrays); below it
# (a submission, a rating), one statement. Both end in the same INSERT (tests/test_rescoring_flow.py
# compares the rows the two paths store).
COPY_FROM = 100

_INSERT_SCORES = """
    INSERT INTO scores (attempt_id, version, status, overall_scaled, overall_level, document, reason, scored_by)
    SELECT d.attempt_id,
           coalesce((SELECT max(s.version) FROM scores s WHERE s.attempt_id = d.attempt_id), 0) + 1,
           d.status, d.scaled, d.level, d.document, $1, $2
    FROM {rows}"""


async def store_documents(
    conn: asyncpg.Connection,
    documents: dict[UUID, ScoreDocument],
    *,
    reason: str,
    scored_by: str,
    forms: dict[UUID, lean.StoredForm] | None = None,
) -> None:
    """Each document becomes its attempt's current score; earlier ones stay as history. The one
    place a score becomes current; its one caller, the score pipeline, keeps aggregates and the
    outbox in step in the same transaction. `forms`: each document's `lean.store_forms` form, when the
    caller has made them already (a rescoring batch, which compared them); else made here."""
    if not documents:
        return
    await ratings.create_tasks(
        conn, {attempt: doc.pending for attempt, doc in documents.items() if doc.pending}
    )
    ids = list(documents)
    await conn.execute(
        "UPDATE scores SET current = false WHERE attempt_id = ANY($1::uuid[]) AND current", ids
    )
    # what is stored: lean documents, or whole ones where the lean form would not give them back exactly
    stored = (
        forms
        if forms is not None
        else dict(
            zip(
                ids,
                lean.store_forms(
                    [documents[a] for a in ids],
                    await framework_indexes(conn, {d.provenance.framework_hash for d in documents.values()}),
                ),
                strict=True,
            )
        )
    )
    whole = sum(1 for form in stored.values() if not isinstance(form, lean.LeanDocument))
    if whole:  # a document the lean form cannot give back exactly: stored whole, and worth knowing about
        log.warning(
            "%d of %d score documents stored whole: their lean form does not hydrate back", whole, len(ids)
        )
    if len(ids) < COPY_FROM:
        await conn.execute(
            _INSERT_SCORES.format(
                rows="unnest($3::uuid[], $4::text[], $5::float8[], $6::text[], $7::jsonb[]) "
                "AS d(attempt_id, status, scaled, level, document)"
            ),
            reason,
            scored_by,
            ids,
            [documents[a].status for a in ids],
            [documents[a].overall.scaled for a in ids],
            [documents[a].overall.level for a in ids],
            [stored[a] for a in ids],  # encoded straight to JSON by the pool's jsonb codec
        )
        return
    # a batch: COPY into a staging table of this transaction (COPY FROM refuses a table under row-level
    # security), then one INSERT from it, under the policies as ever
    await conn.execute(
        "CREATE TEMP TABLE score_rows (attempt_id uuid, status text, scaled float8, level text, document jsonb) "
        "ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        "score_rows",
        schema_name="pg_temp",
        records=[(a, d.status, d.overall.scaled, d.overall.level, stored[a]) for a, d in documents.items()],
    )
    await conn.execute(_INSERT_SCORES.format(rows="pg_temp.score_rows d"), reason, scored_by)
    await conn.execute("DROP TABLE pg_temp.score_rows")  # a second batch in the same transaction


# What every webhook event about an attempt carries (service/webhooks/outbox.py builds the payloads): who,
# which assessment, the score in force (with its measured top-level dimensions, for xAPI), and the status
# of the score before it. No answers.
_EVENT_DATA = f"""
    SELECT s.attempt_id, a.code AS assessment, p.external_id AS person, t.number AS attempt_number,
           t.submitted_at, s.version AS score_version, s.status, s.overall_scaled, s.overall_level,
           coalesce((SELECT jsonb_agg(jsonb_build_object('dimension', d->'dimension', 'scaled', d->'scaled',
                                                         'level', d->'level'))
                     FROM jsonb_array_elements(s.document->'dimensions') d), '[]') AS dimensions,
           ARRAY(SELECT jsonb_object_keys(s.document->'overall'->'weights_used')) AS top_dimensions,
           previous.status AS previous_status
    FROM scores s
    CROSS JOIN LATERAL {sittings.attempt_facts("s.tenant_id", "s.attempt_id")} t
    CROSS JOIN LATERAL {assessment_facts("t.tenant_id", "t.assessment_id")} a
    CROSS JOIN LATERAL {people.person_facts("t.tenant_id", "t.person_id")} p
    LEFT JOIN scores previous ON previous.tenant_id = s.tenant_id AND previous.attempt_id = s.attempt_id
         AND previous.version = s.version - 1
    WHERE s.attempt_id = ANY($1::uuid[]) AND s.current
    ORDER BY t.submitted_at, s.attempt_id"""


async def event_rows(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> list[asyncpg.Record]:
    """The data of the webhook events about these attempts' current scores, in submission order."""
    return await conn.fetch(_EVENT_DATA, attempt_ids)


async def attempt_owners(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> list[asyncpg.Record]:
    """Whose attempts these are, of which assessment, and their current score version (credentials)."""
    return await conn.fetch(
        f"""SELECT t.id AS attempt_id, t.assessment_id, a.code AS assessment, t.person_id,
                  p.external_id AS person, s.version AS score_version
           FROM scores s
           CROSS JOIN LATERAL {sittings.attempt_facts("s.tenant_id", "s.attempt_id")} t
           CROSS JOIN LATERAL {assessment_facts("t.tenant_id", "t.assessment_id")} a
           CROSS JOIN LATERAL {people.person_facts("t.tenant_id", "t.person_id")} p
           WHERE s.attempt_id = ANY($1::uuid[]) AND s.current""",
        attempt_ids,
    )


async def current_documents(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> dict[UUID, ScoreDocument]:
    # as text, decoded straight into the struct: several times faster than dicts converted afterwards
    rows = await conn.fetch(
        "SELECT attempt_id, document::text FROM scores WHERE attempt_id = ANY($1::uuid[]) AND current",
        attempt_ids,
    )
    documents = await _hydrated(conn, [row["document"] for row in rows])
    return {row["attempt_id"]: document for row, document in zip(rows, documents, strict=True)}


async def current_stored(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> dict[UUID, lean.StoredForm]:
    """These attempts' current documents as stored (`lean.decode`: lean, or whole if stored so), not
    hydrated: a rescoring compares lean forms (`framework_indexes` hydrates what it must)."""
    rows = await conn.fetch(
        "SELECT attempt_id, document::text FROM scores WHERE attempt_id = ANY($1::uuid[]) AND current",
        attempt_ids,
    )
    with gc_paused(len(rows)):
        return {row["attempt_id"]: lean.decode(row["document"]) for row in rows}


_abilities_decoder = msgspec.json.Decoder(Abilities)


async def current_abilities(conn: asyncpg.Connection, attempt_ids: list[UUID]) -> dict[UUID, Abilities]:
    """The abilities of these attempts' current final documents (those that have them)."""
    rows = await conn.fetch(
        "SELECT attempt_id, (document->'abilities')::text AS abilities FROM scores "
        "WHERE attempt_id = ANY($1::uuid[]) AND current AND status = 'final' AND document ? 'abilities'",
        attempt_ids,
    )
    return {row["attempt_id"]: _abilities_decoder.decode(row["abilities"]) for row in rows}


async def count_final_current(conn: asyncpg.Connection, assessment_id: UUID) -> int:
    """How many attempts of the assessment have a final current score."""
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM {sittings.attempt_rows()} t JOIN scores s ON s.tenant_id = t.tenant_id AND s.attempt_id = t.id "
        "AND s.current AND s.status = 'final' WHERE t.assessment_id = $1",
        assessment_id,
    )
    return count


async def final_current_batch(
    conn: asyncpg.Connection, assessment_id: UUID, after: UUID | None, limit: int
) -> list[tuple[UUID, ScoreDocument]]:
    """The final current documents of the assessment's attempts, in attempt id order, the `limit`
    after attempt `after` (None: from the first): a job reads them all batch by batch."""
    rows = await conn.fetch(
        f"""SELECT t.id, s.document::text AS document FROM {sittings.attempt_rows()} t
           JOIN scores s ON s.tenant_id = t.tenant_id AND s.attempt_id = t.id AND s.current AND s.status = 'final'
           WHERE t.assessment_id = $1 AND ($2::uuid IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3""",
        assessment_id,
        after,
        limit,
    )
    documents = await _hydrated(conn, [row["document"] for row in rows])
    return [(row["id"], document) for row, document in zip(rows, documents, strict=True)]


class FinalScore(msgspec.Struct, frozen=True):
    """A final current score with the category and org unit its attempt was counted in when submitted."""

    attempt_id: UUID
    category: str | None
    org_unit_id: UUID | None
    document: ScoreDocument


def final_score_facts(tenant: str, attempt: str) -> str:
    """SQL for a LATERAL sub-query of at most one row, for the aggregates' one-query reads: the
    attempt's current final score's `overall_scaled`, `overall_level` and `document` (`tenant`,
    `attempt`: the SQL of the tenant's and the attempt's ids). A plain selection by key: the planner
    joins the table as before."""
    return f"""(SELECT o.overall_scaled, o.overall_level, o.document FROM scores o
         WHERE o.tenant_id = {tenant} AND o.attempt_id = {attempt} AND o.current AND o.status = 'final')"""


# A score's attempt (`t`), from the attempts store: the planner joins it as it would the table.
_ATTEMPT = f"{sittings.attempt_facts('s.tenant_id', 's.attempt_id')} t"


async def final_current_scores(
    conn: asyncpg.Connection, assessment_id: UUID, after: UUID | None, limit: int
) -> list[FinalScore]:
    """As `final_current_batch`, with each attempt's category and org unit (item statistics, DIF)."""
    rows = await conn.fetch(
        f"""SELECT t.id, t.category, t.org_unit_id, s.document::text AS document FROM scores s
           CROSS JOIN LATERAL {_ATTEMPT}
           WHERE s.current AND s.status = 'final'
             AND t.assessment_id = $1 AND ($2::uuid IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3""",
        assessment_id,
        after,
        limit,
    )
    documents = await _hydrated(conn, [row["document"] for row in rows])
    return [
        FinalScore(row["id"], row["category"], row["org_unit_id"], document)
        for row, document in zip(rows, documents, strict=True)
    ]


async def count_current(conn: asyncpg.Connection, assessment_id: UUID) -> int:
    """How many attempts of the assessment have a current score (final or provisional): an export's rows."""
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM scores s CROSS JOIN LATERAL {_ATTEMPT} WHERE s.current AND t.assessment_id = $1",
        assessment_id,
    )
    return count


# The stored top-level dimensions of a score version (`s`), for a reader that looks them up by code:
# a JSON array of objects with `dimension` (its code), `scaled` and `level`, and more it may skip.
DIMENSION_LIST = "s.document->'dimensions'"


def version_rows(joins: str, columns: str = "") -> str:
    """SQL of every score version of the tenant (`s`), as the score feed and exports show it: the attempt,
    `score_version`, `status`, `current`, `framework` (its code) and `framework_version`, the overall score
    and level, `dimensions` (a JSON array of each top-level dimension's code, score and level), `scored_at`
    and `reason`; then `columns` (SQL, after a comma), and `joins` after the FROM (the caller's WHERE,
    ORDER BY and LIMIT follow). Read from lean and whole documents alike: both keep these as they were."""
    return f"""
    SELECT s.attempt_id, s.version AS score_version, s.status, s.current,
           s.document->'provenance'->>'framework' AS framework,
           {frameworks.version_of_hash("s.document->'provenance'->>'framework_hash'")} AS framework_version,
           s.overall_scaled, s.overall_level,
           coalesce((SELECT jsonb_agg(jsonb_build_object('dimension', d->'dimension', 'scaled', d->'scaled',
                                                         'level', d->'level'))
                     FROM jsonb_array_elements(s.document->'dimensions') d), '[]') AS dimensions,
           s.created_at AS scored_at, s.reason{columns}
    FROM scores s
    {joins}"""


async def feed_xid(conn: asyncpg.Connection, attempt_id: UUID, version: int) -> str | None:
    """The id of the transaction that wrote a score version (as text), the score feed's order; None if none."""
    found: str | None = await conn.fetchval(
        "SELECT feed_xid::text FROM scores WHERE attempt_id = $1 AND version = $2", attempt_id, version
    )
    return found


async def score_history(conn: asyncpg.Connection, attempt_id: UUID) -> list[StoredScore]:
    rows = await conn.fetch(
        """SELECT attempt_id, version, status, current, reason, scored_by, created_at, document::text AS document
           FROM scores WHERE attempt_id = $1 ORDER BY version DESC""",
        attempt_id,
    )
    documents = await _hydrated(conn, [row["document"] for row in rows])
    return [
        StoredScore(
            row["attempt_id"],
            row["version"],
            row["status"],
            row["current"],
            row["reason"],
            row["scored_by"],
            row["created_at"],
            document,
        )
        for row, document in zip(rows, documents, strict=True)
    ]


async def current_score(conn: asyncpg.Connection, attempt_id: UUID) -> StoredScore | None:
    history = await score_history(conn, attempt_id)
    return next((s for s in history if s.current), None)


async def report_for(
    conn: asyncpg.Connection, person_id: UUID, attempt_id: UUID, now: datetime, locale: str = "zh-CN"
) -> CandidateReport:
    """The person's own report on their attempt (404 for anyone else's)."""
    row = await conn.fetchrow(
        f"""SELECT a.content, a.closed_at FROM {sittings.attempt_rows()} t
           CROSS JOIN LATERAL {assessment_facts("t.tenant_id", "t.assessment_id")} a
           WHERE t.id = $1 AND t.person_id = $2""",
        attempt_id,
        person_id,
    )
    ref = row["content"]["framework"] if row is not None else None
    framework = (
        await frameworks.version_record(conn, ref["code"], ref["version"]) if ref is not None else None
    )
    if row is None or framework is None:
        raise NotFound(msg("no attempt {attempt_id}", attempt_id=attempt_id))
    stored = await current_score(conn, attempt_id)
    return candidate_report(
        stored.document if stored else None,
        msgspec.convert(framework.content, FrameworkContent),
        msgspec.convert(row["content"], AssessmentContent),
        row["closed_at"],
        now,
        locale,
    )


class PersonReport(msgspec.Struct):
    """A person's profile on their latest scored submission, for staff who may read results; `report`
    is null (and `attempt_id`, `submitted_at` too) when the person has none."""

    external_id: str
    display_name: str | None
    org_unit: str | None
    attempt_id: UUID | None = None
    submitted_at: datetime | None = None
    report: CandidateReport | None = None


async def person_report(
    conn: asyncpg.Connection, code: str, external_id: str, locale: str = "zh-CN"
) -> PersonReport:
    """The whole profile (whatever the candidate's own feedback policy) of the person's latest submitted
    attempt of assessment `code` that has a score. 404 for an unknown assessment or person."""
    if await id_by_code(conn, code) is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    person = await people.get_person(conn, external_id)
    found = PersonReport(person.external_id, person.display_name, person.org_unit_code)
    row = await conn.fetchrow(
        f"""SELECT t.id, t.submitted_at, a.content FROM {sittings.attempt_rows()} t
           CROSS JOIN LATERAL {assessment_facts("t.tenant_id", "t.assessment_id")} a
           JOIN scores s ON s.tenant_id = t.tenant_id AND s.attempt_id = t.id AND s.current
           WHERE a.code = $1 AND t.person_id = $2 AND t.status = 'submitted'
           ORDER BY t.submitted_at DESC, t.number DESC LIMIT 1""",
        code,
        person.id,
    )
    if row is None:
        return found
    ref = row["content"]["framework"]
    framework = await frameworks.version_record(conn, ref["code"], ref["version"])
    stored = await current_score(conn, row["id"])
    if framework is None or stored is None:
        return found
    content = msgspec.convert(row["content"], AssessmentContent)
    report = profile(
        stored.document, msgspec.convert(framework.content, FrameworkContent), content.feedback, locale
    )
    return msgspec.structs.replace(
        found, attempt_id=row["id"], submitted_at=row["submitted_at"], report=report
    )
