"""The framework editor's form and the document it edits, with no I/O: field names are JSON pointers.

The editor edits one part of a framework version at a time (the teacher template's whole document is
590 KB of form): the overview (title, description, sources, notes, levels, cut scores, and each
top-level dimension's code, name, weight and description) or one top-level dimension with everything
under it (`/dimensions/<i>`). A save merges the page's part onto the stored document (`merged`) and
sends the whole as the one JSON Patch `replace` the editor has always sent, so every rule stays the
domain's; the ETag the page was rendered with guards the rest of the document.

Field names are the JSON pointers of the values they hold (`/dimensions/0/name/zh-CN`), so the form
needs no mapping table; a hidden `<pointer>/_keep` carries an element's members the form does not
edit (`unconfirmed`, say) as JSON so a save never drops them. Problems carry JSON pointers; `place`
puts each next to the deepest field or group of the page whose pointer contains it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from datetime import UTC, datetime
from typing import Any, get_args

import msgspec

from service.console.forms import FORM
from service.errors import DomainError, FieldError, msgspec_field_error
from service.i18n import msg, render
from service.rubrics.jsonpatch import PatchOperation
from service.rubrics.model import FrameworkContent, Tag
from service.rubrics.validation import validate

LANGUAGES = ("zh-CN", "en")  # the editor's text boxes per localized text; other languages ride along
LOCALIZED = frozenset({"title", "description", "label", "name", "statement", "performance", "next_steps"})
NUMBERS = frozenset({"weight", "min_score"})
LISTS = frozenset(
    {"levels", "dimensions", "children", "indicators", "descriptors", "overall", "sources", "notes", "tags"}
)
OPTIONAL_TEXTS = frozenset({"identifier", "url", "note"})  # plain texts left out when blank
TAGS: tuple[str, ...] = get_args(Tag)
EDITED = {  # the members the editor has inputs for; the rest of an element travels in its `_keep`
    "framework": {"code", "title", "description", "levels", "dimensions", "cut_scores", "sources", "notes"},
    "dimension": {"code", "name", "weight", "description", "tags", "note", "children", "indicators"},
    "indicator": {"code", "statement", "weight", "note", "descriptors"},
}
OVERVIEW = ("title", "description", "sources", "notes", "levels", "cut_scores")  # the overview's members
OVERVIEW_DIMENSION = ("code", "name", "weight", "description")  # of each top-level dimension
KEEP = "_keep"
ACTION = re.compile(
    r"^(save|publish|up|down|remove|add-level|add-dimension|add-indicator|add-descriptor|"
    r"add-cut|add-dimension-cuts|add-source|add-note|move)(?: (\S+))?(?: (\S+))?$"
)


# --------------------------------------------------------------------------- form <-> document


@functools.lru_cache(maxsize=65536)  # a dimension's page asks for thousands: three per field
def dom_id(prefix: str, pointer: str) -> str:
    """An HTML id for a JSON pointer: letters and digits kept, `/` as `-`, anything else as `_<hex>_`
    (unique, and safe in CSS selectors)."""
    return prefix + "".join(
        c if c.isascii() and c.isalnum() else "-" if c == "/" else f"_{ord(c):x}_" for c in pointer
    )


def _token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _number(text: str) -> Any:
    """A number as typed; what is not one stays text, so the domain's conversion names the field."""
    try:
        value = float(text.strip())
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _listify(node: Any, path: tuple[str, ...] = ()) -> Any:
    """Objects whose members are indexes become lists where the document has lists (by member name; the
    per-dimension cut scores are an object of lists keyed by dimension code)."""
    if not isinstance(node, dict):
        return node
    children = {k: _listify(v, (*path, k)) for k, v in node.items()}
    per_dimension = path == ("cut_scores", "dimensions")
    listed = (len(path) == 3 and path[:2] == ("cut_scores", "dimensions")) or (
        bool(path) and path[-1] in LISTS and not per_dimension
    )
    if listed and all(k.isdigit() for k in children):
        return [children[k] for k in sorted(children, key=int)]
    return children


def document_from_form(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """The document the form holds: each field named by the JSON pointer of its value; blank texts left
    out (a localized text with no language left is missing, and the domain says so)."""
    root: dict[str, Any] = {}
    keeps: list[tuple[list[str], str]] = []
    for name, value in fields:
        if not name.startswith("/"):
            continue
        tokens = [_token(t) for t in name[1:].split("/")]
        if tokens[-1] == KEEP:
            keeps.append((tokens[:-1], value))
            continue
        blank_left_out = (len(tokens) >= 2 and tokens[-2] in (*LOCALIZED, "notes")) or tokens[
            -1
        ] in OPTIONAL_TEXTS
        if blank_left_out:
            if not value.strip():
                continue
        elif tokens[-1] in NUMBERS:
            value = _number(value)
        node = root
        for token in tokens[:-1]:
            child = node.get(token)
            if not isinstance(child, dict):
                child = node[token] = {}
            node = child
        node[tokens[-1]] = value
    for tokens, raw in keeps:
        node = root
        for token in tokens:
            node = node.setdefault(token, {})
            if not isinstance(node, dict):
                break
        else:
            try:
                kept = json.loads(raw)
            except ValueError:
                continue
            if isinstance(kept, dict):
                for k, v in kept.items():
                    node.setdefault(k, v)
    return _listify(root)


def keep(element: Any, kind: str) -> str:
    """The members of `element` the editor has no inputs for, as JSON for its hidden `_keep` field."""
    if not isinstance(element, dict):
        return "{}"
    return json.dumps({k: v for k, v in element.items() if k not in EDITED[kind]}, ensure_ascii=False)


def other_languages(text: Any) -> list[tuple[str, str]]:
    """Languages of a localized text beyond the editor's two, kept as hidden fields."""
    return [(k, v) for k, v in text.items() if k not in LANGUAGES] if isinstance(text, dict) else []


def _items(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def scope_of(dimension: int | None) -> str:
    """The pointer of the part a page edits: the overview is "", a dimension's page `/dimensions/<i>`."""
    return "" if dimension is None else f"/dimensions/{dimension}"


def slots(doc: dict[str, Any], dimension: int | None = None) -> list[str]:
    """The pointers of every error slot a page shows for `doc`: the overview's (`dimension` None) or
    one top-level dimension's page (templates/_fw_editor.html has each)."""
    out = [FORM, "/dimensions"]

    def dimensions(items: list[Any], prefix: str, deep: bool, start: int = 0) -> None:
        for i, dimension in enumerate(items, start):
            p = f"{prefix}/{i}"
            out.extend(f"{p}{s}" for s in ("", "/code", "/name", "/weight", "/description"))
            if not deep:
                continue
            out.extend(f"{p}{s}" for s in ("/tags", "/note", "/children", "/indicators"))
            dimensions(_items(dimension, "children"), f"{p}/children", True)
            for j, indicator in enumerate(_items(dimension, "indicators")):
                q = f"{p}/indicators/{j}"
                out.extend(f"{q}{s}" for s in ("", "/code", "/statement", "/weight", "/note", "/descriptors"))
                for k, _ in enumerate(_items(indicator, "descriptors")):
                    r = f"{q}/descriptors/{k}"
                    out.extend([r, f"{r}/level", f"{r}/performance", f"{r}/next_steps"])

    if dimension is not None:
        found = _items(doc, "dimensions")
        if dimension < len(found):
            dimensions(found[dimension : dimension + 1], "/dimensions", True, dimension)
        return out
    out += ["/title", "/description", "/sources", "/notes", "/levels", "/cut_scores", "/cut_scores/overall"]
    for k, _ in enumerate(_items(doc, "sources")):
        p = f"/sources/{k}"
        out += [p, *(f"{p}/{m}" for m in ("title", "issuer", "date", "identifier", "url", "note"))]
    out += [f"/notes/{k}" for k, _ in enumerate(_items(doc, "notes"))]
    for i, _ in enumerate(_items(doc, "levels")):
        p = f"/levels/{i}"
        out += [p, f"{p}/code", f"{p}/label", f"{p}/description"]
    dimensions(_items(doc, "dimensions"), "/dimensions", False)
    cut_scores = doc.get("cut_scores")
    cuts: dict[str, Any] = cut_scores if isinstance(cut_scores, dict) else {}
    for k, _ in enumerate(_items(cuts, "overall")):
        out += [
            f"/cut_scores/overall/{k}",
            f"/cut_scores/overall/{k}/level",
            f"/cut_scores/overall/{k}/min_score",
        ]
    per_dimension = cuts.get("dimensions")
    for code, rows in (per_dimension if isinstance(per_dimension, dict) else {}).items():
        base = f"/cut_scores/dimensions/{_escape(code)}"
        out.append(base)
        for k, _ in enumerate(rows if isinstance(rows, list) else []):
            out += [f"{base}/{k}", f"{base}/{k}/level", f"{base}/{k}/min_score"]
    return out


def on_page(problems: list[FieldError], dimension: int | None) -> tuple[list[FieldError], int]:
    """The problems a page shows, and how many others lie elsewhere in the document: a dimension's page
    shows its own and the top-level weights' sum (it edits one of them); the overview shows all."""
    if dimension is None:
        return problems, 0
    scope = scope_of(dimension)
    mine = [
        p
        for p in problems
        if not p.pointer
        or p.pointer == "/dimensions"
        or p.pointer == scope
        or p.pointer.startswith(scope + "/")
    ]
    return mine, len(problems) - len(mine)


def merged(stored: dict[str, Any], page_doc: dict[str, Any], dimension: int | None) -> dict[str, Any]:
    """The whole document after a page's save: the stored one with the page's part replaced by the form's.

    The overview owns `OVERVIEW` and each top-level dimension's `OVERVIEW_DIMENSION` members (one left
    blank is removed, as the whole-document form did); a dimension's page owns that dimension."""
    doc = copy.deepcopy(stored)
    if "code" in page_doc:
        doc["code"] = page_doc["code"]
    if dimension is not None:
        dimensions = _items(doc, "dimensions")
        sent = _items(page_doc, "dimensions")
        if dimension < len(dimensions) and sent:
            dimensions[dimension] = sent[0]
        return doc
    for member in OVERVIEW:
        if member in page_doc:
            doc[member] = page_doc[member]
        else:
            doc.pop(member, None)
    stored_dimensions = _items(stored, "dimensions")
    rows = []
    for i, row in enumerate(_items(page_doc, "dimensions")):
        base = copy.deepcopy(stored_dimensions[i]) if i < len(stored_dimensions) else {}
        base = base if isinstance(base, dict) else {}
        for member in OVERVIEW_DIMENSION:
            if isinstance(row, dict) and member in row:
                base[member] = row[member]
            else:
                base.pop(member, None)
        rows.append(base)
    doc["dimensions"] = rows + [copy.deepcopy(d) for d in stored_dimensions[len(rows) :]]
    return doc


def page_fields(fields: list[tuple[str, str]], dimension: int | None) -> list[tuple[str, str]]:
    """A dimension page's fields renumbered as the only dimension (`/dimensions/<i>/…` → `/dimensions/0/…`),
    so its lists stay lists; the overview's as they are."""
    if dimension is None:
        return fields
    prefix = scope_of(dimension) + "/"
    return [(("/dimensions/0/" + k[len(prefix) :]) if k.startswith(prefix) else k, v) for k, v in fields]


def place(problems: list[FieldError], where: list[str], locale: str) -> dict[str, list[str]]:
    """Each problem's message at the deepest slot whose pointer is its pointer or a prefix of it."""
    known = set(where)
    placed: dict[str, list[str]] = {}
    for problem in problems:
        pointer = problem.pointer or FORM
        while pointer and pointer not in known:
            pointer = pointer.rsplit("/", 1)[0]
        placed.setdefault(pointer, []).append(render(problem.detail, locale))
    return placed


def domain_problems(exc: DomainError) -> list[FieldError]:
    """A domain error's field problems; one without any is a problem of the whole form."""
    return exc.errors or [FieldError(exc.message, FORM)]


def check(doc: dict[str, Any]) -> list[FieldError]:
    """What `patch_draft` would refuse (the document not well-formed), else every validation problem."""
    try:
        content = msgspec.convert(doc, FrameworkContent, strict=True)
    except msgspec.ValidationError as exc:
        return [msgspec_field_error(str(exc))]
    return validate(content)


# --------------------------------------------------------------------------- structural actions


def _parent_index(pointer: str) -> tuple[str, int]:
    parent, _, last = pointer.rpartition("/")
    if not last.isdigit():
        return parent, -1
    return parent, int(last)


def _at(doc: Any, pointer: str) -> Any:
    node = doc
    for token in pointer.lstrip("/").split("/") if pointer else []:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict):
            node = node.get(_token(token))
        else:
            return None
    return node


def _codes(doc: dict[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("code"), str):
                found.add(node["code"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def _new_code(doc: dict[str, Any], stem: str) -> str:
    taken = _codes(doc)
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def _both(text: str) -> dict[str, str]:
    return {language: render(text, language) for language in LANGUAGES}


def _level_codes(doc: dict[str, Any]) -> list[str]:
    return [
        level["code"]
        for level in _items(doc, "levels")
        if isinstance(level, dict) and isinstance(level.get("code"), str)
    ]


def structural(
    action: str, doc: dict[str, Any], extra: dict[str, str], locale: str = "zh-CN"
) -> tuple[list[PatchOperation], str | None]:
    """The JSON Patch operations of a structural button, and the pointer of the control to focus after."""
    found = ACTION.match(action)
    if not found:
        raise DomainError(msg("unknown editor action"))
    kind, first, second = found.group(1), found.group(2) or "", found.group(3) or ""
    if kind in ("save", "publish"):
        return [], None
    if kind in ("up", "down"):
        parent, index = _parent_index(first)
        target = index - 1 if kind == "up" else index + 1
        return [PatchOperation("move", f"{parent}/{target}", from_=first)], f"{parent}/{target}"
    if kind == "move":  # drag and drop: from, to
        return [PatchOperation("move", second, from_=first)], second
    if kind == "remove":
        return [PatchOperation("remove", first)], None
    if kind == "add-level":
        new: dict[str, Any] = {"code": _new_code(doc, "L"), "label": _both(msg("New level"))}
        return [PatchOperation("add", "/levels/-", value=new)], f"/levels/{len(_items(doc, 'levels'))}/code"
    if kind == "add-dimension":  # first: the list to append to (/dimensions or .../children)
        new = {"code": _new_code(doc, "D"), "name": _both(msg("New dimension")), "weight": 0}
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/code"
    if kind == "add-indicator":
        new = {
            "code": _new_code(doc, "I"),
            "statement": _both(msg("New indicator")),
            "weight": 0,
            "descriptors": [
                {"level": code, "performance": _both(msg("What performance at this level looks like"))}
                for code in _level_codes(doc)
            ],
        }
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/code"
    if kind == "add-descriptor":
        present = {d.get("level") for d in _items_at(doc, first) if isinstance(d, dict)}
        level = next((c for c in _level_codes(doc) if c not in present), (_level_codes(doc) or ["L1"])[0])
        new = {"level": level, "performance": _both(msg("What performance at this level looks like"))}
        return [PatchOperation("add", f"{first}/-", value=new)], f"{first}/{len(_items_at(doc, first))}/level"
    if kind == "add-cut":
        rows = _items_at(doc, first)
        present = {r.get("level") for r in rows if isinstance(r, dict)}
        level = next((c for c in _level_codes(doc) if c not in present), (_level_codes(doc) or ["L1"])[-1])
        scores: list[float] = [
            r["min_score"]
            for r in rows
            if isinstance(r, dict) and isinstance(r.get("min_score"), (int, float))
        ]
        new_cut = {"level": level, "min_score": min(100, max(scores) + 1) if scores else 0}
        return [PatchOperation("add", f"{first}/-", value=new_cut)], f"{first}/{len(rows)}/level"
    if kind in ("add-source", "add-note"):
        member = "sources" if kind == "add-source" else "notes"
        ops = [] if isinstance(doc.get(member), list) else [PatchOperation("add", f"/{member}", value=[])]
        count = len(_items(doc, member))
        if kind == "add-note":
            ops.append(PatchOperation("add", "/notes/-", value=render(msg("New note"), locale)))
            return ops, f"/notes/{count}"
        source = {
            "title": render(msg("New source"), locale),
            "issuer": render(msg("Who issued it"), locale),
            "date": str(datetime.now(UTC).year),
        }
        ops.append(PatchOperation("add", "/sources/-", value=source))
        return ops, f"/sources/{count}/title"
    if kind == "add-dimension-cuts":
        code = extra.get("cut_dimension", "").strip()
        overall = _items_at(doc, "/cut_scores/overall")
        pointer = f"/cut_scores/dimensions/{_escape(code)}"
        ops = []
        if not isinstance(_at(doc, "/cut_scores/dimensions"), dict):
            ops.append(PatchOperation("add", "/cut_scores/dimensions", value={}))
        ops.append(PatchOperation("add", pointer, value=overall))
        return ops, f"{pointer}/0/level"
    return [], None


def _items_at(doc: dict[str, Any], pointer: str) -> list[Any]:
    found = _at(doc, pointer)
    return found if isinstance(found, list) else []
