"""A score document's trace made readable: the framework's names for the codes it records. Pure: no I/O.

A stored score document (service/scoring/engine.py) names dimensions, indicators and levels by code,
and its provenance the framework version by content hash. A person reading the trace of an attempt
(the console's attempt page) wants the names beside the codes, in their language; these come from
the very framework version the document was scored with, so a rescoring under another version shows
that version's names.
"""

from __future__ import annotations

import msgspec

from service.rubrics.model import Dimension, FrameworkContent, Localized


class TraceNames(msgspec.Struct):
    dimensions: dict[str, Localized]
    indicators: dict[str, Localized]
    levels: dict[str, Localized]


def names(framework: FrameworkContent | None) -> TraceNames:
    """Every dimension (at any depth), indicator and level of the framework by code (empty: unknown)."""
    found = TraceNames({}, {}, {})
    if framework is None:
        return found
    found.levels = {level.code: level.label for level in framework.levels}
    stack: list[Dimension] = list(framework.dimensions)
    while stack:
        dimension = stack.pop()
        found.dimensions[dimension.code] = dimension.name
        found.indicators.update({i.code: i.statement for i in dimension.indicators})
        stack += dimension.children
    return found
