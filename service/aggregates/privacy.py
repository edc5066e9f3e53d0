"""Which cells to withhold so that no figure about fewer than k people can be read or worked out.

Every view is a parent cell split into children that add up to it: a unit into its child units
plus the people placed directly in it; all categories into each category; the whole period into
months, a month into its weeks. A client that sees a parent and all but one child can subtract
to get the missing one, so withholding only the small cells is not enough. The rule, for each
split (`protect`):

1. primary: a child with 1 <= n < k is withheld;
2. a withheld parent must not be recoverable as the sum of its children: if it is withheld and
   no child is, its smallest non-empty child is withheld too;
3. complementary: while the withheld children together hold fewer than k people (subtracting
   the shown ones from the parent would give their sum), the smallest shown non-empty child is
   withheld as well.

So whatever a client adds or subtracts, the smallest group it can isolate has at least k people.
A cell's decision depends only on its own split and its parent's decision, never on which call
asked for it, so the subtree call for a unit and its row in the parent's drill-down agree.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import date, timedelta
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def protect(parent_hidden: bool, children: Mapping[K, int], k: int) -> set[K]:
    """The children of one split to withhold. `children` must add up to the parent (include
    a child for whatever of the parent is in no named child)."""
    hidden = {key for key, n in children.items() if 0 < n < k}
    shown = sorted(((n, str(key), key) for key, n in children.items() if n > 0 and key not in hidden),
                   key=lambda entry: entry[:2])
    if parent_hidden and not hidden and shown:
        hidden.add(shown.pop(0)[2])
    while hidden and sum(children[key] for key in hidden) < k and shown:
        hidden.add(shown.pop(0)[2])
    return hidden


def month_of(week: date) -> date:
    """ISO-week months: a week (its Monday) belongs to the month that holds its Thursday, so
    weeks nest in months and a monthly view never splits a week."""
    return (week + timedelta(days=3)).replace(day=1)


def months_of(weeks: Iterable[date]) -> dict[date, list[date]]:
    out: dict[date, list[date]] = {}
    for week in sorted(weeks):
        out.setdefault(month_of(week), []).append(week)
    return out
