"""Keep the catalog in step with the code.

    ./dev python -m service.i18n extract   # service/**.py and the console's templates -> messages.pot
    ./dev python -m service.i18n update    # messages.pot -> each locale's messages.po (new entries
                                           # empty, stale ones dropped, translations kept)

Then translate the empty zh_CN entries (tests/test_i18n.py fails until every one is). Locations
are written without line numbers, so editing code around a message does not churn the catalog.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from service.i18n.catalog import LOCALE_DIR, SUPPORTED, po_path

SOURCE_DIR = Path(__file__).resolve().parents[1]  # the `service` package
POT_PATH = LOCALE_DIR / "messages.pot"
KEYWORDS = {"msg": None, "nmsg": (1, 2)}
TEMPLATE_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
HEADER = (
    "# The assess message catalog: API problems, reports, previews and the console.\n"
    "# Regenerate with `./dev python -m service.i18n extract`, then `update`."
)
STAMP = datetime(2026, 12, 6, tzinfo=UTC)  # fixed, so that an unchanged catalog is an unchanged file


def extract() -> Catalog:
    """Every `msg`/`nmsg` msgid in the service's source, as a template catalog."""
    catalog = Catalog(
        project="assess",
        version="1",
        charset="utf-8",
        fuzzy=False,
        header_comment=HEADER,
        creation_date=STAMP,
        revision_date=STAMP,
    )
    found = list(extract_from_dir(SOURCE_DIR, [("**.py", "python")], keywords=KEYWORDS))
    # The console's Jinja templates call gettext as `_`/`gettext`/`ngettext` (service/console/web.py).
    found += extract_from_dir(
        SOURCE_DIR,
        [("console/templates/**.html", "jinja2")],
        keywords=TEMPLATE_KEYWORDS,
        options_map={"console/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(f"service/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    with path.open("wb") as out:
        write_po(out, catalog, width=110, sort_output=True, include_lineno=False, ignore_obsolete=True)


def write_template() -> None:
    _write(POT_PATH, extract())


def update() -> None:
    with POT_PATH.open("rb") as source:
        template = read_po(source)
    for locale in SUPPORTED:
        path = po_path(locale)
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=locale.replace("-", "_"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(
                locale=locale.replace("-", "_"),
                project="assess",
                version="1",
                charset="utf-8",
                header_comment=HEADER,
                creation_date=STAMP,
                revision_date=STAMP,
            )
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.fuzzy = False  # the header: a new catalog's is marked fuzzy
        catalog.obsolete.clear()
        _write(path, catalog)


def main(argv: list[str]) -> int:
    commands = {"extract": write_template, "update": update}
    if len(argv) != 1 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
