"""The message catalog: gettext .po files under `locale/`, compiled in memory on first use.

The .po files are the source of truth and are read at start-up (`load`): there is no build
step a fresh clone could miss. English is the msgid itself; `en/messages.po` exists so that an
editor can still reword a source text without touching code (an empty msgstr means "as written").
`translator(locale)` gives the `gettext`/`ngettext` pair a Jinja i18n environment installs.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from service.i18n.message import Message

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
Language = Literal["zh-CN", "en"]
SUPPORTED: tuple[Language, ...] = ("zh-CN", "en")  # BCP 47 tags, best first: zh-CN is also the default
DEFAULT: Language = SUPPORTED[0]


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translator(locale: str) -> gettext.GNUTranslations:
    """`gettext`, `ngettext` (and `pgettext`) for one supported locale; fuzzy entries are not used."""
    with po_path(locale).open("rb") as source:
        catalog = read_po(source, locale=locale.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load() -> None:
    """Read every catalog now, so a broken .po fails start-up rather than a request."""
    for locale in SUPPORTED:
        translator(locale)


def render(text: Any, locale: str) -> str:
    """`text` in `locale` when it is a `Message`; any other value as `str(text)`, untranslated."""
    if not isinstance(text, Message):
        return str(text)
    translations = translator(locale)
    if text.plural is not None:
        source = translations.ngettext(text.msgid, text.plural, text.count if text.count is not None else 1)
    else:
        source = translations.gettext(text.msgid)
    if not text.params:
        return source
    return source.format(
        **{
            name: render(value, locale) if isinstance(value, Message) else value
            for name, value in text.params.items()
        }
    )
