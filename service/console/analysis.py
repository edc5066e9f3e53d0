"""Reading the results in the console: drill-down, trend, training effect, item statistics, printable reports.

Every screen calls the domain function its REST route calls, behind the same guard: the drill-down
is `views.drill_down` (GET /v1/assessments/{code}/aggregates/children), the trend `views.trend`,
the training effect `views.training_effect`, all behind the API's `analysts` guard (tenant admins
and analysts); item statistics are `item_stats.get_run` behind the `results` guard, as
GET /v1/assessments/{code}/item-statistics. What is withheld is therefore decided by the same
`privacy` rules as the API's answer, and a withheld cell shows as withheld, never as zero.

Charts are drawn in the browser by the vendored Apache ECharts (static/console/analysis.js, SVG
renderer, `aria` on) from the numbers the page carries in a `<script type="application/json">`
block (no inline script: CSP); the same numbers are in a table one click away. A table downloads
as CSV (with a byte order mark, for Excel) or XLSX through `export`, as the API's `.csv`/`.xlsx`
routes do; a chart downloads as SVG or PNG in the browser.

The printable unit report is the drill-down of one unit with its charts and level shares, and the
printable individual report is `scores.person_report` (the profile of a person's latest submitted
attempt, whatever the candidate's own feedback policy, for those who may read results); both have a
print style sheet for a clean A4 page. PDF is the browser's "print to PDF": no server-side renderer.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream, Template

from service.aggregates import export, item_table, views
from service.aggregates.stats import Summary
from service.aggregates.views import Cell, DrillDown
from service.api.aggregates import analysts
from service.api.assessments import results
from service.api.deps import Conn, provide_tenant_conn
from service.api.downloads import csv_response, xlsx_response
from service.assessments import assessments
from service.console.views import page
from service.console.web import session_of
from service.errors import DomainError, NotFound, Unprocessable
from service.i18n import msg, render
from service.results import feed, item_stats, scores
from service.results.labels import Labeller
from service.scoring.item_dif import DifFlag, LrDifFlag
from service.tenancy import org_units
from service.tenancy.fields import CODE_PATTERN, Category

Code = Annotated[str, PathParameter(max_length=64, pattern=CODE_PATTERN)]
Unit = Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
CategoryFilter = Annotated[Category | None, QueryParameter()]
Since = Annotated[date | None, QueryParameter(name="from")]
Until = Annotated[date | None, QueryParameter(name="to")]
After = Annotated[str | None, QueryParameter(max_length=64, pattern=CODE_PATTERN)]
TableFormat = Annotated[Literal["csv", "xlsx"], QueryParameter()]
CATEGORIES = get_args(Category)
FILTER_FIELDS = ("category", "from", "to", "after", "unit")


def _query(**params: Any) -> str:
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"?{urlencode(kept)}" if kept else ""


def _base(code: str) -> str:
    return f"/console/assessments/{code}/analysis"


def _field_errors(exc: DomainError, locale: str) -> dict[str, list[str]]:
    """A domain error's messages by the filter they concern (its query parameter), the rest under ""."""
    found: dict[str, list[str]] = {}
    for problem in exc.errors:
        name = problem.parameter if problem.parameter in FILTER_FIELDS else ""
        found.setdefault(name or "", []).append(render(problem.detail, locale))
    if not found:
        found[""] = [render(exc.message, locale)]
    return found


async def _labeller(conn: asyncpg.Connection, code: str, locale: str) -> Labeller:
    dimensions, levels = await feed.framework_names(conn, code)
    return Labeller(locale, dimensions, levels)


def _measures(cells: list[Cell]) -> list[str]:
    """The measures any cell shows or withholds: overall first, then the dimensions in order."""
    found: list[str] = []
    for cell in cells:
        for name in [*(s.measure for s in cell.measures), *cell.withheld_measures]:
            if name not in found:
                found.append(name)
    return sorted(found, key=lambda m: (m != "overall", found.index(m)))


def _levels(cells: list[Cell]) -> list[str]:
    found: list[str] = []
    for cell in cells:
        for summary in cell.measures:
            found += [lv.level for lv in summary.levels if lv.level not in found]
    return found


def _summary(cell: Cell, measure: str) -> Summary | None:
    return next((s for s in cell.measures if s.measure == measure), None)


class Figure(msgspec.Struct):
    """One measure of one cell as the page shows it: withheld, empty, or its mean and level shares."""

    measure: str
    withheld: bool = False
    mean: str | None = None  # formatted; None: nobody in the cell has this measure
    shares: list[tuple[str, str]] = msgspec.field(default_factory=list)  # (level name, "12%")


def figures(cell: Cell, measures: list[str], labels: Labeller) -> list[Figure]:
    """A row of the figures table, formatted here once rather than by template macros per cell."""
    out = []
    by_measure = {s.measure: s for s in cell.measures}
    for measure in measures:
        if cell.suppressed or measure in cell.withheld_measures:
            out.append(Figure(measure, withheld=True))
        elif (summary := by_measure.get(measure)) is None:
            out.append(Figure(measure))
        else:
            shares = [
                (labels.levels.get(lv.level, lv.level), f"{lv.share * 100:.0f}%") for lv in summary.levels
            ]
            out.append(Figure(measure, mean=f"{summary.mean:.1f}", shares=shares))
    return out


def drill_charts(view: DrillDown, labels: Labeller, base: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per measure: the mean of each child unit (null when withheld), a click going down."""
    children = [c for c in view.children if c.scope == "subtree"]
    charts = []
    for measure in _measures([view.parent, *view.children]):
        points = []
        for child in children:
            summary = None if child.suppressed else _summary(child, measure)
            points.append(
                {
                    "name": child.name or child.unit,
                    "value": summary.mean if summary else None,
                    "text": f"{summary.mean:.1f}" if summary else "—",
                    "n": summary.n if summary else None,
                    "withheld": child.suppressed or measure in child.withheld_measures,
                    "href": base + _query(**{**query, "unit": child.unit}),
                }
            )
        charts.append(
            {
                "kind": "bars",
                "id": f"chart-{measure}",
                "measure": measure,
                "title": labels.measure(measure),
                "axis": render(msg("Mean score"), labels.lang),
                "withheld": render(msg("withheld"), labels.lang),
                "points": points,
            }
        )
    return charts


class AnalysisScreens(Controller):
    """An assessment's results for analysts (linked from the assessment list of `assessments.AssessmentScreens`)."""

    path = "/console/assessments"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    async def _drill(
        self,
        request: Request,
        conn: Conn,
        code: str,
        unit: str | None,
        category: str | None,
        since: date | None,
        until: date | None,
        name: str,
    ) -> Template:
        locale = session_of(request).locale
        labels = await _labeller(conn, code, locale)
        errors: dict[str, list[str]] = {}
        view: DrillDown | None = None
        try:
            view = await views.drill_down(conn, code, unit=unit, category=category, since=since, until=until)
        except Unprocessable as exc:
            errors = _field_errors(exc, locale)
        base = _base(code)
        query = {"category": category, "from": since, "to": until}
        measures = _measures([view.parent, *view.children]) if view else []
        context: dict[str, Any] = {
            "code": code,
            "tab": "drill",
            "view": view,
            "labels": labels,
            "measures": measures,
            "rows": [(cell, figures(cell, measures, labels)) for cell in view.children] if view else [],
            "total": figures(view.parent, measures, labels) if view else [],
            "levels": _levels([view.parent, *view.children]) if view else [],
            "charts": drill_charts(view, labels, base, query) if view else [],
            "hrefs": {c.unit: base + _query(**query, unit=c.unit) for c in (view.children if view else [])},
            "report": name == "analysis_report.html",
            "crumbs": await org_units.ancestry(conn, unit) if unit and "unit" not in errors else [],
            "unit": unit,
            "values": {"category": category or "", "from": since or "", "to": until or ""},
            "categories": CATEGORIES,
            "errors": errors,
            "base": base,
            "query": query,
            "here": base + ("/report" if name == "analysis_report.html" else "") + _query(unit=unit, **query),
            "table_url": f"{base}/table" + _query(view="drill", unit=unit, **query),
        }
        return await page(request, conn, name, status_code=422 if errors else 200, **context)

    @get("/{code:str}/analysis", guards=[analysts])
    async def drill_down(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
    ) -> Template:
        return await self._drill(request, conn, code, unit, category, since, until, "analysis_drill.html")

    @get("/{code:str}/analysis/report", guards=[analysts])
    async def unit_report(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
    ) -> Template:
        """The printable unit report: the drill-down of one unit, its charts and level shares."""
        return await self._drill(request, conn, code, unit, category, since, until, "analysis_report.html")

    @get("/{code:str}/analysis/trend", guards=[analysts])
    async def trend(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        unit: Unit = None,
        interval: Annotated[Literal["month", "week"], QueryParameter()] = "month",
        since: Since = None,
        until: Until = None,
    ) -> Template:
        locale = session_of(request).locale
        labels = await _labeller(conn, code, locale)
        errors: dict[str, list[str]] = {}
        found = None
        try:
            found = await views.trend(conn, code, unit=unit, interval=interval, since=since, until=until)
        except Unprocessable as exc:
            errors = _field_errors(exc, locale)
        cells = [p.cell for p in found.points] if found else []
        measures = _measures(cells)
        chart = {
            "kind": "trend",
            "id": "chart-trend",
            "title": render(msg("Mean score by period"), locale),
            "axis": render(msg("Mean score"), locale),
            "withheld": render(msg("withheld"), locale),
            "periods": [p.start.isoformat() for p in found.points] if found else [],
            "n": [None if p.cell.suppressed else p.cell.n for p in found.points] if found else [],
            "series": [
                {
                    "name": labels.measure(m),
                    "values": [
                        None if p.cell.suppressed or (s := _summary(p.cell, m)) is None else s.mean
                        for p in (found.points if found else [])
                    ],
                }
                for m in measures
            ],
        }
        base = _base(code)
        query = {"unit": unit, "interval": interval, "from": since, "to": until}
        return await page(
            request,
            conn,
            "analysis_trend.html",
            status_code=422 if errors else 200,
            code=code,
            tab="trend",
            trend=found,
            labels=labels,
            measures=measures,
            rows=[(p, figures(p.cell, measures, labels)) for p in (found.points if found else [])],
            chart=chart,
            errors=errors,
            values={"unit": unit or "", "interval": interval, "from": since or "", "to": until or ""},
            here=f"{base}/trend" + _query(**query),
            table_url=f"{base}/table" + _query(view="trend", **query),
        )

    @get("/{code:str}/analysis/effect", guards=[analysts])
    async def training_effect(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        after: After = None,
        unit: Unit = None,
        category: CategoryFilter = None,
    ) -> Template:
        locale = session_of(request).locale
        labels = await _labeller(conn, code, locale)
        errors: dict[str, list[str]] = {}
        found = None
        if after:
            try:
                found = await views.training_effect(conn, code, after, unit=unit, category=category)
            except (Unprocessable, NotFound) as exc:
                if not exc.errors:
                    raise
                errors = _field_errors(exc, locale)
        others = [
            a
            for a in await assessments.list_assessments(conn, status=None, after=None, limit=200)
            if a.code != code and a.status != "draft"
        ]
        chart = {
            "kind": "effect",
            "id": "chart-effect",
            "title": render(msg("Mean gain with its 95% interval"), locale),
            "axis": render(msg("Mean gain"), locale),
            "points": [
                {
                    "name": labels.measure(g.measure),
                    "gain": g.mean_gain,
                    "low": g.ci95_low,
                    "high": g.ci95_high,
                }
                for g in (found.gains if found else [])
            ],
        }
        base = _base(code)
        query = {"after": after, "unit": unit, "category": category}
        return await page(
            request,
            conn,
            "analysis_effect.html",
            status_code=422 if errors else 200,
            code=code,
            tab="effect",
            effect=found,
            labels=labels,
            others=others,
            chart=chart,
            categories=CATEGORIES,
            errors=errors,
            values={"after": after or "", "unit": unit or "", "category": category or ""},
            here=f"{base}/effect" + _query(**query),
            table_url=f"{base}/table" + _query(view="effect", **query),
        )

    @get("/{code:str}/analysis/table", guards=[analysts])
    async def table(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        view: Annotated[Literal["drill", "trend", "effect"], QueryParameter()],
        format: TableFormat = "csv",
        unit: Unit = None,
        category: CategoryFilter = None,
        since: Since = None,
        until: Until = None,
        interval: Annotated[Literal["month", "week"], QueryParameter()] = "month",
        after: After = None,
    ) -> Response[bytes] | Stream:
        """A screen's table as CSV (with a BOM) or XLSX: the API's tables of the same views."""
        if view == "drill":
            drill = await views.drill_down(conn, code, unit=unit, category=category, since=since, until=until)
            table, name = export.drill_down_table(drill), "drill-down"
        elif view == "trend":
            trend = await views.trend(conn, code, unit=unit, interval=interval, since=since, until=until)
            table, name = export.trend_table(trend), "trend"
        else:
            if not after:
                raise Unprocessable(msg("which assessment was taken after training?"))
            effect = await views.training_effect(conn, code, after, unit=unit, category=category)
            table, name = export.effect_table(effect), "training-effect"
        return await _download(request, conn, code, table, name, format)

    @get("/{code:str}/analysis/items", guards=[results])
    async def item_statistics(self, request: Request, conn: Conn, code: Code) -> Template:
        locale = session_of(request).locale
        labels = await _labeller(conn, code, locale)
        run = None
        try:
            run = item_stats.localized(await item_stats.get_run(conn, code), locale)
        except NotFound:
            await assessments_exists(conn, code)  # no run yet: the page says so; no assessment: 404
        stats = run.result if run is not None else None
        deleted: dict[str, list[tuple[str, float | None]]] = {}
        for dimension in stats.dimensions if stats else []:
            for entry in dimension.alpha_if_deleted:
                deleted.setdefault(entry.item, []).append((dimension.dimension, entry.alpha))
        dif = stats.dif if stats else None
        mh_flags: dict[str, list[DifFlag]] = {}
        lr_flags: dict[str, list[LrDifFlag]] = {}
        for flag in dif.flagged if dif else []:
            mh_flags.setdefault(flag.item, []).append(flag)
        for lr_flag in dif.lr_flagged if dif else []:
            lr_flags.setdefault(lr_flag.item, []).append(lr_flag)
        chart = {
            "kind": "items",
            "id": "chart-items",
            "title": render(msg("Facility and discrimination per item"), locale),
            "facility": render(msg("Facility"), locale),
            "discrimination": render(msg("Discrimination"), locale),
            "items": [i.item for i in stats.items] if stats else [],
            "values": [[i.facility, i.discrimination, i.flagged] for i in stats.items] if stats else [],
        }
        base = _base(code)
        return await page(
            request,
            conn,
            "analysis_items.html",
            code=code,
            tab="items",
            run=run,
            stats=stats,
            labels=labels,
            deleted=deleted,
            dif=dif,
            mh_flags=mh_flags,
            lr_flags=lr_flags,
            chart=chart,
            here=f"{base}/items",
            table_url=f"{base}/items/table",
        )

    @get("/{code:str}/analysis/items/table", guards=[results])
    async def item_table(
        self, request: Request, conn: Conn, code: Code, format: TableFormat = "csv"
    ) -> Response[bytes] | Stream:
        run = await item_stats.get_run(conn, code)
        if run.result is None:
            raise NotFound(msg("no item statistics for '{code}' yet", code=code))
        table = item_table.item_statistics_table(run.result, session_of(request).locale)
        return await _download(request, conn, code, table, "item-statistics", format)

    @get("/{code:str}/analysis/person", guards=[results])
    async def person_report(
        self,
        request: Request,
        conn: Conn,
        code: Code,
        external_id: Annotated[str, QueryParameter(min_length=1, max_length=200)],
    ) -> Template:
        """The printable individual report of a person (by external id): `scores.person_report`, as
        GET /v1/assessments/{code}/people/{external_id}/report."""
        locale = session_of(request).locale
        found = await scores.person_report(conn, code, external_id, locale)
        return await page(
            request,
            conn,
            "analysis_person.html",
            code=code,
            tab="report",
            found=found,
            here=f"{_base(code)}/person" + _query(external_id=external_id),
        )


async def assessments_exists(conn: asyncpg.Connection, code: str) -> None:
    if await assessments.stored_by_code(conn, code) is None:
        raise NotFound(msg("no assessment '{code}'", code=code))


async def _download(
    request: Request, conn: asyncpg.Connection, code: str, table: export.Table, name: str, fmt: str
) -> Response[bytes] | Stream:
    if fmt == "csv":
        return csv_response(export.to_csv(table, bom=True), f"{code}-{name}")
    locale = session_of(request).locale
    return xlsx_response(
        export.to_xlsx(table, name, await _labeller(conn, code, locale)), f"{code}-{name}", locale
    )
