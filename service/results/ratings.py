"""Rating open responses: tasks, a rater's queue, ratings and their corrections, agreement, and
rescoring when a rating is agreed (allocation and progress: rating_allocations.py). Runs on a
tenant-scoped connection.

Raters see the response, the item and its indicators' level descriptors, and a task id:
never the candidate, nor the attempt. The scale is 0 (no evidence) and then one point per
framework level (1 = the lowest level); the agreed value over the top point is the share
of the item's points the answer earns.

A rating is *used* once its task is agreed: the agreed (or adjudicated) value rests on it and the
attempt's score document names it. Until then the rater who gave it may correct it; the value it
replaces is kept in rating_corrections. Every write to a task's ratings first locks the task row,
then reads the ratings in a fresh statement, so a correction and the rating that would settle the
task are serialized and each sees the other's committed result.

A rater's queue holds the open tasks allocated to them first, then those with a rating slot not
reserved for another rater; rating a task whose free slots are all reserved for others is refused.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import assessment_facts, stored_by_code
from service.assessments.model import AssessmentContent
from service.errors import Conflict, FieldError, NotFound, PreconditionFailed, Unprocessable, etag_matches
from service.i18n import msg
from service.items import bank
from service.items.model import Item
from service.rubrics import frameworks
from service.rubrics.model import Descriptor, FrameworkContent, Localized, walk_indicators
from service.scoring.agreement import Agreement, agreement, ratings_needed, resolve
from service.sittings import attempts as sittings


class RatingInput(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[
        int, msgspec.Meta(ge=0, le=20, description="0 = no evidence; 1.. = the framework's levels")
    ]
    comment: Annotated[str, msgspec.Meta(max_length=4000, pattern=r"^[^\x00]*$")] | None = None


class ScalePoint(msgspec.Struct):
    value: int
    level: str | None
    label: Localized | None


class IndicatorGuide(msgspec.Struct):
    indicator: str
    statement: Localized
    descriptors: list[Descriptor]


class RatingTask(msgspec.Struct):
    id: UUID
    assessment: str
    item: str
    stem: Localized
    scenario: Localized | None
    task: str
    response: str
    scale: list[ScalePoint]
    indicators: list[IndicatorGuide]
    rater_notes: Localized | None
    exemplars: list[Localized]
    ratings_needed: int


class TaskState(msgspec.Struct):
    id: UUID
    status: str
    ratings: int
    ratings_needed: int
    agreed_value: float | None


class PastValue(msgspec.Struct):
    revision: int
    value: int
    comment: str | None
    given_at: datetime
    replaced_at: datetime


class MyRating(msgspec.Struct):
    """A rater's own rating of a task, its earlier values, and whether it may still be corrected."""

    id: UUID
    task: UUID
    value: int
    comment: str | None
    revision: int
    given_at: datetime
    corrected_at: datetime | None
    correctable: bool  # False once used: the task's agreed rating rests on it
    history: list[PastValue]

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


class RatingUsed(Conflict):
    slug, title = "rating-used", msg("The rating has been used and is final")


class AgreementRow(msgspec.Struct):
    key: str  # a rater, or an item code
    agreement: Agreement


class AgreementReport(msgspec.Struct):
    scale_points: int
    overall: Agreement
    by_rater: list[AgreementRow]
    by_item: list[AgreementRow]


async def create_tasks(conn: asyncpg.Connection, pending: dict[UUID, list[str]]) -> None:
    """A task for every answered open response awaiting a rating (idempotent)."""
    pairs = [(attempt, ref) for attempt, refs in pending.items() for ref in refs]
    if pairs:
        await conn.execute(
            """INSERT INTO rating_tasks (attempt_id, item_ref) SELECT * FROM unnest($1::uuid[], $2::text[])
               ON CONFLICT (tenant_id, attempt_id, item_ref) DO NOTHING""",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
        )


async def agreed_ratings(
    conn: asyncpg.Connection, attempt_ids: list[UUID]
) -> dict[UUID, dict[str, tuple[float, list[str]]]]:
    """Attempt -> item -> (agreed scale value, rating ids)."""
    found: dict[UUID, dict[str, tuple[float, list[str]]]] = defaultdict(dict)
    for row in await conn.fetch(
        """SELECT t.attempt_id, t.item_ref, t.agreed_value, array_agg(r.id::text ORDER BY r.created_at) AS ids
               FROM rating_tasks t JOIN ratings r ON r.tenant_id = t.tenant_id AND r.task_id = t.id
               WHERE t.attempt_id = ANY($1::uuid[]) AND t.status = 'agreed'
               GROUP BY t.attempt_id, t.item_ref, t.agreed_value""",
        attempt_ids,
    ):
        found[row["attempt_id"]][row["item_ref"]] = (row["agreed_value"], list(row["ids"]))
    return found


# A task's attempt (`at`) and assessment (`a`), from their owners: the planner joins the tables.
TASK_ATTEMPT = f"""CROSS JOIN LATERAL {sittings.attempt_facts("t.tenant_id", "t.attempt_id")} at
    CROSS JOIN LATERAL {assessment_facts("at.tenant_id", "at.assessment_id")} a"""


# --- this module's tables in the SQL of rating_allocations.py -------------------------------------
# Fragments of the very text that module wrote before (so the same plans), named here, their owner.


def task_rows(alias: str) -> str:
    """SQL FROM item: the rating tasks as `alias` (`tenant_id`, `id`, `attempt_id`, `item_ref`, `status`,
    `created_at`)."""
    return f"rating_tasks {alias}"


def rating_rows(alias: str) -> str:
    """SQL FROM item: the ratings as `alias` (`tenant_id`, `task_id`, `rater`, `value`, `created_at`)."""
    return f"ratings {alias}"


def rated(tenant: str, task: str, rater: str | None = None) -> str:
    """SQL: true when the task (`tenant`, `task`: the SQL of its keys) has a rating, by `rater` when given."""
    by = "" if rater is None else f" AND x.rater = {rater}"
    return f"EXISTS (SELECT 1 FROM ratings x WHERE x.tenant_id = {tenant} AND x.task_id = {task}{by})"


def rating_count(tenant: str, task: str) -> str:
    """SQL: how many ratings the task has."""
    return f"(SELECT count(*) FROM ratings x WHERE x.tenant_id = {tenant} AND x.task_id = {task})"


_TASK = f"""
    SELECT t.id, t.status, t.attempt_id, t.item_ref, t.created_at, a.code AS assessment, a.content AS assessment_content,
           (SELECT (f->>'version')::int FROM jsonb_array_elements(at.form) AS f WHERE f->>'code' = t.item_ref)
               AS item_version,
           {sittings.answer_text("t.tenant_id", "t.attempt_id", "t.item_ref")} AS response,
           coalesce((SELECT array_agg(x.value ORDER BY x.created_at) FROM ratings x
                     WHERE x.tenant_id = t.tenant_id AND x.task_id = t.id), '{{}}') AS values,
           coalesce((SELECT array_agg(x.rater) FROM ratings x
                     WHERE x.tenant_id = t.tenant_id AND x.task_id = t.id), '{{}}') AS raters
    FROM rating_tasks t {TASK_ATTEMPT}
"""


def _scale(framework: FrameworkContent) -> list[ScalePoint]:
    return [ScalePoint(0, None, {"zh-CN": "无证据", "en": "No evidence"})] + [
        ScalePoint(n, level.code, level.label) for n, level in enumerate(framework.levels, start=1)
    ]


async def _tasks(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[RatingTask]:
    """The tasks of these rows, with their item versions and framework versions read from their owners."""
    items = await bank.versions_of(conn, sorted({(row["item_ref"], row["item_version"]) for row in rows}))
    refs = {row["id"]: row["assessment_content"]["framework"] for row in rows}
    versions = await frameworks.version_records(
        conn, sorted({(ref["code"], ref["version"]) for ref in refs.values()})
    )
    contents = {key: msgspec.convert(found.content, FrameworkContent) for key, found in versions.items()}
    return [
        _task(
            row,
            items[(row["item_ref"], row["item_version"])],
            contents[(refs[row["id"]]["code"], refs[row["id"]]["version"])],
        )
        for row in rows
    ]


async def _framework(conn: asyncpg.Connection, row: asyncpg.Record) -> FrameworkContent:
    """The framework version the task's assessment was published with."""
    ref = row["assessment_content"]["framework"]
    found = await frameworks.version_record(conn, ref["code"], ref["version"])
    assert found is not None  # a published assessment's framework version exists and stays
    return msgspec.convert(found.content, FrameworkContent)


def _task(row: asyncpg.Record, item: Item, framework: FrameworkContent) -> RatingTask:
    marking = msgspec.convert(row["assessment_content"], AssessmentContent).marking
    loaded = {loading.indicator for loading in item.loadings}
    guides = [
        IndicatorGuide(i.code, i.statement, i.descriptors)
        for _, _, i in walk_indicators(framework)
        if i.code in loaded
    ]
    key = item.key
    return RatingTask(
        id=row["id"],
        assessment=row["assessment"],
        item=item.code,
        stem=item.stem,
        scenario=item.scenario,
        task=getattr(item, "task", "free_text"),
        response=row["response"] or "",
        scale=_scale(framework),
        indicators=guides,
        rater_notes=getattr(key, "rater_notes", None),
        exemplars=getattr(key, "exemplars", []),
        ratings_needed=ratings_needed(
            list(row["values"]), double=marking.double, gap=marking.adjudication_gap
        ),
    )


async def rater_queue(
    conn: asyncpg.Connection, rater: str, *, assessment: str | None, limit: int
) -> list[RatingTask]:
    """Open tasks this rater has not rated and may rate: those allocated to them first, then the
    ones with a slot not reserved for another rater; oldest first within each."""
    from service.results import rating_allocations  # built on this module (which it imports)

    rows = await conn.fetch(
        _TASK
        + f""" WHERE t.status = 'open' AND ($2::text IS NULL OR a.code = $2) AND {rating_allocations.OPEN_TO}
                    ORDER BY {rating_allocations.allocated_to("$1")} DESC, t.created_at, t.id
                    LIMIT $3""",
        rater,
        assessment,
        limit,
    )
    return await _tasks(conn, rows)


async def get_task(conn: asyncpg.Connection, task_id: UUID) -> RatingTask:
    row = await conn.fetchrow(_TASK + " WHERE t.id = $1", task_id)
    if row is None:
        raise NotFound(msg("no rating task {task_id}", task_id=task_id))
    return (await _tasks(conn, [row]))[0]


async def _locked(conn: asyncpg.Connection, task_id: UUID) -> asyncpg.Record:
    """The task, locked, read after the lock is held: a statement that waited on a row lock sees the
    locked row's new version but the rest (here, the ratings) as of its start, so they are read anew."""
    if await conn.fetchval("SELECT id FROM rating_tasks WHERE id = $1 FOR UPDATE", task_id) is None:
        raise NotFound(msg("no rating task {task_id}", task_id=task_id))
    return await conn.fetchrow(_TASK + " WHERE t.id = $1", task_id)


def _check_scale(framework: FrameworkContent, value: int) -> None:
    top = len(framework.levels)
    if value > top:
        raise Unprocessable(
            msg("rate from 0 (no evidence) to {top}", top=top),
            [FieldError(msg("at most {top}", top=top), "/value")],
        )


async def _settle(
    conn: asyncpg.Connection, row: asyncpg.Record, values: list[int]
) -> tuple[TaskState, UUID | None]:
    """Agree the task when its ratings now resolve; the attempt to rescore when they did."""
    marking = msgspec.convert(row["assessment_content"], AssessmentContent).marking
    agreed = resolve(values, double=marking.double, gap=marking.adjudication_gap)
    settled = None
    if agreed is not None:
        await conn.execute(
            "UPDATE rating_tasks SET status = 'agreed', agreed_value = $2, agreed_at = now() WHERE id = $1",
            row["id"],
            agreed,
        )
        settled = row["attempt_id"]
    needed = ratings_needed(values, double=marking.double, gap=marking.adjudication_gap)
    return TaskState(
        row["id"], "agreed" if agreed is not None else "open", len(values), needed, agreed
    ), settled


async def rate(
    conn: asyncpg.Connection, task_id: UUID, rater: str, data: RatingInput
) -> tuple[TaskState, UUID | None]:
    """Record a rating; returns the task's state and, when this rating settled it, its attempt (to rescore)."""
    row = await _locked(conn, task_id)
    marking = msgspec.convert(row["assessment_content"], AssessmentContent).marking
    _check_scale(await _framework(conn, row), data.value)
    values = list(row["values"])
    if rater in row["raters"]:
        raise Conflict(
            msg(
                "you have already rated this response; correct your rating with "
                "PUT /v1/rating-tasks/{task_id}/ratings/mine",
                task_id=row["id"],
            )
        )
    if row["status"] == "agreed":
        raise Conflict(msg("this response already has an agreed rating"))
    if resolve(values, double=marking.double, gap=marking.adjudication_gap) is not None:
        raise Conflict(msg("this response needs no more ratings"))
    from service.results import rating_allocations  # built on this module (which it imports)

    if not await rating_allocations.open_to(conn, task_id, rater):
        raise Conflict(msg("this response is allocated to other raters"))
    await conn.execute(
        "INSERT INTO ratings (task_id, rater, value, comment) VALUES ($1, $2, $3, $4)",
        task_id,
        rater,
        data.value,
        data.comment,
    )
    return await _settle(conn, row, [*values, data.value])


_MINE = """
    SELECT r.id, r.task_id AS task, r.value, r.comment, r.revision, r.created_at AS given_at, r.corrected_at,
           t.status = 'open' AS correctable
    FROM ratings r JOIN rating_tasks t ON t.tenant_id = r.tenant_id AND t.id = r.task_id
    WHERE r.task_id = $1 AND r.rater = $2"""


async def my_rating(conn: asyncpg.Connection, task_id: UUID, rater: str) -> MyRating:
    row = await conn.fetchrow(_MINE, task_id, rater)
    if row is None:
        raise NotFound(msg("you have not rated task {task_id}", task_id=task_id))
    history = await conn.fetch(
        "SELECT revision, value, comment, given_at, replaced_at FROM rating_corrections "
        "WHERE rating_id = $1 ORDER BY revision",
        row["id"],
    )
    return MyRating(**dict(row), history=[PastValue(**dict(past)) for past in history])


async def correct(
    conn: asyncpg.Connection, task_id: UUID, rater: str, data: RatingInput, if_match: str
) -> tuple[MyRating, TaskState, UUID | None]:
    """Replace the rater's own rating while it is unused, keeping the value it replaces.

    A correction can itself settle the task (two disagreeing ratings brought within the gap); it
    returns the attempt to rescore then, as a rating does."""
    row = await _locked(conn, task_id)
    mine = await conn.fetchrow(
        "SELECT id, value, comment, revision, coalesce(corrected_at, created_at) AS given_at "
        "FROM ratings WHERE task_id = $1 AND rater = $2",
        task_id,
        rater,
    )
    if mine is None:
        raise NotFound(msg("you have not rated task {task_id}", task_id=task_id))
    if row["status"] != "open":  # first: a used rating is final whichever version the caller read
        raise RatingUsed(
            msg("this rating has been used: the response's agreed rating rests on it, so it is final")
        )
    if not etag_matches(if_match, f'"{mine["revision"]}"'):
        raise PreconditionFailed(
            msg('your rating is now at ETag "{revision}"; read it again', revision=mine["revision"])
        )
    _check_scale(await _framework(conn, row), data.value)
    if (mine["value"], mine["comment"]) != (data.value, data.comment):
        await conn.execute(
            """INSERT INTO rating_corrections (rating_id, revision, value, comment, given_at)
               VALUES ($1, $2, $3, $4, $5)""",
            mine["id"],
            mine["revision"],
            mine["value"],
            mine["comment"],
            mine["given_at"],
        )
        await conn.execute(
            "UPDATE ratings SET value = $2, comment = $3, revision = revision + 1, "
            "corrected_at = clock_timestamp() WHERE id = $1",
            mine["id"],
            data.value,
            data.comment,
        )
    values = list(
        await conn.fetchval(
            "SELECT array_agg(value ORDER BY created_at) FROM ratings WHERE task_id = $1", task_id
        )
    )
    state, settled = await _settle(conn, row, values)
    return await my_rating(conn, task_id, rater), state, settled


async def agreement_report(conn: asyncpg.Connection, code: str) -> AgreementReport:
    """Agreement between the first two ratings of every double-marked response of the assessment."""
    assessment = await stored_by_code(conn, code)
    ref = assessment["content"]["framework"] if assessment is not None else None
    framework = (
        await frameworks.version_record(conn, ref["code"], ref["version"]) if ref is not None else None
    )
    if assessment is None or framework is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    categories = len(msgspec.convert(framework.content, FrameworkContent).levels) + 1
    rows = await conn.fetch(
        f"""SELECT t.item_ref, array_agg(r.rater ORDER BY r.created_at) AS raters,
                  array_agg(r.value ORDER BY r.created_at) AS values
           FROM rating_tasks t CROSS JOIN LATERAL {sittings.attempt_facts("t.tenant_id", "t.attempt_id")} at
           JOIN ratings r ON r.tenant_id = t.tenant_id AND r.task_id = t.id
           WHERE at.assessment_id = $1 GROUP BY t.id, t.item_ref""",
        assessment["id"],
    )
    pairs: list[tuple[int, int]] = []
    by_rater: dict[str, list[tuple[int, int]]] = defaultdict(list)
    by_item: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        if len(row["values"]) < 2:
            continue
        pair = (row["values"][0], row["values"][1])
        pairs.append(pair)
        by_item[row["item_ref"]].append(pair)
        for rater in row["raters"][:2]:
            by_rater[rater].append(pair)
    return AgreementReport(
        categories,
        agreement(pairs, categories),
        [AgreementRow(k, agreement(v, categories)) for k, v in sorted(by_rater.items())],
        [AgreementRow(k, agreement(v, categories)) for k, v in sorted(by_item.items())],
    )
