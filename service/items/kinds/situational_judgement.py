"""Situational judgement: a scenario and responses to it, each keyed with an expert credit per
loaded indicator, answered in one of three formats (`best`, `most_least`, `rate`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from service.errors import FieldError
from service.i18n import msg
from service.items.answers import Answer, AnswerRule, AnswerWith, CandidateItem
from service.items.base import Credit as CreditValue
from service.items.base import ItemBase, Option, OptionKey, SjtFormat
from service.items.kinds.kind import (
    Credit,
    ItemKind,
    candidate_options,
    check_choice,
    check_most_least,
    check_ratings,
    option_texts,
    unknown_option,
)
from service.rubrics.model import Code, Localized


class OptionCredit(msgspec.Struct, forbid_unknown_fields=True):
    """Expert-keyed credit of one option, per loaded indicator (0 to the item's points)."""

    option: OptionKey
    credit: dict[Code, CreditValue]


class SituationalJudgementKey(msgspec.Struct, forbid_unknown_fields=True):
    options: list[OptionCredit]


class SituationalJudgement(ItemBase, tag="situational_judgement", kw_only=True):
    """A scenario and responses to it, each keyed with an expert credit per loaded indicator.

    One key serves every format; the scoring engine reads it as the options' effectiveness:
    `best` (pick the best response) earns the chosen option's credit; `most_least` (the
    response most and least likely to be taken) rewards a most-likely option with high credit
    and a least-likely option with low credit; `rate` (rate every option's effectiveness from
    1 = very poor to `rating_points`) rewards ratings close to the keyed credit placed on that
    scale."""

    format: SjtFormat
    options: list[Option]
    key: SituationalJudgementKey
    rating_points: Annotated[int, msgspec.Meta(ge=3, le=10)] = 5
    shuffle_options: bool = True


_ANSWER_WITH: dict[SjtFormat, AnswerWith] = {"best": "choice", "most_least": "most_least", "rate": "ratings"}


def _effectiveness(item: SituationalJudgement) -> dict[str, dict[str, float]]:
    """Option -> indicator -> keyed credit as a share of the item's points."""
    return {
        entry.option: {code: credit / item.points for code, credit in entry.credit.items()}
        for entry in item.key.options
    }


class SituationalJudgementKind(ItemKind[SituationalJudgement]):
    tag = "situational_judgement"
    struct = SituationalJudgement

    def view(self, item: SituationalJudgement, option_order: list[str] | None) -> CandidateItem:
        return self.candidate(
            item,
            options=candidate_options(item.options, option_order),
            answer_with=_ANSWER_WITH[item.format],
            format=item.format,
            rating_points=item.rating_points if item.format == "rate" else None,
        )

    def check(self, rule: AnswerRule, answer: Answer, pointer: str) -> list[FieldError]:
        if rule.answer_with == "most_least":
            return check_most_least(rule, answer, pointer)
        if rule.answer_with == "ratings":
            return check_ratings(rule, answer, pointer)
        return check_choice(rule, answer, pointer)

    def credit(self, item: SituationalJudgement, answer: Answer, rating: float | None) -> Credit:
        keyed = _effectiveness(item)
        indicators = [loading.indicator for loading in item.loadings]
        if item.format == "best":
            chosen = keyed.get(answer.choice or "", {})
            return Credit({i: chosen.get(i, 0.0) for i in indicators}, f"best: chose {answer.choice}")
        if item.format == "most_least":
            most = keyed.get(answer.most or "")
            least = keyed.get(answer.least or "")
            fractions = {
                i: ((most[i] if most else 0.0) + (1.0 - least[i] if least else 0.0)) / 2 for i in indicators
            }
            return Credit(fractions, f"most_least: most {answer.most}, least {answer.least}")
        # rate: each option's rating, placed on 0..1, against its keyed effectiveness
        ratings = answer.ratings or {}
        scale = item.rating_points - 1
        fractions = {}
        for i in indicators:
            closeness = [
                1.0 - abs((ratings[o] - 1) / scale - keyed[o][i]) if o in ratings else 0.0 for o in keyed
            ]
            fractions[i] = sum(closeness) / len(closeness)
        return Credit(fractions, f"rate: {dict(sorted(ratings.items()))}")

    def validate(self, item: SituationalJudgement) -> list[FieldError]:
        keys = {option.key for option in item.options}
        loaded = {loading.indicator for loading in item.loadings}
        errors: list[FieldError] = []
        keyed: set[str] = set()
        for i, entry in enumerate(item.key.options):
            pointer = f"/key/options/{i}"
            errors += unknown_option(entry.option, keys, f"{pointer}/option")
            if entry.option in keyed:
                errors.append(
                    FieldError(
                        msg("option '{option}' is keyed twice", option=entry.option), f"{pointer}/option"
                    )
                )
            keyed.add(entry.option)
            for indicator, credit in entry.credit.items():
                if indicator not in loaded:
                    errors.append(
                        FieldError(
                            msg(
                                "credit for '{indicator}', which the item does not load on",
                                indicator=indicator,
                            ),
                            f"{pointer}/credit/{indicator}",
                        )
                    )
                elif not 0 <= credit <= item.points:
                    errors.append(
                        FieldError(
                            msg(
                                "credit {credit:g} is outside the item's range 0-{points:g}",
                                credit=credit,
                                points=item.points,
                            ),
                            f"{pointer}/credit/{indicator}",
                        )
                    )
            errors.extend(
                FieldError(
                    msg("no credit for loaded indicator '{indicator}'", indicator=indicator),
                    f"{pointer}/credit",
                )
                for indicator in sorted(loaded - entry.credit.keys())
            )
        errors.extend(
            FieldError(msg("option '{key}' has no keyed credit", key=option.key), "/key/options")
            for option in item.options
            if option.key not in keyed
        )
        return errors

    def texts(self, item: SituationalJudgement) -> list[tuple[str, Localized]]:
        return option_texts(item.options)

    def keyed_options(self, item: SituationalJudgement) -> set[str]:
        """The best option(s): the highest loading-weighted credit (none in the `rate` format)."""
        if item.format == "rate":
            return set()
        weights = {loading.indicator: loading.weight for loading in item.loadings}
        totals = {
            entry.option: sum(weights.get(code, 0) * credit for code, credit in entry.credit.items())
            for entry in item.key.options
        }
        top = max(totals.values(), default=0)
        return {option for option, total in totals.items() if total == top}


KIND = SituationalJudgementKind()
