"""Small-group suppression (service/aggregates/privacy.py): hand-worked cases, rule properties,
and an attacker who solves the published figures exactly.

What this file proves:
- `protect` applies its three rules as documented (primary, a hidden parent hides a child,
  complementary), never hides an empty cell, adds at most one complementary cell, and decides
  the same whatever the order of the children;
- applied top-down over an org-unit tree exactly as the views do it (a unit's subtree = its
  child units' subtrees + the people placed directly in it), no group of fewer than k people
  can be worked out from the published figures by any linear combination: an exact rational
  Gaussian elimination over the unknown (withheld) direct cells finds every determined 0/1
  combination of people with fewer than k in it, and there is none. The solver is shown to find
  the classic differencing leak when only primary suppression is applied, so it has teeth;
- `month_of` / `months_of` put a Monday-week in the month that holds its Thursday.
Pure functions: no database.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.aggregates.privacy import month_of, months_of, protect

DIRECT = "direct"  # the key the views use for the people placed in a unit itself


# --- protect: hand-worked -----------------------------------------------------------------------


def test_sibling_differencing_two_children():
    """Parent 20 = {a: 1, b: 19}, k = 5. Hiding only a would leave a = 20 - 19 = 1, so b goes too."""
    assert protect(False, {"a": 1, "b": 19}, 5) == {"a", "b"}


def test_complement_is_the_smallest_other_child():
    """Parent 20 = {a: 1, b: 10, c: 9}, k = 5: a is small; a + the smallest other (c, 9) hold 10 >= 5
    people, so b stays shown (a + c = 20 - 10 is known, but it is a group of 10)."""
    assert protect(False, {"a": 1, "b": 10, "c": 9}, 5) == {"a", "c"}


def test_hidden_parent_with_only_large_children_hides_one():
    """A withheld parent must not be the sum of shown children: the smallest (5) is withheld."""
    assert protect(True, {"a": 6, "b": 5, "c": 7}, 5) == {"b"}
    assert protect(True, {"only": 12}, 5) == {"only"}


def test_shown_parent_with_only_large_children_hides_nothing():
    assert protect(False, {"a": 6, "b": 5, "c": 7}, 5) == set()


def test_empty_children_are_never_hidden():
    """A cell with nobody in it reveals nothing and never serves as a complement."""
    assert protect(False, {"a": 0, "b": 10}, 5) == set()
    assert protect(True, {"a": 0, "b": 10}, 5) == {"b"}  # the non-empty one, not the empty
    assert protect(False, {"a": 0, "b": 3, "c": 20}, 5) == {"b", "c"}
    assert protect(False, {"a": 0, "b": 3, "c": 0}, 5) == {"b"}  # nothing else to hide: parent is 3
    assert protect(True, {"a": 0, "b": 0}, 5) == set()
    assert protect(True, {}, 5) == set()


def test_primary_cells_that_already_hold_k_need_no_complement():
    assert protect(False, {"a": 3, "b": 4, "c": 50}, 5) == {"a", "b"}
    assert protect(True, {"a": 2, "b": 3, "c": 10}, 5) == {"a", "b"}  # hidden parent: a, b suffice


def test_all_children_small_are_all_hidden_even_if_they_hold_fewer_than_k():
    """Parent 3 = {a: 1, b: 2}: every non-empty child is hidden; the parent itself (3 < k) is
    withheld one level up, so their sum is not known either."""
    assert protect(False, {"a": 1, "b": 2}, 5) == {"a", "b"}


def test_boundary_n_equal_to_k_is_shown():
    assert protect(False, {"a": 5, "b": 5}, 5) == set()
    assert protect(False, {"a": 4, "b": 5, "c": 6}, 5) == {"a", "b"}


def test_ties_are_broken_by_the_key_text():
    """Complements are chosen by (size, str(key)), so the choice is the same on every call."""
    assert protect(False, {"z": 1, "b": 10, "a": 10}, 5) == {"z", "a"}
    assert protect(True, {"y": 7, "x": 7}, 5) == {"x"}
    assert protect(False, {"u2": 2, DIRECT: 9, "u1": 9}, 5) == {"u2", DIRECT}  # 'direct' < 'u1'


def test_k_of_one_hides_nothing_unless_the_parent_is_hidden():
    assert protect(False, {"a": 1, "b": 0}, 1) == set()
    assert protect(True, {"a": 1, "b": 2}, 1) == {"a"}


# --- protect: rule properties -------------------------------------------------------------------

splits = st.dictionaries(
    st.sampled_from([DIRECT, *(f"u{i}" for i in range(8))]),
    st.one_of(st.integers(0, 7), st.integers(0, 40)),
    max_size=8,
)


@given(st.booleans(), splits, st.integers(2, 6))
@settings(max_examples=300)
def test_protect_rules(parent_hidden, children, k):
    hidden = protect(parent_hidden, children, k)
    nonempty = {key for key, n in children.items() if n > 0}
    primary = {key for key, n in children.items() if 0 < n < k}
    assert hidden <= nonempty, "an empty cell is never hidden"
    assert primary <= hidden, "rule 1: every small non-empty cell is hidden"
    if parent_hidden and nonempty:
        assert hidden, "rule 2: a hidden parent is not the sum of shown children"
    if hidden:
        assert sum(children[key] for key in hidden) >= k or hidden == nonempty, (
            "rule 3: the hidden children hold at least k people, or all of them are hidden"
        )
    if not parent_hidden and not primary:
        assert hidden == set(), "nothing to protect: nothing hidden"
    extra = hidden - primary
    assert len(extra) <= 1, "one complement always suffices: a shown child holds >= k people"
    if extra:
        (chosen,) = extra
        shown = list(nonempty - primary)
        assert min(shown, key=lambda key: (children[key], str(key))) == chosen, "the smallest shown one"


@given(st.booleans(), splits, st.integers(2, 6), st.randoms())
@settings(max_examples=100)
def test_protect_ignores_the_order_of_the_children(parent_hidden, children, k, rnd):
    items = list(children.items())
    rnd.shuffle(items)
    assert protect(parent_hidden, dict(items), k) == protect(parent_hidden, children, k)


# --- the attacker -------------------------------------------------------------------------------
#
# A tree of units; each unit has people placed directly in it ("direct") and child units. The
# published cells are, for each unit, its subtree count and its direct count, each unless withheld.
# Every count is a sum of direct counts, so the unknowns are the withheld direct cells and each
# published subtree count is one linear equation in them (the shown direct cells it contains are
# known and move to the right-hand side). A linear combination of withheld direct cells is
# determined exactly when it lies in the row space of those equations.


@dataclass
class Unit:
    direct: int
    children: list[Unit] = field(default_factory=list)


@dataclass
class Published:
    """A tree flattened in preorder, with what the service would withhold."""

    direct: list[int]
    kids: list[list[int]]
    subtree: list[list[int]]  # the unit indices in each unit's subtree, itself included
    n: list[int]  # subtree counts
    hidden: list[bool]  # subtree cell withheld
    direct_hidden: list[bool]  # direct cell withheld


def publish(root: Unit, k: int, rule=protect) -> Published:
    """Apply `rule` top-down exactly as service/aggregates/views.py does: the tenant (root) is
    withheld iff 0 < n < k; each unit's split is its child units' subtree counts plus its direct
    count, and the split's withheld children follow from `rule(unit withheld, split, k)`."""
    direct: list[int] = []
    kids: list[list[int]] = []

    def walk(unit: Unit) -> int:
        index = len(direct)
        direct.append(unit.direct)
        kids.append([])
        for child in unit.children:
            kids[index].append(walk(child))
        return index

    walk(root)
    size = len(direct)
    subtree: list[list[int]] = [[] for _ in range(size)]
    for i in reversed(range(size)):  # preorder reversed: children before parents
        subtree[i] = [i] + [j for c in kids[i] for j in subtree[c]]
    n = [sum(direct[j] for j in subtree[i]) for i in range(size)]
    hidden = [False] * size
    direct_hidden = [False] * size
    hidden[0] = 0 < n[0] < k
    for i in range(size):  # preorder: a parent's decision is made before its children's
        split = {f"u{c}": n[c] for c in kids[i]}
        split[DIRECT] = direct[i]
        assert sum(split.values()) == n[i]
        withheld = rule(hidden[i], split, k)
        for c in kids[i]:
            hidden[c] = f"u{c}" in withheld
        direct_hidden[i] = DIRECT in withheld
    return Published(direct, kids, subtree, n, hidden, direct_hidden)


Row = list[Fraction]


def rref(rows: list[Row]) -> list[tuple[int, Row]]:
    """Reduced row echelon form over the rationals: (pivot column, row) pairs, each row 1 at its
    pivot and 0 at every other row's pivot."""
    basis: list[tuple[int, Row]] = []
    for row in rows:
        row = reduce(row, basis)
        pivot = next((j for j, value in enumerate(row) if value), None)
        if pivot is None:
            continue
        row = [value / row[pivot] for value in row]
        basis = [(p, [a - b[p] * c for a, c in zip(b, row, strict=True)]) for p, b in basis]
        basis.append((pivot, row))
    return sorted(basis)


def reduce(vector: Row, basis: list[tuple[int, Row]]) -> Row:
    out = list(vector)
    for pivot, row in basis:
        if out[pivot]:
            factor = out[pivot]
            out = [a - factor * b for a, b in zip(out, row, strict=True)]
    return out


def determined(vector: Row, basis: list[tuple[int, Row]]) -> bool:
    """True when the equations fix the value of this combination of unknowns."""
    return not any(reduce(vector, basis))


class Attacker:
    def __init__(self, pub: Published) -> None:
        self.pub = pub
        self.unknown = [i for i, h in enumerate(pub.direct_hidden) if h]  # withheld direct cells
        self.column = {unit: j for j, unit in enumerate(self.unknown)}
        equations = [self.part(i) for i in range(len(pub.n)) if not pub.hidden[i]]
        self.basis = rref(equations)

    def part(self, unit: int) -> Row:
        """The withheld direct cells inside a unit's subtree, as a 0/1 row over the unknowns (the
        rest of the subtree is shown direct cells, known to the attacker)."""
        row = [Fraction(0)] * len(self.unknown)
        for j in self.pub.subtree[unit]:
            if j in self.column:
                row[self.column[j]] = Fraction(1)
        return row

    def value(self, row: Row) -> Fraction:
        return sum(
            (c * self.pub.direct[unit] for c, unit in zip(row, self.unknown, strict=True)), Fraction(0)
        )

    def small_groups(self, k: int) -> list[tuple[list[int], Fraction]]:
        """Every determined 0/1 combination of withheld direct cells holding 1..k-1 people.

        Complete: a determined combination c equals the sum over pivots p of c[p] * row_p (RREF),
        so a 0/1 one is the sum of the rows of the pivots where it is 1. Each withheld direct cell
        holds >= 1 person (checked by the caller), so a group of fewer than k people has 1 at
        fewer than k pivots, with those pivots' own cells adding to fewer than k: enumerating
        such pivot subsets (pruned by that sum) finds them all."""
        pivots = [(p, row, self.pub.direct[self.unknown[p]]) for p, row in self.basis]
        found = []

        def extend(start: int, chosen: list[int], total: int, acc: Row) -> None:
            for at in range(start, len(pivots)):
                p, row, v = pivots[at]
                if total + v >= k:
                    continue
                combo = [a + b for a, b in zip(acc, row, strict=True)]
                if all(c in (0, 1) for c in combo):
                    value = self.value(combo)
                    if 0 < value < k:
                        found.append(([self.unknown[j] for j, c in enumerate(combo) if c], value))
                extend(at + 1, [*chosen, p], total + v, combo)

        extend(0, [], 0, [Fraction(0)] * len(self.unknown))
        return found


def check_no_small_group_is_determined(pub: Published, k: int) -> None:
    # the structure the enumeration relies on, and the basic rules at every cell
    for i in range(len(pub.n)):
        assert not (pub.hidden[i] and pub.n[i] == 0), "an empty subtree is never withheld"
        assert not (pub.direct_hidden[i] and pub.direct[i] == 0), "an empty direct cell is never withheld"
        assert pub.hidden[i] or not 0 < pub.n[i] < k, "a small subtree is withheld"
        assert pub.direct_hidden[i] or not 0 < pub.direct[i] < k, "a small direct cell is withheld"
    attacker = Attacker(pub)
    size = len(attacker.unknown)
    # 1. every single withheld direct cell
    for j, unit in enumerate(attacker.unknown):
        alone = [Fraction(int(m == j)) for m in range(size)]
        if determined(alone, attacker.basis):
            assert pub.direct[unit] >= k, f"direct cell of unit {unit} ({pub.direct[unit]}) is determined"
    # 2. every single withheld subtree cell (known iff its withheld direct cells' sum is)
    for unit in range(len(pub.n)):
        if pub.hidden[unit] and determined(attacker.part(unit), attacker.basis):
            assert pub.n[unit] >= k, f"subtree of unit {unit} ({pub.n[unit]}) is determined"
    # 3. every row of the reduced system that is itself a group of people (all 0/1)
    for _, row in attacker.basis:
        if all(c in (0, 1) for c in row):
            value = attacker.value(row)
            assert value == 0 or value >= k, f"group {row} of {value} people is determined"
    # 4. all determined groups of fewer than k people (complete search)
    assert attacker.small_groups(k) == []


counts = st.one_of(st.integers(0, 6), st.integers(0, 20))


@st.composite
def units(draw, depth: int = 0) -> Unit:
    """A unit at `depth` (0 = the tenant) with people placed in it and up to 3 child units, down
    to depth 3."""
    width = draw(st.integers(0, 3)) if depth < 3 else 0
    return Unit(draw(counts), [draw(units(depth + 1)) for _ in range(width)])


@given(units(), st.integers(2, 6))
@settings(max_examples=200, deadline=None)
def test_no_group_of_fewer_than_k_people_can_be_worked_out(root, k):
    check_no_small_group_is_determined(publish(root, k), k)


# hand-worked trees through the same attacker


def test_attacker_on_a_hand_worked_tree():
    """Tenant 41 = direct 1 + A 10 + B 30, k = 5. Tenant split: direct (1) is small, A (10) is the
    complement. A = {a1: 5, a2: 5} is withheld, so one of its children (a1, by name) is too, and
    a1's own split {direct: 5} withholds its direct cell. Published: tenant 41, B 30, a2 5 and all
    their shown parts; the attacker gets tenant.direct + a1.direct = 41 - 30 - 5 = 6 >= 5 and
    nothing smaller."""
    root = Unit(1, [Unit(0, [Unit(5), Unit(5)]), Unit(30)])
    pub = publish(root, 5)
    #           tenant  A      a1     a2     B
    assert pub.hidden == [False, True, True, False, False]
    assert pub.direct_hidden == [True, False, True, False, False]
    attacker = Attacker(pub)
    assert attacker.unknown == [0, 2]
    assert [row for _, row in attacker.basis] == [[1, 1]]  # one equation: t.direct + a1.direct
    assert attacker.value([Fraction(1), Fraction(1)]) == 6
    check_no_small_group_is_determined(pub, 5)


def test_attacker_finds_the_differencing_leak_of_primary_only_suppression():
    """The checker has teeth: withholding only the small cells (rule 1 alone) lets the attacker
    work out the 1-person direct cell as 20 - 19."""

    def primary_only(parent_hidden, children, k):
        return {key for key, n in children.items() if 0 < n < k}

    root = Unit(1, [Unit(19)])
    leaky = publish(root, 5, rule=primary_only)
    assert Attacker(leaky).small_groups(5) == [([0], 1)]
    with pytest.raises(AssertionError):
        check_no_small_group_is_determined(leaky, 5)
    check_no_small_group_is_determined(publish(root, 5), 5)


def test_attacker_finds_the_leak_when_a_hidden_parent_is_not_protected():
    """Without rule 2, a unit withheld as a complement but with only shown children is their sum,
    and the small cell it protected follows: tenant 13 = direct 2 + A 11, A = {a1: 6, a2: 5}."""

    def no_rule_2(parent_hidden, children, k):
        return protect(False, children, k)

    root = Unit(2, [Unit(0, [Unit(6), Unit(5)])])
    leaky = publish(root, 5, rule=no_rule_2)
    assert leaky.hidden[1] and not leaky.hidden[2] and not leaky.hidden[3]
    assert Attacker(leaky).small_groups(5) == [([0], 2)]
    check_no_small_group_is_determined(publish(root, 5), 5)


def test_small_tenant_is_withheld_whole():
    """Tenant 3 = direct 1 + u1 2 + u2 0, k = 5: everything non-empty is withheld, the empty unit
    (n = 0) stays shown."""
    pub = publish(Unit(1, [Unit(2), Unit(0)]), 5)
    assert pub.hidden == [True, True, False]
    assert pub.direct_hidden == [True, True, False]
    check_no_small_group_is_determined(pub, 5)


def test_exhaustive_small_trees():
    """Every tenant with direct count 0..4 and two child units each with a direct count 0..5 and
    at most one grandchild 0..5, for k = 3 and 5 (a deterministic sweep next to hypothesis)."""
    values = range(6)
    for k in (3, 5):
        for t, a, b, g in itertools.product(range(5), values, values, [None, *values]):
            first = Unit(a, [] if g is None else [Unit(g)])
            check_no_small_group_is_determined(publish(Unit(t, [first, Unit(b)]), k), k)


# --- across splits, as the views combine them ------------------------------------------------------
#
# The tree property above holds for one hierarchy. The views also split a unit by category and by
# period. A cell withheld only by its own category (or month) split as a complement must also be
# covered in the parent's unit split for that category (or month), or it could be subtracted back
# out of its siblings and the parent, and with it the small cell it was protecting. (Found by these
# tests against the first version of views.py; fixed by deciding each unit's children in one table
# across all splits: `privacy.suppress`.)
# These tests drive service/aggregates/views.py's pure `_Scope` directly (no database).


def _scope_with_two_units(first: dict, second: dict, k: int = 5):
    """A tenant with units u and v and nobody placed directly in it; `first`/`second` give the
    counts of u and v per (category, week)."""
    import uuid

    from service.aggregates.rollups import ROOT
    from service.aggregates.views import _Scope

    u, v = uuid.UUID(int=1), uuid.UUID(int=2)
    total = {key: first.get(key, 0) + second.get(key, 0) for key in {*first, *second}}
    return _Scope([ROOT], {ROOT: [u, v]}, {ROOT: total, u: first, v: second}, k), ROOT, u, v


def test_a_category_complement_cannot_be_subtracted_back_out():
    w = date(2024, 1, 1)
    scope, root, u, v = _scope_with_two_units({("c", w): 10, ("d", w): 2}, {("c", w): 10, ("d", w): 10})
    assert scope.hidden(u, "d", None), "the 2-person cell is withheld"
    assert scope.hidden(u, "c", None), "and its complement too"
    # what a client reads: tenant and v for category c, the tenant's direct cell for c, u overall
    used = [
        scope.hidden(root, "c", None),
        scope.hidden(v, "c", None),
        scope.direct_hidden(root, "c", None),
        scope.hidden(u, None, None),
    ]
    recovered = scope.n(root, "c", None) - scope.n(v, "c", None) - scope.split(root, "c", None)[DIRECT]
    assert recovered == scope.n(u, "c", None) == 10
    assert scope.n(u, None, None) - recovered == 2
    assert any(used), "some cell of the differencing chain must be withheld"


def test_a_month_complement_cannot_be_subtracted_back_out():
    jan, feb = date(2024, 1, 8), date(2024, 2, 5)
    scope, root, u, v = _scope_with_two_units(
        {("c", jan): 10, ("c", feb): 2}, {("c", jan): 10, ("c", feb): 10}
    )
    january, february = scope.normal([jan]), scope.normal([feb])
    assert scope.hidden(u, None, february), "the 2-person cell is withheld"
    assert scope.hidden(u, None, january), "and its complement too"
    used = [
        scope.hidden(root, None, january),
        scope.hidden(v, None, january),
        scope.direct_hidden(root, None, january),
        scope.hidden(u, None, None),
    ]
    recovered = (
        scope.n(root, None, january) - scope.n(v, None, january) - scope.split(root, None, january)[DIRECT]
    )
    assert scope.n(u, None, None) - recovered == 2
    assert any(used), "some cell of the differencing chain must be withheld"


# --- ISO-week months ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monday", "month"),
    [
        (date(2024, 1, 1), date(2024, 1, 1)),  # Thursday 4 Jan
        (date(2024, 1, 29), date(2024, 2, 1)),  # Thursday 1 Feb: the week is February's
        (date(2024, 2, 26), date(2024, 2, 1)),  # Thursday 29 Feb (leap year): still February
        (date(2024, 4, 29), date(2024, 5, 1)),  # Thursday 2 May
        (date(2023, 12, 25), date(2023, 12, 1)),  # Thursday 28 Dec
        (date(2024, 12, 30), date(2025, 1, 1)),  # Thursday 2 Jan 2025: next year's January
        (date(2020, 12, 28), date(2020, 12, 1)),  # Thursday 31 Dec
    ],
)
def test_month_of_a_week_is_the_month_of_its_thursday(monday, month):
    assert monday.weekday() == 0
    assert month_of(monday) == month


def test_months_of_groups_weeks_in_order():
    weeks = [date(2024, 2, 5), date(2024, 1, 29), date(2024, 1, 1), date(2024, 1, 22)]
    assert months_of(weeks) == {
        date(2024, 1, 1): [date(2024, 1, 1), date(2024, 1, 22)],
        date(2024, 2, 1): [date(2024, 1, 29), date(2024, 2, 5)],
    }
    assert months_of([]) == {}


@given(st.dates(date(2000, 1, 3), date(2099, 12, 28)), st.integers(1, 120))
@settings(max_examples=100)
def test_consecutive_weeks_nest_in_months(day, count):
    """Every week lands in exactly one month, that month holds its Thursday, months come in
    order, and a month of consecutive weeks has 4 or 5 of them (the first and last may be cut)."""
    start = day - timedelta(days=day.weekday())
    weeks = [start + timedelta(weeks=i) for i in range(count)]
    months = months_of(reversed(weeks))
    assert list(months) == sorted(months)
    assert [w for ws in months.values() for w in ws] == weeks
    for month, ws in months.items():
        assert month.day == 1
        for w in ws:
            thursday = w + timedelta(days=3)
            assert (thursday.year, thursday.month) == (month.year, month.month)
    inner = list(months.values())[1:-1]
    assert all(len(ws) in (4, 5) for ws in inner)
