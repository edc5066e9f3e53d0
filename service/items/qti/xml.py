"""Names of QTI's namespaces, and XML read safely: every file of an uploaded package is untrusted.

Parsing goes through defusedxml, which refuses a document type declaration outright, so an entity
expansion (billion laughs) or an external entity (XXE, a file or URL read by the parser) never runs.

QTI 2.x is read as QTI 3.0: the versions differ mostly in spelling (`choiceInteraction` became
`qti-choice-interaction`, `responseIdentifier` became `response-identifier`), so `normalize` rewrites a
2.x element tree in place and one reader serves both. The XHTML of an item body (`p`, `img`, ...) is
spelled alike in both and left as it is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from service.i18n import msg

QTI3 = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
QTI2 = (
    "http://www.imsglobal.org/xsd/imsqti_v2p0",
    "http://www.imsglobal.org/xsd/imsqti_v2p1",
    "http://www.imsglobal.org/xsd/imsqti_v2p2",
)
CP3 = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Our extension (in a resource's metadata of the manifest): what QTI cannot say about an item.
EXTENSION = "urn:x-assess:qti-extension:1"
QTI3_SCHEMA = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0p1_v1p0.xsd"
RP_TEMPLATES = "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/"

ET.register_namespace("assess", EXTENSION)


class XmlRefused(ValueError):
    """The bytes are not well-formed XML, or they declare a document type (entities), which is refused."""


def parse(data: bytes) -> ET.Element:
    try:
        root: ET.Element = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRefused(
            msg("a document type declaration or entity is refused ({reason})", reason=type(exc).__name__)
        ) from exc
    except ET.ParseError as exc:
        raise XmlRefused(msg("not well-formed XML: {error}", error=str(exc))) from exc
    return root


def local(tag: object) -> str:
    """An element's name without its namespace ('' for comments and processing instructions)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


# QTI 2.x elements spelled in lower case only (the rest have a capital: `simpleChoice`, `mapEntry`).
_QTI2_LOWER = {
    "prompt", "value", "mapping", "match", "sum", "and", "or", "not", "gt", "lt", "gte", "lte", "member",
    "product", "subtract", "divide", "power", "round", "truncate", "equal", "delete", "contains", "substring",
    "index", "random", "multiple", "ordered", "null", "default", "variable", "correct", "inside", "max", "min",
    "repeat", "lcm", "gcd",
}  # fmt: skip
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def kebab(name: str) -> str:
    return _CAMEL.sub("-", name).lower()


def normalize(root: ET.Element) -> str:
    """Rewrite a QTI 2.x tree as QTI 3.0 (in place); the version read: "3.0", "2.x", or "" (not QTI)."""
    found = namespace(root.tag)
    if found == QTI3:
        return "3.0"
    if found not in QTI2:
        return ""
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = local(element.tag)
        if namespace(element.tag) == found and (name in _QTI2_LOWER or name != name.lower()):
            name = "qti-" + kebab(name)
        element.tag = f"{{{QTI3}}}{name}" if namespace(element.tag) == found else element.tag
        for attribute in [a for a in element.attrib if not a.startswith("{") and a != a.lower()]:
            element.attrib[kebab(attribute)] = element.attrib.pop(attribute)
    return "2.x"


def q(name: str) -> str:
    """A QTI 3.0 element name, qualified."""
    return f"{{{QTI3}}}{name}"
