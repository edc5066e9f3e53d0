"""Materialised paths: property tests of the pure tree planning."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from service.tenancy import tree


@st.composite
def forests(draw):
    """A random forest as (code, parent_code) rows in a random order."""
    size = draw(st.integers(1, 60))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, size)]
    rows = [tree.ImportRow(f"u{i}", None if p is None else f"u{p}") for i, p in enumerate(parents)]
    return draw(st.permutations(rows))


@given(forests())
@settings(max_examples=150, deadline=None)
def test_plan_places_every_unit_under_its_parent(rows):
    planned, errors = tree.plan_import(rows, {})
    assert errors == []
    assert sorted(p.index for p in planned) == list(range(len(rows)))
    by_code = {rows[p.index].code: p for p in planned}
    position = {p.index: n for n, p in enumerate(planned)}
    for unit in planned:
        parent_code = rows[unit.index].parent_code
        if parent_code is None:
            assert unit.depth == 0 and unit.path == f"/{unit.id}/"
        else:
            parent = by_code[parent_code]
            assert position[parent.index] < position[unit.index], "parents are inserted first"
            assert unit.path == f"{parent.path}{unit.id}/" and unit.depth == parent.depth + 1


@given(forests())
@settings(max_examples=100, deadline=None)
def test_subtree_range_holds_exactly_the_descendants(rows):
    planned, _ = tree.plan_import(rows, {})
    for root in planned:
        low, high = tree.subtree_range(root.path)
        inside = {p.id for p in planned if low <= p.path < high}
        expected = {p.id for p in planned if p.path.startswith(root.path)}
        assert inside == expected and root.id in inside


def test_cycles_unknown_parents_and_duplicates_are_named():
    existing = {"root": tree.Placed(uuid.uuid4(), "/r/", 0)}
    rows = [tree.ImportRow("a", "b"), tree.ImportRow("b", "a"), tree.ImportRow("c", "root")]
    planned, errors = tree.plan_import(rows, existing)
    assert planned == [] and {e.pointer for e in errors} == {"/units/0/parent_code", "/units/1/parent_code"}
    _, errors = tree.plan_import(
        [tree.ImportRow("x", "nowhere"), tree.ImportRow("x", None), tree.ImportRow("root", None)], existing
    )
    assert {e.pointer for e in errors} == {"/units/0/parent_code", "/units/1/code", "/units/2/code"}


def test_final_cycles_and_depths_of_an_upsert():
    """An upsert's rows override the stored parents: a swap of parent and child is no cycle, a unit
    moved under its own stored descendant is, and depths follow the tree the import leaves."""
    stored = {"P": None, "A": "P", "B": "A", "K": "B"}
    row = tree.ImportRow
    swap = [row("B", "P"), row("A", "B"), row("N", "A")]
    assert tree.final_cycles(swap, stored) == []
    assert tree.final_depths(swap, stored) == {"B": 1, "A": 2, "N": 3}
    assert tree.final_cycles([row("X", None), row("A", "K")], stored) == [1]  # K lies below A
    assert tree.final_cycles([row("A", "B"), row("B", "A")], stored) == [0, 1]
    assert tree.final_cycles([row("A", "GHOST")], stored) == []  # an unknown parent is reported elsewhere
