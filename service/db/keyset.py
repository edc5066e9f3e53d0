"""SQL for keyset pagination over (created_at, id), the order of every list of things made over time.

Each function returns the tail of a query (a condition, ORDER BY and LIMIT) for the table
alias given, reading three parameters from $n: the previous page's last created_at and id
(both NULL for the first page) and the page size; `arguments` makes those three values.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

Position = tuple[datetime, UUID]


def newest_first(alias: str, n: int) -> str:
    return (
        f"(${n}::timestamptz IS NULL OR ({alias}.created_at, {alias}.id) < (${n}::timestamptz, ${n + 1}::uuid))"
        f" ORDER BY {alias}.created_at DESC, {alias}.id DESC LIMIT ${n + 2}"
    )


def oldest_first(alias: str, n: int) -> str:
    return (
        f"(${n}::timestamptz IS NULL OR ({alias}.created_at, {alias}.id) > (${n}::timestamptz, ${n + 1}::uuid))"
        f" ORDER BY {alias}.created_at, {alias}.id LIMIT ${n + 2}"
    )


def arguments(after: Position | None, limit: int) -> tuple[datetime | None, UUID | None, int]:
    return (after[0] if after else None, after[1] if after else None, limit)
