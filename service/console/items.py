"""The console's item bank list: the tenant's items with the REST search's filters and cursor pagination.

`GET /console/items` calls `bank.search_items` as `GET /v1/items` does, behind the API's read
guard (admins, authors, analysts, raters), on the request's tenant transaction. The filters
arrive as a plain GET form (a bookmarkable URL) and are checked with `ItemFilters`, the API's
query constraints as one struct, so a bad value gets the API's own message next to its field
instead of a 400 page. From htmx (the form and the next-page link) the answer is the results
fragment alone, plus the fields' error slots swapped out of band.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.items import ItemFilters, read
from service.api.pagination import DEFAULT_LIMIT, decode_cursor, next_cursor
from service.api.problems import with_allowed_values
from service.console.forms import domain_errors
from service.console.views import page, write_allowed
from service.console.web import session_of
from service.errors import DomainError, msgspec_field_error
from service.i18n import render
from service.items import bank
from service.items.model import ITEM_TYPES
from service.rubrics import frameworks

FILTERS = ("framework", "indicator", "type", "status", "q")
FIELDS = (*FILTERS, "cursor")
STATUSES = ("active", "retired")


def filter_values(request: Request) -> dict[str, str]:
    """The form's filters as sent, blanks dropped (an unset select or an empty search box means "any")."""
    return {
        name: value.strip()
        for name in FIELDS
        if (value := request.query_params.get(name)) is not None and value.strip()
    }


def checked_filters(values: dict[str, str], locale: str) -> tuple[ItemFilters, dict[str, list[str]]]:
    """The filters, and each bad one's message in the API's words (one field at a time, so all are named)."""
    errors: dict[str, list[str]] = {}
    good: dict[str, str] = {}
    for name in FILTERS:
        if name not in values:
            continue
        try:
            msgspec.convert({name: values[name]}, ItemFilters)
            good[name] = values[name]
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            detail = with_allowed_values(problem.detail, ItemFilters, [name])
            errors.setdefault(name, []).append(render(detail, locale))
    return msgspec.convert(good, ItemFilters), errors


class ItemScreens(Controller):
    """The item bank's pages."""

    path = "/console/items"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    dependencies = {"conn": Provide(provide_tenant_conn)}

    @get("/", guards=[read])
    async def item_list(self, request: Request, conn: Conn) -> Template:
        locale = session_of(request).locale
        values = filter_values(request)
        filters, errors = checked_filters(values, locale)
        found: list[bank.ItemSummary] = []
        more: str | None = None
        if not errors:
            try:
                found = await bank.search_items(
                    conn,
                    framework=filters.framework,
                    indicator=filters.indicator,
                    type_=filters.type,
                    status=filters.status,
                    text=filters.q,
                    after=decode_cursor("items", values.get("cursor")),
                    limit=DEFAULT_LIMIT,
                )
                more = next_cursor("items", [i.code for i in found], DEFAULT_LIMIT)
            except DomainError as exc:  # a cursor this list did not hand out
                errors = domain_errors(exc, (), locale)  # shown above the form: there is no cursor field
        shown = {name: values[name] for name in FILTERS if name in values}
        context: dict[str, Any] = {
            "items": found,
            "values": shown,
            "errors": errors,
            "next_url": f"/console/items?{urlencode({**shown, 'cursor': more})}" if more else None,
            "first_url": f"/console/items?{urlencode(shown)}" if "cursor" in values else None,
            "types": ITEM_TYPES,
            "statuses": STATUSES,
        }
        status = 422 if errors else 200
        partial = request.headers.get("hx-request") and not request.headers.get("hx-history-restore-request")
        if partial:
            response = await page(
                request, conn, "_item_results.html", status_code=status, oob=True, **context
            )
        else:
            known = [f.code for f in await frameworks.list_frameworks(conn, after=None, limit=200)]
            response = await page(
                request,
                conn,
                "items.html",
                status_code=status,
                frameworks=known,
                can_write=write_allowed(request),
                **context,
            )
        response.headers["Vary"] = "HX-Request"  # one URL, two answers: no cache may mix them up
        return response
