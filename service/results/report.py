"""The candidate's own report: a profile over the framework's dimensions, with levels and what
the next level asks for, shown as the assessment's feedback policy allows. Pure: no I/O.

Per-item credit is not part of it: the report must not turn into an answer key.

It is written for one reader in one language: every text is the framework's text in the
language negotiated from `Accept-Language` (zh-CN or en; a text missing in it falls back to
zh-CN, then en), and `notice`, the one sentence saying what the report shows, comes from the
message catalog.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from service.assessments.model import AssessmentContent
from service.i18n import msg, nmsg, render
from service.rubrics.localize import choose
from service.rubrics.model import FrameworkContent, Localized
from service.scoring.engine import Feedback, ScoreDocument


class ReportFeedback(msgspec.Struct, omit_defaults=True):
    """What the next level asks for."""

    next_level: str
    next_level_label: str
    performance: str | None = None
    next_steps: str | None = None


class DimensionResult(msgspec.Struct, omit_defaults=True):
    dimension: str
    name: str
    scaled: float
    level: str
    level_label: str
    feedback: ReportFeedback | None = None


class IndicatorResult(msgspec.Struct, omit_defaults=True):
    indicator: str
    dimension: str
    statement: str
    scaled: float
    level: str
    feedback: ReportFeedback | None = None


class CandidateReport(msgspec.Struct):
    """`available` false: the scores are withheld (feedback `never`, or until `available_from`).
    `notice` says so, or that ratings are pending, in the report's language."""

    available: bool
    feedback_policy: Literal["immediate", "after_window", "never"]
    status: Literal["final", "provisional", "not_submitted"]
    available_from: datetime | None = None
    overall_scaled: float | None = None
    overall_level: str | None = None
    overall_level_label: str | None = None
    dimensions: list[DimensionResult] = msgspec.field(default_factory=list)
    indicators: list[IndicatorResult] = msgspec.field(default_factory=list)
    pending_ratings: int = 0
    notice: str | None = None


def release_time(content: AssessmentContent, closed_at: datetime | None) -> datetime | None:
    """When an `after_window` report opens: the window's end, or the moment the assessment was closed."""
    ends = [t for t in (content.window.closes_at, closed_at) if t is not None]
    return min(ends) if ends else None


def text_in(localized: Localized, locale: str) -> str:
    """One text of a localized map: `locale`, else the fallbacks (zh-CN, then en)."""
    return localized[choose(list(localized), [locale])]


def _feedback(feedback: Feedback | None, locale: str) -> ReportFeedback | None:
    if feedback is None:
        return None
    return ReportFeedback(
        feedback.next_level,
        text_in(feedback.next_level_label, locale),
        text_in(feedback.performance, locale) if feedback.performance else None,
        text_in(feedback.next_steps, locale) if feedback.next_steps else None,
    )


def candidate_report(
    document: ScoreDocument | None,
    framework: FrameworkContent,
    content: AssessmentContent,
    closed_at: datetime | None,
    now: datetime,
    locale: str = "zh-CN",
) -> CandidateReport:
    policy = content.feedback
    if document is None:
        return CandidateReport(
            False,
            policy,
            "not_submitted",
            notice=render(msg("Your report is ready once this attempt is submitted."), locale),
        )
    if policy == "never":
        return CandidateReport(
            False,
            policy,
            document.status,
            notice=render(msg("This assessment does not show scores to candidates."), locale),
        )
    if policy == "after_window":
        opens = release_time(content, closed_at)
        if opens is None or now < opens:
            notice = (
                msg("Your report opens when the assessment window closes.")
                if opens is not None
                else msg("Your report opens when the assessment is closed.")
            )
            return CandidateReport(
                False, policy, document.status, available_from=opens, notice=render(notice, locale)
            )
    return profile(document, framework, policy, locale)


def profile(
    document: ScoreDocument,
    framework: FrameworkContent,
    policy: Literal["immediate", "after_window", "never"],
    locale: str = "zh-CN",
) -> CandidateReport:
    """The whole profile, whatever the feedback policy: what the candidate sees once the policy lets
    them, and what staff who may read results (the console's printable individual report) see."""
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
    pending = len(document.pending)
    return CandidateReport(
        True,
        policy,
        document.status,
        overall_scaled=overall.scaled,
        overall_level=overall.level,
        overall_level_label=text_in(labels[overall.level], locale) if overall.level in labels else None,
        dimensions=[
            DimensionResult(
                d.dimension,
                text_in(names[d.dimension], locale),
                d.scaled,
                d.level,
                text_in(labels[d.level], locale),
                _feedback(d.feedback, locale),
            )
            for d in document.dimensions
        ],
        indicators=[
            IndicatorResult(
                i.indicator,
                i.dimension,
                text_in(statements[i.indicator], locale),
                i.scaled,
                i.level,
                _feedback(i.feedback, locale),
            )
            for i in document.indicators
        ],
        pending_ratings=pending,
        notice=render(
            nmsg(
                "{count} open response awaits rating: these scores may still change.",
                "{count} open responses await rating: these scores may still change.",
                pending,
            ),
            locale,
        )
        if pending
        else None,
    )
