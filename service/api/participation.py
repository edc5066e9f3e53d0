"""Running a sitting: participation per org unit (admins, authors, analysts; never raters, whose
marking is blind) and who has not started yet (tenant admins only: names and external ids)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Stream

from service.api.assessments import AssessmentCode, admin, results
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import CSV, XLSX, AcceptLanguage, Bom, csv_response, xlsx_response
from service.api.responses import errors
from service.delivery import participation
from service.delivery.participation import NotStarted, Participation
from service.results.labels import language
from service.tenancy.fields import CODE_PATTERN

Unit = Annotated[
    str | None,
    QueryParameter(
        max_length=64,
        pattern=CODE_PATTERN,
        description="Org unit code: its child units as rows (default: the tenant's top-level units)",
    ),
]


class NotStartedList(msgspec.Struct):
    items: list[NotStarted]


class ParticipationController(Controller):
    path = "/v1/assessments"
    tags = ["assessments"]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/{code:str}/participation",
        operation_id="getParticipation",
        guards=[results],
        responses=errors(404, 422),
        summary="Participation per child unit of `unit`: how many people the audience reaches, how many have "
        "started, are in progress, submitted, and not started",
    )
    async def get_participation(self, conn: Conn, code: AssessmentCode, unit: Unit = None) -> Participation:
        return await participation.participation(conn, code, unit)

    @get(
        "/{code:str}/participation/not-started",
        operation_id="listNotStarted",
        guards=[admin],
        responses=errors(404, 422),
        summary="Who the audience reaches in `unit`'s subtree and has not started (names and external ids)",
    )
    async def list_not_started(self, conn: Conn, code: AssessmentCode, unit: Unit = None) -> NotStartedList:
        return NotStartedList(await participation.not_started(conn, code, unit))

    @get(
        "/{code:str}/participation/not-started.csv",
        operation_id="getNotStartedCsv",
        guards=[admin],
        media_type=CSV,
        responses=errors(404, 422),
        summary="Who has not started, as CSV",
    )
    async def not_started_csv(
        self, conn: Conn, code: AssessmentCode, unit: Unit = None, bom: Bom = False
    ) -> Response[bytes]:
        people = await participation.not_started(conn, code, unit)
        return csv_response(participation.not_started_csv(people, bom), f"{code}-not-started")

    @get(
        "/{code:str}/participation/not-started.xlsx",
        operation_id="getNotStartedXlsx",
        guards=[admin],
        media_type=XLSX,
        responses=errors(404, 422),
        summary="Who has not started, as XLSX (column names in the Accept-Language's language)",
    )
    async def not_started_xlsx(
        self, conn: Conn, code: AssessmentCode, unit: Unit = None, accept_language: AcceptLanguage = None
    ) -> Stream:
        people = await participation.not_started(conn, code, unit)
        lang = language(accept_language)
        return xlsx_response(participation.not_started_xlsx(people, lang), f"{code}-not-started", lang)
