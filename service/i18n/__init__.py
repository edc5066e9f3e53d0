"""One message catalog (zh-CN first, en) for API problems, the candidate report, item previews
and, later, the web console: lazy messages in the code, gettext .po files under `locale/`.

- `msg(...)`/`nmsg(...)` mark a text for translation where it is written (a domain module);
- `negotiate(accept_language)` picks zh-CN or en for a request;
- `render(text, locale)` translates a message when the reply is built (the API layer);
- `translator(locale)` hands the console's templates their `gettext`/`ngettext`.

`./dev python -m service.i18n extract` refreshes `locale/messages.pot` from the source and
`./dev python -m service.i18n update` merges it into each language's `messages.po`.
"""

from service.i18n.catalog import DEFAULT, SUPPORTED, load, render, translator
from service.i18n.message import Message, msg, nmsg
from service.i18n.negotiate import language_headers, negotiate, vary

__all__ = [
    "DEFAULT",
    "SUPPORTED",
    "Message",
    "language_headers",
    "load",
    "msg",
    "negotiate",
    "nmsg",
    "render",
    "translator",
    "vary",
]
