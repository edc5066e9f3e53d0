"""Candidate routes: my assessments, start, resume, save answers (one or a batch), submit.

Every route answers for the signed-in person only; another candidate's attempt is a 404.
A 2xx means the change is committed (the transaction closes before the response is sent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from service.api.auth import requires_roles
from service.api.deps import Conn, current_candidate, provide_tenant_conn, tenant_conn
from service.api.language import AcceptLanguage, in_language
from service.api.responses import also, errors
from service.api.runtime import runtime
from service.auth.principal import CANDIDATE
from service.delivery import attempts
from service.delivery.attempts import (
    AttemptState,
    AttemptSummary,
    BatchResult,
    BatchSave,
    MyAssessment,
    SaveAnswer,
    SaveResult,
    StartAttempt,
)
from service.i18n import negotiate
from service.results import scores
from service.results.report import CandidateReport
from service.tenancy.fields import CODE_PATTERN

candidate = requires_roles(CANDIDATE)
AssessmentCode = Annotated[
    str, PathParameter(description="Assessment code", max_length=64, pattern=CODE_PATTERN)
]
AttemptId = Annotated[UUID, PathParameter(description="Attempt id (from start)")]
ItemRef = Annotated[
    str, PathParameter(description="The item's `ref` in the attempt", max_length=64, pattern=CODE_PATTERN)
]


OneLanguage = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        max_length=35,
        description="Return every authored text (title, instructions, stems, options, scale labels) in this "
        "language only, e.g. zh-CN or en (a text without it falls back to zh-CN, then en). Still a "
        "{language: text} object, so a client reads it as a bilingual one; about half the bytes of "
        "a bilingual form. Omitted: every language the items have.",
    ),
]


class DeliveryController(Controller):
    path = "/v1/me"
    tags = ["candidate"]
    guards = [candidate]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/assessments",
        operation_id="listMyAssessments",
        responses=errors(403),
        summary="Assessments assigned to me that are open now (or that I am in the middle of), with my attempts",
    )
    async def my_assessments(self, request: Request, conn: Conn) -> list[MyAssessment]:
        person = await current_candidate(request, conn)
        return await attempts.my_assessments(conn, request.user.tenant_id, person, datetime.now(UTC))

    @post(
        "/assessments/{code:str}/attempts",
        operation_id="startAttempt",
        responses={**errors(403, 404, 409), **also(200, AttemptState, "The attempt already existed")},
        summary="Start, or continue, an attempt: 201 when created, 200 when it already existed "
        "(retries are safe); the form, order and deadline are frozen",
    )
    async def start(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        data: JSONBody[StartAttempt],
        lang: OneLanguage = None,
    ) -> Response[AttemptState]:
        person = await current_candidate(request, conn)
        state, created = await attempts.start(
            conn, request.user.tenant_id, person, code, data, datetime.now(UTC), lang
        )
        return Response(state, status_code=201 if created else 200)

    @get(
        "/attempts/{attempt_id:uuid}",
        operation_id="resumeAttempt",
        responses=errors(403, 404),
        summary="The full state of an attempt: items, saved answers, time left by the server clock",
    )
    async def resume(
        self, request: Request, conn: Conn, attempt_id: AttemptId, lang: OneLanguage = None
    ) -> AttemptState:
        person = await current_candidate(request, conn)
        return await attempts.resume(conn, person, attempt_id, lang)

    @put(
        "/attempts/{attempt_id:uuid}/answers/{item:str}",
        operation_id="saveAnswer",
        responses=errors(403, 404, 409, 422),
        summary="Save one answer with the client's revision; an older or equal revision changes nothing "
        "and returns what is stored",
    )
    async def save(
        self, request: Request, attempt_id: AttemptId, item: ItemRef, data: JSONBody[SaveAnswer]
    ) -> SaveResult:
        tenant_id = request.user.tenant_id
        saved = await attempts.save_at_once(
            runtime(request).pool, tenant_id, request.user.subject, attempt_id, item, data
        )
        if saved is not None:  # one round trip, committed
            return saved
        async with tenant_conn(request) as conn:
            person = await current_candidate(request, conn)
            return await attempts.save(conn, tenant_id, person, attempt_id, item, data)

    @post(
        "/attempts/{attempt_id:uuid}/answers",
        operation_id="saveAnswers",
        status_code=200,
        responses=errors(403, 404, 409, 413, 422),
        summary="Save a batch of answers (queued offline) in one transaction; each is revision-guarded",
    )
    async def save_batch(
        self, request: Request, conn: Conn, attempt_id: AttemptId, data: JSONBody[BatchSave]
    ) -> BatchResult:
        person = await current_candidate(request, conn)
        return await attempts.save_batch(conn, request.user.tenant_id, person, attempt_id, data)

    @get(
        "/attempts/{attempt_id:uuid}/report",
        operation_id="getMyReport",
        responses=errors(403, 404),
        summary="My profile on this attempt: dimension scores, levels, what the next level asks for "
        "(as the assessment's feedback policy allows), in the language Accept-Language asks for",
    )
    async def report(
        self, request: Request, conn: Conn, attempt_id: AttemptId, accept_language: AcceptLanguage = None
    ) -> Response[CandidateReport]:
        person = await current_candidate(request, conn)
        locale = negotiate(accept_language)
        return in_language(
            await scores.report_for(conn, person.id, attempt_id, datetime.now(UTC), locale), locale
        )

    @post(
        "/attempts/{attempt_id:uuid}/submit",
        operation_id="submitAttempt",
        status_code=200,
        responses=errors(403, 404),
        summary="Submit once; a retry returns the same result",
    )
    async def submit(self, request: Request, conn: Conn, attempt_id: AttemptId) -> AttemptSummary:
        person = await current_candidate(request, conn)
        return await attempts.submit(conn, person, attempt_id)
