"""`score_many` (many attempts per call, each distinct answer to an item credited once) gives exactly
the documents `score` gives one attempt at a time: same structs, same JSON bytes (so stored numbers
agree to every decimal, not only the 6 the engine keeps), over Hypothesis-generated attempts of the
sample bank, batches mixing frameworks, forms and two versions of an item, with repeated answers
(the memo's hits) and ratings that agree in value but not in their ids."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import SingleChoice, option_keys
from service.scoring.engine import AgreedRating, ScoredItem, ScoringInput, score, score_many
from tests.unit.test_scoring_engine import (
    BANK,
    BANK_ITEMS,
    FRAMEWORK,
    FRAMEWORK_HASH,
    TINY,
    TINY_ANSWERS,
    TINY_HASH,
    TINY_ITEMS,
    Attempt,
    attempts,
)

# a second version of the first single-choice item, its key moved (a key correction): another object,
# so another memo entry, though code and answers are the same
_FIRST_SC = next(i for i, item in enumerate(BANK) if isinstance(item, SingleChoice))
_ORIGINAL = BANK[_FIRST_SC]
assert isinstance(_ORIGINAL, SingleChoice)
_CORRECTED = msgspec.structs.replace(
    _ORIGINAL,
    key=msgspec.structs.replace(
        _ORIGINAL.key, correct=next(k for k in option_keys(_ORIGINAL) if k != _ORIGINAL.key.correct)
    ),
)
CORRECTED_ITEMS = [*BANK_ITEMS[:_FIRST_SC], ScoredItem(2, _CORRECTED), *BANK_ITEMS[_FIRST_SC + 1 :]]
HALF_FORM = BANK_ITEMS[::2]


def _same(inputs: list[ScoringInput]) -> None:
    batched = score_many(inputs)
    assert len(batched) == len(inputs)
    for data, document in zip(inputs, batched, strict=True):
        alone = score(data)
        assert document == alone
        assert msgspec.json.encode(document) == msgspec.json.encode(alone)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(attempts(), st.integers(0, 3)), min_size=1, max_size=6), st.data())
def test_a_batch_scores_every_attempt_as_scoring_it_alone(
    drawn: list[tuple[Attempt, int]], data: st.DataObject
) -> None:
    inputs: list[ScoringInput] = []
    for attempt, form in drawn:
        items = (BANK_ITEMS, CORRECTED_ITEMS, HALF_FORM, BANK_ITEMS)[form]
        inputs.append(attempt.input(items))
        if form == 3:  # the same answers again, ratings of the same value under other ids
            ratings = {code: AgreedRating(r.fraction, ["another"]) for code, r in attempt.ratings.items()}
            inputs.append(ScoringInput(FRAMEWORK, FRAMEWORK_HASH, items, attempt.answers, ratings))
    if data.draw(st.booleans()):  # another framework in the same batch
        inputs.insert(
            data.draw(st.integers(0, len(inputs))), ScoringInput(TINY, TINY_HASH, TINY_ITEMS, TINY_ANSWERS)
        )
    _same(inputs)


def test_an_empty_batch_and_an_empty_attempt() -> None:
    assert score_many([]) == []
    _same([ScoringInput(FRAMEWORK, FRAMEWORK_HASH, BANK_ITEMS, {}), ScoringInput(TINY, TINY_HASH, [], {})])


@settings(max_examples=40, deadline=None)
@given(st.lists(attempts(), min_size=2, max_size=5), st.data())
def test_attempts_whose_indicator_sums_repeat_score_as_each_alone(
    drawn: list[Attempt], data: st.DataObject
) -> None:
    """`score_many` makes an indicator's score once per (indicator, exact raw, exact max) in a batch (the
    tree's `indicator_scores`): attempts that share some answers and differ in others hit it and miss it
    indicator by indicator; every document must still be `score`'s, byte for byte (the stored 6 decimals
    and every level and feedback with them), in whichever order the batch comes."""
    first = drawn[0]
    inputs = [first.input()]
    for other in drawn[1:]:
        # the first attempt's answers to some items, this one's to the rest: equal sums for the indicators
        # only those items load, other sums elsewhere
        kept = data.draw(st.sets(st.sampled_from(sorted(first.answers) or ["-"])))
        answers = {**other.answers, **{code: first.answers[code] for code in kept if code in first.answers}}
        inputs.append(ScoringInput(FRAMEWORK, FRAMEWORK_HASH, BANK_ITEMS, answers, first.ratings))
        inputs.append(other.input(CORRECTED_ITEMS))
    _same(data.draw(st.permutations(inputs)))
