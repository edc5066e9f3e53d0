"""Unscored pretest items (issue 20), pure: where they are placed in an adaptive section
(`pretest_schedule`), that the adaptive path, θ and the stop do not see them
(`service.delivery.adaptive.replay`), that the engine keeps them out of every sum, which form items
are scored and which are pretest, and that the response matrices a calibration fits hold them."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.assessments.forms import FormItem, draw_form, pretest_placements, scored_placements
from service.assessments.model import AssessmentContent, pretest_codes
from service.delivery import adaptive
from service.items.model import OpenResponse, SingleChoice
from service.items.views import Answer
from service.psychometrics.adaptive import CatBank, CatSettings, pretest_schedule
from service.psychometrics.model import ItemParameters
from service.results.response_matrix import dimension_credits, response_matrices
from service.scoring.engine import ScoringInput, score
from tests.unit.test_scoring_engine import BANK_ITEMS, FRAMEWORK, FRAMEWORK_HASH, Attempt, attempts

PROPERTY = settings(max_examples=150, deadline=None)


# ------------------------------------------------------------------------------------- placement


@st.composite
def schedules(draw: Any) -> tuple[list[str], int, int, int]:
    pretest = [f"P{j}" for j in range(draw(st.integers(1, 12)))]
    count = draw(st.integers(1, len(pretest)))
    min_items = draw(st.integers(1, 30))
    seed = draw(st.integers(0, 2**62))
    return pretest, count, min_items, seed


@PROPERTY
@given(schedules())
def test_the_schedule_seeds_count_items_never_first_spread_one_per_stratum(
    case: tuple[list[str], int, int, int],
) -> None:
    pretest, count, min_items, seed = case
    schedule = pretest_schedule(pretest, count, min_items, seed)
    positions = sorted(schedule)
    assert len(schedule) == count  # count respected: distinct positions
    assert len(set(schedule.values())) == count and set(schedule.values()) <= set(pretest)
    assert positions[0] >= 1  # never the first item
    span = min_items + count - 1
    for i, position in enumerate(positions):
        # one per stratum of the span 1..span (spread), and at most min_items scored items before it
        assert 1 + i * span // count <= position < 1 + (i + 1) * span // count
        assert position - i <= min_items
    # replayable: a pure function of its arguments
    assert pretest_schedule(pretest, count, min_items, seed) == schedule


def test_the_schedule_is_determined_by_the_seed_and_varies_with_it() -> None:
    pretest = [f"P{j}" for j in range(6)]
    seen = {tuple(sorted(pretest_schedule(pretest, 2, 10, seed).items())) for seed in range(200)}
    assert len(seen) > 50  # different attempts get different items at different places
    # each pretest item is drawn about count / len of the time, each position of a stratum too
    drawn = np.zeros(6)
    first = np.zeros(11)
    for seed in range(3000):
        schedule = pretest_schedule(pretest, 2, 10, seed)
        for code in schedule.values():
            drawn[int(code[1:])] += 1
        first[min(schedule)] += 1
    assert np.all(np.abs(drawn / 3000 - 2 / 6) < 0.05)
    # span 11, two strata: positions 1..5 for the first, each about 1/5
    assert first[0] == 0 and np.all(np.abs(first[1:6] / 3000 - 0.2) < 0.04) and first[6:].sum() == 0
    assert pretest_schedule(pretest, 0, 10, 1) == {} and len(pretest_schedule(["P0"], 3, 4, 1)) == 1


# ------------------------------------------------------------------------------ the adaptive path

POOL = {f"AD-{j}": (1.0 + 0.1 * (j % 4), -2.2 + 0.3 * j) for j in range(16)}
INDICATOR = {code: ("AK.1" if j % 2 else "AK.3") for j, code in enumerate(POOL)}
PRETEST = [f"PT-{j}" for j in range(5)]


def _prepared(pretest: list[str], count: int, **settings: Any) -> adaptive.Prepared:
    items = [
        ItemParameters(item_id=code, model="2PL", discrimination=a, thresholds=(b,))
        for code, (a, b) in POOL.items()
    ]
    return adaptive.Prepared(
        code="cat",
        position=0,
        bank=CatBank(items, INDICATOR),
        blueprint={"AK.1": 0.4, "AK.3": 0.4},
        settings=CatSettings(**settings),
        floors=dict.fromkeys(POOL, (0.0, 1.0)),
        items=dict.fromkeys(POOL),  # type: ignore[arg-type]  # contents: `category` is patched
        pretest=tuple(pretest),
        pretest_count=count,
    )


RIGHT, WRONG = Answer(choice="c"), Answer(choice="a")


def _walk(section: adaptive.Prepared, seed: int, rights: frozenset[str]) -> tuple[adaptive.Path, list[str]]:
    """Answers every item shown, right when in `rights`, checking each continued replay against a
    replay from scratch; returns the final path and the items in the order shown."""
    answers: dict[str, Answer] = {}
    shown: list[str] = []
    path = adaptive.replay(section, seed, answers)
    while path.current is not None:
        shown.append(path.current)
        answers[path.current] = RIGHT if path.current in rights else WRONG
        continued = adaptive.replay(section, seed, answers, path)
        assert continued == adaptive.replay(section, seed, answers)
        path = continued
    return path, shown


@pytest.fixture(autouse=True)
def _right_is_category_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adaptive, "category", lambda section, code, answer: int(answer == RIGHT))


@PROPERTY
@given(
    st.integers(0, 2**40),
    st.integers(1, 5),
    st.integers(1, 6),
    st.integers(0, 10),
    st.sets(st.sampled_from([*POOL, *PRETEST])),
    st.sampled_from([0.25, 0.4, 0.6]),
)
def test_pretest_items_are_seeded_in_and_change_nothing_of_the_scored_path(
    seed: int, count: int, min_items: int, extra: int, rights: set[str], target_se: float
) -> None:
    settings = {
        "min_items": min_items,
        "max_items": min_items + extra,
        "target_se": target_se,
        "randomesque": 2,
    }
    with_pretest, shown = _walk(_prepared(PRETEST, count, **settings), seed, frozenset(rights))
    without, _ = _walk(_prepared([], 0, **settings), seed, frozenset(rights))
    schedule = pretest_schedule(PRETEST, count, min_items, seed * 101)
    # the scored path and the stop are those of the same answers without pretest items
    assert [code for code in with_pretest.given if code not in PRETEST] == without.given
    assert with_pretest.status == without.status
    # every seeded pretest item was shown, at its scheduled place, never first
    assert {i: code for i, code in enumerate(shown) if code in PRETEST} == schedule
    assert shown[0] not in PRETEST and shown == with_pretest.given


def test_a_pretest_item_shown_is_an_adaptive_item_and_the_others_are_not_shown_yet() -> None:
    section = _prepared(PRETEST, 2, min_items=3, max_items=6, target_se=0.01, randomesque=1)
    schedule = pretest_schedule(PRETEST, 2, 3, 7 * 101)
    answers: dict[str, Answer] = {}
    path = adaptive.replay(section, 7, answers)
    while path.current not in PRETEST:
        assert path.current is not None
        answers[path.current] = RIGHT
        path = adaptive.replay(section, 7, answers)
    assert path.current == schedule[len(path.given)] and path.status == "continue"
    assert adaptive.progress(section, path).items_given == len(path.given)
    assert adaptive.keeps_first_answer([section], [path], path.current)
    later = next(code for code in schedule.values() if code != path.current)
    unseeded = next(code for code in PRETEST if code not in schedule.values())
    for code in (later, unseeded):
        with pytest.raises(adaptive.NotShownYet):
            adaptive.keeps_first_answer([section], [path], code)
    assert not adaptive.keeps_first_answer([section], [path], "FIXED-1")


# ------------------------------------------------------------------------------------ the engine


@PROPERTY
@given(attempts(), st.randoms(use_true_random=False))
def test_the_engine_scores_pretest_items_apart_and_counts_them_in_nothing(attempt: Attempt, rnd: Any) -> None:
    automatic = [s for s in BANK_ITEMS if not isinstance(s.item, OpenResponse)]
    pretest = rnd.sample(automatic, rnd.randint(1, 6))
    scored = [s for s in BANK_ITEMS if s not in pretest]
    plain = score(ScoringInput(FRAMEWORK, FRAMEWORK_HASH, scored, attempt.answers, attempt.ratings))
    seeded = score(
        ScoringInput(FRAMEWORK, FRAMEWORK_HASH, scored, attempt.answers, attempt.ratings, pretest=pretest)
    )
    assert msgspec.structs.replace(seeded, pretest=[]) == plain
    # each pretest item's credit as the engine would give it scored, marked unscored
    alone = {
        s.item: s
        for s in score(
            ScoringInput(FRAMEWORK, FRAMEWORK_HASH, pretest, attempt.answers, attempt.ratings)
        ).items
    }
    assert [s.item for s in seeded.pretest] == sorted(s.item.code for s in pretest)
    for item_score in seeded.pretest:
        expected = alone[item_score.item]
        assert item_score.explanation == f"pretest, unscored: {expected.explanation}"
        assert msgspec.structs.replace(item_score, explanation="") == msgspec.structs.replace(
            expected, explanation=""
        )
    # a document without pretest items encodes as before (the field is omitted when empty)
    assert b'"pretest"' not in msgspec.json.encode(plain)


# ------------------------------------------------------------------------------- forms and scores


def _content(sections: list[dict[str, Any]]) -> AssessmentContent:
    return msgspec.convert(
        {
            "code": "pre",
            "title": {"en": "Pretest"},
            "framework": {"code": "cadre-ai-literacy", "version": 1},
            "sections": sections,
            "audience": {"org_units": ["prov"]},
        },
        AssessmentContent,
    )


def test_forms_hold_pretest_items_and_scores_leave_them_out() -> None:
    content = _content(
        [
            {"code": "fixed", "items": [{"code": "F1"}, {"code": "F2", "unscored": True}, {"code": "F3"}]},
            {
                "code": "cat",
                "adaptive": {
                    "items": [{"code": "A1"}, {"code": "A2"}, {"code": "A3"}],
                    "calibration": "00000000-0000-0000-0000-000000000001",
                    "dimension": "AK",
                    "min_items": 1,
                    "max_items": 2,
                    "pretest": {"items": [{"code": "P1"}, {"code": "P2"}], "count": 1},
                },
            },
        ]
    )
    assert pretest_codes(content) == {"F2", "P1", "P2"}
    codes = ["F1", "F2", "F3", "A1", "A2", "A3", "P1", "P2"]
    items = {code: FormItem(code, 1, "AK.1", (), "never") for code in codes}
    form = draw_form(content, items, 5)
    assert [p.code for p in form] == codes  # the adaptive section's form holds its pretest items
    answers = dict.fromkeys(("F1", "A2", "P2"), RIGHT)  # F2, F3 omitted; P1 not administered
    assert [p.code for p in scored_placements(content, form, answers)] == ["F1", "F3", "A2"]
    assert [p.code for p in pretest_placements(content, form, answers)] == ["F2", "P2"]
    assert pretest_placements(_content([{"code": "f", "items": [{"code": "F1"}]}]), form[:1], {}) == []


def test_calibration_matrices_hold_pretest_items_and_abilities_do_not_read_them() -> None:
    choice = [s for s in BANK_ITEMS if isinstance(s.item, SingleChoice)]
    scored, pretest = choice[:6], choice[6:8]
    documents = []
    for n in range(30):  # half right, half omitted
        answers = {s.item.code: Answer(choice=s.item.key.correct) for s in scored + pretest if n % 2}
        documents.append(score(ScoringInput(FRAMEWORK, FRAMEWORK_HASH, scored, answers, {}, pretest=pretest)))
    columns = {code for matrix in response_matrices(documents) for code in matrix.item_ids}
    assert {s.item.code for s in pretest} <= columns
    assert {s.item.code for s in scored} | {s.item.code for s in pretest} == columns
    credited = {code for per_item in dimension_credits(documents[0]).values() for code in per_item}
    assert credited == {s.item.code for s in scored}
    both = dimension_credits(documents[0], with_pretest=True)
    assert {code for per_item in both.values() for code in per_item} == columns
