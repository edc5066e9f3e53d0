"""Tenant routes for assessments: drafts, checks, publish, close, accommodations, attempts overview."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Stream

from service.aggregates import export, item_table
from service.api.auth import requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import CSV, XLSX, Bom, csv_response, xlsx_response
from service.api.etags import IfMatch, require_if_match, versioned
from service.api.language import AcceptLanguage, in_language, report_in_language
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_dated,
    next_cursor,
    next_dated,
    schema_name,
)
from service.api.people import ExternalIdPath
from service.api.responses import errors
from service.api.runtime import runtime
from service.assessments import assessments
from service.assessments.assessments import (
    Accommodation,
    AccommodationSet,
    Assessment,
    AssessmentStatus,
    AssessmentSummary,
    PublishReport,
)
from service.assessments.model import AssessmentContent
from service.auth.principal import ANALYST, AUTHOR, RATER, TENANT_ADMIN
from service.delivery import attempts, monitor
from service.delivery.monitor import AttemptRow
from service.errors import NotFound
from service.i18n import language_headers, msg, negotiate
from service.results import calibrations, item_stats, ratings, rescoring, scores
from service.results.calibrations import Calibration, CalibrationAdoption, CalibrationSummary
from service.results.item_stats import StatisticsRun
from service.results.labels import Labeller
from service.results.ratings import AgreementReport
from service.results.rescoring import Rescoring, RescoringRequest
from service.results.scores import PersonReport, StoredScore
from service.scoring.statistics import ItemStatistics
from service.tenancy.fields import CODE_PATTERN

read = requires_roles(TENANT_ADMIN, AUTHOR, ANALYST, RATER)
# Who took what, and how they scored: not for raters, whose marking is blind.
RESULT_READERS = frozenset({TENANT_ADMIN, AUTHOR, ANALYST})
results = requires_roles(*RESULT_READERS)
write = requires_roles(TENANT_ADMIN, AUTHOR)
admin = requires_roles(TENANT_ADMIN)

AssessmentCode = Annotated[
    str, PathParameter(description="Assessment code", max_length=64, pattern=CODE_PATTERN)
]
RescoringId = Annotated[UUID, PathParameter(description="Rescoring id")]
CalibrationId = Annotated[UUID, PathParameter(description="Calibration id")]


AssessmentPage = Annotated[Page[AssessmentSummary], schema_name("AssessmentPage")]


AccommodationPage = Annotated[Page[Accommodation], schema_name("AccommodationPage")]


AttemptPage = Annotated[Page[AttemptRow], schema_name("AttemptPage")]


RescoringPage = Annotated[Page[Rescoring], schema_name("RescoringPage")]


CalibrationPage = Annotated[Page[CalibrationSummary], schema_name("CalibrationPage")]


_RESCORINGS = "rescorings"
_CALIBRATIONS = "calibrations"


AttemptUnit = Annotated[
    str | None,
    QueryParameter(
        max_length=64, pattern=CODE_PATTERN, description="Only candidates in this org unit's subtree"
    ),
]
SubmittedFrom = Annotated[
    datetime | None, QueryParameter(name="from", description="Only attempts submitted at or after this time")
]
SubmittedTo = Annotated[
    datetime | None, QueryParameter(name="to", description="Only attempts submitted before this time")
]


def _job(request: Request, job: Rescoring) -> Response[Rescoring]:
    """202 with the job; it runs after the response, once the transaction that created it has committed."""
    rt = runtime(request)
    return Response(
        job, status_code=202, background=BackgroundTask(rt.jobs.launch, request.user.tenant_id, job.id)
    )


def _require(if_match: str | None) -> str:
    return require_if_match(if_match, msg("assessment"))


async def _statistics(conn: Conn, code: str) -> ItemStatistics:
    """The latest run's statistics (404 while none is finished)."""
    run = await item_stats.get_run(conn, code)
    if run.result is None:
        raise NotFound(msg("no item statistics for '{code}' yet", code=code))
    return run.result


class AssessmentController(Controller):
    path = "/v1/assessments"
    tags = ["assessments"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/",
        operation_id="listAssessments",
        guards=[read],
        responses=errors(),
        summary="This tenant's assessments",
    )
    async def list_assessments(
        self,
        conn: Conn,
        status: Annotated[AssessmentStatus | None, QueryParameter()] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> AssessmentPage:
        found = await assessments.list_assessments(
            conn, status=status, after=decode_cursor("assessments", cursor), limit=limit
        )
        return Page(found, next_cursor("assessments", [a.code for a in found], limit))

    @post(
        "/",
        operation_id="createAssessment",
        guards=[write],
        responses=errors(409),
        summary="Create a draft assessment (checked in full on publish)",
    )
    async def create(self, conn: Conn, data: JSONBody[AssessmentContent]) -> Response[Assessment]:
        return versioned(await assessments.create_assessment(conn, data), 201)

    @get(
        "/{code:str}",
        operation_id="getAssessment",
        guards=[read],
        responses=errors(404),
        summary="An assessment; its ETag guards the next write",
    )
    async def get_assessment(self, conn: Conn, code: AssessmentCode) -> Response[Assessment]:
        return versioned(await assessments.get_assessment(conn, code))

    @put(
        "/{code:str}",
        operation_id="replaceAssessmentDraft",
        guards=[write],
        responses=errors(404, 409, 412, 422, 428),
        summary="Replace a draft (If-Match required)",
    )
    async def replace(
        self, conn: Conn, code: AssessmentCode, data: JSONBody[AssessmentContent], if_match: IfMatch = None
    ) -> Response[Assessment]:
        return versioned(await assessments.replace_draft(conn, code, data, _require(if_match)))

    @delete(
        "/{code:str}",
        operation_id="deleteAssessmentDraft",
        guards=[write],
        responses=errors(404, 409),
        summary="Delete a draft",
    )
    async def delete_draft(self, conn: Conn, code: AssessmentCode) -> None:
        await assessments.delete_draft(conn, code)

    @post(
        "/{code:str}/check",
        operation_id="checkAssessment",
        guards=[read],
        status_code=200,
        responses=errors(404),
        summary="Every problem that would keep this draft from being published "
        "(POST, like a framework version's validate; in the language "
        "Accept-Language asks for)",
    )
    async def check(
        self, conn: Conn, code: AssessmentCode, accept_language: AcceptLanguage = None
    ) -> Response[PublishReport]:
        return report_in_language(
            await assessments.check(conn, code, calibrations=calibrations.covers), negotiate(accept_language)
        )

    @get(
        "/{code:str}/check",
        operation_id="checkAssessmentWithGet",
        guards=[read],
        responses=errors(404),
        deprecated=True,
        summary="The same check by GET, kept for clients written before it became POST",
    )
    async def check_with_get(self, conn: Conn, code: AssessmentCode) -> PublishReport:
        return await assessments.check(conn, code, calibrations=calibrations.covers)

    @post(
        "/{code:str}/publish",
        operation_id="publishAssessment",
        guards=[write],
        status_code=200,
        responses=errors(404, 409, 412, 422, 428),
        summary="Publish: pins the framework version and every item version; the assessment no longer changes",
    )
    async def publish(
        self, conn: Conn, code: AssessmentCode, if_match: IfMatch = None
    ) -> Response[Assessment]:
        return versioned(
            await assessments.publish(conn, code, _require(if_match), calibrations=calibrations.covers)
        )

    @post(
        "/{code:str}/close",
        operation_id="closeAssessment",
        guards=[write],
        status_code=200,
        responses=errors(404, 409),
        summary="Close: no new attempts; running attempts run to their deadlines",
    )
    async def close(self, conn: Conn, code: AssessmentCode) -> Response[Assessment]:
        return versioned(await assessments.close(conn, code))

    @get(
        "/{code:str}/preview",
        operation_id="previewAssessmentForm",
        guards=[read],
        responses=errors(404, 422),
        summary="A form as one candidate would get it (`seed` replays a draw); a draft's is drawn from its items' "
        "current versions and marked `draft: true`",
    )
    async def preview(
        self,
        conn: Conn,
        code: AssessmentCode,
        # schema_extra: Litestar leaves a bound of 0 out of the document
        seed: Annotated[int | None, QueryParameter(ge=0, le=2**62, schema_extra={"minimum": 0})] = None,
    ) -> monitor.FormPreview:
        return await monitor.preview_form(conn, code, random.getrandbits(62) if seed is None else seed)

    @get(
        "/{code:str}/accommodations",
        operation_id="listAccommodations",
        guards=[read],
        responses=errors(404),
        summary="Extra-time factors granted for this assessment",
    )
    async def list_accommodations(
        self, conn: Conn, code: AssessmentCode, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> AccommodationPage:
        found = await assessments.list_accommodations(
            conn, code, after=decode_cursor("accommodations", cursor), limit=limit
        )
        return Page(found, next_cursor("accommodations", [a.external_id for a in found], limit))

    @put(
        "/{code:str}/accommodations/{external_id:str}",
        operation_id="setAccommodation",
        guards=[admin],
        responses=errors(404),
        summary="Grant extra time; a running attempt's deadline moves at once",
    )
    async def set_accommodation(
        self, conn: Conn, code: AssessmentCode, external_id: ExternalIdPath, data: JSONBody[AccommodationSet]
    ) -> Accommodation:
        return await attempts.set_accommodation(conn, code, external_id, data)

    @get(
        "/{code:str}/attempts/{attempt_id:uuid}/scores",
        operation_id="listAttemptScores",
        guards=[results],
        responses=errors(404),
        summary="An attempt's score documents, newest first: the current one and its history",
    )
    async def attempt_scores(
        self,
        conn: Conn,
        code: AssessmentCode,
        attempt_id: Annotated[UUID, PathParameter(description="Attempt id")],
    ) -> list[StoredScore]:
        await monitor.attempt_of(conn, code, attempt_id)
        return await scores.score_history(conn, attempt_id)

    @get(
        "/{code:str}/people/{external_id:str}/report",
        operation_id="getPersonReport",
        guards=[results],
        responses=errors(404),
        summary="A person's profile on their latest scored submission (dimensions, levels, what the next "
        "level asks for) whatever the candidate's own feedback policy, in the language Accept-Language asks "
        "for; `report` is null when the person has no scored submission",
    )
    async def person_report(
        self,
        conn: Conn,
        code: AssessmentCode,
        external_id: ExternalIdPath,
        accept_language: AcceptLanguage = None,
    ) -> PersonReport:
        return await scores.person_report(conn, code, external_id, negotiate(accept_language))

    @post(
        "/{code:str}/rescorings",
        operation_id="startRescoring",
        guards=[write],
        status_code=202,
        responses=errors(404, 409, 422),
        summary="Start a rescoring with corrected item versions or another framework version: first a "
        "preview (poll it), nothing changes until it is committed",
    )
    async def start_rescoring(
        self, request: Request, conn: Conn, code: AssessmentCode, data: JSONBody[RescoringRequest]
    ) -> Response[Rescoring]:
        job = await rescoring.create(conn, code, data, request.user.subject)
        return _job(request, job)

    @get(
        "/{code:str}/rescorings",
        operation_id="listRescorings",
        guards=[results],
        responses=errors(404),
        summary="Rescorings of this assessment, newest first",
    )
    async def list_rescorings(
        self, conn: Conn, code: AssessmentCode, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> RescoringPage:
        await assessments.get_assessment(conn, code)
        items = await rescoring.list_rescorings(
            conn, code, before=decode_dated(_RESCORINGS, cursor), limit=limit
        )
        return Page(items, next_dated(_RESCORINGS, items, limit))

    @get(
        "/{code:str}/rescorings/{rescoring_id:uuid}",
        operation_id="getRescoring",
        guards=[results],
        responses=errors(404),
        summary="A rescoring: status, progress (processed of total), preview summary",
    )
    async def get_rescoring(self, conn: Conn, code: AssessmentCode, rescoring_id: RescoringId) -> Rescoring:
        return await rescoring.get_rescoring(conn, code, rescoring_id)

    @post(
        "/{code:str}/rescorings/{rescoring_id:uuid}/commit",
        operation_id="commitRescoring",
        guards=[write],
        status_code=202,
        responses=errors(404, 409),
        summary="Commit a previewed rescoring: its versions come into force and every changed score gets a new "
        "current document (history kept); poll for progress",
    )
    async def commit_rescoring(
        self, request: Request, conn: Conn, code: AssessmentCode, rescoring_id: RescoringId
    ) -> Response[Rescoring]:
        job = await rescoring.commit(conn, code, rescoring_id, request.user.subject)
        return _job(request, job)

    @post(
        "/{code:str}/item-statistics",
        operation_id="computeItemStatistics",
        guards=[write],
        status_code=202,
        responses=errors(404),
        summary="Compute item statistics over every final score (a job: poll it)",
    )
    async def compute_item_statistics(
        self, request: Request, conn: Conn, code: AssessmentCode
    ) -> Response[StatisticsRun]:
        job = await item_stats.start(conn, code, request.user.subject)
        rt = runtime(request)
        return Response(
            job,
            status_code=202,
            background=BackgroundTask(rt.jobs.launch, request.user.tenant_id, job.id),
        )

    @get(
        "/{code:str}/item-statistics",
        operation_id="getItemStatistics",
        guards=[results],
        responses=errors(404),
        summary="The latest item statistics: facility, corrected point-biserial, omission, option shares, "
        "alpha per dimension and form (30 or more attempts) with alpha if item deleted; "
        "negative discrimination flagged",
    )
    async def get_item_statistics(
        self, conn: Conn, code: AssessmentCode, accept_language: AcceptLanguage = None
    ) -> Response[StatisticsRun]:
        locale = negotiate(accept_language)
        return in_language(item_stats.localized(await item_stats.get_run(conn, code), locale), locale)

    @get(
        "/{code:str}/item-statistics.csv",
        operation_id="getItemStatisticsCsv",
        guards=[results],
        media_type=CSV,
        responses=errors(404),
        summary="The latest item statistics as CSV, one row per item: its figures, then per DIF comparison "
        "the MH class, MH D-DIF and the likelihood-ratio result or why it was not tested (texts in the "
        "Accept-Language; with a byte order mark for Excel unless bom=false)",
    )
    async def get_item_statistics_csv(
        self, conn: Conn, code: AssessmentCode, bom: Bom = True, accept_language: AcceptLanguage = None
    ) -> Response[bytes]:
        locale = negotiate(accept_language)
        table = item_table.item_statistics_table(await _statistics(conn, code), locale)
        response = csv_response(export.to_csv(table, bom), f"{code}-item-statistics")
        response.headers.update(language_headers(locale))
        return response

    @get(
        "/{code:str}/item-statistics.xlsx",
        operation_id="getItemStatisticsXlsx",
        guards=[results],
        media_type=XLSX,
        responses=errors(404),
        summary="The latest item statistics as an Excel workbook (the CSV's columns, named in the Accept-Language)",
    )
    async def get_item_statistics_xlsx(
        self, conn: Conn, code: AssessmentCode, accept_language: AcceptLanguage = None
    ) -> Stream:
        locale = negotiate(accept_language)
        table = item_table.item_statistics_table(await _statistics(conn, code), locale)
        return xlsx_response(
            export.to_xlsx(table, "item-statistics", Labeller(locale, {}, {})),
            f"{code}-item-statistics",
            locale,
        )

    @post(
        "/{code:str}/calibrations",
        operation_id="startCalibration",
        guards=[admin],
        status_code=202,
        responses=errors(404),
        summary="Start an IRT calibration over every final score: per top-level dimension, 2PL for items "
        "with two credit levels, the graded response model for more (a job: poll it)",
    )
    async def start_calibration(
        self, request: Request, conn: Conn, code: AssessmentCode
    ) -> Response[Calibration]:
        job = await calibrations.start(conn, code, request.user.subject)
        rt = runtime(request)
        return Response(
            job,
            status_code=202,
            background=BackgroundTask(rt.jobs.launch, request.user.tenant_id, job.id),
        )

    @post(
        "/{code:str}/calibrations/adopt",
        operation_id="adoptCalibration",
        guards=[admin],
        status_code=201,
        responses=errors(404, 422),
        summary="Adopt another assessment's published calibration as a draft of this one (publish it after "
        "review): both assessments' abilities are then on one θ scale, and a training effect between them "
        "reports gains on θ",
    )
    async def adopt_calibration(
        self, request: Request, conn: Conn, code: AssessmentCode, data: JSONBody[CalibrationAdoption]
    ) -> Calibration:
        return await calibrations.adopt(conn, code, data, request.user.subject)

    @get(
        "/{code:str}/calibrations",
        operation_id="listCalibrations",
        guards=[results],
        responses=errors(404),
        summary="Calibrations of this assessment, newest first (without their results)",
    )
    async def list_calibrations(
        self, conn: Conn, code: AssessmentCode, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> CalibrationPage:
        items = await calibrations.list_calibrations(
            conn, code, before=decode_dated(_CALIBRATIONS, cursor), limit=limit
        )
        return Page(items, next_dated(_CALIBRATIONS, items, limit))

    @get(
        "/{code:str}/calibrations/{calibration_id:uuid}",
        operation_id="getCalibration",
        guards=[results],
        responses=errors(404),
        summary="A calibration: status, progress (processed of total); when done, per item the parameters "
        "with standard errors, infit/outfit and flags, per dimension the marginal reliability, the test "
        "information curve and the reported scale",
    )
    async def get_calibration(
        self, conn: Conn, code: AssessmentCode, calibration_id: CalibrationId
    ) -> Calibration:
        return await calibrations.get_calibration(conn, code, calibration_id)

    @post(
        "/{code:str}/calibrations/{calibration_id:uuid}/publish",
        operation_id="publishCalibration",
        guards=[admin],
        status_code=200,
        responses=errors(404, 409),
        summary="Publish a finished draft calibration after review: from then on it cannot change",
    )
    async def publish_calibration(
        self, request: Request, conn: Conn, code: AssessmentCode, calibration_id: CalibrationId
    ) -> Calibration:
        return await calibrations.publish(conn, code, calibration_id, request.user.subject)

    @get(
        "/{code:str}/rater-agreement",
        operation_id="getRaterAgreement",
        guards=[results],
        responses=errors(404),
        summary="Agreement of double-marked ratings: exact, adjacent, quadratic weighted kappa, per rater and item",
    )
    async def rater_agreement(self, conn: Conn, code: AssessmentCode) -> AgreementReport:
        return await ratings.agreement_report(conn, code)

    @get(
        "/{code:str}/attempts",
        operation_id="listAssessmentAttempts",
        guards=[results],
        responses=errors(404),
        summary="Attempts of this assessment: who, status, progress",
    )
    async def list_attempts(
        self,
        conn: Conn,
        code: AssessmentCode,
        status: Annotated[str | None, QueryParameter(pattern="^(in_progress|submitted)$")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        unit: AttemptUnit = None,
        submitted_from: SubmittedFrom = None,
        submitted_to: SubmittedTo = None,
    ) -> AttemptPage:
        found = await monitor.list_attempts(
            conn,
            code,
            status=status,
            after=decode_cursor("attempts", cursor),
            limit=limit,
            unit=unit,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
        )
        return Page(found, next_cursor("attempts", [str(a.id) for a in found], limit))
