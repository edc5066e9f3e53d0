"""QTI exchange, pure: export → import is lossless for every item type; the standard part alone scores as
our credit rules do (a small QTI response-processing evaluator over every possible answer); a package
edited by another tool is read from its standard part; Cito's sample package imports alike in QTI 3.0
and in the QTI 2.1 their converter wrote; XXE, entity expansion, zip bombs and broken packages are refused."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import msgspec
import pytest

from service.items.answers import Answer
from service.items.kinds import kind_of
from service.items.model import Item
from service.items.qti.read import MalformedPackage, read_package
from service.items.qti.write import package
from service.items.qti.xml import XmlRefused, local, parse, q
from service.items.samples import sample_bank

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "qti"
PNG = b"\x89PNG\r\n\x1a\n" + b"a QTI test image"
PNG_ID = hashlib.sha256(PNG).hexdigest()
JPEG = b"\xff\xd8\xff" + b"another QTI test image"
JPEG_ID = hashlib.sha256(JPEG).hexdigest()
IMAGES = {PNG_ID: ("image/png", PNG), JPEG_ID: ("image/jpeg", JPEG)}


def _l(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def _options(n: int) -> list[dict[str, Any]]:
    return [{"key": k, "text": _l(f"选项{k}", f"Option {k}")} for k in "abcdef"[:n]]


def _base(code: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "code": code,
        "framework": "cadre-ai-literacy",
        "stem": _l(f"题干 {code}", f"Stem of {code}"),
        "loadings": [{"indicator": "AK.1"}],
        **fields,
    }


CRAFTED: list[dict[str, Any]] = [
    _base(
        "Q-SC",
        "single_choice",
        scenario=_l("情境：第一行\n第二行", "Scenario, two lines\nsecond"),
        image=PNG_ID,
        image_alt=_l("截图", "A screenshot"),
        options=[
            *_options(3),
            {"key": "d", "text": _l("图", "Picture"), "image": JPEG_ID, "image_alt": _l("图表", "A chart")},
        ],
        key={"correct": "d"},
        points=2,
        tags=["qti", "图片"],
        note="for authors",
        shuffle_options=False,
    ),
    *[
        _base(
            f"Q-MC-{rule}",
            "multiple_choice",
            options=_options(5),
            key={"correct": ["a", "c", "d"], "partial_credit": rule},
        )
        for rule in ("all_or_nothing", "per_option", "right_minus_wrong")
    ],
    *[
        _base(
            f"Q-OR-{credit}",
            "ordering",
            options=_options(4),
            key={"order": ["c", "a", "d", "b"], "credit": credit},
        )
        for credit in ("exact", "pairwise")
    ],
    _base("Q-LK", "likert", scale_points=4, scale_labels=[_l(f"{p}级", f"level {p}") for p in range(1, 5)]),
    _base("Q-LK-R", "likert", scale_points=7, key={"reverse": True}),
    *[
        _base(
            f"Q-SJ-{format_}",
            "situational_judgement",
            format=format_,
            scenario=_l("情境", "A scenario"),
            loadings=[{"indicator": "HMC.3", "weight": 0.75}, {"indicator": "ES.1", "weight": 0.25}],
            options=_options(4),
            points=2,
            key={
                "options": [
                    {"option": k, "credit": {"HMC.3": 2 * n / 3, "ES.1": 2 * (3 - n) / 3}}
                    for n, k in enumerate("abcd")
                ]
            },
        )
        for format_ in ("best", "most_least", "rate")
    ],
    _base(
        "Q-OP",
        "open_response",
        task="critique_output",
        max_length=1200,
        key={
            "rater_notes": _l("看论证", "Look for the argument"),
            "exemplars": [_l("范例一", "One"), _l("范例二", "Two")],
        },
    ),
    _base("Q-OP-BARE", "open_response", stem={"en": "English only"}),
]


def _items() -> list[Item]:
    samples = [
        item for bank in ("cadre-ai-literacy", "teacher-digital-literacy") for item in sample_bank(bank).items
    ]
    return samples + [msgspec.convert(item, Item) for item in CRAFTED]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _folder(name: str) -> bytes:
    folder = FIXTURES / name
    return _zip(
        {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    )


def _without_extension(data: bytes) -> dict[str, bytes]:
    files = _unzip(data)
    files["imsmanifest.xml"] = re.sub(
        rb"<assess:item [^>]*>.*?</assess:item>", b"", files["imsmanifest.xml"], flags=re.DOTALL
    )
    return files


def test_export_then_import_is_lossless_for_every_item_type():
    items = _items()
    assert {type(item).__name__ for item in items} == {
        "SingleChoice", "MultipleChoice", "SituationalJudgement", "Likert", "Ordering", "OpenResponse",
    }  # fmt: skip
    data = package(items, IMAGES, "MANIFEST-TEST")
    entries = read_package(data)
    assert len(entries) == len(items)
    for item, entry in zip(items, entries, strict=True):
        assert entry.problems == [], entry.problems
        assert entry.extended, item.code
        assert msgspec.convert(entry.document, Item) == item
    assert entries[len(items) - len(CRAFTED)].images == {PNG_ID: PNG, JPEG_ID: JPEG}
    assert package(items, IMAGES, "MANIFEST-TEST") == data  # the same items export to the same bytes


def test_items_are_standard_qti_3():
    files = _unzip(package([msgspec.convert(item, Item) for item in CRAFTED], IMAGES, "M"))
    manifest = parse(files["imsmanifest.xml"])
    assert manifest.tag == "{http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1}manifest"
    hrefs = [r.get("href") for r in manifest.iter() if local(r.tag) == "resource"]
    assert set(hrefs) == set(files) - {"imsmanifest.xml"}
    sc = parse(files["items/item-0001.xml"])
    assert sc.tag == q("qti-assessment-item") and sc.get("identifier") == "Q-SC"
    assert [local(child.tag) for child in sc] == [
        "qti-response-declaration", "qti-outcome-declaration", "qti-outcome-declaration", "qti-item-body",
        "qti-response-processing",
    ]  # fmt: skip
    images = [(img.get("src"), img.get("alt")) for img in sc.iter(q("img"))]
    assert images == [(f"../images/{PNG_ID}.png", "截图"), (f"../images/{JPEG_ID}.jpg", "图表")]
    open_response = parse(files[f"items/item-{len(CRAFTED) - 1:04d}.xml"])
    rubric = [e.get("class") for e in open_response.iter(q("qti-rubric-block"))]
    assert rubric == ["assess-rater-notes", "assess-exemplar", "assess-exemplar"]
    assert open_response.find(q("qti-outcome-declaration")).get("external-scored") == "human"


# --------------------------------------------------------------------------- the standard part scores as we do


def _value(element: Any) -> float:
    return float(element.text)


def _qti_score(root: Any, response: list[str] | None) -> float:
    """SCORE after response processing, for the templates and the one custom rule our export writes."""
    declaration = root.find(q("qti-response-declaration"))
    correct = [v.text for v in declaration.iter(q("qti-value"))]
    mapping = declaration.find(q("qti-mapping"))
    processing = root.find(q("qti-response-processing"))

    def mapped() -> float:
        values = {e.get("map-key"): float(e.get("mapped-value")) for e in mapping.iter(q("qti-map-entry"))}
        total = sum(values.get(key, float(mapping.get("default-value", 0))) for key in set(response or []))
        lower = mapping.get("lower-bound")
        return max(total, float(lower)) if lower is not None else total

    template = processing.get("template")
    if template is None:  # our per-option rule: base (nothing chosen) or base + mapped response
        base = _value(processing.find(f".//{q('qti-base-value')}"))
        return base if not response else base + mapped()
    if template.endswith("match_correct.xml"):
        if declaration.get("cardinality") == "multiple":
            return 1.0 if set(response or []) == set(correct) else 0.0
        return 1.0 if (response or []) == correct else 0.0
    assert template.endswith("map_response.xml")
    return mapped() if response else 0.0


def _answers(item: Item) -> list[tuple[Answer, list[str] | None]]:
    keys = [option.key for option in getattr(item, "options", [])]
    match type(item).__name__:
        case "SingleChoice" | "SituationalJudgement":
            return [(Answer(choice=k), [k]) for k in keys]
        case "MultipleChoice":
            subsets = [list(s) for n in range(len(keys) + 1) for s in itertools.combinations(keys, n)]
            return [(Answer(choices=s), s or None) for s in subsets]
        case "Ordering":
            return [(Answer(order=list(p)), list(p)) for p in itertools.permutations(keys)]
        case "Likert":
            return [(Answer(value=p), [f"P{p}"]) for p in range(1, item.scale_points + 1)]  # type: ignore[attr-defined]
    raise AssertionError(item)


def _our_fraction(item: Item, answer: Answer) -> float:
    fractions = kind_of(item).credit(item, answer, None).fractions
    weights = {loading.indicator: loading.weight for loading in item.loadings}
    return sum(weights[i] * f for i, f in fractions.items()) / sum(weights.values())


@pytest.mark.parametrize(
    "code",
    [
        "Q-SC",
        "Q-MC-all_or_nothing",
        "Q-MC-per_option",
        "Q-MC-right_minus_wrong",
        "Q-OR-exact",
        "Q-LK",
        "Q-LK-R",
        "Q-SJ-best",
    ],
)
def test_qti_response_processing_credits_every_answer_as_we_do(code: str):
    item = next(msgspec.convert(i, Item) for i in CRAFTED if i["code"] == code)
    root = parse(_unzip(package([item], IMAGES, "M"))["items/item-0001.xml"])
    for answer, response in _answers(item):
        assert math.isclose(_qti_score(root, response), _our_fraction(item, answer), abs_tol=1e-9), (
            code,
            answer,
        )


def test_without_our_extension_the_standard_part_reads_as_the_nearest_item():
    """Another tool that drops our extension still hands back working items: choice keys and the
    partial-credit rule from the response processing, Likert and situational judgement as a graded best choice."""
    items = [msgspec.convert(i, Item) for i in CRAFTED]
    entries = read_package(_zip(_without_extension(package(items, IMAGES, "M"))))
    by_code = {entry.document["code"]: entry.document for entry in entries if entry.document}
    assert not any(entry.extended for entry in entries)
    assert all(entry.problems == [] for entry in entries)
    sc = by_code["Q-SC"]
    assert (sc["type"], sc["key"], sc["image"], sc["options"][3]["image"]) == (
        "single_choice",
        {"correct": "d"},
        PNG_ID,
        JPEG_ID,
    )
    assert sc["stem"] == {"zh-CN": "题干 Q-SC"} and sc["scenario"] == {"zh-CN": "情境：第一行 第二行"}
    for rule in ("all_or_nothing", "per_option", "right_minus_wrong"):
        assert by_code[f"Q-MC-{rule}"]["key"] == {"correct": ["a", "c", "d"], "partial_credit": rule}
    assert by_code["Q-OR-exact"]["key"] == {"order": ["c", "a", "d", "b"], "credit": "exact"}
    assert by_code["Q-OR-pairwise"]["key"]["credit"] == "exact"  # pairwise lives in the extension only
    likert = by_code["Q-LK-R"]
    assert likert["type"] == "situational_judgement" and likert["format"] == "best"
    assert [o["credit"][""] for o in likert["key"]["options"]] == [1.0, 5 / 6, 4 / 6, 0.5, 2 / 6, 1 / 6, 0.0]
    assert by_code["Q-OP"]["key"] == {
        "rater_notes": {"zh-CN": "看论证"},
        "exemplars": [{"zh-CN": "范例一"}, {"zh-CN": "范例二"}],
    }
    assert by_code["Q-OP-BARE"]["stem"] == {"en": "English only"}


def test_a_stale_extension_loses_to_the_standard_part():
    """Another tool changed the right answer and kept our extension: the edit is what is imported."""
    item = msgspec.convert(CRAFTED[1], Item)  # multiple choice, a c d
    files = _unzip(package([item], {}, "M"))
    files["items/item-0001.xml"] = files["items/item-0001.xml"].replace(
        b"<qti-value>d</qti-value>", b"<qti-value>e</qti-value>"
    )
    (entry,) = read_package(_zip(files))
    assert not entry.extended
    assert entry.document["key"]["correct"] == ["a", "c", "e"]
    assert "loadings" not in entry.document  # the caller names the indicator


# --------------------------------------------------------------------------- packages from another tool


def test_cito_fixtures_are_the_vendored_files():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    assert manifest["licence"].startswith("GPL-3.0-only")
    for path, digest in manifest["files"].items():
        assert hashlib.sha256((FIXTURES / path).read_bytes()).hexdigest() == digest, path


def test_a_qti_21_package_written_by_citos_converter_reads_as_its_qti_3_original():
    qti3, qti21 = read_package(_folder("cito-sample-qti3")), read_package(_folder("cito-sample-qti21"))
    assert {e.version for e in qti3} == {"3.0"} and {e.version for e in qti21} == {"2.x"}
    assert [(e.identifier, e.document, e.images) for e in qti21] == [
        (e.identifier, e.document, e.images) for e in qti3
    ]
    read = {e.identifier: e for e in qti21}
    assert [i for i, e in read.items() if e.document] == [
        "ITEM_CHOICE",
        "ITEM_CHOICE_MULTI",
        "ITEM_EXTENDED",
        "ITEM_ORDER",
    ]
    choice = read["ITEM_CHOICE"].document
    assert choice["key"] == {"correct": "CHOICE3"} and choice["stem"]["nl-NL"].startswith("Welke van de")
    assert read["ITEM_CHOICE"].images[choice["image"]].startswith(b"\x89PNG")
    unsupported = {i: [str(p.detail) for p in e.problems] for i, e in read.items() if e.problems}
    assert unsupported["ITEM_MATCH"] == [
        "item ITEM_MATCH (ITEM_MATCH.xml): the element 'qti-match-interaction' is not supported"
    ]
    assert set(unsupported) == {"ITEM_TEXT", "ITEM_MATCH", "ITEM_GAP", "ITEM_HOTTEXT", "ITEM_SELECT_POINT"}
    assert [p.pointer for p in read["ITEM_GAP"].problems] == ["/items/6"]


# --------------------------------------------------------------------------- what is refused

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE manifest [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"><resources>&secret;</resources></manifest>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="X">&lol3;</qti-assessment-item>"""


def test_xml_with_a_document_type_is_refused_before_any_entity_is_expanded():
    for document in (XXE, LAUGHS):
        with pytest.raises(XmlRefused, match="document type declaration or entity is refused"):
            parse(document)


def _refused(data: bytes) -> MalformedPackage:
    with pytest.raises(MalformedPackage) as refused:
        read_package(data)
    assert refused.value.slug == "qti-package-malformed"
    assert [e.pointer for e in refused.value.errors] == ["/file"]
    return refused.value


def test_broken_and_hostile_packages_are_refused_whole():
    item = package([msgspec.convert(CRAFTED[1], Item)], {}, "M")
    manifest = _unzip(item)["imsmanifest.xml"]
    assert "not a zip archive" in _refused(b"PK\x03\x04 but not really").detail
    assert "no imsmanifest.xml" in _refused(_zip({"item.xml": b"<x/>"})).detail
    assert "imsmanifest.xml is refused" in _refused(_zip({"imsmanifest.xml": XXE})).detail
    assert "imsmanifest.xml is refused" in _refused(_zip({"imsmanifest.xml": b"<manifest"})).detail
    laughing = _unzip(item) | {"items/item-0001.xml": LAUGHS}
    assert "items/item-0001.xml is refused" in _refused(_zip(laughing)).detail
    assert (
        "lists no items"
        in _refused(_zip({"imsmanifest.xml": manifest.replace(b"imsqti_item", b"webcontent")})).detail
    )
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", manifest)
        archive.writestr("padding.bin", b"\0" * 60_000_000)
    assert len(bomb.getvalue()) < 200_000
    assert "unpacks to too much" in _refused(bomb.getvalue()).detail


def test_a_reference_out_of_the_package_is_a_problem_of_its_item():
    files = _unzip(package([msgspec.convert(CRAFTED[0], Item)], IMAGES, "M"))
    files["imsmanifest.xml"] = files["imsmanifest.xml"].replace(
        b'href="items/item-0001.xml"', b'href="../../etc/item.xml"', 1
    )
    files["items/item-0001.xml"] = files["items/item-0001.xml"].replace(b"../images/", b"../../../images/")
    (entry,) = read_package(_zip(files))
    assert entry.document is None
    assert "is not in the package" in str(entry.problems[0].detail)
