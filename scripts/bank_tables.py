"""Print the rubrics/README.md tables of every shipped item bank: counts by type, and items per indicator.

./dev python scripts/bank_tables.py
"""

from __future__ import annotations

from collections import Counter

from service.items.model import ITEM_TYPES, item_type
from service.items.quality import indicator_counts
from service.items.samples import ITEMS_DIR, sample_bank
from service.rubrics.model import walk_indicators
from service.rubrics.templates import load_templates


def main() -> None:
    for path in sorted(ITEMS_DIR.glob("*/items.json")):
        code = path.parent.name
        items = sample_bank(code).items
        framework = load_templates()[code][0].content
        types = Counter(item_type(item) for item in items)
        print(
            f"**`items/{code}/items.json`**: {len(items)} items, "
            f"{types['situational_judgement'] / len(items):.0%} situational judgement.\n"
        )
        print("| " + " | ".join(ITEM_TYPES) + " |")
        print("|" + " --- |" * len(ITEM_TYPES))
        print("| " + " | ".join(str(types[kind]) for kind in ITEM_TYPES) + " |\n")
        counts = indicator_counts(items)
        cells = [
            f"{indicator.code} {counts[indicator.code]}" for _, _, indicator in walk_indicators(framework)
        ]
        print("Items per indicator: " + ", ".join(cells) + ".\n")


if __name__ == "__main__":
    main()
