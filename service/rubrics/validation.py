"""Every problem with a framework, at once, each with a JSON pointer. Pure: no I/O.

A draft may be invalid while it is being edited; only a valid draft can be published.
"""

from __future__ import annotations

from service.errors import FieldError
from service.i18n import msg
from service.rubrics.model import (
    TEMPLATE_LANGUAGES,
    CutScore,
    Dimension,
    FrameworkContent,
    walk_dimensions,
    walk_indicators,
)

WEIGHT_TOLERANCE = 0.001


def _weights(items: list[Dimension] | list, pointer: str, what: str) -> list[FieldError]:
    if not items:
        return []
    total = sum(item.weight for item in items)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        return [
            FieldError(
                msg("the weights of these {what} sum to {total:g}, not 1", what=what, total=total), pointer
            )
        ]
    return []


def _escape(token: str) -> str:
    """A JSON pointer reference token (RFC 6901): codes may not hold '/' or '~' today, but pointers stay exact."""
    return token.replace("~", "~0").replace("/", "~1")


def _cut_scores(cuts: list[CutScore], level_codes: list[str], pointer: str) -> list[FieldError]:
    errors = []
    if [c.level for c in cuts] != level_codes:
        errors.append(
            FieldError(
                msg(
                    "cut scores must name every level once, in order: {levels}", levels=", ".join(level_codes)
                ),
                pointer,
            )
        )
    if cuts and cuts[0].min_score != 0:
        errors.append(
            FieldError(
                msg("the lowest level's cut score must be 0, so every score has a level"),
                f"{pointer}/0/min_score",
            )
        )
    errors.extend(
        FieldError(
            msg(
                "cut scores must rise: {score:g} does not exceed {previous:g}",
                score=cuts[i].min_score,
                previous=cuts[i - 1].min_score,
            ),
            f"{pointer}/{i}/min_score",
        )
        for i in range(1, len(cuts))
        if cuts[i].min_score <= cuts[i - 1].min_score
    )
    return errors


def validate(content: FrameworkContent) -> list[FieldError]:
    errors: list[FieldError] = []
    level_codes = [level.code for level in content.levels]
    if len(level_codes) < 2:
        errors.append(FieldError(msg("a framework needs at least two proficiency levels"), "/levels"))
    seen_levels: set[str] = set()
    for i, code in enumerate(level_codes):
        if code in seen_levels:
            errors.append(
                FieldError(msg("level code '{code}' is used twice", code=code), f"/levels/{i}/code")
            )
        seen_levels.add(code)

    if not content.dimensions:
        errors.append(FieldError(msg("a framework needs at least one dimension"), "/dimensions"))
    errors += _weights(content.dimensions, "/dimensions", msg("dimensions"))
    codes: dict[str, str] = {}

    def claim(code: str, pointer: str) -> None:
        if code in codes:
            errors.append(
                FieldError(
                    msg("code '{code}' is already used at {where}", code=code, where=codes[code]),
                    pointer + "/code",
                )
            )
        else:
            codes[code] = pointer

    for pointer, dimension in walk_dimensions(content.dimensions):
        claim(dimension.code, pointer)
        if dimension.children and dimension.indicators:
            errors.append(
                FieldError(msg("a dimension holds sub-dimensions or indicators, not both"), pointer)
            )
        elif not dimension.children and not dimension.indicators:
            errors.append(
                FieldError(
                    msg(
                        "dimension '{code}' is empty: give it indicators or sub-dimensions",
                        code=dimension.code,
                    ),
                    pointer,
                )
            )
        errors += _weights(dimension.children, f"{pointer}/children", msg("sub-dimensions"))
        errors += _weights(dimension.indicators, f"{pointer}/indicators", msg("indicators"))

    for pointer, _, indicator in walk_indicators(content):
        claim(indicator.code, pointer)
        described: dict[str, int] = {}
        for j, descriptor in enumerate(indicator.descriptors):
            where = f"{pointer}/descriptors/{j}/level"
            if descriptor.level not in seen_levels:
                errors.append(
                    FieldError(msg("no level '{level}' in this framework", level=descriptor.level), where)
                )
            elif descriptor.level in described:
                errors.append(
                    FieldError(msg("level '{level}' is described twice", level=descriptor.level), where)
                )
            described[descriptor.level] = j
        # An empty list is not stored (omit_defaults): then point at the indicator itself.
        where = f"{pointer}/descriptors" if indicator.descriptors else pointer
        for code in level_codes:
            if code not in described:
                errors.append(
                    FieldError(
                        msg(
                            "indicator '{code}' has no descriptor for level '{level}'",
                            code=indicator.code,
                            level=code,
                        ),
                        where,
                    )
                )

    errors += _cut_scores(content.cut_scores.overall, level_codes, "/cut_scores/overall")
    # Any dimension, sub-dimensions included, may have its own; indicators take their top-level dimension's.
    dimension_codes = {d.code for _, d in walk_dimensions(content.dimensions)}
    indicator_codes = {i.code for _, _, i in walk_indicators(content)}
    for code, cuts in content.cut_scores.dimensions.items():
        pointer = f"/cut_scores/dimensions/{_escape(code)}"
        if code in indicator_codes:
            errors.append(
                FieldError(
                    msg(
                        "'{code}' is an indicator: indicators use the cut scores of their "
                        "top-level dimension",
                        code=code,
                    ),
                    pointer,
                )
            )
        elif code not in dimension_codes:
            errors.append(FieldError(msg("no dimension '{code}'", code=code), pointer))
        errors += _cut_scores(cuts, level_codes, pointer)
    return errors


def _localized_fields(content: FrameworkContent):
    yield "/title", content.title
    if content.description:
        yield "/description", content.description
    for i, level in enumerate(content.levels):
        yield f"/levels/{i}/label", level.label
        if level.description:
            yield f"/levels/{i}/description", level.description
    for pointer, dimension in walk_dimensions(content.dimensions):
        yield f"{pointer}/name", dimension.name
        if dimension.description:
            yield f"{pointer}/description", dimension.description
    for pointer, _, indicator in walk_indicators(content):
        yield f"{pointer}/statement", indicator.statement
        for j, descriptor in enumerate(indicator.descriptors):
            yield f"{pointer}/descriptors/{j}/performance", descriptor.performance
            if descriptor.next_steps:
                yield f"{pointer}/descriptors/{j}/next_steps", descriptor.next_steps


def validate_template(content: FrameworkContent) -> list[FieldError]:
    """A shipped template also names its sources and speaks every template language."""
    errors = validate(content)
    if not content.sources:
        errors.append(FieldError(msg("a template names the documents it is derived from"), "/sources"))
    for pointer, text in _localized_fields(content):
        missing = [lang for lang in TEMPLATE_LANGUAGES if lang not in text]
        if missing:
            errors.append(FieldError(msg("missing {languages}", languages=", ".join(missing)), pointer))
    return errors
