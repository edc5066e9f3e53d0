"""Candidates' attempts: start (once), resume, save answers (revision-guarded), submit (once).

Runs on a tenant-scoped connection, always for one person: every statement matches the
attempt by id *and* person, so a candidate never reaches another candidate's attempt.

Guarantees, each held by the database rather than by this process:
- one attempt per (assessment, person, number), and at most one in progress
  (unique indexes; a retried or concurrent start finds the attempt its twin created);
- a save lands only while the attempt is in progress and before its deadline plus grace,
  holding a shared advisory lock on the attempt until commit (which a submission takes
  exclusively before it reads the answers), so a submit waits for saves in flight and a save
  queued behind a submit sees the attempt closed;
- a stored answer is replaced only by a higher client revision (`ON CONFLICT ... WHERE`),
  so retries and out-of-order arrivals change nothing;
- submission flips the status once; a retried submit finds it submitted and returns the
  same result;
- in an adaptive section (service/delivery/adaptive.py) saves of one attempt take turns (the
  attempt row locked for update), only the current item or one already answered can be saved, and
  the first non-empty answer to an item is kept, so the path replayed from the answers never forks.

A submission (by the candidate, or at the deadline: `submit_overdue`, also run by the sweeper) hands
the attempts to the score pipeline (service/pipeline.py), which scores them, moves the aggregates and
queues the webhook events in the same transaction.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
import msgspec

from service import pipeline
from service.assessments import assessments
from service.assessments.audience import includes, window_state
from service.assessments.forms import FormItem, FrozenItem, Placement, draw_form
from service.assessments.model import AssessmentContent, Feedback, Window
from service.db.pool import single_statement
from service.delivery import adaptive, published
from service.errors import Conflict, DomainError, FieldError, NotFound, Unprocessable
from service.i18n import msg
from service.items import bank
from service.items.model import image_ids
from service.items.views import (
    Answer,
    AnswerRule,
    CandidateItem,
    answer_rule,
    candidate_view,
    check_answer,
    one_language,
)
from service.rubrics.model import Localized
from service.sittings import attempts as sittings
from service.tenancy import org_units
from service.tenancy.people import Person
from service.xapi import outbox as xapi_outbox
from service.xapi.statements import Attempt

Revision = Annotated[
    int, msgspec.Meta(ge=0, le=2**53, description="The client's counter for this item; higher replaces lower")
]
MAX_BATCH = 500


class AttemptClosed(DomainError):
    """Refused because the attempt is submitted; a submission made while finding that out is kept."""

    status, slug, title = 409, "attempt-closed", msg("The attempt is closed")
    keeps_changes = True


class StartRefused(Conflict):
    """No attempt can start now; attempts submitted at their deadline while checking stay submitted."""

    keeps_changes = True


class AttemptSummary(msgspec.Struct):
    id: UUID
    assessment: str
    number: int
    status: Literal["in_progress", "submitted"]
    started_at: datetime
    deadline: datetime | None
    seconds_left: float | None
    extra_time_factor: float
    submitted_at: datetime | None
    submitted_by: Literal["candidate", "deadline"] | None
    item_count: int
    answered: int
    server_time: datetime


class SavedAnswer(msgspec.Struct):
    item: str
    answer: Answer
    revision: int
    saved_at: datetime


class AttemptState(msgspec.Struct, omit_defaults=True):
    """`items`: in an adaptive section, the items administered and then its current one (see
    `service.delivery.adaptive`), whose progress `adaptive` gives (absent without adaptive sections)."""

    attempt: AttemptSummary
    title: Localized
    instructions: Localized | None
    items: list[CandidateItem]
    sections: list[str]
    answers: list[SavedAnswer]
    adaptive: list[adaptive.AdaptiveProgress] = msgspec.field(default_factory=list)


class SaveAnswer(msgspec.Struct, forbid_unknown_fields=True):
    revision: Revision
    answer: Answer


class BatchEntry(SaveAnswer, forbid_unknown_fields=True, kw_only=True):
    item: str


class BatchSave(msgspec.Struct, forbid_unknown_fields=True):
    answers: Annotated[list[BatchEntry], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class SaveResult(msgspec.Struct, omit_defaults=True):
    """`applied` is false when the stored answer already had this revision or a newer one (or, in an
    adaptive section, already had an answer: it cannot change once the next item is shown); the
    stored answer is returned either way. For an adaptive item, `adaptive` is the section's progress
    and `next_item` the item to answer now (absent when the section has ended)."""

    item: str
    applied: bool
    revision: int
    answer: Answer
    saved_at: datetime
    adaptive: adaptive.AdaptiveProgress | None = None
    next_item: CandidateItem | None = None


class BatchResult(msgspec.Struct):
    results: list[SaveResult]
    attempt: AttemptSummary


class StartAttempt(msgspec.Struct, forbid_unknown_fields=True):
    """`number` makes a retried start exact: the attempt with that number, created if it is the next."""

    number: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None


class MyAttempt(msgspec.Struct):
    id: UUID
    number: int
    status: str
    started_at: datetime
    deadline: datetime | None
    submitted_at: datetime | None


class MyAssessment(msgspec.Struct):
    code: str
    title: Localized
    description: Localized | None
    window: Window
    time_limit_minutes: int | None
    extra_time_factor: float
    attempts_allowed: int
    attempts_left: int
    can_start: bool  # start or continue: an attempt is running, or the window is open with attempts left
    upcoming: bool  # published, its window not open yet: listed so the candidate knows when it opens
    feedback: Feedback
    item_count: int  # with adaptive sections, the most an attempt can show (each at its `max_items`)
    attempts: list[MyAttempt]
    adaptive: bool = False  # has adaptive sections: `item_count` is a maximum, not the length


# Forms never change after start; validating an answer needs only the answer rules of the
# stored views. Keyed by tenant, person (the token's subject: their external id) and attempt, and
# filled only from a read that row-level security and the person check let through, so a cache hit
# reveals nothing a database read would not (and a save from a hit still checks the person and the
# attempt in the database: `save_answer`). Attempts of the same form share one rules dict (interned by its content), so an
# entry costs a few hundred bytes: caching every item's text per attempt cost ~190 kB each, and
# a worker serving a province-wide sitting held hundreds of MB.
_VIEWS_MAX = 20_000
_views: OrderedDict[tuple[UUID, str, UUID], dict[str, AnswerRule]] = OrderedDict()
_FORMS_MAX = 1_000
# Whether an attempt's assessment has adaptive sections (it never changes after publication).
# Keyed like `_views`; a save from `save_at_once` only when known not adaptive (adaptive saves take
# turns on the attempt row in a tenant transaction: `_save_one`).
_adaptive_attempts: OrderedDict[tuple[UUID, str, UUID], bool] = OrderedDict()
_forms: dict[frozenset[tuple[str, AnswerRule]], dict[str, AnswerRule]] = {}


async def submit_overdue(
    conn: asyncpg.Connection, *, person_id: UUID | None = None, limit: int | None = None
) -> int:
    """Submit, with what was saved, attempts past their deadline and grace (of one person, or any, at
    most `limit`; attempts another transaction holds are left for the next call)."""
    submitted = await sittings.submit_overdue(conn, person_id, limit)
    await pipeline.submitted(conn, submitted, reason="submitted at the deadline", scored_by="deadline")
    return len(submitted)


async def _summary(conn: asyncpg.Connection, person: Person, attempt_id: UUID) -> AttemptSummary:
    row = await sittings.summary(conn, person.id, attempt_id)
    if row is None:
        raise NotFound(msg("no attempt {attempt_id}", attempt_id=attempt_id))
    return msgspec.convert(dict(row), AttemptSummary)


async def _unit_and_ancestors(conn: asyncpg.Connection, person: Person) -> set[str]:
    return await org_units.with_ancestors(conn, person.org_unit_code)


async def _assigned(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, code: str | None = None
) -> list[published.Delivered]:
    """Published or closed assessments whose audience includes the person (closed ones still
    matter to a person with an attempt running)."""
    rows = await published.delivered(conn, tenant_id, code)
    units = await _unit_and_ancestors(conn, person)
    return [
        row
        for row in rows
        if includes(row.published.content.audience, person.external_id, person.category, units)
    ]


async def my_assessments(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, now: datetime
) -> list[MyAssessment]:
    """Assigned assessments that are open now or will open (`upcoming`: the window's `opens_at` says
    when; they cannot be started yet), or in which the person has an attempt in progress."""
    await submit_overdue(conn, person_id=person.id)
    assigned = await _assigned(conn, tenant_id, person)
    attempts: dict[UUID, list[MyAttempt]] = {}
    for row in await sittings.of_person(conn, person.id):
        attempts.setdefault(row["assessment_id"], []).append(
            MyAttempt(
                row["id"],
                row["number"],
                row["status"],
                row["started_at"],
                row["deadline"],
                row["submitted_at"],
            )
        )
    factors = await assessments.extra_time_factors(conn, person.id)
    mine = []
    for assessment in assigned:
        assessment_id, code, content = (
            assessment.published.id,
            assessment.published.code,
            assessment.published.content,
        )
        own = attempts.get(assessment_id, [])
        running = any(a.status == "in_progress" for a in own)
        state = window_state(content.window, now) if assessment.status == "published" else "closed"
        is_open = state == "open"
        if not (is_open or running or state == "upcoming"):
            continue
        left = max(0, content.attempts_allowed - len(own))
        mine.append(
            MyAssessment(
                code=code,
                title=content.title,
                description=content.description,
                window=content.window,
                time_limit_minutes=content.time_limit_minutes,
                extra_time_factor=factors.get(assessment_id, 1.0),
                attempts_allowed=content.attempts_allowed,
                attempts_left=left,
                can_start=running or (is_open and left > 0),
                upcoming=state == "upcoming" and not running,
                feedback=content.feedback,
                item_count=_form_length(content),
                attempts=own,
                adaptive=adaptive.has_adaptive(content),
            )
        )
    return mine


def _form_length(content: AssessmentContent) -> int:
    return sum(
        len(s.items)
        + (s.pool.draw if s.pool else 0)
        + (
            s.adaptive.max_items + (s.adaptive.pretest.count if s.adaptive.pretest else 0)
            if s.adaptive
            else 0
        )
        for s in content.sections
    )


def new_form(content: AssessmentContent, forms: dict, seed: int) -> list[Placement]:
    """Draw a form. It is stored compactly (item code, version, option order: a few kB per attempt);
    the candidate's views are rebuilt from the pinned item versions, which never change."""
    return draw_form(content, {code: msgspec.convert(f, FormItem) for code, f in forms.items()}, seed)


async def views_for(conn: asyncpg.Connection, form: list[Placement]) -> list[FrozenItem]:
    """The form as the candidate sees it: each pinned item version's view, options in the form's order."""
    versions = await bank.pinned_versions(conn, {p.code: p.version for p in form})
    return [
        FrozenItem(p.section, p.version, candidate_view(versions[p.code].content, p.option_order))
        for p in form
    ]


async def shows_image(conn: asyncpg.Connection, person: Person, image_id: str) -> bool:
    """Whether an item shown on a form of one of the person's attempts shows the image (stem or
    option): a candidate may fetch those images and no others (in an adaptive section, only of the
    items administered and the current one)."""
    for row in await sittings.forms_of_person(conn, person.id):
        form = msgspec.convert(row["form"], list[Placement])
        if row["adaptive"]:  # an adaptive section's pool is on the form; only what was shown counts
            _, paths = await _adaptive_paths(conn, person, row["id"])
            seen = {p.section: {*p.given, *([p.current] if p.current else [])} for p in paths}
            form = [p for p in form if p.section not in seen or p.code in seen[p.section]]
        versions = await bank.pinned_versions(conn, {p.code: p.version for p in form})
        if any(image_id in image_ids(v.content) for v in versions.values()):
            return True
    return False


async def start(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    person: Person,
    code: str,
    data: StartAttempt,
    now: datetime,
    locale: str | None = None,
) -> tuple[AttemptState, bool]:
    """The attempt to work on, and whether this call created it (every authored text in `locale`
    only, when given)."""
    found = await _assigned(conn, tenant_id, person, code)
    if not found:
        raise NotFound(msg("no assessment '{code}' is assigned to you", code=code))
    assessment = found[0].published
    assessment_id, content = assessment.id, assessment.content
    existing, overdue = await sittings.numbered_and_overdue(conn, assessment_id, person.id)
    if overdue:  # one of the person's attempts is past its deadline: submitted first
        await submit_overdue(conn, person_id=person.id)
        existing, _ = await sittings.numbered_and_overdue(conn, assessment_id, person.id)
    if data.number is not None:
        for row in existing:
            if row["number"] == data.number:
                return await _state(conn, person, row["id"], locale), False
        if data.number != len(existing) + 1:
            raise StartRefused(
                msg("the next attempt is number {value}", value=len(existing) + 1),
                [FieldError(msg("must be {value}", value=len(existing) + 1), "/number")],
            )
        running = [row["number"] for row in existing if row["status"] == "in_progress"]
        if running:
            raise StartRefused(
                msg("attempt {number} is still in progress: submit it first", number=running[0]),
                [FieldError(msg("attempt {number} is in progress", number=running[0]), "/number")],
            )
    else:
        for row in existing:
            if row["status"] == "in_progress":
                return await _state(conn, person, row["id"], locale), False
    if found[0].status == "closed":
        raise StartRefused(msg("this assessment is closed"))
    state = window_state(content.window, now)
    if state != "open":
        raise StartRefused(
            msg("this assessment is not open yet")
            if state == "upcoming"
            else msg("this assessment is closed")
        )
    if len(existing) >= content.attempts_allowed:
        raise StartRefused(
            msg("you have used all {count} attempt(s) of this assessment", count=content.attempts_allowed)
        )
    seed = secrets.randbits(62)
    form = draw_form(content, assessment.forms, seed)
    factor = await assessments.extra_time_factor(conn, assessment_id, person.id)
    limit = content.time_limit_minutes * 60 if content.time_limit_minutes else None
    number = len(existing) + 1
    row = await sittings.insert(
        conn,
        assessment_id,
        person.id,
        number,
        seed,
        msgspec.to_builtins(form),
        _form_length(content) if adaptive.has_adaptive(content) else len(form),
        limit,
        factor,
        content.grace_seconds,
    )
    if row is None:  # a concurrent start of the same attempt won
        attempt_id = await sittings.id_of(conn, assessment_id, person.id, number)
        if attempt_id is None:  # a concurrent numbered start took another number
            raise StartRefused(
                msg("another attempt was started at the same moment; list your attempts and retry")
            )
        return await _state(conn, person, attempt_id, locale), False
    summary = msgspec.convert({**dict(row), "assessment": assessment.code, "answered": 0}, AttemptSummary)
    # an xAPI `attempted` statement, in this transaction (queued only if the tenant has an LRS)
    await xapi_outbox.attempt_started(
        conn, Attempt(summary.id, number, assessment.code, person.external_id), summary.started_at
    )
    if adaptive.has_adaptive(content):  # the first item of each adaptive section, replayed
        return await _state(conn, person, summary.id, locale), True
    items = await published.views(conn, assessment.tenant_id, form, locale)
    _hold_rules((assessment.tenant_id, person.external_id, summary.id), items)
    return _assembled(summary, content.title, content.instructions, items, [], locale), True


def _assembled(
    summary: AttemptSummary,
    title: Localized,
    instructions: Localized | None,
    items: list[FrozenItem],
    answers: list[SavedAnswer],
    locale: str | None,
    progress: list[adaptive.AdaptiveProgress] | None = None,
    sections: list[str] | None = None,
) -> AttemptState:
    """`items`: the whole form, or, with adaptive sections, the items shown (`adaptive.shown`);
    `sections` name every section of the form either way."""
    if locale is not None:
        title = one_language(title, locale)
        instructions = one_language(instructions, locale) if instructions else None
    return AttemptState(
        summary,
        title,
        instructions,
        [item.view for item in items],
        sections if sections is not None else list(dict.fromkeys(item.section for item in items)),
        answers,
        progress or [],
    )


async def _form(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID
) -> list[FrozenItem]:
    row = await sittings.form_of(conn, person.id, attempt_id)
    if row is None:
        raise NotFound(msg("no attempt {attempt_id}", attempt_id=attempt_id))
    _held_adaptive((tenant_id, person.external_id, attempt_id), row["adaptive"])
    return await published.views(conn, tenant_id, msgspec.convert(row["form"], list[Placement]))


async def resume(
    conn: asyncpg.Connection, person: Person, attempt_id: UUID, locale: str | None = None
) -> AttemptState:
    """Everything a client needs to continue on any device, with time left by the server clock
    (every authored text in `locale` only, when given)."""
    await submit_overdue(conn, person_id=person.id)
    return await _state(conn, person, attempt_id, locale)


async def _state(
    conn: asyncpg.Connection, person: Person, attempt_id: UUID, locale: str | None
) -> AttemptState:
    """The attempt's state, once overdue attempts are submitted: its summary, form and title in one
    read, the item views (rendered once per worker), the saved answers."""
    row = await sittings.state(conn, person.id, attempt_id)
    if row is None:
        raise NotFound(msg("no attempt {attempt_id}", attempt_id=attempt_id))
    fields = dict(row)
    tenant_id, form, title, instructions, is_adaptive = (
        fields.pop(k) for k in ("tenant_id", "form", "title", "instructions", "adaptive")
    )
    summary = msgspec.convert(fields, AttemptSummary)
    items = await published.views(conn, tenant_id, msgspec.convert(form, list[Placement]), locale)
    answers = [
        SavedAnswer(r["item_ref"], msgspec.convert(r["answer"], Answer), r["revision"], r["saved_at"])
        for r in await sittings.saved_answers(conn, attempt_id)
    ]
    if not is_adaptive:
        _hold_rules((tenant_id, person.external_id, attempt_id), items)
        return _assembled(summary, title, instructions, items, answers, locale)
    sections, paths = await _adaptive_paths(conn, person, attempt_id)
    return _assembled(
        summary,
        title,
        instructions,
        adaptive.shown(items, paths),
        answers,
        locale,
        [adaptive.progress(section, path) for section, path in zip(sections, paths, strict=True)],
        list(dict.fromkeys(item.section for item in items)),
    )


async def _adaptive_paths(
    conn: asyncpg.Connection,
    person: Person,
    attempt_id: UUID,
    *,
    lock: bool = False,
    after: list[adaptive.Path] | None = None,
) -> tuple[list[adaptive.Prepared], list[adaptive.Path]]:
    """The attempt's adaptive sections and their paths replayed from the saved answers (continuing
    the paths `after`, replayed earlier in this transaction); `lock` holds the attempt row until
    commit, so saves to adaptive items of one attempt take turns."""
    row = await sittings.seed_and_content(conn, person.id, attempt_id, lock=lock)
    if row is None:
        raise NotFound(msg("no attempt {attempt_id}", attempt_id=attempt_id))
    content = msgspec.convert(row["content"], AssessmentContent)
    if not adaptive.has_adaptive(content):
        return [], []
    sections = await adaptive.prepare(conn, row["tenant_id"], content)
    answers = await sittings.answers(conn, [attempt_id])
    mine = answers.get(attempt_id, {})
    return sections, [
        adaptive.replay(s, row["seed"], mine, after[i] if after else None) for i, s in enumerate(sections)
    ]


def _shared(rules: dict[str, AnswerRule]) -> dict[str, AnswerRule]:
    """The one dict of these rules already held, or this one from now on."""
    content = frozenset(rules.items())
    held = _forms.get(content)
    if held is None:
        if len(_forms) >= _FORMS_MAX:
            _forms.clear()
        held = _forms[content] = rules
    return held


def cached_rules(attempt_id: UUID) -> dict[str, AnswerRule] | None:
    """The cached answer rules of an attempt (for tests)."""
    return next((rules for (_, _, cached), rules in _views.items() if cached == attempt_id), None)


def forget_cached_forms() -> None:
    _views.clear()
    _forms.clear()
    _adaptive_attempts.clear()
    published.forget()


def _hold_rules(key: tuple[UUID, str, UUID], items: list[FrozenItem]) -> None:
    """A start or resume of an attempt without adaptive sections, which just read its whole form (its
    views in any language: an answer rule reads no text), holds its answer rules, so that the
    candidate's first save on this worker is already one round trip (`save_at_once`); before, each
    attempt's first save on each worker read and decoded the form again in a tenant transaction."""
    if key not in _views:
        _views[key] = _shared({item.view.ref: answer_rule(item.view) for item in items})
        if len(_views) > _VIEWS_MAX:
            _views.popitem(last=False)
    _held_adaptive(key, False)


async def _views_of(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID
) -> dict[str, AnswerRule]:
    """The answer rules of the attempt's items, by ref."""
    key = (tenant_id, person.external_id, attempt_id)
    views = _views.get(key)
    if views is None:
        views = _shared(
            {
                item.view.ref: answer_rule(item.view)
                for item in await _form(conn, tenant_id, person, attempt_id)
            }
        )
        _views[key] = views
        if len(_views) > _VIEWS_MAX:
            _views.popitem(last=False)
    return views


# The save's context, person check and guarded upsert, in one call (`save_answer`, the store's).
_SAVE = sittings.SAVE_ANSWER


async def _why_closed(conn: asyncpg.Connection, person: Person, attempt_id: UUID) -> AttemptClosed:
    await submit_overdue(conn, person_id=person.id)
    summary = await _summary(conn, person, attempt_id)
    how = msg("by the server at its deadline") if summary.submitted_by == "deadline" else msg("by you")
    return AttemptClosed(
        msg(
            "attempt {attempt_id} was submitted {how} at "
            "{submitted_at:%Y-%m-%dT%H:%M:%SZ}; answers saved before that are kept, this "
            "one was not saved",
            attempt_id=attempt_id,
            how=how,
            submitted_at=summary.submitted_at,
        )
    )


async def _save_one(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID, item: str, data: SaveAnswer
) -> SaveResult:
    """`keep_first`: an adaptive item's non-empty answer is never replaced (the path depends on it)."""
    keep_first = False
    if await _adaptive_attempt(conn, tenant_id, person, attempt_id):
        sections, paths = await _adaptive_paths(conn, person, attempt_id, lock=True)
        keep_first = adaptive.keeps_first_answer(sections, paths, item)
    result = await _store_answer(conn, tenant_id, person, attempt_id, item, data, keep_first)
    if keep_first:
        _, paths = await _adaptive_paths(conn, person, attempt_id, after=paths)
        section, path = next((s, p) for s, p in zip(sections, paths, strict=True) if s.holds(item))
        shown = (
            next(
                f.view for f in await _form(conn, tenant_id, person, attempt_id) if f.view.ref == path.current
            )
            if path.current
            else None
        )
        result = msgspec.structs.replace(result, adaptive=adaptive.progress(section, path), next_item=shown)
    return result


def _held_adaptive(key: tuple[UUID, str, UUID], found: bool) -> None:
    _adaptive_attempts[key] = found
    if len(_adaptive_attempts) > _VIEWS_MAX:
        _adaptive_attempts.popitem(last=False)


async def _adaptive_attempt(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID
) -> bool:
    key = (tenant_id, person.external_id, attempt_id)
    found = _adaptive_attempts.get(key)
    if found is None:
        found = bool(await sittings.is_adaptive(conn, person.id, attempt_id))
        _held_adaptive(key, found)
    return found


async def _store_answer(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    person: Person,
    attempt_id: UUID,
    item: str,
    data: SaveAnswer,
    keep_first: bool,
) -> SaveResult:
    row = await conn.fetchrow(
        _SAVE,
        tenant_id,
        person.external_id,
        attempt_id,
        item,
        msgspec.to_builtins(data.answer),
        data.revision,
        keep_first,
    )
    if not row["attempt_open"]:
        raise await _why_closed(conn, person, attempt_id)
    return _saved(item, row)


def _saved(item: str, row: asyncpg.Record) -> SaveResult:
    return SaveResult(
        item,
        row["applied"],
        row["stored_revision"],
        msgspec.convert(row["stored_answer"], Answer),
        row["stored_at"],
    )


async def save_at_once(
    pool: asyncpg.Pool, tenant_id: UUID, subject: str, attempt_id: UUID, item: str, data: SaveAnswer
) -> SaveResult | None:
    """A save in one round trip, when this worker holds the attempt's answer rules (cached for this
    token's subject by an earlier save): the answer is checked here, then `save_answer` checks the
    person and the attempt and stores it in its own transaction. None: anything else (rules not held,
    item not in them, an attempt with adaptive sections or not known not to have them, person unknown
    or inactive, attempt closed), for `save` in a tenant transaction,
    which answers every refusal as it always has; nothing was written then."""
    key = (tenant_id, subject, attempt_id)
    rules = _views.get(key)
    if rules is None or item not in rules or _adaptive_attempts.get(key) is not False:
        return None
    errors = check_answer(rules[item], data.answer)
    if errors:
        raise Unprocessable(msg("the answer does not fit the item; nothing was saved"), errors)
    row = await single_statement(
        pool,
        _SAVE,
        tenant_id,
        subject,
        attempt_id,
        item,
        msgspec.to_builtins(data.answer),
        data.revision,
        False,
    )
    if not (row["person_known"] and row["attempt_open"]):
        return None
    return _saved(item, row)


async def save(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID, item: str, data: SaveAnswer
) -> SaveResult:
    views = await _views_of(conn, tenant_id, person, attempt_id)
    if item not in views:
        raise NotFound(msg("item '{item}' is not in attempt {attempt_id}", item=item, attempt_id=attempt_id))
    errors = check_answer(views[item], data.answer)
    if errors:
        raise Unprocessable(msg("the answer does not fit the item; nothing was saved"), errors)
    return await _save_one(conn, tenant_id, person, attempt_id, item, data)


async def save_batch(
    conn: asyncpg.Connection, tenant_id: UUID, person: Person, attempt_id: UUID, data: BatchSave
) -> BatchResult:
    """All answers of the batch in one transaction, in the order given; stale ones change nothing."""
    views = await _views_of(conn, tenant_id, person, attempt_id)
    errors = []
    for i, entry in enumerate(data.answers):
        if entry.item not in views:
            errors.append(
                FieldError(msg("item '{item}' is not in this attempt", item=entry.item), f"/answers/{i}/item")
            )
        else:
            errors += check_answer(views[entry.item], entry.answer, f"/answers/{i}/answer")
    if errors:
        raise Unprocessable(msg("some answers do not fit their items; nothing was saved"), errors)
    results = [
        await _save_one(conn, tenant_id, person, attempt_id, entry.item, entry) for entry in data.answers
    ]
    return BatchResult(results, await _summary(conn, person, attempt_id))


async def submit(conn: asyncpg.Connection, person: Person, attempt_id: UUID) -> AttemptSummary:
    """Submit once; a retry (or a submit after the server's deadline submission) returns the stored result."""
    by = await sittings.mark_submitted(conn, person.id, attempt_id)
    if by is not None:  # this call submitted it: score in the same transaction
        await pipeline.submitted(conn, [attempt_id], reason="submitted", scored_by=by)
    return await _summary(conn, person, attempt_id)


async def set_accommodation(
    conn: asyncpg.Connection, code: str, external_id: str, data: assessments.AccommodationSet
) -> assessments.Accommodation:
    """Grant a person extra time in an assessment (service/assessments); their running attempt's
    deadline moves at once."""
    granted, assessment_id, person_id, factor = await assessments.store_accommodation(
        conn, code, external_id, data
    )
    deadline = await sittings.extend_running(conn, assessment_id, person_id, factor)
    return msgspec.structs.replace(granted, running_attempt_deadline=deadline)
