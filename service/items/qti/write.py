"""Items as a QTI 3.0 content package: `imsmanifest.xml`, one item file per item, the images. Pure: no I/O.

Each item says in standard QTI what QTI can say: the stem as the interaction's prompt, the scenario
and images in the body, options as simple choices, the right answer as the correct response, and
response processing that credits as we do where QTI can (`match_correct`; `map_response` with a
mapping for right-minus-wrong, Likert points and situational-judgement credit; a short custom rule
for per-option credit). What it cannot (the other languages of every text, loadings, points, tags,
the pairwise ordering rule, the credit per indicator of a situational-judgement option, Likert
reverse keying, rater exemplars) travels in our extension: the whole item document, in its
resource's metadata in the manifest, which the content-packaging schema leaves open to other
namespaces. A reader that ignores the extension still gets a working item (`service.items.qti.read`
trusts the extension only when it agrees with the standard part).

The body is written in one language (`primary_language`, Chinese first); scores are fractions of
the item (SCORE in 0..1, MAXSCORE 1).
"""

from __future__ import annotations

import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Sequence

from service.items.kinds.likert import Likert
from service.items.kinds.multiple_choice import MultipleChoice
from service.items.kinds.open_response import OpenResponse
from service.items.kinds.ordering import Ordering
from service.items.kinds.single_choice import SingleChoice
from service.items.kinds.situational_judgement import SituationalJudgement
from service.items.model import Item, encode_item, image_ids
from service.items.qti.xml import CP3, EXTENSION, QTI3, QTI3_SCHEMA, RP_TEMPLATES, XML_LANG, XSI
from service.rubrics.model import Localized

SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
LANGUAGE_ORDER = ("zh-CN", "en")

ImageSrc = Callable[[str], str]  # image id -> its path in the package


def primary_language(item: Item) -> str:
    """The language the body is written in: Chinese, else English, else the stem's first."""
    return next((lang for lang in LANGUAGE_ORDER if lang in item.stem), min(item.stem))


def _text(text: Localized, lang: str) -> str:
    return text.get(lang) or text[min(text)]


def _sub(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    """A child in the root's default namespace: names are written unqualified under its `xmlns`, since
    ElementTree's own default namespace refuses unqualified attributes."""
    element = ET.SubElement(parent, name, {k.replace("_", "-"): v for k, v in attributes.items()})
    element.text = text
    return element


def _html(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    return _sub(parent, name, text, **attributes)  # XHTML in a QTI 3 body is in the QTI namespace


def _image(parent: ET.Element, image: str | None, alt: Localized | None, lang: str, src: ImageSrc) -> None:
    """An image with its text alternative (QTI requires `alt`; ours travels in the item's language)."""
    if image is not None:
        _html(parent, "img", src=src(image), alt=_text(alt, lang) if alt else "")


def _number(value: float) -> str:
    return repr(float(value))


def _declare(root: ET.Element, cardinality: str, base_type: str, correct: Sequence[str] = ()) -> ET.Element:
    declaration = _sub(
        root, "qti-response-declaration", identifier="RESPONSE", cardinality=cardinality, base_type=base_type
    )
    if correct:
        values = _sub(declaration, "qti-correct-response")
        for value in correct:
            _sub(values, "qti-value", value)
    return declaration


def _mapping(declaration: ET.Element, values: dict[str, float], lower_bound: float | None = None) -> None:
    attributes = {"default_value": "0"}
    if lower_bound is not None:
        attributes["lower_bound"] = _number(lower_bound)
    mapping = _sub(declaration, "qti-mapping", **attributes)
    for key, value in values.items():
        _sub(mapping, "qti-map-entry", map_key=key, mapped_value=_number(value))


def _outcomes(root: ET.Element, human: bool = False) -> None:
    score = _sub(root, "qti-outcome-declaration", identifier="SCORE", cardinality="single", base_type="float")
    if human:
        score.set("external-scored", "human")
    maximum = _sub(
        root, "qti-outcome-declaration", identifier="MAXSCORE", cardinality="single", base_type="float"
    )
    _sub(_sub(maximum, "qti-default-value"), "qti-value", "1.0")


def _template(root: ET.Element, name: str) -> None:
    _sub(root, "qti-response-processing", template=RP_TEMPLATES + name + ".xml")


def _per_option(root: ET.Element, base: float) -> None:
    """SCORE = base + the mapped response, or base alone when nothing is chosen."""
    condition = _sub(_sub(root, "qti-response-processing"), "qti-response-condition")
    branch = _sub(condition, "qti-response-if")
    _sub(_sub(branch, "qti-is-null"), "qti-variable", identifier="RESPONSE")
    _sub(
        _sub(branch, "qti-set-outcome-value", identifier="SCORE"),
        "qti-base-value",
        _number(base),
        base_type="float",
    )
    total = _sub(
        _sub(_sub(condition, "qti-response-else"), "qti-set-outcome-value", identifier="SCORE"), "qti-sum"
    )
    _sub(total, "qti-base-value", _number(base), base_type="float")
    _sub(total, "qti-map-response", identifier="RESPONSE")


def _body(root: ET.Element, item: Item, lang: str, src: ImageSrc) -> ET.Element:
    body = _sub(root, "qti-item-body")
    if isinstance(item, OpenResponse):
        if item.key.rater_notes is not None:
            _rubric(body, item.key.rater_notes, lang, "assess-rater-notes")
        for exemplar in item.key.exemplars:
            _rubric(body, exemplar, lang, "assess-exemplar")
    if item.scenario is not None:
        _html(_html(body, "div", **{"class": "assess-scenario"}), "p", _text(item.scenario, lang))
    if item.image is not None:
        _image(_html(body, "p"), item.image, item.image_alt, lang, src)
    return body


def _rubric(body: ET.Element, text: Localized, lang: str, kind: str) -> None:
    block = _sub(body, "qti-rubric-block", use="scoring", view="scorer", **{"class": kind})
    _html(_sub(block, "qti-content-body"), "p", _text(text, lang))


def _choices(
    interaction: ET.Element,
    options: list[tuple[str, str, str | None, Localized | None]],
    lang: str,
    src: ImageSrc,
) -> None:
    for key, text, image, alt in options:
        choice = _sub(interaction, "qti-simple-choice", text, identifier=key)
        _image(choice, image, alt, lang, src)


def _weighted_credit(item: SituationalJudgement) -> dict[str, float]:
    """Each option's credit as a fraction of the item, its indicators weighted by their loadings."""
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    total = sum(weights.values()) or 1.0
    return {
        entry.option: sum(weights.get(code, 0.0) * credit for code, credit in entry.credit.items())
        / total
        / item.points
        for entry in item.key.options
    }


def item_xml(item: Item, src: ImageSrc) -> ET.Element:
    """One item as a `qti-assessment-item` (our extension is written in the manifest, not here)."""
    lang = primary_language(item)
    root = ET.Element(
        "qti-assessment-item",
        {
            "xmlns": QTI3,
            f"{{{XSI}}}schemaLocation": f"{QTI3} {QTI3_SCHEMA}",
            "identifier": item.code,
            "title": item.code,
            "adaptive": "false",
            "time-dependent": "false",
            XML_LANG: lang,
        },
    )
    options = [(o.key, _text(o.text, lang), o.image, o.image_alt) for o in getattr(item, "options", [])]
    shuffle = "true" if getattr(item, "shuffle_options", False) else "false"
    interaction_name, interaction_attributes = (
        "qti-choice-interaction",
        {"max_choices": "1", "shuffle": shuffle},
    )
    if isinstance(item, SingleChoice):
        _declare(root, "single", "identifier", [item.key.correct])
        processing: str | float = "match_correct"
    elif isinstance(item, MultipleChoice):
        declaration = _declare(root, "multiple", "identifier", item.key.correct)
        interaction_attributes["max_choices"] = str(len(options))
        correct, n = set(item.key.correct), len(options)
        if item.key.partial_credit == "right_minus_wrong":
            step = 1 / len(correct)
            _mapping(declaration, {k: step if k in correct else -step for k, *_ in options}, 0.0)
            processing = "map_response"
        elif item.key.partial_credit == "per_option":
            _mapping(declaration, {k: (1 if k in correct else -1) / n for k, *_ in options})
            processing = (n - len(correct)) / n  # per option: a base plus the mapped response
        else:
            processing = "match_correct"
    elif isinstance(item, Ordering):
        _declare(root, "ordered", "identifier", item.key.order)
        interaction_name, interaction_attributes = "qti-order-interaction", {"shuffle": "true"}
        processing = "match_correct"
    elif isinstance(item, Likert):
        top = item.scale_points
        options = [
            (f"P{p}", _text(item.scale_labels[p - 1], lang) if item.scale_labels else str(p), None, None)
            for p in range(1, top + 1)
        ]
        points = {
            key: ((top - p) if item.key.reverse else (p - 1)) / (top - 1)
            for p, (key, *_) in enumerate(options, start=1)
        }
        _mapping(_declare(root, "single", "identifier"), points)
        interaction_attributes["shuffle"] = "false"
        processing = "map_response"
    elif isinstance(item, SituationalJudgement):
        # The standard fallback of every format: pick the best response, credited by its keyed effectiveness.
        _mapping(_declare(root, "single", "identifier"), _weighted_credit(item))
        processing = "map_response"
    else:  # open response: rated by people against the rubric
        _declare(root, "single", "string")
        _outcomes(root, human=True)
        interaction = _sub(
            _body(root, item, lang, src), "qti-extended-text-interaction", response_identifier="RESPONSE"
        )
        _sub(interaction, "qti-prompt", _text(item.stem, lang))
        return root
    _outcomes(root)
    interaction = _sub(
        _body(root, item, lang, src),
        interaction_name,
        response_identifier="RESPONSE",
        **interaction_attributes,
    )
    _sub(interaction, "qti-prompt", _text(item.stem, lang))
    _choices(interaction, options, lang, src)
    if isinstance(processing, str):
        _template(root, processing)
    else:
        _per_option(root, processing)
    return root


def _bytes(element: ET.Element) -> bytes:
    ET.indent(element)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def item_bytes(item: Item, src: ImageSrc) -> bytes:
    return _bytes(item_xml(item, src))


def item_path(n: int) -> str:
    return f"items/item-{n + 1:04d}.xml"


def image_path(image_id: str, media_type: str) -> str:
    return f"images/{image_id}{SUFFIX.get(media_type, '')}"


def package(items: list[Item], images: dict[str, tuple[str, bytes]], identifier: str) -> bytes:
    """A QTI 3.0 content package (zip) of `items`; `images` holds each image the items show (id -> media
    type and bytes)."""
    manifest = ET.Element("manifest", {"xmlns": CP3, "identifier": identifier})
    metadata = ET.SubElement(manifest, "metadata")
    ET.SubElement(metadata, "schema").text = "QTI Package"
    ET.SubElement(metadata, "schemaversion").text = "3.0.0"
    ET.SubElement(manifest, "organizations")
    resources = ET.SubElement(manifest, "resources")
    files: dict[str, bytes] = {}
    for n, item in enumerate(items):
        href = item_path(n)

        def src(image_id: str, href: str = href) -> str:
            return posixpath.relpath(image_path(image_id, images[image_id][0]), posixpath.dirname(href))

        files[href] = item_bytes(item, src)
        resource = ET.SubElement(
            resources,
            "resource",
            {"identifier": f"ITEM-{n + 1:04d}", "type": "imsqti_item_xmlv3p0", "href": href},
        )
        extension = ET.SubElement(
            ET.SubElement(resource, "metadata"), "assess:item", {"xmlns:assess": EXTENSION}
        )
        extension.text = encode_item(item).decode()
        ET.SubElement(resource, "file", {"href": href})
        for image_id in image_ids(item):
            ET.SubElement(resource, "dependency", {"identifierref": f"IMAGE-{image_id}"})
    for image_id, (media_type, content) in sorted(images.items()):
        path = image_path(image_id, media_type)
        files[path] = content
        resource = ET.SubElement(
            resources,
            "resource",
            {"identifier": f"IMAGE-{image_id}", "type": "webcontent", "href": path},
        )
        ET.SubElement(resource, "file", {"href": path})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in {"imsmanifest.xml": _bytes(manifest), **files}.items():
            # A fixed time stamp: the same items export to the same bytes.
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
