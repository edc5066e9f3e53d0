"""What authors and admins see of delivery: a sample form (of a published assessment, or of a
draft with its items' current versions), and the attempts in progress or submitted. Runs on a
tenant-scoped connection.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from service.assessments.assessments import content_and_forms, draft_forms, id_by_code
from service.assessments.forms import FrozenItem, draw_form
from service.assessments.model import AssessmentContent
from service.delivery.attempts import new_form, views_for
from service.errors import FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.sittings import attempts as sittings
from service.tenancy.org_units import subtree_bounds


class FormPreview(msgspec.Struct):
    seed: int
    items: list[FrozenItem]
    # true: a draft's preview, drawn from the current versions of its items; publishing pins
    # those versions unless they change first, so a candidate may yet see something else
    draft: bool = False


class AttemptRow(msgspec.Struct):
    id: UUID
    external_id: str
    number: int
    status: str
    started_at: datetime
    deadline: datetime | None
    extra_time_factor: float
    submitted_at: datetime | None
    submitted_by: str | None
    item_count: int
    answered: int


async def preview_form(conn: asyncpg.Connection, code: str, seed: int) -> FormPreview:
    row = await content_and_forms(conn, code)
    if row is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    content = msgspec.convert(row["content"], AssessmentContent)
    if row["forms"] is None:
        form = draw_form(content, await draft_forms(conn, content), seed)
        return FormPreview(seed, await views_for(conn, form), draft=True)
    return FormPreview(seed, await views_for(conn, new_form(content, row["forms"], seed)))


async def list_attempts(
    conn: asyncpg.Connection,
    code: str,
    *,
    status: str | None,
    after: str | None,
    limit: int,
    unit: str | None = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
) -> list[AttemptRow]:
    """In attempt id order, the page after `after`; `unit`: only candidates in that unit's subtree (the
    attempt's unit, else the person's); `submitted_from`/`submitted_to`: submitted in [from, to)."""
    assessment_id = await id_by_code(conn, code)
    if assessment_id is None:
        raise NotFound(msg("no assessment '{code}'", code=code))
    try:
        low, high = await subtree_bounds(conn, unit)
    except NotFound:  # a filter, not the object the path names: 422 naming the parameter
        raise Unprocessable(
            msg("no such org unit"), [FieldError(msg("no org unit '{code}'", code=unit), parameter="unit")]
        ) from None
    rows = await sittings.listed(
        conn,
        assessment_id,
        status=status,
        after=after,
        limit=limit,
        low=low,
        high=high,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
    )
    return [msgspec.convert(dict(row), AttemptRow) for row in rows]


async def attempt_of(conn: asyncpg.Connection, code: str, attempt_id: UUID) -> None:
    """404 unless the attempt belongs to the assessment."""
    if not await sittings.of_assessment(conn, code, attempt_id):
        raise NotFound(
            msg("assessment '{code}' has no attempt {attempt_id}", code=code, attempt_id=attempt_id)
        )
