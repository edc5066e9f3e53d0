"""Every problem that keeps an assessment from being published, each with a JSON pointer. Pure.

The caller resolves what the document names (framework version, item versions, org units,
people) and passes what it found; anything missing is reported here.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from service.assessments.model import MAX_ITEMS, Adaptive, AssessmentContent, item_refs
from service.errors import FieldError
from service.i18n import msg
from service.items.model import Item, OpenResponse
from service.items.validation import validate_item
from service.rubrics.model import Dimension, FrameworkContent


class CalibrationCover(msgspec.Struct, frozen=True):
    """What an adaptive section needs to know of a calibration it pins: whether it is published, and
    per top-level dimension the items it gives parameters for."""

    state: str
    dimensions: dict[str, frozenset[str]]


class Resolved(msgspec.Struct):
    """What the assessment's references point at, as found in the tenant's data."""

    framework: FrameworkContent | None
    framework_status: str | None
    items: dict[str, tuple[int, str, Item]]  # code -> (version, item status, content)
    org_units: set[str]
    people: set[str]
    calibrations: dict[UUID, CalibrationCover] = msgspec.field(default_factory=dict)


def _sections(content: AssessmentContent) -> list[FieldError]:
    errors = []
    if not content.sections:
        errors.append(FieldError(msg("an assessment needs at least one section"), "/sections"))
    seen_sections: set[str] = set()
    for s, section in enumerate(content.sections):
        if section.code in seen_sections:
            errors.append(
                FieldError(
                    msg("section code '{code}' is used twice", code=section.code), f"/sections/{s}/code"
                )
            )
        seen_sections.add(section.code)
        if section.adaptive is not None:
            if section.items or section.pool is not None:
                errors.append(
                    FieldError(
                        msg("an adaptive section has neither fixed items nor a pool"), f"/sections/{s}"
                    )
                )
        elif not section.items and section.pool is None:
            errors.append(FieldError(msg("give the section fixed items or a pool"), f"/sections/{s}"))
        if section.pool is not None and section.pool.draw > len(section.pool.items):
            errors.append(
                FieldError(
                    msg(
                        "cannot draw {draw} of {count} items",
                        draw=section.pool.draw,
                        count=len(section.pool.items),
                    ),
                    f"/sections/{s}/pool/draw",
                )
            )
    return errors


def _adaptive(adaptive: Adaptive, where: str, found: Resolved) -> list[FieldError]:
    """An adaptive section's lengths and blueprint, and its calibration: published, with parameters
    on its dimension for every item of its pool."""
    errors = []
    if adaptive.min_items > adaptive.max_items:
        errors.append(
            FieldError(
                msg("must be at most max_items ({value})", value=adaptive.max_items), f"{where}/min_items"
            )
        )
    if adaptive.max_items > len(adaptive.items):
        errors.append(
            FieldError(
                msg(
                    "cannot give {draw} of {count} items", draw=adaptive.max_items, count=len(adaptive.items)
                ),
                f"{where}/max_items",
            )
        )
    if sum(adaptive.blueprint.values()) > 1 + 1e-9:
        errors.append(
            FieldError(msg("the blueprint's minimum shares add up to more than 1"), f"{where}/blueprint")
        )
    cover = found.calibrations.get(adaptive.calibration)
    if cover is None:
        errors.append(
            FieldError(
                msg("no calibration {calibration_id}", calibration_id=adaptive.calibration),
                f"{where}/calibration",
            )
        )
        return errors
    if cover.state != "published":
        errors.append(
            FieldError(
                msg(
                    "calibration {calibration_id} is not published; pin a published calibration",
                    calibration_id=adaptive.calibration,
                ),
                f"{where}/calibration",
            )
        )
    calibrated = cover.dimensions.get(adaptive.dimension)
    if calibrated is None:
        errors.append(
            FieldError(
                msg("the calibration has no dimension '{code}'", code=adaptive.dimension),
                f"{where}/dimension",
            )
        )
        return errors
    for i, ref in enumerate(adaptive.items):
        held = found.items.get(ref.code)
        if held is not None and isinstance(held[2], OpenResponse):
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' is rated by raters: an adaptive section needs items scored at once",
                        code=ref.code,
                    ),
                    f"{where}/items/{i}/code",
                )
            )
        elif ref.code not in calibrated:
            errors.append(
                FieldError(
                    msg("item '{code}' has no parameters in the calibration", code=ref.code),
                    f"{where}/items/{i}/code",
                )
            )
    return errors


def _indicators_of(dimension: Dimension) -> set[str]:
    codes = {indicator.code for indicator in dimension.indicators}
    for child in dimension.children:
        codes |= _indicators_of(child)
    return codes


def _pretest(adaptive: Adaptive, where: str, found: Resolved) -> list[FieldError]:
    """An adaptive section's pretest items: no more seeded than named, each scored at once and
    loading on the section's dimension (where a calibration will place it). Items named twice, or
    also in the operational pool, are reported with every other duplicate (`validate_assessment`)."""
    errors: list[FieldError] = []
    if adaptive.pretest is None:
        return errors
    if adaptive.pretest.count > len(adaptive.pretest.items):
        errors.append(
            FieldError(
                msg(
                    "cannot seed {draw} of {count} items",
                    draw=adaptive.pretest.count,
                    count=len(adaptive.pretest.items),
                ),
                f"{where}/pretest/count",
            )
        )
    dimension = next(
        (d for d in (found.framework.dimensions if found.framework else []) if d.code == adaptive.dimension),
        None,
    )
    indicators = _indicators_of(dimension) if dimension is not None else None
    for i, ref in enumerate(adaptive.pretest.items):
        held = found.items.get(ref.code)
        if held is None:
            continue
        if isinstance(held[2], OpenResponse):
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' is rated by raters: a pretest item must be scored at once",
                        code=ref.code,
                    ),
                    f"{where}/pretest/items/{i}/code",
                )
            )
        elif indicators is not None and not any(
            loading.indicator in indicators for loading in held[2].loadings
        ):
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' does not load on dimension '{dimension}'",
                        code=ref.code,
                        dimension=adaptive.dimension,
                    ),
                    f"{where}/pretest/items/{i}/code",
                )
            )
    return errors


def _unscored(content: AssessmentContent, found: Resolved) -> list[FieldError]:
    """`unscored` marks pretest items of fixed sections and pools; an adaptive section's pool is
    scored (its pretest items go under `pretest`), and a pretest item is scored at once."""
    errors = []
    for pointer, ref in item_refs(content):
        if not ref.unscored:
            continue
        if "/adaptive/items/" in pointer:
            errors.append(
                FieldError(
                    msg("an adaptive section's pool is scored: name pretest items under 'pretest'"),
                    f"{pointer}/unscored",
                )
            )
            continue
        held = found.items.get(ref.code)
        if held is not None and isinstance(held[2], OpenResponse):
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' is rated by raters: a pretest item must be scored at once",
                        code=ref.code,
                    ),
                    f"{pointer}/code",
                )
            )
    return errors


def _window(content: AssessmentContent, now: datetime) -> list[FieldError]:
    opens, closes = content.window.opens_at, content.window.closes_at
    errors = []
    for name, value in (("opens_at", opens), ("closes_at", closes)):
        if value is not None and value.tzinfo is None:
            errors.append(
                FieldError(msg("give a time zone (e.g. 2026-12-01T09:00:00+08:00)"), f"/window/{name}")
            )
    if errors:
        return errors
    if opens is not None and closes is not None and closes <= opens:
        errors.append(FieldError(msg("the window must close after it opens"), "/window/closes_at"))
    if closes is not None and closes <= now:
        errors.append(FieldError(msg("the window has already closed"), "/window/closes_at"))
    return errors


def validate_assessment(content: AssessmentContent, found: Resolved, now: datetime) -> list[FieldError]:
    errors = _sections(content) + _window(content, now) + _unscored(content, found)
    for s, section in enumerate(content.sections):
        if section.adaptive is not None:
            errors += _adaptive(section.adaptive, f"/sections/{s}/adaptive", found)
            if section.adaptive.pretest is not None:
                errors += _pretest(section.adaptive, f"/sections/{s}/adaptive", found)
    if found.framework is None:
        errors.append(
            FieldError(
                msg(
                    "framework '{code}' has no version {version}",
                    code=content.framework.code,
                    version=content.framework.version,
                ),
                "/framework",
            )
        )
    elif found.framework_status != "published":
        errors.append(
            FieldError(
                msg(
                    "framework version {version} is {status}; pin a published version",
                    version=content.framework.version,
                    status=found.framework_status,
                ),
                "/framework/version",
            )
        )
    refs = item_refs(content)
    if len(refs) > MAX_ITEMS:
        errors.append(FieldError(msg("at most {limit} items", limit=MAX_ITEMS), "/sections"))
    seen: dict[str, str] = {}
    for pointer, ref in refs:
        if ref.code in seen:
            errors.append(
                FieldError(
                    msg("item '{code}' is already used at {where}", code=ref.code, where=seen[ref.code]),
                    f"{pointer}/code",
                )
            )
            continue
        seen[ref.code] = pointer
        if ref.code not in found.items:
            missing = (
                msg("no item '{code}' version {version}", code=ref.code, version=ref.version)
                if ref.version is not None
                else msg("no item '{code}'", code=ref.code)
            )
            errors.append(FieldError(missing, f"{pointer}/code"))
            continue
        _, status, item = found.items[ref.code]
        if status == "retired":
            errors.append(FieldError(msg("item '{code}' is retired", code=ref.code), f"{pointer}/code"))
        if item.framework != content.framework.code:
            errors.append(
                FieldError(
                    msg(
                        "item '{code}' is written for framework '{framework}'",
                        code=ref.code,
                        framework=item.framework,
                    ),
                    f"{pointer}/code",
                )
            )
        elif found.framework is not None:
            for problem in validate_item(item, found.framework):
                errors.append(
                    FieldError(
                        msg(
                            "item '{code}': {detail} (at {pointer})",
                            code=ref.code,
                            detail=problem.detail,
                            pointer=problem.pointer,
                        ),
                        f"{pointer}/code",
                    )
                )
    audience = content.audience
    if not (audience.org_units or audience.categories or audience.people):
        errors.append(FieldError(msg("name at least one org unit, category or person"), "/audience"))
    for i, code in enumerate(audience.org_units):
        if code not in found.org_units:
            errors.append(FieldError(msg("no org unit '{code}'", code=code), f"/audience/org_units/{i}"))
    for i, external_id in enumerate(audience.people):
        if external_id not in found.people:
            errors.append(
                FieldError(msg("no person '{external_id}'", external_id=external_id), f"/audience/people/{i}")
            )
    return errors
