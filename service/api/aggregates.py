"""Aggregates for analysts: a subtree, its drill-down, a trend, a training effect, CSV and XLSX of each;
rebuild and check jobs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from service.aggregates import export, rebuild, views
from service.aggregates.rebuild import AggregateJob
from service.aggregates.views import AggregateView, DrillDown, TrainingEffect, Trend
from service.api.assessments import AssessmentCode
from service.api.auth import requires, requires_roles
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import (
    CSV,
    XLSX,
    AcceptLanguage,
    Bom,
    Format,
    JsonOrXlsxOperation,
    csv_response,
    wants_xlsx,
    xlsx_response,
)
from service.api.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_dated,
    next_dated,
    schema_name,
)
from service.api.responses import errors
from service.api.runtime import runtime
from service.auth.principal import AGGREGATES_READ, ANALYST, TENANT_ADMIN
from service.results import feed
from service.results.labels import Labeller, language
from service.tenancy.fields import CODE_PATTERN, Category

# Analysts, tenant admins, and HR systems granted aggregates:read (rebuilds stay the admin's).
analysts = requires(TENANT_ADMIN, ANALYST, client_scope=AGGREGATES_READ)

Unit = Annotated[
    str | None,
    QueryParameter(
        max_length=64,
        pattern=CODE_PATTERN,
        description="Org unit code: its whole subtree (default: the whole tenant)",
    ),
]
CategoryFilter = Annotated[Category | None, QueryParameter(description="Only people of this category")]
Since = Annotated[date | None, QueryParameter(name="from", description="First day (snapped to its ISO week)")]
Until = Annotated[date | None, QueryParameter(name="to", description="Last day (snapped to its ISO week)")]
JobId = Annotated[UUID, PathParameter(description="Aggregate job id")]
CSV_OK = {200: None}
_JOBS = "aggregate-jobs"


AggregateJobPage = Annotated[Page[AggregateJob], schema_name("AggregateJobPage")]


async def _xlsx(conn: Conn, code: str, table: export.Table, name: str, accept_language: str | None) -> Stream:
    lang = language(accept_language)
    dimensions, levels = await feed.framework_names(conn, code)
    return xlsx_response(
        export.to_xlsx(table, name, Labeller(lang, dimensions, levels)), f"{code}-{name}", lang
    )


class AggregateController(Controller):
    path = "/v1/assessments"
    tags = ["aggregates"]
    guards = [analysts]
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get(
        "/{code:str}/aggregates",
        operation_id="getAggregate",
        responses=errors(404, 422),
        operation_class=JsonOrXlsxOperation,
        summary="Figures for a unit's whole subtree: n, mean, sd, percentiles and level distribution per "
        "dimension and overall; groups under the privacy threshold are withheld",
    )
    async def aggregate(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        format: Format = "json",
        accept_language: AcceptLanguage = None,
    ) -> Response[AggregateView]:
        view = await views.subtree(conn, code, unit=unit, category=category, since=since, until=until)
        if wants_xlsx(request, format):
            return await _xlsx(conn, code, export.view_table(view), "aggregate", accept_language)  # type: ignore[return-value]  # XLSX; OpenAPI shows the JSON
        return Response(view)

    @get(
        "/{code:str}/aggregates.csv",
        operation_id="getAggregateCsv",
        media_type=CSV,
        responses=errors(404, 422),
        summary="The subtree figures as CSV (one row per measure)",
    )
    async def aggregate_csv(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        bom: Bom = False,
    ) -> Response[bytes]:
        view = await views.subtree(conn, code, unit=unit, category=category, since=since, until=until)
        return csv_response(export.to_csv(export.view_table(view), bom), f"{code}-aggregate")

    @get(
        "/{code:str}/aggregates.xlsx",
        operation_id="getAggregateXlsx",
        media_type=XLSX,
        responses=errors(404, 422),
        summary="The subtree figures as an Excel workbook, names in the Accept-Language beside the codes",
    )
    async def aggregate_xlsx(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        accept_language: AcceptLanguage = None,
    ) -> Stream:
        view = await views.subtree(conn, code, unit=unit, category=category, since=since, until=until)
        return await _xlsx(conn, code, export.view_table(view), "aggregate", accept_language)

    @get(
        "/{code:str}/aggregates/children",
        operation_id="getAggregateDrillDown",
        responses=errors(404, 422),
        operation_class=JsonOrXlsxOperation,
        summary="Drill-down: the unit's figures and, in one response, those of each child unit and of the "
        "people placed in the unit itself",
    )
    async def drill_down(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        format: Format = "json",
        accept_language: AcceptLanguage = None,
    ) -> Response[DrillDown]:
        view = await views.drill_down(conn, code, unit=unit, category=category, since=since, until=until)
        if wants_xlsx(request, format):
            return await _xlsx(conn, code, export.drill_down_table(view), "drill-down", accept_language)  # type: ignore[return-value]  # XLSX; OpenAPI shows the JSON
        return Response(view)

    @get(
        "/{code:str}/aggregates/children.csv",
        operation_id="getAggregateDrillDownCsv",
        media_type=CSV,
        responses=errors(404, 422),
        summary="The drill-down as CSV",
    )
    async def drill_down_csv(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        bom: Bom = False,
    ) -> Response[bytes]:
        view = await views.drill_down(conn, code, unit=unit, category=category, since=since, until=until)
        return csv_response(export.to_csv(export.drill_down_table(view), bom), f"{code}-drill-down")

    @get(
        "/{code:str}/aggregates/children.xlsx",
        operation_id="getAggregateDrillDownXlsx",
        media_type=XLSX,
        responses=errors(404, 422),
        summary="The drill-down as an Excel workbook",
    )
    async def drill_down_xlsx(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        accept_language: AcceptLanguage = None,
    ) -> Stream:
        view = await views.drill_down(conn, code, unit=unit, category=category, since=since, until=until)
        return await _xlsx(conn, code, export.drill_down_table(view), "drill-down", accept_language)

    @get(
        "/{code:str}/aggregates/trend",
        operation_id="getAggregateTrend",
        responses=errors(404, 422),
        operation_class=JsonOrXlsxOperation,
        summary="Figures per month or ISO week (a month is the weeks whose Thursday falls in it)",
    )
    async def trend(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        interval: Annotated[Literal["month", "week"], QueryParameter()] = "month",
        since: Since = None,
        until: Until = None,
        format: Format = "json",
        accept_language: AcceptLanguage = None,
    ) -> Response[Trend]:
        view = await views.trend(conn, code, unit=unit, interval=interval, since=since, until=until)
        if wants_xlsx(request, format):
            return await _xlsx(conn, code, export.trend_table(view), "trend", accept_language)  # type: ignore[return-value]  # XLSX; OpenAPI shows the JSON
        return Response(view)

    @get(
        "/{code:str}/aggregates/trend.csv",
        operation_id="getAggregateTrendCsv",
        media_type=CSV,
        responses=errors(404, 422),
        summary="The trend as CSV",
    )
    async def trend_csv(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        interval: Annotated[Literal["month", "week"], QueryParameter()] = "month",
        since: Since = None,
        until: Until = None,
        bom: Bom = False,
    ) -> Response[bytes]:
        view = await views.trend(conn, code, unit=unit, interval=interval, since=since, until=until)
        return csv_response(export.to_csv(export.trend_table(view), bom), f"{code}-trend")

    @get(
        "/{code:str}/aggregates/trend.xlsx",
        operation_id="getAggregateTrendXlsx",
        media_type=XLSX,
        responses=errors(404, 422),
        summary="The trend as an Excel workbook",
    )
    async def trend_xlsx(
        self,
        conn: Conn,
        code: AssessmentCode,
        unit: Unit = None,
        interval: Annotated[Literal["month", "week"], QueryParameter()] = "month",
        since: Since = None,
        until: Until = None,
        accept_language: AcceptLanguage = None,
    ) -> Stream:
        view = await views.trend(conn, code, unit=unit, interval=interval, since=since, until=until)
        return await _xlsx(conn, code, export.trend_table(view), "trend", accept_language)

    @get(
        "/{code:str}/training-effect",
        operation_id="getTrainingEffect",
        responses=errors(404, 422),
        operation_class=JsonOrXlsxOperation,
        summary="Before (this assessment) and after (`after`): mean gain per dimension for the people who took "
        "both, with its 95% confidence interval and standardised effect sizes",
    )
    async def training_effect(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        after: Annotated[
            str,
            QueryParameter(
                max_length=64, pattern=CODE_PATTERN, description="The assessment taken after training"
            ),
        ],
        unit: Unit = None,
        category: CategoryFilter = None,
        format: Format = "json",
        accept_language: AcceptLanguage = None,
    ) -> Response[TrainingEffect]:
        view = await views.training_effect(conn, code, after, unit=unit, category=category)
        if wants_xlsx(request, format):
            return await _xlsx(conn, code, export.effect_table(view), "training-effect", accept_language)  # type: ignore[return-value]  # XLSX; OpenAPI shows the JSON
        return Response(view)

    @get(
        "/{code:str}/training-effect.csv",
        operation_id="getTrainingEffectCsv",
        media_type=CSV,
        responses=errors(404, 422),
        summary="The training effect as CSV",
    )
    async def training_effect_csv(
        self,
        conn: Conn,
        code: AssessmentCode,
        after: Annotated[str, QueryParameter(max_length=64, pattern=CODE_PATTERN)],
        unit: Unit = None,
        category: CategoryFilter = None,
        bom: Bom = False,
    ) -> Response[bytes]:
        view = await views.training_effect(conn, code, after, unit=unit, category=category)
        return csv_response(export.to_csv(export.effect_table(view), bom), f"{code}-training-effect")

    @get(
        "/{code:str}/training-effect.xlsx",
        operation_id="getTrainingEffectXlsx",
        media_type=XLSX,
        responses=errors(404, 422),
        summary="The training effect as an Excel workbook",
    )
    async def training_effect_xlsx(
        self,
        conn: Conn,
        code: AssessmentCode,
        after: Annotated[str, QueryParameter(max_length=64, pattern=CODE_PATTERN)],
        unit: Unit = None,
        category: CategoryFilter = None,
        accept_language: AcceptLanguage = None,
    ) -> Stream:
        view = await views.training_effect(conn, code, after, unit=unit, category=category)
        return await _xlsx(conn, code, export.effect_table(view), "training-effect", accept_language)

    @post(
        "/{code:str}/aggregate-jobs",
        operation_id="startAggregateJob",
        status_code=202,
        guards=[requires_roles(TENANT_ADMIN)],
        responses=errors(404, 409, 422),
        summary="Rebuild the assessment's rollups from its final scores, or check them against a fresh "
        "computation (a job: poll it)",
    )
    async def start_job(
        self,
        request: Request,
        conn: Conn,
        code: AssessmentCode,
        kind: Annotated[Literal["rebuild", "check"], QueryParameter()] = "check",
    ) -> Response[AggregateJob]:
        job = await rebuild.create_job(conn, code, kind, request.user.subject)
        return Response(
            job,
            status_code=202,
            background=BackgroundTask(runtime(request).jobs.launch, request.user.tenant_id, job.id),
        )

    @get(
        "/{code:str}/aggregate-jobs",
        operation_id="listAggregateJobs",
        responses=errors(404),
        summary="Rebuilds and checks of this assessment, newest first",
    )
    async def list_jobs(
        self, conn: Conn, code: AssessmentCode, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> AggregateJobPage:
        jobs = await rebuild.list_jobs(conn, code, before=decode_dated(_JOBS, cursor), limit=limit)
        return Page(jobs, next_dated(_JOBS, jobs, limit))

    @get(
        "/{code:str}/aggregate-jobs/{job_id:uuid}",
        operation_id="getAggregateJob",
        responses=errors(404),
        summary="A rebuild or check: its phase and, when done, what it found",
    )
    async def get_job(self, conn: Conn, code: AssessmentCode, job_id: JobId) -> AggregateJob:
        return await rebuild.get_job(conn, code, job_id)
