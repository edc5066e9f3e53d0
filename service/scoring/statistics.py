"""Classical item statistics for an assessment, from its final score documents. Pure: no I/O.

Per item (over the attempts whose form contained it):
- facility (p-value): the mean item score, each score being earned / possible (0-1);
- discrimination: the corrected point-biserial, the Pearson correlation between the item score
  and the rest score (the attempt's total earned on its other items, as a share of their points);
  None when either has no variance; negative values are flagged;
- omission rate: the share of attempts that left it unanswered;
- option shares: for choice-based answers, the share of attempts choosing each option
  (for multiple choice, selecting it; for most/least, the option named most likely).
Per top-level dimension: Cronbach's alpha, and alpha with each item deleted, per form. A form
is a distinct set of the dimension's items that an attempt received: a fixed test has one,
forms drawn from pools have many. Alpha is computed per form over the attempts that received
exactly that set, and only for forms at least `MIN_FORM_ATTEMPTS` (30) attempts received: below
that, alpha is too unstable to report (one run on pool forms of 5 to 49 attempts gave -1.03).
Each reported form carries its n; forms below the minimum are only counted. When no form
reaches the minimum, alpha is null with a `reason`; it is also null (with a reason) when a
form has fewer than 2 of the dimension's items or its total does not vary. The dimension's
top-level `items`, `attempts`, `alpha` and `alpha_if_deleted` repeat the most-taken form (the
first of `forms`), or, when no form qualifies, the most-taken form's size with a null alpha.
A null alpha's `reason` is kept as a code of `REASONS` with its parameters (`reason_code`,
`reason_params`) beside its English text; `localized` renders it in a reader's language from the
message catalog. A run stored before the codes existed has the English text alone, which stays as it is.
(IRT marginal reliability is in the calibrations.) Differential item functioning by person category
and top-level org unit (Mantel–Haenszel, ETS classes) is in `dif`: see service/scoring/item_dif.py.
"""

from __future__ import annotations

import math
from collections import defaultdict

import msgspec

from service.i18n import msg
from service.i18n.reasons import ReasonParams, Reasons
from service.items.views import Answer
from service.scoring.engine import ScoreDocument
from service.scoring.item_dif import DifReport

NEGATIVE = -1e-9
MIN_FORM_ATTEMPTS = 30  # a form's alpha is reported only over at least this many attempts

# Why alpha is null: the code stored with a run, and its message made from the stored parameters
# (the catalog translates it).
REASONS = Reasons(
    {
        "too_few_items": lambda p: msg("the form has fewer than 2 of the dimension's items"),
        "constant_total": lambda p: msg("the total score does not vary on this form"),
        "no_form_at_minimum": lambda p: msg(
            "no form of this dimension was taken by at least {min_attempts} attempts "
            "(the most-taken: {most} of {attempts} attempts, {forms} forms)",
            min_attempts=p["min_attempts"],
            most=p["most"],
            attempts=p["attempts"],
            forms=p["forms"],
        ),
    }
)


reason = REASONS.message
_reason_text = REASONS.text


class ItemStatistic(msgspec.Struct):
    item: str
    type: str
    n: int
    facility: float | None
    discrimination: float | None
    omission_rate: float | None
    option_shares: dict[str, float]
    flagged: bool  # negative discrimination


class AlphaIfDeleted(msgspec.Struct):
    item: str
    alpha: float | None


class FormReliability(msgspec.Struct):
    """Alpha over the attempts that received exactly these items of the dimension."""

    items: list[str]  # the dimension's items on this form, sorted
    attempts: int  # n: the attempts that received exactly this set
    alpha: float | None
    alpha_if_deleted: list[AlphaIfDeleted]
    reason: str | None = None  # why alpha is null (its text)
    reason_code: str | None = None  # `reason` as a code of `REASONS`, with its parameters
    reason_params: ReasonParams | None = None


class DimensionReliability(msgspec.Struct):
    dimension: str
    items: int  # the most-taken form's: items,
    attempts: int  # its attempts,
    alpha: float | None  # its alpha (null when no form reaches MIN_FORM_ATTEMPTS)
    alpha_if_deleted: list[AlphaIfDeleted]
    reason: str | None = None  # why alpha is null (its text)
    forms: list[FormReliability] = msgspec.field(
        default_factory=list
    )  # n >= MIN_FORM_ATTEMPTS, most-taken first
    forms_below_minimum: int = 0  # distinct forms with fewer attempts: not reported
    attempts_below_minimum: int = 0  # the attempts on those forms
    reason_code: str | None = None  # `reason` as a code of `REASONS`, with its parameters
    reason_params: ReasonParams | None = None


class ItemStatistics(msgspec.Struct):
    attempts: int
    items: list[ItemStatistic]
    dimensions: list[DimensionReliability]
    dif: DifReport | None = None  # differential item functioning (service/scoring/item_dif.py)


def localized(statistics: ItemStatistics, locale: str) -> ItemStatistics:
    """The statistics with every alpha reason in `locale` (the message catalog), read from its code; a
    reason stored without one (a run from before the codes) keeps its English text."""

    def form(f: FormReliability) -> FormReliability:
        return msgspec.structs.replace(
            f, reason=_reason_text(f.reason_code, f.reason_params, f.reason, locale)
        )

    return msgspec.structs.replace(
        statistics,
        dimensions=[
            msgspec.structs.replace(
                d,
                reason=_reason_text(d.reason_code, d.reason_params, d.reason, locale),
                forms=[form(f) for f in d.forms],
            )
            for d in statistics.dimensions
        ],
    )


class _Moments:
    """Running sums for means, variances and a covariance, in one pass."""

    __slots__ = ("n", "x", "xx", "xy", "y", "yy")

    def __init__(self) -> None:
        self.n = 0
        self.x = self.y = self.xx = self.yy = self.xy = 0.0

    def add(self, x: float, y: float = 0.0) -> None:
        self.n += 1
        self.x += x
        self.y += y
        self.xx += x * x
        self.yy += y * y
        self.xy += x * y

    def variance_x(self) -> float:
        return (self.xx - self.x * self.x / self.n) / (self.n - 1) if self.n > 1 else 0.0

    def variance_y(self) -> float:
        return (self.yy - self.y * self.y / self.n) / (self.n - 1) if self.n > 1 else 0.0

    def covariance(self) -> float:
        return (self.xy - self.x * self.y / self.n) / (self.n - 1) if self.n > 1 else 0.0

    def correlation(self) -> float | None:
        vx, vy = self.variance_x(), self.variance_y()
        if self.n < 2 or vx <= 1e-15 or vy <= 1e-15:
            return None
        return max(-1.0, min(1.0, self.covariance() / math.sqrt(vx * vy)))


def _chosen(answer: Answer | None) -> list[str]:
    if answer is None:
        return []
    if answer.choice is not None:
        return [answer.choice]
    if answer.choices is not None:
        return list(answer.choices)
    if answer.most is not None:
        return [answer.most]
    return []


class _Dimension:
    """Per form (the set of the dimension's items an attempt received): per item (x_i) with the
    form's total (t), over the attempts that received exactly that set."""

    def __init__(self) -> None:
        self.rows: dict[frozenset[str], dict[str, _Moments]] = {}
        self.totals: dict[frozenset[str], _Moments] = {}

    def add(self, scores: dict[str, float]) -> None:
        key = frozenset(scores)
        total = sum(scores.values())
        moments = self.rows.setdefault(key, {code: _Moments() for code in scores})
        for code, value in scores.items():
            moments[code].add(value, total)
        self.totals.setdefault(key, _Moments()).add(total)

    def _form(self, key: frozenset[str]) -> FormReliability:
        moments, totals = self.rows[key], self.totals[key]
        items = sorted(key)
        k, n = len(items), totals.n
        total_variance = totals.variance_x()

        def alpha(keep: list[str]) -> float | None:
            m = len(keep)
            if m < 2 or n < 2:
                return None
            # variance of the total over `keep`: var(t) - 2 cov(x_d, t) + var(x_d) for the one dropped item d
            dropped = [c for c in items if c not in keep]
            if not dropped:
                variance = total_variance
            else:  # only single deletions are asked for
                [d] = dropped
                variance = total_variance - 2 * moments[d].covariance() + moments[d].variance_x()
            if variance <= 1e-15:
                return None
            return m / (m - 1) * (1 - sum(moments[c].variance_x() for c in keep) / variance)

        deleted = (
            [AlphaIfDeleted(code, alpha([c for c in items if c != code])) for code in items] if k > 2 else []
        )
        whole = alpha(items)
        code = None if whole is not None else "too_few_items" if k < 2 else "constant_total"
        return FormReliability(
            items,
            n,
            whole,
            deleted,
            str(reason(code, {})) if code else None,
            code,
            {} if code else None,
        )

    def reliability(self, dimension: str) -> DimensionReliability:
        # most-taken first; ties by the item codes, so the order is deterministic
        keys = sorted(self.totals, key=lambda k: (-self.totals[k].n, sorted(k)))
        reported = [key for key in keys if self.totals[key].n >= MIN_FORM_ATTEMPTS]
        below = [key for key in keys if self.totals[key].n < MIN_FORM_ATTEMPTS]
        forms = [self._form(key) for key in reported]
        below_attempts = sum(self.totals[key].n for key in below)
        if forms:
            first = forms[0]
            return DimensionReliability(
                dimension,
                len(first.items),
                first.attempts,
                first.alpha,
                first.alpha_if_deleted,
                first.reason,
                forms,
                len(below),
                below_attempts,
                first.reason_code,
                first.reason_params,
            )
        most = keys[0]
        params: ReasonParams = {
            "min_attempts": MIN_FORM_ATTEMPTS,
            "most": self.totals[most].n,
            "attempts": below_attempts,
            "forms": len(keys),
        }
        return DimensionReliability(
            dimension,
            len(most),
            self.totals[most].n,
            None,
            [],
            str(reason("no_form_at_minimum", params)),
            [],
            len(below),
            below_attempts,
            "no_form_at_minimum",
            params,
        )


class StatisticsAccumulator:
    """Feed it final score documents one at a time (constant memory in the number of attempts)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.moments: dict[str, _Moments] = defaultdict(_Moments)  # item score x, rest score y
        self.types: dict[str, str] = {}
        self.omitted: dict[str, int] = defaultdict(int)
        self.options: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.dimensions: dict[str, _Dimension] = defaultdict(_Dimension)

    def add(self, document: ScoreDocument, answers: dict[str, Answer]) -> None:
        self.attempts += 1
        items = [item for item in document.items if item.possible > 0]
        earned = sum(item.earned for item in items)
        possible = sum(item.possible for item in items)
        per_dimension: dict[str, dict[str, float]] = defaultdict(dict)
        for item in items:
            rest_possible = possible - item.possible
            rest = (earned - item.earned) / rest_possible if rest_possible > 0 else 0.0
            self.moments[item.item].add(item.earned / item.possible, rest)
            self.types[item.item] = item.type
            self.omitted[item.item] += item.status == "omitted"
            for key in _chosen(answers.get(item.item)):
                self.options[item.item][key] += 1
            for c in item.contributions:
                if c.dimension:
                    per_dimension[c.dimension][item.item] = (
                        per_dimension[c.dimension].get(item.item, 0.0) + c.earned / item.possible
                    )
        for dimension, scores in per_dimension.items():
            self.dimensions[dimension].add(scores)

    def result(self) -> ItemStatistics:
        statistics = []
        for code in sorted(self.moments):
            m = self.moments[code]
            discrimination = m.correlation()
            statistics.append(
                ItemStatistic(
                    code,
                    self.types[code],
                    m.n,
                    m.x / m.n,
                    discrimination,
                    self.omitted[code] / m.n,
                    {k: v / m.n for k, v in sorted(self.options[code].items())},
                    discrimination is not None and discrimination < NEGATIVE,
                )
            )
        return ItemStatistics(
            self.attempts, statistics, [self.dimensions[d].reliability(d) for d in sorted(self.dimensions)]
        )


def item_statistics(attempts: list[tuple[ScoreDocument, dict[str, Answer]]]) -> ItemStatistics:
    accumulator = StatisticsAccumulator()
    for document, answers in attempts:
        accumulator.add(document, answers)
    return accumulator.result()


def pearson(xs: list[float], ys: list[float]) -> float | None:
    m = _Moments()
    for x, y in zip(xs, ys, strict=True):
        m.add(x, y)
    return m.correlation()


def cronbach_alpha(matrix: list[list[float]]) -> float | None:
    """Rows are attempts, columns items: k/(k-1) x (1 - sum of item variances / variance of totals)."""
    if not matrix or len(matrix[0]) < 2 or len(matrix) < 2:
        return None
    k = len(matrix[0])
    columns = [_Moments() for _ in range(k)]
    totals = _Moments()
    for row in matrix:
        for j, value in enumerate(row):
            columns[j].add(value)
        totals.add(sum(row))
    if totals.variance_x() <= 1e-15:
        return None
    return k / (k - 1) * (1 - sum(c.variance_x() for c in columns) / totals.variance_x())
