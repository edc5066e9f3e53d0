"""Lean score documents (`service.scoring.lean`): the stored form, without what the framework version and
the document itself give again, hydrates back to exactly the engine's document (the same struct, the same
JSON bytes), over Hypothesis-generated attempts of both shipped sample banks, with pending ratings,
pretest items and abilities; through its JSON too; and what cannot be redone is stored whole."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from service.items.model import Item, OpenResponse
from service.items.samples import sample_assessment, sample_bank
from service.rubrics.model import FrameworkContent
from service.rubrics.templates import get_template
from service.scoring import lean
from service.scoring.engine import (
    Abilities,
    AgreedRating,
    DimensionAbility,
    ScoredItem,
    ScoreDocument,
    ScoringInput,
    score,
    score_many,
)
from tests.unit.test_scoring_engine import (
    RATING_FRACTIONS,
    TINY,
    TINY_ANSWERS,
    TINY_HASH,
    TINY_ITEMS,
    answers_to,
)

SAMPLES = ["cadre-ai-literacy", "teacher-digital-literacy"]
FRAMEWORKS: dict[str, tuple[FrameworkContent, str]] = {}
BANKS: dict[str, list[Item]] = {}
for _code in SAMPLES:
    _template = get_template(sample_assessment(_code).framework.code)
    FRAMEWORKS[_code] = (_template.content, _template.content_hash)
    BANKS[_code] = sample_bank(_code).items
INDEXES = {digest: lean.FrameworkIndex(content) for content, digest in FRAMEWORKS.values()} | {
    TINY_HASH: lean.FrameworkIndex(TINY)
}


def _round_trip(document: ScoreDocument) -> None:
    index = INDEXES[document.provenance.framework_hash]
    stripped = lean.strip(document)
    assert lean.hydrate(stripped, index) == document
    assert msgspec.json.encode(lean.hydrate(stripped, index)) == msgspec.json.encode(document)
    # through the JSON a column stores, and told apart from a whole document's
    stored = lean.decode(msgspec.json.encode(stripped))
    assert isinstance(stored, lean.LeanDocument)
    assert msgspec.json.encode(lean.hydrate(stored, index)) == msgspec.json.encode(document)
    whole = lean.decode(msgspec.json.encode(document))
    assert isinstance(whole, ScoreDocument) and whole == document
    assert len(msgspec.json.encode(stripped)) < len(msgspec.json.encode(document))


@st.composite
def inputs(draw: st.DrawFn) -> ScoringInput:
    """An attempt at a sample bank's items (some of them, some as pretest), about one in five omitted,
    answered open responses rated or awaiting a rating."""
    sample = draw(st.sampled_from(SAMPLES))
    framework, digest = FRAMEWORKS[sample]
    bank = BANKS[sample]
    chosen = draw(st.lists(st.sampled_from(range(len(bank))), unique=True, max_size=len(bank)))
    pretest_count = draw(st.integers(0, min(3, len(chosen))))
    answers, ratings = {}, {}
    for i in chosen:
        item = bank[i]
        if draw(st.integers(0, 4)) == 0:
            continue
        answers[item.code] = draw(answers_to(item))
        if isinstance(item, OpenResponse) and draw(st.booleans()):
            fraction = draw(st.sampled_from(RATING_FRACTIONS))
            ratings[item.code] = AgreedRating(fraction, [f"{item.code}-r{n}" for n in (2, 1)])
    version = draw(st.integers(1, 3))
    items = [ScoredItem(version, bank[i]) for i in chosen[pretest_count:]]
    pretest = [ScoredItem(1, bank[i]) for i in chosen[:pretest_count]]
    return ScoringInput(framework, digest, items, answers, ratings, pretest)


def _with_abilities(document: ScoreDocument) -> ScoreDocument:
    measured = [
        DimensionAbility(d.dimension, 0.25, 0.5, 525.0, 50.0, d.level, 3)
        for d in document.dimensions
        if d.dimension in document.overall.weights_used
    ]
    return msgspec.structs.replace(document, abilities=Abilities("a-calibration-id", measured))


@settings(max_examples=60, deadline=None)
@given(inputs(), st.booleans())
def test_a_stripped_document_hydrates_to_the_engines_exactly(
    data: ScoringInput, with_abilities: bool
) -> None:
    document = score(data)
    _round_trip(_with_abilities(document) if with_abilities and document.status == "final" else document)


@settings(max_examples=20, deadline=None)
@given(st.lists(inputs(), min_size=1, max_size=8))
def test_a_batch_is_stored_lean_and_hydrates_back(batch: list[ScoringInput]) -> None:
    documents = score_many([*batch, ScoringInput(TINY, TINY_HASH, TINY_ITEMS, TINY_ANSWERS)])
    forms = lean.store_forms(documents, INDEXES)
    assert all(isinstance(form, lean.LeanDocument) for form in forms)
    for form, document in zip(forms, documents, strict=True):
        assert isinstance(form, lean.LeanDocument)
        stored = lean.decode(msgspec.json.encode(form))
        assert isinstance(stored, lean.LeanDocument)
        index = INDEXES[document.provenance.framework_hash]
        assert msgspec.json.encode(lean.hydrate(stored, index)) == msgspec.json.encode(document)


def test_the_edges_round_trip() -> None:
    cadre, digest = FRAMEWORKS["cadre-ai-literacy"]
    empty = score(ScoringInput(cadre, digest, [], {}))
    assert empty.overall.scaled is None
    unanswered = score(
        ScoringInput(cadre, digest, [ScoredItem(1, item) for item in BANKS["cadre-ai-literacy"]], {})
    )
    tiny = score(ScoringInput(TINY, TINY_HASH, TINY_ITEMS, TINY_ANSWERS))
    for document in (empty, unanswered, tiny, _with_abilities(tiny)):
        _round_trip(document)


def test_what_the_lean_form_cannot_redo_is_stored_whole() -> None:
    tiny = score(ScoringInput(TINY, TINY_HASH, TINY_ITEMS, TINY_ANSWERS))
    cadre_index = INDEXES[FRAMEWORKS["cadre-ai-literacy"][1]]
    changed_feedback = msgspec.structs.replace(
        tiny, overall=msgspec.structs.replace(tiny.overall, feedback=None)
    )
    odd_pretest = msgspec.structs.replace(
        tiny, pretest=[msgspec.structs.replace(tiny.items[0], explanation="no prefix")]
    )
    forms = lean.store_forms(
        [tiny, changed_feedback, odd_pretest, tiny],
        {TINY_HASH: INDEXES[TINY_HASH]},
    )
    assert [type(f).__name__ for f in forms] == [
        "LeanDocument",
        "ScoreDocument",
        "ScoreDocument",
        "LeanDocument",
    ]
    # another framework's index (codes it does not have), or none: whole
    assert lean.store_forms([tiny], {TINY_HASH: cadre_index}) == [tiny]
    assert lean.store_forms([tiny], {}) == [tiny]
    # a lean document names the framework versions it needs; whole ones need none
    assert lean.framework_hashes([lean.strip(tiny), tiny]) == {TINY_HASH}
