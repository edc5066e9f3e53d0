"""The competency-framework document: one shape for shipped templates, tenant drafts and
published versions, stored as JSON (`rubrics/templates/*/*.json`, the `content` column).

A framework holds ordered dimensions (optionally nested sub-dimensions) whose leaves hold
indicators; an ordered list of proficiency levels; a descriptor per indicator and level;
and cut scores that map a 0-100 scaled score to a level: overall, and optionally for any
dimension (top-level or sub-dimension). A dimension without its own cut scores uses its nearest
ancestor's, and a top-level dimension without them the overall ones; an indicator uses the cut
scores its top-level dimension uses (see `service.scoring.engine`).
Labels are localized: `{"zh-CN": "...", "en": "..."}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import msgspec

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
LanguageTag = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]
Localized = Annotated[
    dict[LanguageTag, Text],
    msgspec.Meta(
        min_length=1,
        description='Text per language, e.g. {"zh-CN": "人机协同", "en": "Human-machine collaboration"}',
    ),
]
Weight = Annotated[float, msgspec.Meta(ge=0, le=1, description="Share of the parent; siblings sum to 1")]
Score = Annotated[float, msgspec.Meta(ge=0, le=100)]

Tag = Literal[
    "knowledge",
    "awareness",
    "application",
    "human_machine_collaboration",
    "ethics_safety",
    "professional_growth",
    "governance",
    "pedagogy",
]

TEMPLATE_LANGUAGES = ("zh-CN", "en")


class Source(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A document the framework is derived from."""

    title: Text
    issuer: Text
    date: Annotated[
        str, msgspec.Meta(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="YYYY, YYYY-MM or YYYY-MM-DD")
    ]
    identifier: Text | None = None
    url: Text | None = None
    note: Text | None = None


class Level(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A proficiency level; the list order is the progression, lowest first."""

    code: Code
    label: Localized
    description: Localized | None = None


class Descriptor(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What performance on one indicator at one level looks like, and what to learn to reach the next."""

    level: Code
    performance: Localized
    next_steps: Localized | None = None


class Indicator(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    code: Code
    statement: Localized
    weight: Weight
    descriptors: list[Descriptor] = msgspec.field(default_factory=list)
    unconfirmed: bool = False
    note: Text | None = None


class Dimension(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A dimension holds either sub-dimensions (`children`) or indicators, not both."""

    code: Code
    name: Localized
    weight: Weight
    description: Localized | None = None
    tags: list[Tag] = msgspec.field(default_factory=list)
    children: list[Dimension] = msgspec.field(default_factory=list)
    indicators: list[Indicator] = msgspec.field(default_factory=list)
    unconfirmed: bool = False
    note: Text | None = None


class CutScore(msgspec.Struct, forbid_unknown_fields=True):
    """A scaled score of at least `min_score` reaches `level`."""

    level: Code
    min_score: Score


class CutScores(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    overall: list[CutScore]
    # Per dimension code, at any depth; a dimension without its own list uses its nearest ancestor's,
    # and a top-level dimension without one uses `overall`.
    dimensions: Annotated[
        dict[Code, list[CutScore]],
        msgspec.Meta(
            description=(
                "Cut scores per dimension code (top-level or sub-dimension). A dimension without its own uses its "
                "nearest ancestor's; a top-level dimension without its own uses `overall`. Indicators use the cut "
                "scores their top-level dimension uses."
            )
        ),
    ] = msgspec.field(default_factory=dict)


class ReportingScale(msgspec.Struct, forbid_unknown_fields=True):
    """The IRT reporting scale: a scale score is mean + sd · (θ − m) / s, where m and s are the mean and
    SD of the calibration sample's θ estimates (so the calibration sample has this mean and SD)."""

    mean: Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)] = 500.0
    sd: Annotated[float, msgspec.Meta(gt=0, le=1e6)] = 100.0


class FrameworkContent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    code: Code
    title: Localized
    levels: list[Level]
    dimensions: list[Dimension]
    cut_scores: CutScores
    description: Localized | None = None
    sources: list[Source] = msgspec.field(default_factory=list)
    notes: list[Text] = msgspec.field(default_factory=list)  # what a template adds or could not confirm
    reporting_scale: Annotated[
        ReportingScale | None,
        msgspec.Meta(
            description="The IRT reporting scale of the abilities in score documents (absent: mean 500, SD 100 "
            "in the calibration sample)"
        ),
    ] = None


content_decoder = msgspec.json.Decoder(FrameworkContent, strict=True)
_encoder = msgspec.json.Encoder(order="deterministic")


def encode_content(content: FrameworkContent) -> bytes:
    """Canonical bytes: the same content always encodes the same way (hashes depend on it)."""
    return _encoder.encode(content)


def walk_dimensions(
    dimensions: list[Dimension], prefix: str = "/dimensions"
) -> Iterator[tuple[str, Dimension]]:
    """Every dimension, depth first, with its JSON pointer."""
    for i, dimension in enumerate(dimensions):
        pointer = f"{prefix}/{i}"
        yield pointer, dimension
        yield from walk_dimensions(dimension.children, f"{pointer}/children")


def walk_indicators(content: FrameworkContent) -> Iterator[tuple[str, Dimension, Indicator]]:
    """Every indicator with its pointer and the top-level dimension it belongs to."""
    for pointer, dimension in walk_dimensions(content.dimensions):
        for j, indicator in enumerate(dimension.indicators):
            yield f"{pointer}/indicators/{j}", dimension, indicator
