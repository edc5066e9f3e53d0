"""Credit for one answer to one item, as a share of the item's points. Pure: no I/O.

Every rule returns a fraction in [0, 1] per loaded indicator (the same fraction for every
indicator except in situational judgement, whose options are keyed per indicator) and a
short explanation of how it was reached. Each item type's rule is its `ItemKind.credit`, in
its module of `service.items.kinds`. Every formula, with a worked example, is in the README's
Items section ("Credit"); tests/test_scoring_formulas.py recomputes those examples.
"""

from __future__ import annotations

from service.items.answers import Answer
from service.items.kinds import Credit, kind_of
from service.items.model import Item

__all__ = ["Credit", "credit"]


def credit(item: Item, answer: Answer, rating: float | None = None) -> Credit:
    """The credit `answer` earns on `item`; open responses take the agreed `rating` (a share, 0-1)."""
    return kind_of(item).credit(item, answer, rating)
