"""Lazy messages: an English source text with named placeholders, translated when a reply is built.

`msg("no org unit '{code}'", code=code)` is a `str` (its English rendering), so code that
compares, logs or concatenates messages keeps working, and structs typed `detail: str` keep
their wire shape. It also remembers its msgid and params, so `render(message, "zh-CN")` looks
the msgid up in the catalog and formats the translation with the same params. Params may be
messages themselves (a reason inside a sentence); they render in the same language.

Placeholders are `str.format` fields by name. A message without params is not formatted, so
literal braces need no escaping there. Babel extracts the first argument of `msg` and the first
two of `nmsg` (see `service.i18n.__main__`): write the msgid as one string literal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Message(str):
    """A translatable text; `str(message)` and the value itself are the English rendering."""

    msgid: str
    plural: str | None
    count: int | None  # type: ignore[assignment]  # the plural count; shadows str.count, never called on a Message
    params: dict[str, Any]

    def __new__(
        cls, msgid: str, params: dict[str, Any], plural: str | None = None, count: int | None = None
    ) -> Message:
        source = msgid if plural is None or count == 1 else plural
        text = source.format(**params) if params else source
        self = super().__new__(cls, text)
        self.msgid, self.plural, self.count, self.params = msgid, plural, count, params
        return self

    def __reduce__(self) -> tuple[Callable[..., Message], tuple[Any, ...]]:
        return Message, (self.msgid, self.params, self.plural, self.count)

    def __repr__(self) -> str:
        return f"msg({self.msgid!r}, {self.params!r})"


def msg(msgid: str, /, **params: Any) -> Message:
    """A translatable message; `params` fill the `{name}` placeholders of `msgid`."""
    return Message(msgid, params)


def nmsg(singular: str, plural: str, count: int, /, **params: Any) -> Message:
    """A message whose wording depends on `count` (also available to the text as `{count}`)."""
    return Message(singular, {"count": count, **params}, plural, count)
