"""1EdTech CASE 1.1 exchange: a framework as a CFPackage and back. Pure: no I/O.

Mapping: CFDocument = the framework; CFItems = dimensions ("Dimension", "Sub-dimension")
and indicators ("Indicator"), `humanCodingScheme` = our code; `isChildOf` CFAssociations
with sequence numbers give the order; one CFRubric whose CFRubricCriteria point at their
indicator through `CFItemURI`, carry its `weight`, and hold one CFRubricCriterionLevel per
proficiency level (`quality` = level label, `score` = level rank, `description` = the
descriptor, `feedback` = the next steps). CASE strings are single-language: they carry the
primary language, and the full localized texts, tags, dimension weights, cut scores and
notes travel in `extensions.assess`, which other systems ignore. Export then import gives
back exactly the same framework.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from service.errors import FieldError, Unprocessable, msgspec_field_error
from service.i18n import msg
from service.rubrics.model import (
    CutScore,
    CutScores,
    Descriptor,
    Dimension,
    FrameworkContent,
    Indicator,
    Level,
    Localized,
)

_NAMESPACE = uuid.UUID("8d7b3c2e-5f1a-4e0b-9c6d-2a4f6e8b1c3d")
EXTENSION = "assess"
MAX_DEPTH = 20  # frameworks are a few levels deep; a deeper chain is malformed (and would exhaust the stack)


def identifier(seed: str, kind: str, code: str) -> str:
    """The CASE identifier export_case gives a node (`kind` "item" for a dimension): stable per seed,
    so a credential can align to the item a later export of the same version will carry."""
    return str(uuid.uuid5(_NAMESPACE, f"{seed}|{kind}|{code}"))


def _pick(text: Localized | None, language: str) -> str | None:
    if not text:
        return None
    return text.get(language) or next(iter(text.values()))


class _Export:
    def __init__(self, content: FrameworkContent, seed: str, last_change: str) -> None:
        self.content, self.seed, self.last_change = content, seed, last_change
        self.language = "zh-CN" if "zh-CN" in content.title else next(iter(content.title))

    def identifier(self, kind: str, code: str) -> str:
        return identifier(self.seed, kind, code)

    def link(self, kind: str, code: str, title: str | None) -> dict[str, Any]:
        identifier = self.identifier(kind, code)
        return {"title": title or code, "identifier": identifier, "uri": f"urn:uuid:{identifier}"}

    def node(self, kind: str, code: str, **fields: Any) -> dict[str, Any]:
        identifier = self.identifier(kind, code)
        return {
            "identifier": identifier,
            "uri": f"urn:uuid:{identifier}",
            "lastChangeDateTime": self.last_change,
            **{k: v for k, v in fields.items() if v is not None},
        }


def export_case(
    content: FrameworkContent,
    *,
    seed: str,
    last_change: str,
    creator: str,
    version: str | None = None,
    adoption_status: str = "Draft",
) -> dict[str, Any]:
    """The framework as a CASE 1.1 CFPackage. `seed` makes identifiers stable for one framework."""
    ex = _Export(content, seed, last_change)
    lang = ex.language
    title = _pick(content.title, lang)
    doc_link = ex.link("document", content.code, title)
    document = ex.node(
        "document",
        content.code,
        creator=creator,
        title=title,
        description=_pick(content.description, lang),
        language=lang,
        version=version,
        adoptionStatus=adoption_status,
        frameworkType="competency framework",
        caseVersion="1.1",
        humanCodingScheme=content.code,
        officialSourceURL=next((s.url for s in content.sources if s.url), None),
        extensions={
            EXTENSION: {
                "code": content.code,
                "title": content.title,
                "description": content.description,
                "sources": msgspec.to_builtins(content.sources),
                "notes": content.notes,
                "levels": msgspec.to_builtins(content.levels),
                "cut_scores": msgspec.to_builtins(content.cut_scores),
            }
        },
    )
    items: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    criteria: list[dict[str, Any]] = []

    def associate(child_code: str, child_title: str | None, parent: dict[str, Any], position: int) -> None:
        associations.append(
            ex.node(
                "isChildOf",
                child_code,
                associationType="isChildOf",
                originNodeURI=ex.link("item", child_code, child_title),
                destinationNodeURI=parent,
                sequenceNumber=position + 1,
                CFDocumentURI=doc_link,
            )
        )

    def add_dimension(dimension: Dimension, parent: dict[str, Any], position: int, top: bool) -> None:
        name = _pick(dimension.name, lang)
        items.append(
            ex.node(
                "item",
                dimension.code,
                fullStatement=name,
                humanCodingScheme=dimension.code,
                language=lang,
                CFItemType="Dimension" if top else "Sub-dimension",
                CFDocumentURI=doc_link,
                notes=dimension.note,
                extensions={
                    EXTENSION: {
                        "name": dimension.name,
                        "description": dimension.description,
                        "weight": dimension.weight,
                        "tags": dimension.tags,
                        "unconfirmed": dimension.unconfirmed,
                    }
                },
            )
        )
        associate(dimension.code, name, parent, position)
        own_link = ex.link("item", dimension.code, name)
        for i, child in enumerate(dimension.children):
            add_dimension(child, own_link, i, False)
        for i, indicator in enumerate(dimension.indicators):
            add_indicator(indicator, dimension, own_link, i)

    def add_indicator(
        indicator: Indicator, dimension: Dimension, parent: dict[str, Any], position: int
    ) -> None:
        statement = _pick(indicator.statement, lang)
        items.append(
            ex.node(
                "item",
                indicator.code,
                fullStatement=statement,
                humanCodingScheme=indicator.code,
                language=lang,
                CFItemType="Indicator",
                CFDocumentURI=doc_link,
                notes=indicator.note,
                extensions={
                    EXTENSION: {"statement": indicator.statement, "unconfirmed": indicator.unconfirmed}
                },
            )
        )
        associate(indicator.code, statement, parent, position)
        criterion_id = ex.identifier("criterion", indicator.code)
        ranks = {level.code: rank for rank, level in enumerate(content.levels)}
        levels = []
        for descriptor in indicator.descriptors:  # in the document's own order, so import restores it
            rank = ranks.get(descriptor.level, len(ranks))
            level = content.levels[rank] if rank < len(content.levels) else None
            levels.append(
                ex.node(
                    "criterion-level",
                    f"{indicator.code}|{descriptor.level}",
                    description=_pick(descriptor.performance, lang),
                    quality=_pick(level.label, lang) if level else descriptor.level,
                    score=rank + 1,
                    feedback=_pick(descriptor.next_steps, lang),
                    position=rank + 1,
                    rubricCriterionId=criterion_id,
                    extensions={EXTENSION: msgspec.to_builtins(descriptor)},
                )
            )
        criteria.append(
            ex.node(
                "criterion",
                indicator.code,
                category=dimension.code,
                description=statement,
                CFItemURI=ex.link("item", indicator.code, statement),
                weight=indicator.weight,
                position=len(criteria) + 1,
                rubricId=ex.identifier("rubric", content.code),
                CFRubricCriterionLevels=levels,
            )
        )

    for i, dimension in enumerate(content.dimensions):
        add_dimension(dimension, doc_link, i, True)
    rubric = ex.node(
        "rubric",
        content.code,
        title=f"{title}: proficiency levels",
        description="Descriptors per indicator and level",
        CFRubricCriteria=criteria,
    )
    return {"CFDocument": document, "CFItems": items, "CFAssociations": associations, "CFRubrics": [rubric]}


# --- import ---------------------------------------------------------------------------------------------


class _Link(msgspec.Struct):
    identifier: str
    uri: str = ""
    title: str | None = None


class _Document(msgspec.Struct):
    identifier: str
    uri: str
    creator: str
    title: str
    lastChangeDateTime: str  # noqa: N815 - CASE's member names
    language: str | None = None
    description: str | None = None
    humanCodingScheme: str | None = None  # noqa: N815
    extensions: dict[str, Any] | None = None


class _Item(msgspec.Struct):
    identifier: str
    uri: str
    fullStatement: str  # noqa: N815
    lastChangeDateTime: str  # noqa: N815
    humanCodingScheme: str | None = None  # noqa: N815
    CFItemType: str | None = None
    language: str | None = None
    notes: str | None = None
    extensions: dict[str, Any] | None = None


class _Association(msgspec.Struct):
    identifier: str
    uri: str
    associationType: str  # noqa: N815
    originNodeURI: _Link  # noqa: N815
    destinationNodeURI: _Link  # noqa: N815
    lastChangeDateTime: str  # noqa: N815
    sequenceNumber: int | None = None  # noqa: N815


class _CriterionLevel(msgspec.Struct):
    identifier: str
    description: str | None = None
    quality: str | None = None
    score: float | None = None
    feedback: str | None = None
    position: int | None = None
    extensions: dict[str, Any] | None = None


class _Criterion(msgspec.Struct):
    identifier: str
    CFItemURI: _Link | None = None
    weight: float | None = None
    position: int | None = None
    description: str | None = None
    CFRubricCriterionLevels: list[_CriterionLevel] = []


class _Rubric(msgspec.Struct):
    identifier: str
    CFRubricCriteria: list[_Criterion] = []


class _Package(msgspec.Struct):
    CFDocument: _Document
    CFItems: list[_Item] = []
    CFAssociations: list[_Association] = []
    CFRubrics: list[_Rubric] = []


class _DocumentExt(msgspec.Struct):
    code: str | None = None
    title: Localized | None = None
    description: Localized | None = None
    sources: list[Any] = []
    notes: list[str] = []
    levels: list[Level] | None = None
    cut_scores: CutScores | None = None


class _ItemExt(msgspec.Struct):
    name: Localized | None = None
    statement: Localized | None = None
    description: Localized | None = None
    weight: float | None = None
    tags: list[str] = []
    unconfirmed: bool = False


def _extension(extensions: dict[str, Any] | None, kind: type, pointer: str, errors: list[FieldError]) -> Any:
    raw = (extensions or {}).get(EXTENSION)
    try:
        return msgspec.convert(raw or {}, kind, strict=True)
    except msgspec.ValidationError as exc:
        error = msgspec_field_error(str(exc))
        errors.append(FieldError(error.detail, f"{pointer}/extensions/{EXTENSION}{error.pointer}"))
        return kind()


def import_case(package: Any, *, code: str | None = None) -> FrameworkContent:
    """A framework from a CFPackage, or 422 listing every problem with its pointer (nothing is created)."""
    try:
        parsed = msgspec.convert(package, _Package, strict=True)
    except msgspec.ValidationError as exc:
        raise Unprocessable(
            msg("this is not a CASE 1.1 CFPackage"), [msgspec_field_error(str(exc))]
        ) from None
    errors: list[FieldError] = []
    doc = parsed.CFDocument
    doc_ext: _DocumentExt = _extension(doc.extensions, _DocumentExt, "/CFDocument", errors)
    lang = doc.language or "en"

    def localized(text: str | None, ext: Localized | None) -> Localized | None:
        return ext or ({lang: text} if text else None)

    items = {item.identifier: (i, item) for i, item in enumerate(parsed.CFItems)}
    children: dict[str, list[tuple[int, int, str]]] = {}
    for i, assoc in enumerate(parsed.CFAssociations):
        if assoc.associationType != "isChildOf":
            continue
        origin, destination = assoc.originNodeURI.identifier, assoc.destinationNodeURI.identifier
        if origin not in items:
            errors.append(
                FieldError(msg("no CFItem with this identifier"), f"/CFAssociations/{i}/originNodeURI")
            )
            continue
        if destination not in items and destination != doc.identifier:
            errors.append(
                FieldError(
                    msg("neither a CFItem nor the CFDocument"), f"/CFAssociations/{i}/destinationNodeURI"
                )
            )
            continue
        children.setdefault(destination, []).append((assoc.sequenceNumber or 10**9, i, origin))

    criteria: dict[str, tuple[int, int, _Criterion]] = {}
    for r, rubric in enumerate(parsed.CFRubrics):
        for c, criterion in enumerate(rubric.CFRubricCriteria):
            if criterion.CFItemURI is None or criterion.CFItemURI.identifier not in items:
                errors.append(
                    FieldError(
                        msg("CFItemURI names no CFItem of this package"),
                        f"/CFRubrics/{r}/CFRubricCriteria/{c}/CFItemURI",
                    )
                )
            else:
                criteria[criterion.CFItemURI.identifier] = (r, c, criterion)

    levels = doc_ext.levels
    if levels is None:  # a foreign package: the levels are the distinct scores its rubric uses
        labels: dict[float, str] = {}  # one level per distinct score, labelled by its first quality
        for _, _, crit in sorted(criteria.values(), key=lambda found: found[:2]):
            for lvl in crit.CFRubricCriterionLevels:
                if lvl.score is not None and (lvl.score not in labels or not labels[lvl.score]):
                    labels[lvl.score] = lvl.quality or ""
        scored = sorted(labels.items())
        levels = [
            Level(f"L{rank + 1}", {lang: quality or f"Level {rank + 1}"})
            for rank, (_, quality) in enumerate(scored)
        ]
        score_to_level = {score: levels[rank].code for rank, (score, _) in enumerate(scored)}
    else:
        score_to_level = {float(rank + 1): level.code for rank, level in enumerate(levels)}

    def descriptors(identifier: str) -> list[Descriptor]:
        if identifier not in criteria:
            return []
        r, c, criterion = criteria[identifier]
        found = []
        for k, lvl in enumerate(criterion.CFRubricCriterionLevels):
            pointer = f"/CFRubrics/{r}/CFRubricCriteria/{c}/CFRubricCriterionLevels/{k}"
            raw = (lvl.extensions or {}).get(EXTENSION)
            if raw is not None:
                try:
                    found.append(msgspec.convert(raw, Descriptor, strict=True))
                except msgspec.ValidationError as exc:
                    error = msgspec_field_error(str(exc))
                    errors.append(
                        FieldError(error.detail, f"{pointer}/extensions/{EXTENSION}{error.pointer}")
                    )
                continue
            level_code = score_to_level.get(lvl.score) if lvl.score is not None else None
            if level_code is None or not lvl.description:
                errors.append(
                    FieldError(
                        msg("a criterion level needs a score naming a level and a description"), pointer
                    )
                )
                continue
            found.append(
                Descriptor(
                    level_code, {lang: lvl.description}, {lang: lvl.feedback} if lvl.feedback else None
                )
            )
        return found

    seen: set[str] = set()

    def build(parent_id: str, depth: int) -> list[Dimension | Indicator]:
        built: list[Dimension | Indicator] = []
        ordered = sorted(children.get(parent_id, []))
        if ordered and depth >= MAX_DEPTH:
            errors.append(
                FieldError(
                    msg("the isChildOf hierarchy is deeper than {max_depth} levels", max_depth=MAX_DEPTH),
                    f"/CFAssociations/{ordered[0][1]}",
                )
            )
            return built
        for _, assoc_index, identifier in ordered:
            index, item = items[identifier]
            pointer = f"/CFItems/{index}"
            if identifier in seen:
                errors.append(
                    FieldError(
                        msg(
                            "this item is reached twice: the isChildOf links form a cycle or a second parent"
                        ),
                        f"/CFAssociations/{assoc_index}",
                    )
                )
                continue
            seen.add(identifier)
            ext: _ItemExt = _extension(item.extensions, _ItemExt, pointer, errors)
            item_code = item.humanCodingScheme or f"item-{index + 1}"
            sub = build(identifier, depth + 1)
            is_indicator = item.CFItemType == "Indicator" or (not sub and depth > 0)
            if is_indicator:
                if sub:
                    errors.append(FieldError(msg("an indicator cannot have children"), pointer))
                weight = (
                    ext.weight
                    if ext.weight is not None
                    else (criteria[identifier][2].weight if identifier in criteria else None)
                )
                built.append(
                    Indicator(
                        item_code,
                        localized(item.fullStatement, ext.statement) or {lang: item_code},
                        weight if weight is not None else 1.0 / max(len(ordered), 1),
                        descriptors(identifier),
                        ext.unconfirmed,
                        item.notes,
                    )
                )
            else:
                dims = [d for d in sub if isinstance(d, Dimension)]
                inds = [d for d in sub if isinstance(d, Indicator)]
                if dims and inds:
                    errors.append(
                        FieldError(msg("a dimension holds sub-dimensions or indicators, not both"), pointer)
                    )
                built.append(
                    Dimension(
                        item_code,
                        localized(item.fullStatement, ext.name) or {lang: item_code},
                        ext.weight if ext.weight is not None else 1.0 / max(len(ordered), 1),
                        ext.description,
                        list(ext.tags),  # type: ignore[arg-type]  # checked below: the content is converted strictly
                        dims,
                        inds,
                        ext.unconfirmed,
                        item.notes,
                    )
                )
        return built

    top = build(doc.identifier, 0)
    for identifier, (index, _) in items.items():
        if identifier not in seen:
            errors.append(
                FieldError(
                    msg("this CFItem is not attached to the document by isChildOf"), f"/CFItems/{index}"
                )
            )
    dimensions = [d for d in top if isinstance(d, Dimension)]
    if len(dimensions) != len(top):
        errors.append(
            FieldError(
                msg("the document's direct children must be dimensions, not indicators"), "/CFAssociations"
            )
        )
    cut_scores = doc_ext.cut_scores or CutScores(
        [CutScore(level.code, round(100 * rank / len(levels), 2)) for rank, level in enumerate(levels)]
    )
    try:
        content = msgspec.convert(
            msgspec.to_builtins(
                FrameworkContent(
                    code=code or doc_ext.code or doc.humanCodingScheme or "imported",
                    title=doc_ext.title or {lang: doc.title},
                    levels=levels,
                    dimensions=dimensions,
                    cut_scores=cut_scores,
                    description=doc_ext.description or ({lang: doc.description} if doc.description else None),
                    sources=doc_ext.sources,
                    notes=doc_ext.notes,
                )
            ),
            FrameworkContent,
            strict=True,
        )
    except msgspec.ValidationError as exc:
        errors.append(msgspec_field_error(f"the package does not make a valid framework: {exc}"))
        content = None
    if errors:
        raise Unprocessable(
            msg("the CASE package has {count} problem(s); nothing was imported", count=len(errors)), errors
        )
    assert content is not None
    return content
