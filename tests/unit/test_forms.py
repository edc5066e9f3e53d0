"""draw_form, property-tested: one attempt's form from a published assessment and a seed.

Generated assessments have fixed sections and pool sections over items with distinct codes,
each item with a primary indicator, option keys (none for likert and open-response items) and a
shuffle mode ("always", "allowed", "never").
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from service.assessments.forms import FormItem, Placement, draw_form
from service.assessments.model import AssessmentContent

INDICATORS = ["AK.1", "AK.2", "ES.1", "HMC.3"]
PROPERTY = settings(max_examples=120, deadline=None)


class Case(msgspec.Struct):
    content: AssessmentContent
    items: dict[str, FormItem]
    fixed: dict[str, list[str]]  # section code -> its fixed item codes
    pools: dict[str, tuple[list[str], int, bool]]  # section code -> (pool codes, draw, balance)


@st.composite
def form_items(draw: Any, code: str) -> FormItem:
    keys = tuple("abcdefgh"[: draw(st.sampled_from([0, 2, 3, 4, 5, 8]))])
    mode = draw(st.sampled_from(["always", "allowed", "never"]))
    version, indicator = draw(st.integers(1, 5)), draw(st.sampled_from(INDICATORS))
    return FormItem(code, version, indicator, keys, mode)  # type: ignore[arg-type]


@st.composite
def cases(draw: Any) -> Case:
    counter = iter(range(10_000))
    items: dict[str, FormItem] = {}

    def new_items(n: int) -> list[str]:
        codes = [f"I{next(counter)}" for _ in range(n)]
        for code in codes:
            items[code] = draw(form_items(code))
        return codes

    sections: list[dict[str, Any]] = []
    fixed: dict[str, list[str]] = {}
    pools: dict[str, tuple[list[str], int, bool]] = {}
    for s in range(draw(st.integers(1, 4))):
        code = f"s{s}"
        section: dict[str, Any] = {"code": code, "shuffle_items": draw(st.booleans())}
        fixed[code] = new_items(draw(st.integers(0, 5)))
        section["items"] = [{"code": c} for c in fixed[code]]
        if draw(st.booleans()) or not fixed[code]:
            pool = new_items(draw(st.integers(1, 12)))
            n, balance = draw(st.integers(1, len(pool))), draw(st.booleans())
            pools[code] = (pool, n, balance)
            section["pool"] = {
                "items": [{"code": c} for c in pool],
                "draw": n,
                "balance_by_indicator": balance,
            }
        sections.append(section)
    content = msgspec.convert(
        {
            "code": "prop",
            "title": {"en": "Property"},
            "framework": {"code": "cadre-ai-literacy", "version": 1},
            "sections": sections,
            "audience": {"org_units": ["prov"]},
            "shuffle_options": draw(st.booleans()),
        },
        AssessmentContent,
    )
    return Case(content, items, fixed, pools)


SEEDS = st.integers(0, 2**62)


def by_section(form: list[Placement]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for placement in form:
        found.setdefault(placement.section, []).append(placement.code)
    return found


@PROPERTY
@given(cases(), SEEDS)
def test_the_same_seed_draws_the_same_form(case: Case, seed: int) -> None:
    """A seed replays the draw exactly: items, order, versions and option orders."""
    assert draw_form(case.content, case.items, seed) == draw_form(case.content, case.items, seed)


@PROPERTY
@given(cases(), SEEDS)
def test_sections_keep_their_order_and_fixed_items_appear_once(case: Case, seed: int) -> None:
    """Placements come section by section; every fixed item is in its section exactly once."""
    form = draw_form(case.content, case.items, seed)
    order = [p.section for p in form]
    assert order == sorted(order, key=lambda s: int(s[1:]))
    sections = by_section(form)
    for section, codes in case.fixed.items():
        placed = Counter(sections.get(section, []))
        assert all(placed[code] == 1 for code in codes)


@PROPERTY
@given(cases(), SEEDS)
def test_a_pool_draws_exactly_n_distinct_items_of_its_own(case: Case, seed: int) -> None:
    """A pool section holds its fixed items plus `draw` distinct items of its pool, nothing else."""
    sections = by_section(draw_form(case.content, case.items, seed))
    for section, (pool, n, _) in case.pools.items():
        placed = sections[section]
        drawn = [code for code in placed if code not in case.fixed[section]]
        assert len(drawn) == n and len(set(drawn)) == n
        assert set(drawn) <= set(pool)
    for section in case.fixed.keys() - case.pools.keys():
        assert sorted(sections.get(section, [])) == sorted(case.fixed[section])


@PROPERTY
@given(cases(), SEEDS)
def test_no_item_appears_twice_and_versions_are_the_pinned_ones(case: Case, seed: int) -> None:
    """The form never repeats an item, and each placement carries the pinned version."""
    form = draw_form(case.content, case.items, seed)
    assert len({p.code for p in form}) == len(form)
    assert all(p.version == case.items[p.code].version for p in form)
    assert len(form) == sum(len(c) for c in case.fixed.values()) + sum(n for _, n, _ in case.pools.values())


@st.composite
def balanced_pools(draw: Any) -> tuple[list[FormItem], int]:
    """A pool over k indicators where every indicator has at least ceil(n / k) items."""
    k = draw(st.integers(1, len(INDICATORS)))
    n = draw(st.integers(1, 16))
    per = math.ceil(n / k)
    pool = []
    for i, indicator in enumerate(INDICATORS[:k]):
        for j in range(draw(st.integers(per, per + 4))):
            pool.append(FormItem(f"P{i}-{j}", 1, indicator, (), "never"))
    return draw(st.permutations(pool)), n


@PROPERTY
@given(balanced_pools(), SEEDS)
def test_a_balanced_draw_spreads_evenly_over_primary_indicators(
    pool_and_n: tuple[list[FormItem], int], seed: int
) -> None:
    """With enough items per indicator, the drawn counts per primary indicator differ by at most 1."""
    pool, n = pool_and_n
    content = msgspec.convert(
        {
            "code": "bal",
            "title": {"en": "Balanced"},
            "framework": {"code": "cadre-ai-literacy", "version": 1},
            "sections": [{"code": "pool", "pool": {"items": [{"code": i.code} for i in pool], "draw": n}}],
            "audience": {"org_units": ["prov"]},
        },
        AssessmentContent,
    )
    items = {item.code: item for item in pool}
    form = draw_form(content, items, seed)
    counts = Counter(items[p.code].primary_indicator for p in form)
    indicators = {item.primary_indicator for item in pool}
    per_indicator = [counts.get(indicator, 0) for indicator in indicators]
    assert len(form) == n and max(per_indicator) - min(per_indicator) <= 1


@PROPERTY
@given(cases(), SEEDS)
def test_option_orders_follow_the_shuffle_mode(case: Case, seed: int) -> None:
    """An option order is a permutation of the item's option keys. "always" items are shuffled even
    when the assessment does not shuffle options, "never" items never are, "allowed" items exactly
    when the assessment shuffles; items without options have no order."""
    for placement in draw_form(case.content, case.items, seed):
        item = case.items[placement.code]
        if placement.option_order is not None:
            assert sorted(placement.option_order) == sorted(item.option_keys)
            assert len(placement.option_order) == len(item.option_keys)
        allowed = item.shuffle_options == "allowed" and case.content.shuffle_options
        shuffled = bool(item.option_keys) and (item.shuffle_options == "always" or allowed)
        assert (placement.option_order is not None) == shuffled


def test_different_seeds_draw_different_forms() -> None:
    """Seeds matter: a pool of 12 drawing 4 with shuffled items and options varies across seeds."""
    pool = [FormItem(f"P{i}", 1, INDICATORS[i % 4], ("a", "b", "c", "d"), "allowed") for i in range(12)]
    content = msgspec.convert(
        {
            "code": "vary",
            "title": {"en": "Vary"},
            "framework": {"code": "cadre-ai-literacy", "version": 1},
            "sections": [
                {
                    "code": "pool",
                    "shuffle_items": True,
                    "pool": {"items": [{"code": i.code} for i in pool], "draw": 4},
                }
            ],
            "audience": {"org_units": ["prov"]},
        },
        AssessmentContent,
    )
    items = {item.code: item for item in pool}
    forms = {msgspec.json.encode(draw_form(content, items, seed)) for seed in range(50)}
    assert len(forms) > 40
    drawn_sets = {frozenset(p.code for p in draw_form(content, items, seed)) for seed in range(50)}
    assert len(drawn_sets) > 10


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**62), st.integers(2, 5))
def test_an_ordering_item_is_never_shown_in_its_answer_order(seed: int, n: int):
    """The shuffle redraws when it lands on the keyed order, so the form never gives the answer away."""
    keys = tuple("abcde"[:n])
    answer = tuple(reversed(keys))
    item = FormItem("ORD", 1, "HMC.3", keys, "always", answer)
    content = msgspec.convert(
        {
            "code": "t",
            "title": {"en": "t"},
            "framework": {"code": "f", "version": 1},
            "sections": [{"code": "s", "items": [{"code": "ORD"}]}],
            "audience": {"people": ["p"]},
        },
        AssessmentContent,
    )
    [placement] = draw_form(content, {"ORD": item}, seed)
    assert placement.option_order is not None and tuple(placement.option_order) != answer
    assert sorted(placement.option_order) == list(keys)
