"""DIF in item statistics (service/scoring/item_dif.py), pure: simulated score documents with the
attempts' categories and org units. Planted DIF: 40 right/wrong items, two of them one logit harder
for teachers; both are flagged C against the rest, with at most one false flag; org units (no DIF
planted) flag nothing. Also: which items are studied, which groups are too small, and how the org
units are grouped."""

from __future__ import annotations

import msgspec
import numpy as np

from service.scoring.engine import Contribution, ItemScore, Overall, Provenance, ScoreDocument
from service.scoring.item_dif import DifAccumulator, DifReport, _unit_groups, localized, reason

ITEMS = 40
PLANTED = (7, 23)
SEED = 20261206


def _document(scores: dict[str, float]) -> ScoreDocument:
    items = [
        ItemScore(
            code,
            1,
            "single_choice",
            "scored" if earned > 0 else "omitted",
            earned,
            1.0,
            [Contribution("AK.1", "AK", 1.0, earned, earned, 1.0)],
            "",
        )
        for code, earned in scores.items()
    ]
    return ScoreDocument(
        "final",
        Overall(None, None, {}),
        [],
        [],
        items,
        [],
        [],
        Provenance("1.0.0", "fw@1", "sha256:x", {}, []),
    )


def _simulated(seed: int) -> DifAccumulator:
    """2,000 attempts: 1,000 civil servants and 1,000 teachers from the same θ distribution, spread
    over four cities under one province; items 7 and 23 are one logit harder for teachers."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.2, ITEMS)
    b = rng.normal(0.0, 1.0, ITEMS)
    a[list(PLANTED)] = 1.2
    teacher = np.repeat([False, True], 1000)
    theta = rng.normal(0.0, 1.0, 2000)
    shift = np.zeros((2000, ITEMS))
    for j in PLANTED:
        shift[teacher, j] = 1.0
    right = rng.random((2000, ITEMS)) < 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b - shift)))
    cities = rng.integers(0, 4, 2000)
    accumulator = DifAccumulator(lr=None)  # Mantel–Haenszel only (the LR test: tests/unit/test_lr_dif.py)
    for i in range(2000):
        accumulator.add(
            _document({f"i{j:02d}": float(right[i, j]) for j in range(ITEMS)}),
            "teacher" if teacher[i] else "civil_servant",
            ("prov", f"city{cities[i]}"),
        )
    return accumulator


def test_two_planted_dif_items_are_flagged_c_with_at_most_one_false_flag() -> None:
    report = _simulated(SEED).result()
    assert report.attempts == 2000 and len(report.items) == ITEMS and report.excluded_items == []
    by_focal = {(c.variable, c.focal): c for c in report.comparisons}
    teachers = {item.item: item for item in by_focal[("category", "teacher")].items}
    planted = {f"i{j:02d}" for j in PLANTED}
    for code in planted:
        assert teachers[code].ets_class == "C"
        assert teachers[code].mh_d_dif is not None and teachers[code].mh_d_dif < -1.5  # harder for teachers
    false_flags = {code for code, item in teachers.items() if code not in planted and item.ets_class != "A"}
    assert len(false_flags) <= 1
    flagged = [f for f in report.flagged if (f.variable, f.focal) == ("category", "teacher")]
    assert {f.item for f in flagged if f.ets_class == "C"} == planted
    assert all(f.disadvantaged == "focal" and f.reference == "rest" for f in flagged if f.item in planted)
    # the other category against the rest is the same comparison seen from the other side
    servants = {item.item: item for item in by_focal[("category", "civil_servant")].items}
    assert all(servants[code].ets_class == "C" for code in planted)
    # the four cities (the first level where the units part), with no DIF planted between them
    assert sorted(c.focal for c in report.comparisons if c.variable == "org_unit") == [
        f"city{k}" for k in range(4)
    ]
    unit_flags = [f for f in report.flagged if f.variable == "org_unit"]
    assert len(unit_flags) <= 1
    assert report.flagged[0].ets_class == "C"  # class C first


def test_partial_credit_and_pool_items_are_excluded_and_small_groups_skipped() -> None:
    rng = np.random.default_rng(3)
    accumulator = DifAccumulator(min_group=50)
    for i in range(160):
        scores = {f"k{j}": float(rng.random() < 0.6) for j in range(5)}
        scores["partial"] = [0.0, 0.5, 1.0][i % 3]
        scores[f"pool{i % 2}"] = float(rng.random() < 0.5)
        category = "teacher" if i < 30 else "civil_servant"
        accumulator.add(_document(scores), category, ("prov",) if i % 2 else None)
    report = accumulator.result()
    assert report.items == [f"k{j}" for j in range(5)]
    assert report.excluded_items == ["partial", "pool0", "pool1"]
    assert [(s.variable, s.group, s.attempts) for s in report.skipped] == [
        ("category", "civil_servant", 130),  # the rest (teachers) is too small
        ("category", "teacher", 30),
        ("org_unit", "prov", 80),  # one unit: no rest to compare with
    ]
    assert report.comparisons == [] and report.flagged == [] and report.reason is None


def test_nothing_to_match_on_without_two_common_right_wrong_items() -> None:
    accumulator = DifAccumulator()
    accumulator.add(_document({"only": 1.0}), "teacher", None)
    report = accumulator.result()
    assert report.reason is not None and report.comparisons == []


def test_units_are_grouped_at_the_first_level_where_they_part() -> None:
    paths: list[str | tuple[str, ...] | None] = [
        ("prov", "a", "a1"),
        ("prov", "a", "a2"),
        ("prov", "b"),
        ("prov",),
        None,
    ]
    assert _unit_groups(paths) == ["a", "a", "b", "prov", None]
    assert _unit_groups([("x", "y"), ("x", "y")]) == ["y", "y"]
    assert _unit_groups([("r1",), ("r2", "c")]) == ["r1", "r2"]


def test_the_likelihood_ratio_test_runs_within_its_limits_beside_mh() -> None:
    """600 teachers and 600 civil servants (12 items, item 4 0.9 logit harder for teachers) in three
    cities of 400: the LR test runs on the largest comparison the limits allow (one here, on a
    sample of 800 of the 1,200 attempts, drawn alike on a rerun), flags item 4 for teachers with
    Δb > 0 and the focal group disadvantaged; the mirror comparison (civil servants against the rest)
    and those beyond the limit say why they have none; MH is as without the LR test."""
    from service.scoring.item_dif import LrLimits

    rng = np.random.default_rng(5)
    items = 12
    a, b = rng.lognormal(0.0, 0.2, items), rng.normal(0.0, 0.8, items)
    teacher = np.repeat([True, False], 600)
    theta = rng.normal(0.0, 1.0, 1200)
    shift = np.zeros((1200, items))
    shift[teacher, 4] = 0.9
    right = rng.random((1200, items)) < 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b - shift)))
    limits = LrLimits(min_group=200, max_attempts=800, max_comparisons=1)

    def accumulate(lr: LrLimits | None) -> DifAccumulator:
        accumulator = DifAccumulator(lr=lr)
        for i in range(1200):
            accumulator.add(
                _document({f"i{j:02d}": float(right[i, j]) for j in range(items)}),
                "teacher" if teacher[i] else "civil_servant",
                ("prov", f"city{i % 3}"),
            )
        return accumulator

    report = accumulate(limits).result()
    by_focal = {(c.variable, c.focal): c for c in report.comparisons}
    tested = (
        by_focal[("category", "teacher")] if by_focal[("category", "teacher")].lr_reason is None else None
    )
    if tested is None:  # equal sizes: the order of the two categories decides which one is tested
        tested = by_focal[("category", "civil_servant")]
    assert (tested.lr_focal_attempts, tested.lr_reference_attempts) == (400, 400)
    assert all(item.lr is not None for item in tested.items)
    assert [f.item for f in report.lr_flagged] == ["i04"]
    flag = report.lr_flagged[0]
    assert flag.p_adjusted < 0.01 and flag.df == 2
    if flag.focal == "teacher":
        assert flag.delta_b is not None and flag.delta_b > 0.3 and flag.disadvantaged == "focal"
    else:
        assert flag.delta_b is not None and flag.delta_b < -0.3 and flag.disadvantaged == "reference"
    others = [c for c in report.comparisons if c is not tested]
    assert all(c.lr_reason and all(item.lr is None for item in c.items) for c in others)
    mirror = next(c for c in others if c.variable == "category")
    assert mirror.lr_reason is not None and "same test" in mirror.lr_reason
    assert all("largest comparisons" in (c.lr_reason or "") for c in others if c.variable == "org_unit")
    # each reason is stored as a code with its parameters too, and read in the reader's language
    assert (mirror.lr_reason_code, mirror.lr_reason_params) == ("lr_same_test", {"group": tested.focal})
    assert {(c.lr_reason_code, str(c.lr_reason_params)) for c in others if c.variable == "org_unit"} == {
        ("lr_too_many_comparisons", "{'max_comparisons': 1}")
    }
    chinese = {(c.variable, c.focal): c for c in localized(report, "zh-CN").comparisons}
    assert chinese[("category", mirror.focal)].lr_reason == f"与“{tested.focal} 对其余人员”是同一检验"
    assert chinese[("org_unit", "city0")].lr_reason == "超出单次计算中规模最大的 1 个比较"
    assert localized(report, "en") == report  # English: the stored texts
    assert report.lr_limits == limits
    # MH is untouched by the LR test; and the sample is drawn alike on a rerun
    plain = accumulate(None).result()
    assert [f.item for f in plain.flagged] == [f.item for f in report.flagged] and plain.lr_flagged == []
    again = accumulate(limits).result()
    assert [(c.focal, [i.lr for i in c.items]) for c in again.comparisons] == [
        (c.focal, [i.lr for i in c.items]) for c in report.comparisons
    ]


def test_reasons_are_codes_read_in_the_readers_language_and_old_runs_keep_their_text() -> None:
    """A skipped group, a run with nothing to match on: a code and its parameters beside the English
    text; `localized` renders zh-CN from the catalog. A run stored before the codes (English text
    only) reads as it was stored, in any language."""
    rng = np.random.default_rng(3)
    accumulator = DifAccumulator(min_group=50)
    for i in range(160):
        scores = {f"k{j}": float(rng.random() < 0.6) for j in range(5)}
        accumulator.add(_document(scores), "teacher" if i < 30 else "civil_servant", None)
    report = accumulator.result()
    assert [(s.reason_code, s.reason_params, s.reason) for s in report.skipped] == [
        ("small_rest", {"min_group": 50}, "fewer than 50 attempts in the rest"),
        ("small_group", {"min_group": 50}, "fewer than 50 attempts in the group"),
    ]
    assert [s.reason for s in localized(report, "zh-CN").skipped] == [
        "其余人员的作答少于 50 次",
        "本组作答少于 50 次",
    ]
    # stored and read back (the run's JSON), then shown: the same
    stored = msgspec.json.decode(msgspec.json.encode(report), type=DifReport)
    assert localized(stored, "zh-CN") == localized(report, "zh-CN")

    empty = DifAccumulator()
    empty.add(_document({"only": 1.0}), "teacher", None)
    nothing = empty.result()
    assert nothing.reason_code == "no_matching_items" and nothing.reason == str(
        reason("no_matching_items", {})
    )
    assert localized(nothing, "zh-CN").reason == "每份试卷上的对/错计分题少于两道：没有可用于匹配的总分"

    # a run stored before reasons had codes: its English text, whatever the language asked for
    old = msgspec.to_builtins(report)
    for skipped in old["skipped"]:
        del skipped["reason_code"], skipped["reason_params"]
    before = msgspec.convert(old, DifReport)
    assert [s.reason for s in localized(before, "zh-CN").skipped] == [s.reason for s in report.skipped]
    # and a code this version does not know (a later one's) falls back the same way
    unknown = msgspec.structs.replace(
        report, skipped=[msgspec.structs.replace(s, reason_code="later") for s in report.skipped]
    )
    assert [s.reason for s in localized(unknown, "zh-CN").skipped] == [s.reason for s in report.skipped]
