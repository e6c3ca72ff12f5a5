"""Languages: which exist, which one a request gets, and which way it is written.

Swedish is the default and the language of the source strings.  Any catalog under
``initiatives/translations/<code>/`` makes its language available, without code changes
(``BABEL_TRANSLATION_DIRECTORIES``, semicolon-separated, adds or replaces directories).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path
from typing import overload

from babel import Locale, support
from babel.lists import format_list
from flask import Flask, Response, current_app, has_app_context, has_request_context, request
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept, MultiDict
from werkzeug.http import parse_accept_header
from wtforms.i18n import messages_path

from .clock import LOCAL_ZONE_NAME

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "sv"
LANG_COOKIE = "lang"
# ``?lang=ar`` on a link (the ones in a signer's mail): the language its reader chose.
LANG_PARAMETER = "lang"
# What may follow a link in a mail's text and be taken into it (see ``link_language``).
LINK_TAIL = re.compile(r"[^A-Za-z0-9]+$")
# Where a link's language is not taken up: the admin is Swedish, a tablet's language is
# in its path.
NO_LINK_LANGUAGE = ("admin", "kiosk")
# Preferred order on the switcher; languages added later follow alphabetically.
PREFERRED_ORDER = ("sv", "en", "ar", "so", "bs", "fa")


@cache
def _catalog_locales(directories: tuple[str, ...]) -> tuple[str, ...]:
    found = {DEFAULT}
    for directory in directories:
        # The compiled catalog, not the .po: a language whose catalog was never compiled
        # would show Swedish text under its own lang attribute (read aloud in the wrong
        # voice), so it is not offered until `make translations` has run.
        for mo in Path(directory).glob("*/LC_MESSAGES/messages.mo"):
            code = mo.parent.parent.name
            if _known_locale(code):
                found.add(code)
    ranked = [code for code in PREFERRED_ORDER if code in found]
    return tuple(ranked + sorted(found - set(ranked)))


def _known_locale(code: str) -> bool:
    """A catalog folder named after no real locale (a typo) must not break every page."""
    try:
        Locale.parse(code)
    except (ValueError, LookupError):
        return False
    return True


def translation_directories() -> tuple[str, ...]:
    """Where this app's catalogs live (Flask-Babel resolves the configured list)."""
    configured = current_app.extensions.get("babel") if has_app_context() else None
    if configured is not None:
        return tuple(configured.translation_directories)
    return (str(TRANSLATIONS),)


def available_locales() -> tuple[str, ...]:
    """Swedish plus every language with a catalog, in switcher order."""
    return _catalog_locales(translation_directories())


@cache
def _names_in(reader: str, codes: tuple[str, ...]) -> str:
    names = [Locale.parse(code).get_display_name(reader) or code for code in codes]
    return format_list(names, locale=reader)


def language_list() -> str:
    """Every available language named in the reader's own: "svenska, engelska och arabiska"."""
    from flask_babel import get_locale

    reader = str(get_locale() or DEFAULT)
    return _names_in(reader, available_locales())


@cache
def native_name(code: str) -> str:
    """The language's name in its own script: Svenska, English, العربية, Soomaali."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


@cache
def text_direction(code: str) -> str:
    """``rtl`` for scripts written right to left (Arabic, Persian, ...), else ``ltr``."""
    return "rtl" if Locale.parse(code).character_order == "right-to-left" else "ltr"


def isolate(value: object, locale: str | None = None) -> Markup:
    """Text written by people (a title) inside a translated sentence, bidi-isolated.

    A Swedish title inside an Arabic sentence (or the reverse) would otherwise let the
    bidi algorithm move the punctuation around it; ``<bdi>`` keeps each part in order.
    """
    if locale:
        return Markup('<bdi lang="{}" dir="{}">{}</bdi>').format(
            locale, text_direction(locale), value
        )
    return Markup("<bdi>{}</bdi>").format(value)


def select_locale() -> str:
    """Cookie, else the link's language, else the browser's Accept-Language, else Swedish
    (always, in the admin)."""
    # The admin is in Swedish; outside a request (CLI, worker) so are domain messages.
    if not has_request_context() or request.blueprint == "admin":
        return DEFAULT
    available = available_locales()
    chosen = _present(request.cookies, LANG_COOKIE)
    if chosen in available:
        return chosen
    return link_language(available) or _negotiated(
        request.headers.get("Accept-Language"), available
    )


# Only what select_locale answers reaches it (a language we have): a few entries.
@cache
def _parsed_locale(code: str) -> Locale:
    return Locale.parse(code)


def selected_locale() -> Locale:
    """Flask-Babel's locale selector: ``select_locale``'s choice, parsed once per language.

    Flask-Babel parses whatever the selector returns, on every request, unless it is
    already a ``Locale``; a Locale is never changed by use, so every request in a
    language can share one (and the locale data it loads on first use).
    """
    return _parsed_locale(select_locale())


def link_language(available: tuple[str, ...] | None = None) -> str | None:
    """The language a link names (``?lang=``), if we have it (``available``, when the
    caller has looked them up already).

    The parameter ends a mail's links, so a mail program that makes links of plain text
    may glue on what follows (a full stop, the ">" of "<https://…>"): it is left out.
    """
    named = _present(request.args, LANG_PARAMETER)
    if not named:
        return None  # most requests: no link, nothing to look up
    code = LINK_TAIL.sub("", named)
    if available is None:
        available = available_locales()
    return code if code in available else None


def _present(values: MultiDict[str, str], name: str) -> str | None:
    """``values.get(name)``, without the exception Werkzeug raises and catches inside
    ``get`` when the name is missing, as it is on most requests (a microsecond each)."""
    return values.get(name) if name in values else None


def remember_language(response: Response, code: str) -> None:
    """Keep a reader's language for a year (the switcher, or a link in her mail)."""
    response.set_cookie(
        LANG_COOKIE,
        code,
        max_age=365 * 86400,
        samesite="Lax",
        secure=request.is_secure,
        httponly=True,
    )


def remember_link_language(response: Response) -> Response:
    """A mail's links name the language its reader signed in: she chose it, so it is
    kept as the switcher keeps a choice, and the page after the button (and the
    initiative's own page) stays in it.  Never over a choice made on this device, and
    never on a response shared with every visitor."""
    if (
        _present(request.args, LANG_PARAMETER)
        and LANG_COOKIE not in request.cookies
        and request.blueprint not in NO_LINK_LANGUAGE
        and not response.cache_control.public
    ):
        code = link_language()
        if code is not None:
            remember_language(response, code)
    return response


# A reader of the first reads the second well: Croatian, Serbian and Montenegrin readers
# get Bosnian, Dari readers Persian, when there is no catalog of their own.
CLOSE_LANGUAGES = {"hr": "bs", "sr": "bs", "sh": "bs", "cnr": "bs", "prs": "fa"}


# A browser sends the same header with every request, and a few hundred distinct ones
# cover a day's visitors; one who sends a new header each time merely misses.
@lru_cache(maxsize=256)
def _negotiated(header: str | None, available: tuple[str, ...]) -> str:
    """``negotiate`` for an Accept-Language header, parsed once per distinct header.

    Werkzeug parses the header anew for each request, and a browser's usual one
    (``ar-SE,ar;q=0.9,sv;q=0.8,en-US;q=0.7,en;q=0.6``) took more CPU than the rest of
    choosing the language.
    """
    return negotiate(parse_accept_header(header, LanguageAccept), available)


def negotiate(accepted: LanguageAccept, available: tuple[str, ...]) -> str:
    """The first language the browser accepts (best first) that we have, or a close one."""
    for value, quality in accepted:  # sorted by quality, best first
        if quality <= 0:
            continue
        code = value.replace("_", "-").split("-", 1)[0].lower()
        for candidate in (code, CLOSE_LANGUAGES.get(code)):
            if candidate in available:
                return candidate
    return DEFAULT


@cache
def _wtforms_catalog(code: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [code], domain="wtforms")


class SharedWTFormsTranslations:
    """WTForms' own messages, each language's catalog loaded once per process.

    Flask-WTF otherwise parses the catalog from disk on every request that builds a form
    (a tenth of the time of an initiative page); it uses whatever it finds on
    ``request.wtforms_translations``, which ``share_wtforms_translations`` sets.
    """

    def ugettext(self, string: str) -> str:
        from flask_babel import get_locale

        return _wtforms_catalog(str(get_locale() or DEFAULT)).ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        from flask_babel import get_locale

        return _wtforms_catalog(str(get_locale() or DEFAULT)).ungettext(singular, plural, n)


SHARED_WTFORMS_TRANSLATIONS = SharedWTFormsTranslations()


def share_wtforms_translations() -> None:
    request.wtforms_translations = SHARED_WTFORMS_TRANSLATIONS  # type: ignore[attr-defined]


def configure_i18n(app: Flask) -> None:
    from flask_babel import get_locale

    from .extensions import babel

    babel.init_app(
        app,
        locale_selector=selected_locale,
        default_locale=DEFAULT,
        default_translation_directories=str(TRANSLATIONS),
        default_timezone=LOCAL_ZONE_NAME,
    )

    @app.context_processor
    def language_context() -> dict[str, object]:
        code = str(get_locale() or DEFAULT)
        return {
            "current_locale": code,
            "text_dir": text_direction(code),
            "languages": [(c, native_name(c)) for c in available_locales()],
        }

    app.before_request(share_wtforms_translations)
    app.after_request(remember_link_language)
    app.jinja_env.globals["native_name"] = native_name
    app.jinja_env.globals["language_list"] = language_list
    app.jinja_env.globals["text_direction"] = text_direction
    app.jinja_env.filters["bdi"] = isolate


@overload
def ascii_digits(value: str) -> str: ...
@overload
def ascii_digits(value: None) -> None: ...
def ascii_digits(value: str | None) -> str | None:
    """Every decimal digit as its ASCII digit: Persian ``۲``, Arabic-Indic ``٢`` and
    fullwidth ``２`` become ``2``; everything else is unchanged.

    A phone or tablet with a Persian or Arabic keyboard types such digits into a
    postcode or a PIN, meaning the same number.  (Also a WTForms filter.)
    """
    if not isinstance(value, str):
        return value
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in value)
