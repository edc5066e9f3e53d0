"""Differential item functioning in item statistics: does an item work differently for one group of
candidates than for the others of the same overall performance? Pure: no I/O (the item-statistics
job feeds it each final document with the attempt's category and org-unit ancestry).

Method: Mantel–Haenszel with the ETS A/B/C classes (`service.psychometrics.dif`, which gives the
formulas and sources), one group against the rest ("focal" against "reference"):
- by person category (leading cadre, civil servant, teacher...): the category recorded with the
  attempt when it was submitted;
- by top-level org unit: the attempts' units grouped by their ancestor at the shallowest level of
  the tree where the attempts' units part (a province with one root unit is compared city by city);
  an attempt counted at a unit above that level is its own group.
A group is compared only when it and the rest both have at least `MIN_GROUP` attempts (ETS practice
asks for a few hundred; 100 is the floor below which the MH standard error makes B and C
unreachable for all but huge effects); smaller groups are listed in `skipped` with their n.
Attempts without a recorded category or unit take no part in that variable's comparisons.

Items and matching: MH needs right/wrong items and one matching score, the same for everyone. The
studied items are those scored right (full credit) or wrong (none) in every attempt that had them
(single choice, all-or-nothing multiple choice, exact ordering...) and that were on every
attempt's form; each is matched on the number right over all of them (the studied item included,
Holland & Thayer). Partial-credit items and items of pools (not on every form) are listed in
`excluded_items`, not analysed. Effect size: MH D-DIF on the ETS delta scale (negative: harder for
the focal group at equal total) with its SE, and the common odds ratio.

Beside MH, the IRT likelihood-ratio test (`service.psychometrics.lr_dif`, through `mirt`'s
multiple-group 2PL fits: each studied item's parameters constrained equal across the two groups vs
free, the other studied items as anchors, G² on the freed parameters' df, p adjusted by
Benjamini–Hochberg over the comparison's items, flagged below .01; effect size Δb, Δa and the
expected-score difference focal − reference over N(0, 1)), on the same groups and items, within
limits (`LrLimits`), since each comparison refits the model once per studied item (about
`bench/irt.py --dif` for the time of 40 items × 5,000 attempts):
- both the group and the rest have at least `min_group` (200) attempts (IRT parameters per group
  need more than MH's 100);
- at most `max_attempts` (5,000) attempts per comparison: the group keeps up to half of them, the
  rest fill the others, drawn at random with a seed fixed by the comparison (a rerun draws alike);
- at most `max_items` (60) studied items, and `max_comparisons` (10) comparisons per run, the
  largest groups first. A comparison left out says why in `lr_reason`.

Reasons (a comparison not tested, a group not compared, nothing analysed) are kept as a code and
its parameters (`lr_reason_code`/`lr_reason_params`, `reason_code`/`reason_params`) beside their
English text; `localized` renders them in a reader's language from the message catalog (`REASONS`).
A run stored before the codes existed has the English text alone, which stays as it is.

Memory: one byte per item an attempt received (grouped per form) and two small integers per
attempt; a province's 300,000 attempts of 60 items take about 18 MB.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from service.i18n import msg
from service.i18n.reasons import ReasonParams, Reasons
from service.psychometrics.dif import mantel_haenszel
from service.psychometrics.lr_dif import LrDifResult, LrSettings, likelihood_ratio_dif
from service.scoring.engine import DIGITS, ScoreDocument

MIN_GROUP = 100
REFERENCE = "rest"  # the reference group: every other attempt with a value of the variable
_PARTIAL = 2  # an item score strictly between none and full credit

Variable = Literal["category", "org_unit"]

# Why a comparison had no likelihood-ratio test, a group no comparison, a run no analysis: the code
# stored with a run, and its message made from the stored parameters (the catalog translates it).
REASONS = Reasons(
    {
        "lr_same_test": lambda p: msg("the same test as {group} against the rest", group=p["group"]),
        "lr_small_group": lambda p: msg(
            "fewer than {min_group} attempts in the group or the rest", min_group=p["min_group"]
        ),
        "lr_too_many_items": lambda p: msg("more than {max_items} studied items", max_items=p["max_items"]),
        "lr_too_many_comparisons": lambda p: msg(
            "beyond the {max_comparisons} largest comparisons of a run", max_comparisons=p["max_comparisons"]
        ),
        "lr_not_fitted": lambda p: msg("the models could not be fitted: {error}", error=p["error"]),
        "small_group": lambda p: msg(
            "fewer than {min_group} attempts in the group", min_group=p["min_group"]
        ),
        "small_rest": lambda p: msg("fewer than {min_group} attempts in the rest", min_group=p["min_group"]),
        "no_matching_items": lambda p: msg(
            "fewer than two right/wrong items on every form: nothing to match on"
        ),
    }
)


reason = REASONS.message
_reason_text = REASONS.text


class LrLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Which comparisons get the likelihood-ratio test (see the module docstring)."""

    min_group: int = 200
    max_attempts: int = 5000
    max_items: int = 60
    max_comparisons: int = 10
    alpha: float = 0.01


LR_LIMITS = LrLimits()


class LrDif(msgspec.Struct):
    """An item's IRT likelihood-ratio test in one comparison (`service.psychometrics.lr_dif`)."""

    g2: float | None  # 2 Δ log L, free vs constrained; None: the free model's fit failed
    df: int
    p_value: float | None
    p_adjusted: float | None  # Benjamini–Hochberg over the comparison's items
    flagged: bool  # p_adjusted < alpha
    delta_b: float | None  # focal − reference difficulty; positive: harder for the focal group
    delta_a: float | None  # focal − reference discrimination
    expected_score_difference: float | None  # focal − reference expected score over N(0, 1)
    converged: bool


class DifItem(msgspec.Struct):
    item: str
    ets_class: str  # A, B or C
    mh_d_dif: float | None  # ETS delta; negative: harder for the focal group at equal total
    se: float | None
    odds_ratio: float | None  # MH common odds ratio, reference over focal
    p_value: float | None
    lr: LrDif | None = None  # the likelihood-ratio test, when the comparison had one


class DifComparison(msgspec.Struct):
    variable: Variable
    focal: str  # the group (a category, or an org unit's code); the reference is the rest
    focal_attempts: int
    reference_attempts: int
    items: list[DifItem]
    lr_focal_attempts: int | None = None  # attempts the LR test used (a sample when over the limit)
    lr_reference_attempts: int | None = None
    lr_reason: str | None = None  # why this comparison has no likelihood-ratio test (its text)
    lr_reason_code: str | None = None  # the same as a code of `REASONS`, with its parameters
    lr_reason_params: ReasonParams | None = None

    def no_lr(self, code: str, **params: str | int | float) -> None:
        """This comparison gets no likelihood-ratio test, for the reason `code`."""
        self.lr_reason = str(reason(code, params))[:500]
        self.lr_reason_code, self.lr_reason_params = code, params


class LrDifFlag(msgspec.Struct):
    """An item flagged by the likelihood-ratio test (BH-adjusted p below the limit's alpha)."""

    item: str
    variable: Variable
    focal: str
    reference: str
    g2: float
    df: int
    p_adjusted: float
    delta_b: float | None
    delta_a: float | None
    expected_score_difference: float | None
    disadvantaged: Literal["focal", "reference"]  # by the sign of the expected-score difference


class DifFlag(msgspec.Struct):
    """An item of ETS class B (moderate) or C (large) in one comparison."""

    item: str
    variable: Variable
    focal: str
    reference: str
    ets_class: str
    mh_d_dif: float
    se: float
    disadvantaged: Literal["focal", "reference"]


class SkippedGroup(msgspec.Struct):
    variable: Variable
    group: str
    attempts: int
    reason: str  # its text; the code of `REASONS` and its parameters beside it
    reason_code: str | None = None
    reason_params: ReasonParams | None = None


class DifReport(msgspec.Struct):
    attempts: int
    items: list[str]  # the studied items
    excluded_items: list[str]  # partial credit, or not on every form
    comparisons: list[DifComparison]
    flagged: list[DifFlag]  # class C first, then B, by |MH D-DIF|
    skipped: list[SkippedGroup]
    min_group: int = MIN_GROUP
    reason: str | None = None  # why nothing was analysed (its text)
    lr_flagged: list[LrDifFlag] = msgspec.field(default_factory=list)  # by adjusted p
    lr_limits: LrLimits | None = None  # None: the likelihood-ratio test was not asked for
    reason_code: str | None = None  # `reason` as a code of `REASONS`, with its parameters
    reason_params: ReasonParams | None = None


def localized(report: DifReport, locale: str) -> DifReport:
    """The report with every reason in `locale` (the message catalog), read from its code; a reason
    stored without one (a run from before the codes) keeps its English text."""
    return msgspec.structs.replace(
        report,
        reason=_reason_text(report.reason_code, report.reason_params, report.reason, locale),
        skipped=[
            msgspec.structs.replace(
                s, reason=_reason_text(s.reason_code, s.reason_params, s.reason, locale) or s.reason
            )
            for s in report.skipped
        ],
        comparisons=[
            msgspec.structs.replace(
                c, lr_reason=_reason_text(c.lr_reason_code, c.lr_reason_params, c.lr_reason, locale)
            )
            for c in report.comparisons
        ],
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS) + 0.0


class _Form:
    """The attempts that received one set of items: their item scores row by row, and their groups."""

    __slots__ = ("categories", "items", "scores", "units")

    def __init__(self, items: tuple[str, ...]) -> None:
        self.items = items
        self.scores = bytearray()
        self.categories: list[int] = []
        self.units: list[int] = []


class DifAccumulator:
    """Documents one at a time with the attempt's category and its unit's codes from the root down."""

    def __init__(
        self, min_group: int | None = None, lr: LrLimits | Literal["default"] | None = "default"
    ) -> None:
        self.min_group = MIN_GROUP if min_group is None else min_group
        self.lr = LR_LIMITS if lr == "default" else lr  # None: Mantel–Haenszel only
        self._forms: dict[tuple[str, ...], _Form] = {}
        self._labels: dict[str | tuple[str, ...] | None, int] = {}
        self._partial: set[str] = set()

    def _label(self, value: str | tuple[str, ...] | None) -> int:
        return self._labels.setdefault(value, len(self._labels))

    def add(self, document: ScoreDocument, category: str | None, unit_path: tuple[str, ...] | None) -> None:
        items = sorted((item for item in document.items if item.possible > 0), key=lambda i: i.item)
        key = tuple(item.item for item in items)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _Form(key)
        for item in items:
            share = item.earned / item.possible
            value = 1 if share >= 1 - 1e-9 else 0 if share <= 1e-9 else _PARTIAL
            if value == _PARTIAL:
                self._partial.add(item.item)
            form.scores.append(value)
        form.categories.append(self._label(category))
        form.units.append(self._label(unit_path or None))

    def result(self) -> DifReport:
        forms = list(self._forms.values())
        everything = sorted({item for form in forms for item in form.items})
        attempts = sum(len(form.categories) for form in forms)
        common = set.intersection(*(set(form.items) for form in forms)) if forms else set()
        studied = sorted(common - self._partial)
        excluded = [item for item in everything if item not in studied]
        if len(studied) < 2:
            return DifReport(
                attempts,
                studied,
                excluded,
                [],
                [],
                [],
                self.min_group,
                str(reason("no_matching_items", {})),
                reason_code="no_matching_items",
                reason_params={},
            )
        blocks, categories, units = [], [], []
        for form in forms:
            columns = [form.items.index(item) for item in studied]
            matrix = np.frombuffer(bytes(form.scores), dtype=np.uint8).reshape(-1, len(form.items))
            blocks.append(matrix[:, columns].astype(np.float64))
            categories += form.categories
            units += form.units
        responses = np.vstack(blocks)
        values = {index: value for value, index in self._labels.items()}
        category_of = [values[i] for i in categories]
        unit_of = _unit_groups([values[i] for i in units])
        comparisons: list[DifComparison] = []
        skipped: list[SkippedGroup] = []
        for variable, labels in (("category", category_of), ("org_unit", unit_of)):
            self._compare(variable, labels, responses, studied, comparisons, skipped)  # type: ignore[arg-type]
        flagged = [
            DifFlag(
                item.item,
                comparison.variable,
                comparison.focal,
                REFERENCE,
                item.ets_class,
                item.mh_d_dif,
                item.se,
                "focal" if item.mh_d_dif < 0 else "reference",
            )
            for comparison in comparisons
            for item in comparison.items
            if item.ets_class in ("B", "C") and item.mh_d_dif is not None and item.se is not None
        ]
        flagged.sort(key=lambda f: (f.ets_class != "C", -abs(f.mh_d_dif), f.variable, f.focal, f.item))
        lr_flagged = (
            self._likelihood_ratio(comparisons, category_of, unit_of, responses, studied)
            if self.lr is not None
            else []
        )
        return DifReport(
            attempts,
            studied,
            excluded,
            comparisons,
            flagged,
            skipped,
            self.min_group,
            lr_flagged=lr_flagged,
            lr_limits=self.lr,
        )

    def _likelihood_ratio(
        self,
        comparisons: list[DifComparison],
        category_of: Sequence[object],
        unit_of: Sequence[object],
        responses: np.ndarray,
        studied: list[str],
    ) -> list[LrDifFlag]:
        """The LR test on the comparisons within the limits, largest groups first; each item of a
        tested comparison gets its `lr`. CPU-bound (the job runs `result` in a thread)."""
        limits = self.lr
        assert limits is not None
        labels_of = {"category": category_of, "org_unit": unit_of}
        groups_of = {
            variable: {label for label in labels if label is not None}
            for variable, labels in labels_of.items()
        }
        tested: dict[str, str] = {}  # variable → a group tested, for the mirror of a two-group variable
        done = 0
        flags: list[LrDifFlag] = []
        for comparison in sorted(comparisons, key=lambda c: (-c.focal_attempts, c.variable, c.focal)):
            smaller = min(comparison.focal_attempts, comparison.reference_attempts)
            if len(groups_of[comparison.variable]) == 2 and comparison.variable in tested:
                # two groups: "B against the rest" is "A against the rest" seen from the other side
                comparison.no_lr("lr_same_test", group=tested[comparison.variable])
                continue
            if smaller < limits.min_group:
                comparison.no_lr("lr_small_group", min_group=limits.min_group)
                continue
            if len(studied) > limits.max_items:
                comparison.no_lr("lr_too_many_items", max_items=limits.max_items)
                continue
            if done >= limits.max_comparisons:
                comparison.no_lr("lr_too_many_comparisons", max_comparisons=limits.max_comparisons)
                continue
            labels = labels_of[comparison.variable]
            focal_rows = np.array([i for i, label in enumerate(labels) if label == comparison.focal])
            rest_rows = np.array(
                [i for i, label in enumerate(labels) if label is not None and label != comparison.focal]
            )
            focal_rows, rest_rows = _sample(focal_rows, rest_rows, limits.max_attempts, comparison)
            rows = np.concatenate([focal_rows, rest_rows])
            is_focal = np.zeros(rows.size, dtype=bool)
            is_focal[: focal_rows.size] = True
            try:
                results = likelihood_ratio_dif(
                    responses[rows], is_focal, studied, LrSettings(alpha=limits.alpha)
                )
            except (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError) as exc:
                comparison.no_lr("lr_not_fitted", error=str(exc)[:400])
                continue
            done += 1
            tested[comparison.variable] = comparison.focal
            comparison.lr_focal_attempts, comparison.lr_reference_attempts = (
                int(focal_rows.size),
                int(rest_rows.size),
            )
            for item, result in zip(comparison.items, results, strict=True):
                item.lr = _lr(result)
                if result.flagged and result.g2 is not None and result.p_adjusted is not None:
                    flags.append(
                        LrDifFlag(
                            item.item,
                            comparison.variable,
                            comparison.focal,
                            REFERENCE,
                            round(result.g2, DIGITS) + 0.0,
                            result.df,
                            result.p_adjusted,
                            _r(result.delta_b),
                            _r(result.delta_a),
                            _r(result.expected_score_difference),
                            "focal" if (result.expected_score_difference or 0.0) < 0 else "reference",
                        )
                    )
        flags.sort(key=lambda f: (f.p_adjusted, -f.g2, f.variable, f.focal, f.item))
        return flags

    def _compare(
        self,
        variable: Variable,
        labels: list[str | None],
        responses: np.ndarray,
        studied: list[str],
        comparisons: list[DifComparison],
        skipped: list[SkippedGroup],
    ) -> None:
        labelled = np.array([label is not None for label in labels])
        sizes = Counter(label for label in labels if label is not None)
        total = int(labelled.sum())
        for group, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
            if n < self.min_group or total - n < self.min_group:
                code = "small_group" if n < self.min_group else "small_rest"
                params: ReasonParams = {"min_group": self.min_group}
                skipped.append(SkippedGroup(variable, group, n, str(reason(code, params)), code, params))
                continue
            focal = np.array([label == group for label in labels])[labelled]
            results = mantel_haenszel(responses[labelled], focal, studied)
            comparisons.append(
                DifComparison(
                    variable,
                    group,
                    n,
                    total - n,
                    [
                        DifItem(
                            r.item_id,
                            r.ets_class,
                            _r(r.mh_d_dif),
                            _r(r.se_d_dif),
                            _r(r.mh_odds_ratio),
                            _r(r.p_value),
                        )
                        for r in results
                    ],
                )
            )


def _lr(result: LrDifResult) -> LrDif:
    return LrDif(
        None if result.g2 is None else round(result.g2, DIGITS) + 0.0,
        result.df,
        result.p_value,
        result.p_adjusted,
        result.flagged,
        _r(result.delta_b),
        _r(result.delta_a),
        _r(result.expected_score_difference),
        result.converged,
    )


def _sample(
    focal: np.ndarray, rest: np.ndarray, limit: int, comparison: DifComparison
) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` rows: the group keeps up to half (all of it if the rest is smaller), the rest
    fills the others; drawn with a seed fixed by the comparison, so a rerun draws the same rows."""
    if focal.size + rest.size <= limit:
        return focal, rest
    rng = np.random.default_rng(zlib.crc32(f"{comparison.variable}:{comparison.focal}".encode()))
    keep_focal = min(focal.size, max(limit // 2, limit - rest.size))
    keep_rest = min(rest.size, limit - keep_focal)
    return (
        np.sort(rng.choice(focal, keep_focal, replace=False)),
        np.sort(rng.choice(rest, keep_rest, replace=False)),
    )


def _unit_groups(paths: list[str | tuple[str, ...] | None]) -> list[str | None]:
    """Each attempt's unit group: its ancestor at the shallowest depth where the units part (see the
    module docstring); None without a unit."""
    known = [p for p in paths if isinstance(p, tuple) and p]
    depth = 0
    while known and len({p[depth] if len(p) > depth else p[-1] for p in known}) == 1:
        if all(len(p) <= depth + 1 for p in known):
            break  # every attempt at the same single unit
        depth += 1
    return [(p[depth] if len(p) > depth else p[-1]) if isinstance(p, tuple) and p else None for p in paths]
