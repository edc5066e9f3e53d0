"""Score documents whole and lean: what takes the bytes, and what reading one costs (no database).

For the form `bench/scoring.py` uses (the cadre bank's first 60 items) and for each whole sample bank:
one document of random answers (open responses rated), its size as compact JSON per part (and the
localized feedback, contributions, explanations within), and its lean form's (`service.scoring.lean`);
then, over `--documents` such documents, the CPU time per document to decode a whole one, to decode and
hydrate a lean one, and to make the lean forms of a `score_many` batch as `store_documents` does; last,
the Python steps of a rescoring batch of `--batch` attempts after a key correction, per attempt.

    ./dev python bench/score_documents.py [--documents 200] [--batch 500]
"""

from __future__ import annotations

import argparse
import random
import time
import zlib
from typing import Any

import msgspec
from _harness import ROOT
from scoring import random_answer, sixty_items

from service.items.model import Item, OpenResponse
from service.items.samples import sample_bank
from service.items.views import Answer
from service.rubrics.templates import get_template
from service.scoring import lean
from service.scoring.engine import AgreedRating, ScoredItem, ScoreDocument, ScoringInput, score, score_many


def _input(framework: str, items: list[Item], rng: random.Random) -> ScoringInput:
    template = get_template(framework)
    answers = {i.code: msgspec.convert(a, Answer) for i in items if (a := random_answer(i, rng)) is not None}
    ratings = {
        i.code: AgreedRating(0.5, ["r1", "r2"])
        for i in items
        if isinstance(i, OpenResponse) and i.code in answers
    }
    return ScoringInput(
        template.content, template.content_hash, [ScoredItem(1, i) for i in items], answers, ratings
    )


def _size(value: Any) -> int:
    return len(msgspec.json.encode(value))


def breakdown(label: str, data: ScoringInput) -> None:
    document = score(data)
    whole, stripped = msgspec.json.encode(document), msgspec.json.encode(lean.strip(document))
    parts = msgspec.to_builtins(document)
    feedback = sum(_size(x.get("feedback")) for x in parts["indicators"] if "feedback" in x)
    feedback_up = sum(_size(x["feedback"]) for x in parts["dimensions"] if "feedback" in x)
    feedback_up += _size(parts["overall"]["feedback"]) if "feedback" in parts["overall"] else 0
    print(
        f"{label}: {len(data.items)} items, {len(document.indicators)} indicators, {len(document.dimensions)} "
        f"dimensions; whole {len(whole):,} B (zlib {len(zlib.compress(whole)):,}), lean {len(stripped):,} B "
        f"(zlib {len(zlib.compress(stripped)):,}), {len(stripped) / len(whole):.0%}"
    )
    print("  whole: " + ", ".join(f"{k} {_size(v):,}" for k, v in parts.items()))
    print(
        f"  within: feedback of indicators {feedback:,}, of dimensions and overall {feedback_up:,}; item "
        f"contributions {sum(_size(i['contributions']) for i in parts['items']):,}; explanations "
        f"{sum(_size(i['explanation']) for i in parts['items']):,}; provenance.item_versions "
        f"{_size(parts['provenance']['item_versions']):,}"
    )
    print(
        "  lean:  "
        + ", ".join(f"{k} {_size(v):,}" for k, v in msgspec.to_builtins(lean.strip(document)).items())
    )


def reading(n: int) -> None:
    rng = random.Random(7)
    items = sixty_items()
    inputs = [_input("cadre-ai-literacy", items, rng) for _ in range(n)]
    documents = score_many(inputs)
    index = {inputs[0].framework_hash: lean.FrameworkIndex(inputs[0].framework)}
    whole = [msgspec.json.encode(d) for d in documents]
    forms = lean.store_forms(documents, index)
    stored = [msgspec.json.encode(form) for form in forms]
    decoder = msgspec.json.Decoder(ScoreDocument)

    def per_document(work: Any) -> float:
        began = time.process_time()
        work()
        return (time.process_time() - began) / n * 1e6

    framework = index[inputs[0].framework_hash]
    print(
        f"{n} documents of the 60-item form, CPU per document: decode a whole one "
        f"{per_document(lambda: [decoder.decode(b) for b in whole]):,.0f} µs; decode and hydrate a lean one "
        f"{per_document(lambda: [lean.hydrate(lean.decode(b), framework) for b in stored]):,.0f} µs "
        f"(a whole one through the same reader: {per_document(lambda: [lean.decode(b) for b in whole]):,.0f} µs); "
        f"score_many {per_document(lambda: score_many(inputs)):,.0f} µs; its lean forms (store_forms, checked) "
        f"{per_document(lambda: lean.store_forms(documents, index)):,.0f} µs; encode whole "
        f"{per_document(lambda: [msgspec.json.encode(d) for d in documents]):,.0f} µs, lean "
        f"{per_document(lambda: [msgspec.json.encode(f) for f in forms]):,.0f} µs"
    )


def rescoring_batch(n: int, runs: int = 3) -> None:
    """CPU per attempt of what a rescoring batch of `n` does in Python after reading the rows, each step
    the mean of `runs`, with the heap of a job process that holds a few batches (the garbage collector's
    work grows with it): score_many with a corrected key; decode the current (lean) documents; then
    compare them with the new ones, whole (hydrated: before 2026-12-07) and lean (`rescoring.compare`,
    which also makes the stored forms a commit writes)."""
    import gc
    import inspect
    import uuid

    from service.items.model import SingleChoice, option_keys
    from service.results import rescoring

    rng = random.Random(11)
    items = sixty_items()
    before = [_input("cadre-ai-literacy", items, rng) for _ in range(n)]
    first = next(i for i, item in enumerate(before[0].items) if isinstance(item.item, SingleChoice))
    item = before[0].items[first].item
    assert isinstance(item, SingleChoice)
    fixed = msgspec.structs.replace(
        item,
        key=msgspec.structs.replace(
            item.key, correct=next(k for k in option_keys(item) if k != item.key.correct)
        ),
    )
    corrected = [*before[0].items[:first], ScoredItem(2, fixed), *before[0].items[first + 1 :]]
    after = [msgspec.structs.replace(data, items=corrected) for data in before]
    framework = before[0].framework
    indexes = {before[0].framework_hash: lean.FrameworkIndex(framework)}
    index = indexes[before[0].framework_hash]
    ids = [uuid.uuid4() for _ in range(n)]
    texts = [msgspec.json.encode(form) for form in lean.store_forms(score_many(before), indexes)]
    heap = [score_many(after) for _ in range(4)]  # what a job process holds besides  # noqa: F841
    gc.collect()

    def mean(work: Any) -> float:
        """The mean of `runs` (not the best: a job process pays for the collections each run sets off)."""
        began = time.process_time()
        for _ in range(runs):
            work()
        return (time.process_time() - began) / runs / n * 1e6

    new = dict(zip(ids, score_many(after), strict=True))
    stored = dict(zip(ids, [lean.decode(t) for t in texts], strict=True))

    def whole() -> None:
        old = {
            a: lean.hydrate(d, index) if isinstance(d, lean.LeanDocument) else d for a, d in stored.items()
        }
        for attempt, document in new.items():
            previous = old.get(attempt)
            rescoring.changes(previous, document)
            _ = previous != document

    line = (
        f"rescoring batch of {n} (key corrected), CPU per attempt, mean of {runs}: score_many "
        f"{mean(lambda: score_many(after)):,.0f} µs; decode the current lean documents "
        f"{mean(lambda: [lean.decode(t) for t in texts]):,.0f} µs; compare whole (hydrate, changes) "
        f"{mean(whole):,.0f} µs"
    )
    if "indexes" in inspect.signature(rescoring.compare).parameters:
        line += f", lean (rescoring.compare, with store_forms) {mean(lambda: rescoring.compare(stored, new, indexes)):,.0f} µs"
    print(line, flush=True)
    from service.results import scores

    paused = getattr(scores, "gc_paused", None)
    if paused is not None:  # the same steps with the cyclic collector paused, as a batch runs them now

        def in_pause(work: Any) -> Any:
            def run() -> None:
                with paused(n):
                    work()

            return run

        print(
            f"  the same with scores.gc_paused: score_many {mean(in_pause(lambda: score_many(after))):,.0f} µs; "
            f"decode {mean(in_pause(lambda: [lean.decode(t) for t in texts])):,.0f} µs; compare lean "
            f"{mean(in_pause(lambda: rescoring.compare(stored, new, indexes))):,.0f} µs",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument(
        "--batch", type=int, default=500, help="attempts in the rescoring batch measured last"
    )
    args = parser.parse_args()
    print(f"(repository {ROOT})")
    rng = random.Random(1)
    breakdown(
        "bench/scoring.py's form (cadre, first 60 items)", _input("cadre-ai-literacy", sixty_items(), rng)
    )
    for framework in ("cadre-ai-literacy", "teacher-digital-literacy"):
        bank = list(sample_bank(framework).items)
        breakdown(f"whole sample bank {framework}", _input(framework, bank, rng))
    reading(args.documents)
    rescoring_batch(args.batch)


if __name__ == "__main__":
    main()
