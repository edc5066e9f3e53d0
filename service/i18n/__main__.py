"""Keep the catalog in step with the code.

    ./dev python -m service.i18n extract   # service/**.py and the console's templates -> messages.pot
    ./dev python -m service.i18n update    # messages.pot -> each locale's messages.po (new entries
                                           # empty, stale ones dropped, translations kept)

Then translate the empty zh_CN entries (tests/test_i18n.py fails until every one is). Locations
are written without line numbers, so editing code around a message does not churn the catalog.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
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
TRANSLATOR = "assess maintainers"
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
    mark_formats(catalog)
    return catalog


# A console template's text is %-formatted only when it is called with values, and those are named
# (`_("Section %(number)s", number=n)`); `msg` texts are `str.format`. So only a text with a named
# placeholder is python-format: Babel guesses from any `%` followed by a conversion ("95% interval":
# `% i`), and msgfmt -c would then check a translation that rightly has no placeholder.
NAMED_PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)")


def python_format(message: Message) -> bool:
    """Whether `message` is a %-format string here (see NAMED_PLACEHOLDER)."""
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    return any(NAMED_PLACEHOLDER.search(text) for text in ids if text)


def mark_formats(catalog: Catalog) -> None:
    """Each message's python-format flag by the rule above, Babel's guess overruled; a text with a `%`
    but no placeholder says `no-python-format`, so msgfmt -c and editors leave it alone."""
    for message in catalog:
        if not message.id:
            continue
        message.flags.discard("python-format")
        message.flags.discard("no-python-format")
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        if python_format(message):
            message.flags.add("python-format")
        elif any("%" in text for text in ids):
            message.flags.add("no-python-format")


def _write(path: Path, catalog: Catalog) -> None:
    mark_formats(catalog)
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
        catalog.last_translator = TRANSLATOR  # not Babel's placeholder, which msgfmt -c warns about
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
