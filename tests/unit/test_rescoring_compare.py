"""A rescoring batch compares the new documents with the current ones in their stored (lean) forms,
without hydrating them (`rescoring.compare`); it must find exactly what comparing the whole documents
finds (`rescoring.changes`, and whole equality for what a commit stores): over Hypothesis-generated
batches of the sample banks' attempts rescored with a corrected key, new item versions that move no
credit, changed ratings and a revised framework, with current documents stored lean, stored whole
(before lean documents), or missing, each read back through its JSON."""

from __future__ import annotations

from collections import Counter
from uuid import UUID, uuid4

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import SingleChoice, option_keys
from service.results.rescoring import changes, compare
from service.rubrics.model import FrameworkContent
from service.scoring import lean
from service.scoring.engine import AgreedRating, ScoredItem, ScoreDocument, ScoringInput, score_many
from tests.unit.test_lean_scores import BANKS, FRAMEWORKS, INDEXES, inputs
from tests.unit.test_scoring_engine import RATING_FRACTIONS

_CADRE, _CADRE_HASH = FRAMEWORKS["cadre-ai-literacy"]
# the cadre framework with its cut scores moved: another version (content hash) of the same framework
_REVISED: FrameworkContent = msgspec.structs.replace(
    _CADRE,
    cut_scores=msgspec.structs.replace(
        _CADRE.cut_scores,
        overall=[
            msgspec.structs.replace(c, min_score=min(100.0, c.min_score + 7))
            for c in _CADRE.cut_scores.overall
        ],
    ),
)
_REVISED_HASH = "sha256:cadre-revised"
_INDEXES = INDEXES | {_REVISED_HASH: lean.FrameworkIndex(_REVISED)}


def _corrected(scored: ScoredItem) -> ScoredItem:
    """A key correction: the next version of a single-choice item, keyed on another option."""
    item = scored.item
    if not isinstance(item, SingleChoice):
        return scored
    other = next(k for k in option_keys(item) if k != item.key.correct)
    return ScoredItem(
        scored.version + 1,
        msgspec.structs.replace(item, key=msgspec.structs.replace(item.key, correct=other)),
    )


def _rescored(data: ScoringInput, how: str) -> ScoringInput:
    if how == "corrected key":
        return msgspec.structs.replace(data, items=[_corrected(s) for s in data.items])
    if how == "new versions, same credit":
        return msgspec.structs.replace(data, items=[ScoredItem(s.version + 1, s.item) for s in data.items])
    if how == "ratings changed":
        return msgspec.structs.replace(
            data,
            ratings={
                code: AgreedRating(
                    RATING_FRACTIONS[(RATING_FRACTIONS.index(r.fraction) + 1) % 5], r.rating_ids
                )
                for code, r in data.ratings.items()
            },
        )
    if how == "framework revised" and data.framework_hash == _CADRE_HASH:
        return msgspec.structs.replace(data, framework=_REVISED, framework_hash=_REVISED_HASH)
    return data


def _stored(document: ScoreDocument, how: str) -> lean.StoredForm:
    """The current document as a batch reads it back: its JSON as stored, lean or whole."""
    form = document if how == "whole" else lean.store_forms([document], _INDEXES)[0]
    return lean.decode(msgspec.json.encode(form))


def _reference(old: dict[UUID, ScoreDocument], new: dict[UUID, ScoreDocument]) -> tuple[object, ...]:
    """What comparing the whole documents finds (the comparison before lean forms)."""
    counts: Counter[str] = Counter()
    scores: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    changed, stored = set(), {}
    for attempt, document in new.items():
        previous = old.get(attempt)
        differs, score_changed, level_changed, dims, dim_levels = changes(previous, document)
        counts["attempts"] += 1
        counts["changed"] += differs
        counts["score"] += score_changed
        counts["level"] += level_changed
        counts["abilities"] += (previous.abilities if previous else None) != document.abilities
        scores.update(dims)
        levels.update(dim_levels)
        if differs:
            changed.add(attempt)
        if previous != document:
            stored[attempt] = document
    return counts, scores, levels, changed, stored


HOW = ["same", "corrected key", "new versions, same credit", "ratings changed", "framework revised"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(inputs(), st.sampled_from(HOW), st.sampled_from(["lean", "lean", "whole", "missing"])),
        min_size=1,
        max_size=8,
    )
)
def test_comparing_stored_forms_finds_what_comparing_whole_documents_finds(
    batch: list[tuple[ScoringInput, str, str]],
) -> None:
    ids = [uuid4() for _ in batch]
    before = score_many([data for data, _, _ in batch])
    after = score_many([_rescored(data, how) for data, how, _ in batch])
    old_whole = {a: d for a, d, (_, _, kept) in zip(ids, before, batch, strict=True) if kept != "missing"}
    old_stored = {
        a: _stored(d, kept)
        for a, d, (_, _, kept) in zip(ids, before, batch, strict=True)
        if kept != "missing"
    }
    new = dict(zip(ids, after, strict=True))

    tally = compare(old_stored, new, _INDEXES)

    counts, scores, levels, changed, stored = _reference(old_whole, new)
    assert +tally.counts == +counts  # type: ignore[operator]
    assert tally.dimension_scores == scores
    assert tally.dimension_levels == levels
    assert tally.changed == changed
    assert tally.stored == stored
    # what a commit writes: each stored document's own stored form
    assert tally.forms == {a: lean.store_forms([d], _INDEXES)[0] for a, d in stored.items()}


def test_a_document_the_lean_form_cannot_redo_is_compared_whole() -> None:
    unanswered = ScoringInput(
        _CADRE, _CADRE_HASH, [ScoredItem(1, item) for item in BANKS["cadre-ai-literacy"]], {}
    )
    document = score_many([unanswered])[0]
    assert document.overall.feedback is not None
    odd = msgspec.structs.replace(document, overall=msgspec.structs.replace(document.overall, feedback=None))
    attempt = uuid4()
    old = {attempt: _stored(document, "lean")}
    tally = compare(old, {attempt: odd}, _INDEXES)
    assert tally.stored == {attempt: odd} and tally.forms == {attempt: odd}
    assert tally.changed == {attempt}  # the feedback differs, so the substance does
    same = compare(old, {attempt: document}, _INDEXES)
    assert same.stored == {} and same.changed == set()
