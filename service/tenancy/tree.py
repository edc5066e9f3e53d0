"""Materialised paths for the org-unit tree. Pure: no I/O, tested on its own.

A unit's path is '/<root id>/.../<own id>/'. Paths are compared in C collation, where
'/' (0x2F) is followed by '0' (0x30), so a subtree is the half-open range
[path, path[:-1] + '0').
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec

from service.errors import FieldError
from service.i18n import msg


def child_path(parent_path: str | None, unit_id: uuid.UUID) -> str:
    return f"{parent_path or '/'}{unit_id}/"


def subtree_range(path: str) -> tuple[str, str]:
    """Bounds (inclusive, exclusive) of every path in the subtree rooted at `path`."""
    return path, path[:-1] + "0"


def is_within(path: str, ancestor_path: str) -> bool:
    return path.startswith(ancestor_path)


class Placed(msgspec.Struct, frozen=True):
    """Where a unit sits: enough to hang children under it."""

    id: uuid.UUID
    path: str
    depth: int


class ImportRow(msgspec.Struct, frozen=True):
    code: str
    parent_code: str | None


class PlannedUnit(msgspec.Struct, frozen=True):
    index: int
    id: uuid.UUID
    parent_id: uuid.UUID | None
    path: str
    depth: int


def plan_import(
    rows: Sequence[ImportRow],
    existing: dict[str, Placed],
) -> tuple[list[PlannedUnit], list[FieldError]]:
    """Place every imported unit under its parent, which is either already stored or in the batch.

    Returns the units in an order where each parent comes before its children, or the
    errors (duplicate codes, codes already stored, unknown parents, cycles) with pointers.
    """
    errors: list[FieldError] = []
    first_index: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.code in first_index:
            errors.append(
                FieldError(
                    msg(
                        "code '{code}' appears twice in this import (first at /units/{first})",
                        code=row.code,
                        first=first_index[row.code],
                    ),
                    f"/units/{i}/code",
                )
            )
        elif row.code in existing:
            errors.append(
                FieldError(
                    msg("an org unit with code '{code}' already exists", code=row.code), f"/units/{i}/code"
                )
            )
        else:
            first_index[row.code] = i
    for i, row in enumerate(rows):
        parent = row.parent_code
        if parent is not None and parent not in first_index and parent not in existing:
            errors.append(
                FieldError(
                    msg("no org unit '{code}' here or in this import", code=parent), f"/units/{i}/parent_code"
                )
            )
    bad = {int(e.pointer.split("/")[2]) for e in errors if e.pointer}

    placed: dict[str, Placed] = dict(existing)
    planned: list[PlannedUnit] = []
    pending = [i for i in range(len(rows)) if i not in bad]
    while pending:
        still_pending = []
        for i in pending:
            row = rows[i]
            above = placed.get(row.parent_code) if row.parent_code is not None else None
            if row.parent_code is not None and above is None:
                still_pending.append(i)
                continue
            unit_id = uuid.uuid4()
            path = child_path(above.path if above else None, unit_id)
            depth = above.depth + 1 if above else 0
            placed[row.code] = Placed(unit_id, path, depth)
            planned.append(PlannedUnit(i, unit_id, above.id if above else None, path, depth))
        if len(still_pending) == len(pending):  # stuck: on a cycle, below one, or below a bad row
            errors.extend(
                FieldError(msg("parent_code forms a cycle"), f"/units/{i}/parent_code")
                for i in _on_cycles(rows, still_pending, first_index)
            )
            break
        pending = still_pending
    if errors:
        return [], errors
    return planned, []


def _on_cycles(rows: Sequence[ImportRow], stuck: list[int], first_index: dict[str, int]) -> list[int]:
    """The stuck rows whose parent chain leads back to themselves."""
    stuck_set = set(stuck)
    on_cycle = []
    for start in stuck:
        seen, i = set(), start
        while i in stuck_set and i not in seen:
            seen.add(i)
            i = first_index.get(rows[i].parent_code or "", -1)
        if i == start:
            on_cycle.append(start)
    return on_cycle


def final_cycles(rows: Sequence[ImportRow], stored_parents: dict[str, str | None]) -> list[int]:
    """Rows of an upsert whose unit would lie on a cycle once the import is applied.

    The final parent of a code is the import's when the import names it, else the stored one;
    rows that name an unknown parent are reported elsewhere and simply end a chain here."""
    final: dict[str, str | None] = dict(stored_parents)
    index: dict[str, int] = {}
    for i, row in enumerate(rows):
        final[row.code] = row.parent_code
        index.setdefault(row.code, i)
    on_cycle = []
    for code, i in index.items():
        seen: set[str] = set()
        at: str | None = final.get(code)
        while at is not None and at != code and at not in seen:
            seen.add(at)
            at = final.get(at)
        if at == code:
            on_cycle.append(i)
    return sorted(on_cycle)


def final_depths(rows: Sequence[ImportRow], stored_parents: dict[str, str | None]) -> dict[str, int]:
    """Depth of every imported code in the tree the import leaves (no cycles: checked first)."""
    final: dict[str, str | None] = dict(stored_parents)
    for row in rows:
        final[row.code] = row.parent_code
    depths: dict[str, int] = {}

    def depth(code: str) -> int:
        chain = []
        at: str | None = code
        while at is not None and at not in depths:
            chain.append(at)
            at = final.get(at)
        base = -1 if at is None else depths[at]
        for c in reversed(chain):
            base += 1
            depths[c] = base
        return depths[code]

    return {row.code: depth(row.code) for row in rows}
