"""One `qti-assessment-item` (QTI 3.0, or 2.x read as 3.0) as the item document its standard QTI says,
or the first construct the item bank cannot hold. Pure: no I/O.

A choice interaction with one answer is a single choice, or with a graded mapping a situational judgement
scored by picking the best response; with several answers a multiple choice, its partial-credit rule
recognised from the mapping. An order interaction is an ordering (exact); an extended-text interaction an
open response, its scorer rubric blocks the rater notes. Every other construct (other interactions,
templates, feedback, MathML, media, custom response processing) is `Unsupported`, named.
"""

from __future__ import annotations

import math
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from service.i18n import msg
from service.items.qti.xml import XML_LANG, local, q

SUPPORTED_INTERACTIONS = {"qti-choice-interaction", "qti-order-interaction", "qti-extended-text-interaction"}
UNSUPPORTED = {
    "qti-template-declaration", "qti-template-processing", "qti-modal-feedback", "qti-feedback-inline",
    "qti-feedback-block", "qti-printed-variable", "qti-assessment-stimulus-ref", "qti-companion-materials-info",
    "qti-context-declaration", "math", "object", "audio", "video", "iframe", "include", "qti-template-inline",
    "qti-template-block",
}  # fmt: skip


class Unsupported(Exception):
    """A construct the item bank cannot hold; its name is the message."""


def _text(element: ET.Element | None, skip: set[ET.Element] | None = None) -> str:
    """The element's text, whitespace collapsed; the subtrees in `skip` left out."""
    if element is None:
        return ""
    parts: list[str] = []

    def walk(node: ET.Element) -> None:
        if skip and node in skip:
            return
        parts.append(node.text or "")
        for child in node:
            walk(child)
            parts.append(child.tail or "")

    walk(element)
    return " ".join("".join(parts).split())


def _resolve(href: str, src: str) -> str | None:
    """A reference of the file `href` as a path in the package; None when it leaves the package or is a URL."""
    if ":" in src.split("/", 1)[0] or src.startswith("//"):
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(href), src.split("#", 1)[0].split("?", 1)[0]))
    return None if path.startswith("..") else path


ImageId = Callable[[str], str | None]  # a package path -> the image's id (None: no such file)


def _localized(text: str, lang: str) -> dict[str, str] | None:
    return {lang: text} if text else None


def _float(value: str | None) -> float:
    try:
        return float(value or "")
    except ValueError:
        raise Unsupported(msg("the number '{value}'", value=value)) from None


def _one_image(elements: list[ET.Element], href: str, image_id: ImageId) -> str | None:
    images = [e for e in elements if local(e.tag) == "img"]
    if len(images) > 1:
        raise Unsupported(msg("more than one image in one place"))
    if not images:
        return None
    path = _resolve(href, images[0].get("src", ""))
    found = image_id(path) if path else None
    if found is None:
        raise Unsupported(msg("the image '{src}' (not in the package)", src=images[0].get("src", "")))
    return found


def _image_alt(elements: list[ET.Element], lang: str) -> dict[str, dict[str, str]]:
    """The `image_alt` of the one image among `elements` (its `alt`), if it has one."""
    alt = " ".join(next((e.get("alt", "") for e in elements if local(e.tag) == "img"), "").split())
    return {"image_alt": {lang: alt}} if alt else {}


def _mapping(declaration: ET.Element) -> tuple[dict[str, float], float | None] | None:
    mapping = declaration.find(q("qti-mapping"))
    if mapping is None:
        return None
    if _float(mapping.get("default-value", "0")) != 0:
        raise Unsupported(msg("a mapping whose default value is not 0"))
    lower = mapping.get("lower-bound")
    entries = {
        e.get("map-key", ""): _float(e.get("mapped-value")) for e in mapping.findall(q("qti-map-entry"))
    }
    return entries, None if lower is None else _float(lower)


def _processing(root: ET.Element) -> str | float | None:
    """The response processing: a template's name, our per-option rule's base, or None (none given)."""
    processing = root.find(q("qti-response-processing"))
    if processing is None:
        return None
    template = processing.get("template") or processing.get("template-location")
    if template and len(processing) == 0:
        return posixpath.basename(template).removesuffix(".xml")
    condition = processing.find(q("qti-response-condition"))
    branch = None if condition is None else condition.find(q("qti-response-else"))
    total = None if branch is None else branch.find(f"{q('qti-set-outcome-value')}/{q('qti-sum')}")
    if len(processing) == 1 and total is not None and total.find(q("qti-map-response")) is not None:
        return _float(total.findtext(q("qti-base-value")))
    raise Unsupported(msg("custom response processing"))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _choice(
    root: ET.Element,
    interaction: ET.Element,
    declaration: ET.Element,
    href: str,
    image_id: ImageId,
    lang: str,
) -> dict[str, Any]:
    choices = interaction.findall(q("qti-simple-choice"))
    keys = [c.get("identifier", "") for c in choices]
    options = [
        {
            "key": c.get("identifier", ""),
            "text": _localized(_text(c), lang),
            **(
                {"image": image, **_image_alt(list(c.iter()), lang)}
                if (image := _one_image(list(c.iter()), href, image_id))
                else {}
            ),
        }
        for c in choices
    ]
    correct = [v.text or "" for v in declaration.iterfind(f"{q('qti-correct-response')}/{q('qti-value')}")]
    processing, mapping = _processing(root), _mapping(declaration)
    shuffle = interaction.get("shuffle", "false") == "true"
    if declaration.get("cardinality") == "single":
        if processing in (None, "match_correct") and len(correct) == 1:
            return {
                "type": "single_choice",
                "options": options,
                "key": {"correct": correct[0]},
                "shuffle_options": shuffle,
            }
        if processing == "map_response" and mapping is not None:
            credit = {key: mapping[0].get(key, 0.0) for key in keys}
            if any(not 0 <= value <= 1 for value in credit.values()):
                raise Unsupported(msg("mapped credit outside 0 to 1"))
            return {
                "type": "situational_judgement",
                "format": "best",
                "options": options,
                "key": {"options": [{"option": key, "credit": {"": value}} for key, value in credit.items()]},
                "shuffle_options": shuffle,
            }
        raise Unsupported(msg("this single-choice scoring"))
    if declaration.get("cardinality") != "multiple":
        raise Unsupported(
            msg(
                "a choice interaction whose response is '{cardinality}'",
                cardinality=declaration.get("cardinality"),
            )
        )
    rule = "all_or_nothing"
    if processing in ("map_response", "map_response_point") or isinstance(processing, float):
        if mapping is None:
            raise Unsupported(msg("mapped scoring without a mapping"))
        values, lower = mapping
        right, n = set(correct), len(keys)
        if (
            isinstance(processing, float)
            and right
            and all(_close(values.get(k, 0), (1 if k in right else -1) / n) for k in keys)
            and _close(processing, (n - len(right)) / n)
        ):
            rule = "per_option"
        elif (
            processing == "map_response"
            and right
            and lower == 0
            and all(_close(values.get(k, 0), (1 if k in right else -1) / len(right)) for k in keys)
        ):
            rule = "right_minus_wrong"
        else:
            raise Unsupported(msg("a mapping other than right-minus-wrong or per-option credit"))
    elif processing not in (None, "match_correct"):
        raise Unsupported(msg("the response processing '{name}'", name=processing))
    return {
        "type": "multiple_choice",
        "options": options,
        "key": {"correct": correct, "partial_credit": rule},
        "shuffle_options": shuffle,
    }


def standard(root: ET.Element, href: str, image_id: ImageId, default_language: str) -> dict[str, Any]:
    """The item a `qti-assessment-item` (QTI 3.0, or 2.x normalised) says in standard QTI; `Unsupported`
    names the first construct the bank cannot hold. Indicator credit is keyed by "" (the caller's indicator)."""
    if local(root.tag) != "qti-assessment-item":
        raise Unsupported(msg("the element '{name}' as an item", name=local(root.tag)))
    lang = root.get(XML_LANG) or root.get("language") or default_language
    for element in root.iter():
        name = local(element.tag)
        if name in UNSUPPORTED or (name.endswith("-interaction") and name not in SUPPORTED_INTERACTIONS):
            raise Unsupported(msg("the element '{name}'", name=name))
    declarations = root.findall(q("qti-response-declaration"))
    body = root.find(q("qti-item-body"))
    interactions = [] if body is None else [e for e in body.iter() if local(e.tag) in SUPPORTED_INTERACTIONS]
    if len(interactions) != 1 or len(declarations) != 1:
        raise Unsupported(
            msg("an item with {count} interactions (exactly one is supported)", count=len(interactions))
        )
    assert body is not None
    interaction, declaration = interactions[0], declarations[0]
    if interaction.get("response-identifier") != declaration.get("identifier"):
        raise Unsupported(msg("an interaction without its response declaration"))
    rubrics = [e for e in body.iter() if local(e.tag) == "qti-rubric-block"]
    scenario_parts = [
        e for e in body.iter() if local(e.tag) == "div" and "assess-scenario" in e.get("class", "")
    ]
    skip = {interaction, *rubrics, *scenario_parts}
    prompt = interaction.find(q("qti-prompt"))
    outside = _text(body, skip)
    stem = _text(prompt) if prompt is not None else outside
    scenario = " ".join(_text(part) for part in scenario_parts)
    if prompt is not None and outside:
        scenario = " ".join(filter(None, [scenario, outside]))
    stem_images = [
        e for e in body.iter() if local(e.tag) == "img" and not any(e in set(s.iter()) for s in skip)
    ]
    document: dict[str, Any] = {"code": root.get("identifier", ""), "stem": _localized(stem, lang)}
    if scenario:
        document["scenario"] = {lang: scenario}
    if image := _one_image(stem_images, href, image_id):
        document |= {"image": image, **_image_alt(stem_images, lang)}
    name = local(interaction.tag)
    if name == "qti-extended-text-interaction":
        notes = [
            _text(r)
            for r in rubrics
            if "assess-exemplar" not in r.get("class", "") and r.get("view", "") in ("scorer", "")
        ]
        exemplars = [{lang: _text(r)} for r in rubrics if "assess-exemplar" in r.get("class", "")]
        key: dict[str, Any] = {}
        if notes := [n for n in notes if n]:
            key["rater_notes"] = {lang: "\n".join(notes)}
        if exemplars:
            key["exemplars"] = exemplars
        return {**document, "type": "open_response", "key": key}
    if rubrics:
        raise Unsupported(msg("rubric blocks outside an extended-text interaction"))
    if name == "qti-order-interaction":
        if _processing(root) not in (None, "match_correct") or declaration.get("cardinality") != "ordered":
            raise Unsupported(msg("this ordering scoring"))
        order = [v.text or "" for v in declaration.iterfind(f"{q('qti-correct-response')}/{q('qti-value')}")]
        options = [
            {"key": c.get("identifier", ""), "text": _localized(_text(c), lang)}
            for c in interaction.findall(q("qti-simple-choice"))
        ]
        return {
            **document,
            "type": "ordering",
            "options": options,
            "key": {"order": order, "credit": "exact"},
        }
    return {**document, **_choice(root, interaction, declaration, href, image_id, lang)}
