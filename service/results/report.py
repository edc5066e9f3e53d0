"""The candidate's own report: a profile over the framework's dimensions, with levels and what
the next level asks for, shown as the assessment's feedback policy allows. Pure: no I/O.

Per-item credit is not part of it: the report must not turn into an answer key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from service.assessments.model import AssessmentContent
from service.rubrics.model import FrameworkContent, Localized
from service.scoring.engine import Feedback, ScoreDocument


class DimensionResult(msgspec.Struct, omit_defaults=True):
    dimension: str
    name: Localized
    scaled: float
    level: str
    level_label: Localized
    feedback: Feedback | None = None


class IndicatorResult(msgspec.Struct, omit_defaults=True):
    indicator: str
    dimension: str
    statement: Localized
    scaled: float
    level: str
    feedback: Feedback | None = None


class CandidateReport(msgspec.Struct):
    """`available` false: the scores are withheld (feedback `never`, or until `available_from`)."""

    available: bool
    feedback_policy: Literal["immediate", "after_window", "never"]
    status: Literal["final", "provisional", "not_submitted"]
    available_from: datetime | None = None
    overall_scaled: float | None = None
    overall_level: str | None = None
    overall_level_label: Localized | None = None
    dimensions: list[DimensionResult] = msgspec.field(default_factory=list)
    indicators: list[IndicatorResult] = msgspec.field(default_factory=list)
    pending_ratings: int = 0


def release_time(content: AssessmentContent, closed_at: datetime | None) -> datetime | None:
    """When an `after_window` report opens: the window's end, or the moment the assessment was closed."""
    ends = [t for t in (content.window.closes_at, closed_at) if t is not None]
    return min(ends) if ends else None


def candidate_report(document: ScoreDocument | None, framework: FrameworkContent, content: AssessmentContent,
                     closed_at: datetime | None, now: datetime) -> CandidateReport:
    policy = content.feedback
    if document is None:
        return CandidateReport(False, policy, "not_submitted")
    if policy == "never":
        return CandidateReport(False, policy, document.status)
    if policy == "after_window":
        opens = release_time(content, closed_at)
        if opens is None or now < opens:
            return CandidateReport(False, policy, document.status, available_from=opens)
    labels = {level.code: level.label for level in framework.levels}
    names = {}
    statements = {}
    stack = list(framework.dimensions)
    while stack:
        dimension = stack.pop()
        names[dimension.code] = dimension.name
        statements.update({i.code: i.statement for i in dimension.indicators})
        stack += dimension.children
    overall = document.overall
    return CandidateReport(
        True, policy, document.status,
        overall_scaled=overall.scaled, overall_level=overall.level,
        overall_level_label=labels.get(overall.level) if overall.level else None,
        dimensions=[DimensionResult(d.dimension, names[d.dimension], d.scaled, d.level, labels[d.level], d.feedback)
                    for d in document.dimensions],
        indicators=[IndicatorResult(i.indicator, i.dimension, statements[i.indicator], i.scaled, i.level, i.feedback)
                    for i in document.indicators],
        pending_ratings=len(document.pending))
