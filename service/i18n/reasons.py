"""Reasons kept as a code and its parameters beside their English text (why a statistic is null, why a
group was skipped), so a reader gets them in their own language from the catalog: one catalog of codes
per domain module (`Reasons`), the same two steps for all of them."""

from __future__ import annotations

from collections.abc import Callable

from service.i18n.catalog import render
from service.i18n.message import Message

ReasonParams = dict[str, str | int | float]


class Reasons:
    """Codes and the message each makes from its stored parameters."""

    def __init__(self, texts: dict[str, Callable[[ReasonParams], Message]]) -> None:
        self.texts = texts

    def __contains__(self, code: object) -> bool:
        return code in self.texts

    def message(self, code: str, params: ReasonParams | None) -> Message:
        """The reason `code` with its parameters, as a message (its `str` is the English text)."""
        return self.texts[code](params or {})

    def text(
        self, code: str | None, params: ReasonParams | None, stored: str | None, locale: str
    ) -> str | None:
        """A stored reason in `locale`: from its code when it has a known one, else the stored (English)
        text (runs stored before codes existed, or parameters that do not fit the text)."""
        if code is None or code not in self.texts:
            return stored
        try:
            return render(self.message(code, params), locale)
        except (KeyError, IndexError, ValueError):  # parameters that do not fit the text
            return stored
