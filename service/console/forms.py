"""Domain errors onto form fields: the API's JSON pointers become the names of the inputs they concern.

A page shows each message next to its input and the rest at the top of the form; the messages
are the domain's own (the message catalog), in the page's language.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from service.errors import UNIQUE_FIELDS, DomainError, FieldError
from service.i18n import msg, render

FORM = ""  # errors that concern the form as a whole


def field_of(pointer: str | None, fields: Iterable[str]) -> str:
    """`/code` -> "code" when the form has such an input; anything else belongs to the whole form."""
    name = (pointer or "").lstrip("/").split("/", 1)[0]
    return name if name in set(fields) else FORM


def errors_by_field(
    problems: list[FieldError], detail: str, fields: Iterable[str], locale: str
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(field_of(problem.pointer, fields), []).append(render(problem.detail, locale))
    if not found:
        found[FORM] = [render(detail, locale)]
    return found


def domain_errors(exc: DomainError, fields: Iterable[str], locale: str) -> dict[str, list[str]]:
    return errors_by_field(exc.errors, exc.message, fields, locale)


def unique_errors(
    exc: asyncpg.UniqueViolationError, fields: Iterable[str], locale: str
) -> dict[str, list[str]]:
    """A unique key taken: the same message and field the API's 409 names (service/api/problems.py)."""
    pointer = UNIQUE_FIELDS.get(exc.constraint_name or "", "")
    return errors_by_field([FieldError(detail=msg("already exists"), pointer=pointer)], "", fields, locale)
