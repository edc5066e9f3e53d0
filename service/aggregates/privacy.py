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

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def protect(parent_hidden: bool, children: Mapping[K, int], k: int) -> set[K]:
    """The children of one split to withhold. `children` must add up to the parent (include
    a child for whatever of the parent is in no named child)."""
    return suppress(children, [(parent_hidden, list(children))], k)


def month_of(week: date) -> date:
    """ISO-week months: a week (its Monday) belongs to the month that holds its Thursday, so
    weeks nest in months and a monthly view never splits a week."""
    return (week + timedelta(days=3)).replace(day=1)


def months_of(weeks: Iterable[date]) -> dict[date, list[date]]:
    out: dict[date, list[date]] = {}
    for week in sorted(weeks):
        out.setdefault(month_of(week), []).append(week)
    return out


def suppress(cells: Mapping[K, int], lines: Sequence[tuple[K | bool, Sequence[K]]], k: int) -> set[K]:
    """The cells of one table to withhold, where cells take part in several splits at once.

    `lines` are the splits: (total, members), the members adding up to the total. A total is
    either a cell of the table (decided here too) or a fixed decision made elsewhere (True:
    withheld). Rules 1-3 of `protect` hold on every line, read as: a line whose total is shown
    has either no withheld member or at least two holding k people together; a line whose total
    is withheld has a withheld member, and its withheld members hold k people together (or are
    all its non-empty members). A member that is the only non-empty one of its line equals
    its total, so it shares the total's fate (it can neither be withheld behind a shown total,
    nor shown beside a withheld one). When a shown total's line runs out of members to withhold,
    the total itself is withheld if it is a cell of this table. Deterministic: cells are
    considered smallest first, ties broken by their text.
    """
    hidden = {key for key, n in cells.items() if 0 < n < k}
    locked: set[K] = set()  # equal to a shown fixed total: must stay shown
    twins: dict[K, set[K]] = {}  # cells equal to one another: withheld together
    for total, members in lines:
        nonempty = [m for m in members if cells[m] > 0]
        if len(nonempty) != 1:
            continue
        if isinstance(total, bool):
            (hidden if total else locked).add(nonempty[0])
        else:
            twins.setdefault(total, set()).add(nonempty[0])
            twins.setdefault(nonempty[0], set()).add(total)
    locked -= hidden

    def withhold(key: K) -> None:
        stack = [key]
        while stack:
            cell = stack.pop()
            if cell in hidden or cell in locked:
                continue
            hidden.add(cell)
            stack.extend(twins.get(cell, ()))

    for key in list(hidden):
        hidden.discard(key)
        withhold(key)
    # each line's non-empty members, smallest first (ties by their text), worked out once: the
    # candidates of a pass are these in this order, less the ones withheld or locked by then
    ranked = [
        (total, sorted((m for m in members if cells[m] > 0), key=lambda m: (cells[m], str(m))))
        for total, members in lines
    ]
    changed = True
    while changed:
        changed = False
        for total, nonempty in ranked:
            total_hidden = total if isinstance(total, bool) else total in hidden
            withheld = [m for m in nonempty if m in hidden]
            candidates = [m for m in nonempty if m not in hidden and m not in locked]
            if total_hidden:
                if not withheld and candidates:
                    withhold(candidates.pop(0))
                    changed = True
                    withheld = [m for m in nonempty if m in hidden]
                    candidates = [m for m in candidates if m not in hidden]
                while withheld and sum(cells[m] for m in withheld) < k and candidates:
                    withhold(candidates.pop(0))
                    changed = True
                    withheld = [m for m in nonempty if m in hidden]
                    candidates = [m for m in candidates if m not in hidden]
                continue
            while withheld and (len(withheld) < 2 or sum(cells[m] for m in withheld) < k):
                if candidates:
                    withhold(candidates.pop(0))
                elif not isinstance(total, bool) and total not in locked:
                    withhold(total)  # shown members cannot cover it: the total goes instead
                    changed = True
                    break
                else:
                    break  # nothing here may be withheld: the fixed total decided elsewhere stands
                changed = True
                withheld = [m for m in nonempty if m in hidden]
                candidates = [m for m in candidates if m not in hidden]
    return hidden
