"""JSON Patch (RFC 6902) over plain JSON values. Pure; the input document is never modified.

Drafts are edited with it: add, remove, reorder (`move`) and reweight (`replace`) dimensions
and indicators, edit levels, descriptors and cut scores, one atomic list of operations.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

import msgspec

from service.errors import FieldError, Unprocessable
from service.i18n import msg


class PatchOperation(msgspec.Struct, omit_defaults=True):
    """Members an operation does not define are ignored, as RFC 6902 section 4 requires."""

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = msgspec.UNSET
    from_: str | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="from")


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def json_equal(a: Any, b: Any) -> bool:
    """Equality as RFC 6902 `test` means it: true is not 1, false is not 0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b  # 1 and 1.0 are the same JSON number
    return type(a) is type(b) and a == b


class PatchError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(msg("'{pointer}' is not a JSON pointer (it must start with '/')", pointer=pointer))
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not _ARRAY_INDEX.fullmatch(token):
        raise PatchError(msg("'{token}' is not an array index", token=token))
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise PatchError(
            msg(
                "index {index} is out of range (the array has {count} items)",
                index=index,
                count=len(container),
            )
        )
    return index


def _parent(document: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError(msg("the whole document cannot be the target here"))
    node = document
    for token in tokens[:-1]:
        node = _child(node, token)
    return node, tokens[-1]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(msg("no member '{token}'", token=token))
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, for_add=False)]
    raise PatchError(msg("cannot descend into a {kind} at '{token}'", kind=type(node).__name__, token=token))


def _get(document: Any, pointer: str) -> Any:
    node = document
    for token in _tokens(pointer):
        node = _child(node, token)
    return node


def _add(document: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, for_add=True), value)
    else:
        raise PatchError(msg("the parent of the target is not an object or array"))
    return document


def _remove(document: Any, pointer: str) -> Any:
    parent, token = _parent(document, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(msg("no member '{token}' to remove", token=token))
        del parent[token]
    elif isinstance(parent, list):
        del parent[_index(parent, token, for_add=False)]
    else:
        raise PatchError(msg("the parent of the target is not an object or array"))
    return document


def apply_patch(document: Any, operations: list[PatchOperation]) -> Any:
    """The patched copy of `document`; any failing operation rejects the whole patch (422 naming it)."""
    result = copy.deepcopy(document)
    for i, operation in enumerate(operations):
        try:
            if operation.op in ("add", "replace", "test") and operation.value is msgspec.UNSET:
                raise PatchError(msg("'{op}' needs a value", op=operation.op))
            if operation.op in ("move", "copy") and operation.from_ is msgspec.UNSET:
                raise PatchError(msg("'{op}' needs 'from'", op=operation.op))
            if operation.op == "add":
                result = _add(result, operation.path, copy.deepcopy(operation.value))
            elif operation.op == "remove":
                result = _remove(result, operation.path)
            elif operation.op == "replace":
                _get(result, operation.path)  # must exist
                result = (
                    _add(_remove(result, operation.path), operation.path, copy.deepcopy(operation.value))
                    if operation.path
                    else copy.deepcopy(operation.value)
                )
            elif operation.op == "move":
                source = str(operation.from_)
                if operation.path.startswith(source + "/"):
                    raise PatchError(msg("a value cannot move into itself"))
                value = _get(result, source)
                result = _add(_remove(result, source), operation.path, value)
            elif operation.op == "copy":
                result = _add(result, operation.path, copy.deepcopy(_get(result, str(operation.from_))))
            elif not json_equal(_get(result, operation.path), operation.value):
                raise PatchError(msg("the value differs (test failed)"))
        except PatchError as exc:
            raise Unprocessable(
                msg(
                    "patch operation {i} ({op} {path}) failed: {detail}; nothing was changed",
                    i=i,
                    op=operation.op,
                    path=operation.path,
                    detail=exc.detail,
                ),
                [FieldError(exc.detail, f"/{i}")],
            ) from None
    return result
