"""Quality checks over a whole item bank, run by the tests on every shipped bank. Pure: no I/O.

`validate_item` judges one item on its own; these checks judge the bank as a sitting would
meet it: an indicator measured by a single item cannot be scored reliably, two near-identical
stems measure the same thing twice, a key that is usually the longest option can be found
without knowing anything, a self-report scale with no reverse-keyed statement rewards
agreeing with everything, an open response without rater notes cannot be rated consistently,
and a text much shorter in one language is probably missing a clause.

`bank_problems` returns every problem at once, each naming its check and item, so a test can
assert on the whole list and an author sees everything to fix in one run.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import msgspec

from service.items.kinds import kind_of
from service.items.model import (
    Item,
    Likert,
    OpenResponse,
    SituationalJudgement,
    item_type,
)
from service.items.validation import indicator_codes, validate_item
from service.rubrics.model import FrameworkContent

LANGUAGES = ("zh-CN", "en")
MIN_ITEMS_PER_INDICATOR = 2
NEAR_DUPLICATE_RATIO = 0.9  # difflib ratio of normalized stem + scenario texts
LONGEST_KEY_SHARE = 0.5  # of keyed choice items whose key is the strictly longest option (chance is ~1/4)
LONGEST_KEY_MIN_ITEMS = 4  # too few items to call a pattern below this
# English characters per Chinese character, outside which a pair of texts is not a translation of each
# other. Measured on the shipped banks: most pairs fall between 1.5 and 4.5; short labels vary more.
LENGTH_RATIO = (0.8, 7.0)
LENGTH_RATIO_MIN_CHARS = 12  # shorter Chinese texts (labels, "是/否") are not compared
CJK = re.compile(r"[\u3400-\u9fff]")
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


class Problem(msgspec.Struct, frozen=True):
    check: str  # validates, coverage, near_duplicate, longest_key, sjt_keying, likert_reverse, rater_notes, languages
    item: str | None  # item code, or None for a problem of the bank as a whole
    message: str


def localized_texts(item: Item) -> list[tuple[str, dict[str, str]]]:
    """Every candidate- or rater-facing localized text of an item, with where it is."""
    texts: list[tuple[str, dict[str, str]]] = [("stem", item.stem)]
    if item.scenario is not None:
        texts.append(("scenario", item.scenario))
    return texts + kind_of(item).texts(item)


def _validates(items: Sequence[Item], framework: FrameworkContent) -> list[Problem]:
    problems = [
        Problem("validates", item.code, f"{error.pointer}: {error.detail}")
        for item in items
        for error in validate_item(item, framework)
    ]
    codes = Counter(item.code for item in items)
    problems += [
        Problem("validates", code, f"the code is used {n} times") for code, n in codes.items() if n > 1
    ]
    return problems


def _coverage(items: Sequence[Item], framework: FrameworkContent) -> list[Problem]:
    counts = Counter(loading.indicator for item in items for loading in item.loadings)
    return [
        Problem(
            "coverage",
            None,
            f"indicator '{code}' is measured by {counts[code]} item(s), fewer than {MIN_ITEMS_PER_INDICATOR}",
        )
        for code in sorted(indicator_codes(framework))
        if counts[code] < MIN_ITEMS_PER_INDICATOR
    ]


def _normalized(text: dict[str, str] | None, language: str) -> str:
    if text is None:
        return ""
    return _PUNCTUATION.sub(" ", text.get(language, "").lower()).strip()


def _near_duplicates(items: Sequence[Item]) -> list[Problem]:
    """Pairs whose stem and scenario read almost the same, in either language."""
    problems = []
    for language in LANGUAGES:
        texts = [
            (item.code, _normalized(item.stem, language) + " | " + _normalized(item.scenario, language))
            for item in items
        ]
        for i, (code, text) in enumerate(texts):
            for other, other_text in texts[i + 1 :]:
                matcher = difflib.SequenceMatcher(None, text, other_text, autojunk=False)
                if (
                    matcher.real_quick_ratio() >= NEAR_DUPLICATE_RATIO
                    and matcher.quick_ratio() >= NEAR_DUPLICATE_RATIO
                    and matcher.ratio() >= NEAR_DUPLICATE_RATIO
                ):
                    problems.append(
                        Problem(
                            "near_duplicate",
                            other,
                            f"its stem and scenario ({language}) nearly repeat those of {code}",
                        )
                    )
    return problems


def keyed_options(item: Item) -> set[str]:
    """The options a test-wise candidate would have to find: the correct ones, or an SJT's best."""
    return kind_of(item).keyed_options(item)


def key_is_longest(item: Item, language: str) -> bool:
    """True when every keyed option is longer than every other option."""
    keyed = keyed_options(item)
    options = getattr(item, "options", [])
    lengths = {option.key: len(option.text.get(language, "")) for option in options}
    others = [length for key, length in lengths.items() if key not in keyed]
    if not keyed or not others:
        return False
    return min(lengths[key] for key in keyed) > max(others)


def _longest_key(items: Sequence[Item]) -> list[Problem]:
    """Per item type, the keyed option must not usually be the longest one."""
    problems = []
    by_type: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if keyed_options(item):
            by_type[item_type(item)].append(item)
    for kind, group in sorted(by_type.items()):
        if len(group) < LONGEST_KEY_MIN_ITEMS:
            continue
        for language in LANGUAGES:
            longest = [item.code for item in group if key_is_longest(item, language)]
            if len(longest) / len(group) > LONGEST_KEY_SHARE:
                problems.append(
                    Problem(
                        "longest_key",
                        None,
                        f"{len(longest)} of {len(group)} {kind} items key their longest option "
                        f"({language}), more than {LONGEST_KEY_SHARE:.0%}: {', '.join(longest)}",
                    )
                )
    return problems


def _sjt_keying(items: Sequence[Item]) -> list[Problem]:
    problems = []
    for item in items:
        if not isinstance(item, SituationalJudgement):
            continue
        loaded = {loading.indicator for loading in item.loadings}
        keyed = {entry.option: entry for entry in item.key.options}
        for option in item.options:
            entry = keyed.get(option.key)
            if entry is None:
                problems.append(Problem("sjt_keying", item.code, f"option '{option.key}' is not keyed"))
            elif missing := sorted(loaded - entry.credit.keys()):
                problems.append(
                    Problem(
                        "sjt_keying",
                        item.code,
                        f"option '{option.key}' has no credit on {', '.join(missing)}",
                    )
                )
    return problems


def scale_of(item: Likert) -> str:
    """The self-report scale a statement belongs to: its `scale:` tag, or one scale for the untagged."""
    return next((tag for tag in item.tags if tag.startswith("scale:")), "scale:(untagged)")


def _likert_reverse(items: Sequence[Item]) -> list[Problem]:
    scales: dict[str, list[Likert]] = defaultdict(list)
    for item in items:
        if isinstance(item, Likert):
            scales[scale_of(item)].append(item)
    problems = []
    for scale, statements in sorted(scales.items()):
        reverse = sum(item.key.reverse for item in statements)
        if reverse == 0 or reverse == len(statements):
            problems.append(
                Problem(
                    "likert_reverse",
                    None,
                    f"{scale}: {reverse} of {len(statements)} statements are reverse-keyed; "
                    "a scale needs both directions",
                )
            )
    return problems


def _rater_notes(items: Sequence[Item]) -> list[Problem]:
    return [
        Problem("rater_notes", item.code, "an open response needs rater notes")
        for item in items
        if isinstance(item, OpenResponse) and item.key.rater_notes is None
    ]


def _languages(items: Sequence[Item]) -> list[Problem]:
    problems = []
    low, high = LENGTH_RATIO
    for item in items:
        for where, text in localized_texts(item):
            missing = [language for language in LANGUAGES if not text.get(language, "").strip()]
            if missing:
                problems.append(Problem("languages", item.code, f"{where} has no {', '.join(missing)} text"))
                continue
            chinese, english = text["zh-CN"], text["en"]
            if not CJK.search(chinese) or CJK.search(english):
                problems.append(
                    Problem("languages", item.code, f"{where}: zh-CN must be Chinese, en hold none")
                )
                continue
            if len(chinese) >= LENGTH_RATIO_MIN_CHARS and not low <= len(english) / len(chinese) <= high:
                problems.append(
                    Problem(
                        "languages",
                        item.code,
                        f"{where}: {len(english)} en characters for {len(chinese)} zh-CN "
                        f"(ratio outside {low:g}-{high:g}); is one a partial translation?",
                    )
                )
    return problems


def bank_problems(items: Iterable[Item], framework: FrameworkContent) -> list[Problem]:
    """Every quality problem of a bank written for `framework`, in check order."""
    items = list(items)
    return (
        _validates(items, framework)
        + _coverage(items, framework)
        + _near_duplicates(items)
        + _longest_key(items)
        + _sjt_keying(items)
        + _likert_reverse(items)
        + _rater_notes(items)
        + _languages(items)
    )


def indicator_counts(items: Iterable[Item]) -> Counter[str]:
    """How many items load on each indicator (for the README's tables)."""
    return Counter(loading.indicator for item in items for loading in item.loadings)
