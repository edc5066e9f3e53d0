"""The `Accept-Language` request header as a documented parameter, and replies in one language.

Routes that answer for a reader (the candidate report, item previews, validation reports)
negotiate zh-CN or en with `service.i18n.negotiate` and say which with `Content-Language`;
`Vary: Accept-Language` tells caches that the same URL has one reply per language. Problem
details do the same (problems.py).
"""

from __future__ import annotations

from typing import Annotated, Protocol, TypeVar

import msgspec
from litestar import Response
from litestar.params import HeaderParameter

from service.api.problems import localized_errors
from service.errors import FieldError
from service.i18n import language_headers

AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(
        name="Accept-Language",
        max_length=200,
        description="zh-CN (the default) or en, with q-values; decides the language of texts and problem details",
    ),
]

T = TypeVar("T")


def in_language(body: T, locale: str, status_code: int = 200) -> Response[T]:
    return Response(body, status_code=status_code, headers=language_headers(locale))


class Report(Protocol):
    problems: list[FieldError]


R = TypeVar("R", bound=Report)


def report_in_language(report: R, locale: str) -> Response[R]:
    """A validation report (200, `problems` with pointers) with each problem's detail in `locale`."""
    localized = msgspec.structs.replace(report, problems=localized_errors(report.problems, locale))  # type: ignore[type-var]  # every Report is a Struct (a Protocol cannot say so)
    return in_language(localized, locale)
