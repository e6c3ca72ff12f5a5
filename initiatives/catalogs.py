"""Translation catalogs: what is missing, untranslated, fuzzy or broken.

The tests (tests/test_i18n.py) and ``make check-translations`` use this module, so a new
Swedish string in code or templates cannot reach ``main`` without its translations.
After changing strings: ``make extract-messages``, translate what
``make check-translations`` lists, then ``make translations``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
MAPPING = PACKAGE / "babel.cfg"
TRANSLATIONS = PACKAGE / "translations"
# The same keywords as `make extract-messages` (lazy strings in forms, errors and mail).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")


@dataclass(frozen=True)
class Problem:
    locale: str
    msgid: str
    reason: str

    def __str__(self) -> str:
        return f"{self.locale}: {self.reason}: {self.msgid!r}"


def extract_template(root: Path = ROOT) -> Catalog:
    """Extract every message from code and templates, as ``pybabel extract`` would."""
    with MAPPING.open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, str(MAPPING))
    template = Catalog(project="initiatives")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def catalog_locales(directory: Path = TRANSLATIONS) -> list[str]:
    """The languages that have a catalog in ``directory``."""
    return sorted(p.parent.parent.name for p in directory.glob("*/LC_MESSAGES/messages.po"))


def load_catalog(locale: str, directory: Path = TRANSLATIONS) -> Catalog:
    path = directory / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=locale)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(message.string)
    return (message.string or "",)


def _formats(text: str, names: Iterable[str]) -> bool:
    # Jinja's gettext always applies `% variables`, so a stray "%" breaks a page.
    try:
        text % dict.fromkeys(names, 1)
    except (KeyError, ValueError, TypeError):
        return False
    return True


def _placeholder_problems(message: Message) -> list[str]:
    ids = _ids(message)
    names = {name for msgid in ids for name in PLACEHOLDER.findall(msgid)}
    if not all(_formats(msgid, names) for msgid in ids):
        return []  # the source itself is not a format string: nothing to compare
    reasons = []
    strings = _strings(message)
    for index, text in enumerate(strings):
        where = f"form {index}" if len(strings) > 1 else "translation"
        found = set(PLACEHOLDER.findall(text))
        # A plural form for exactly one or two may spell the number out ("يومان", two
        # days); the last form, used for most numbers, must carry every placeholder.
        spelled_out = message.pluralizable and index < len(strings) - 1
        if names - found and not spelled_out:
            missing = ", ".join(f"%({n})s" for n in sorted(names - found))
            reasons.append(f"{where} lacks {missing}")
        if found - names:
            unknown = ", ".join(f"%({n})s" for n in sorted(found - names))
            reasons.append(f"{where} has unknown {unknown}")
        if not _formats(text, names):
            reasons.append(f"{where} is not a valid format string (write a literal % as %%)")
    return reasons


def problems(catalog: Catalog, template: Catalog) -> list[Problem]:
    """Everything that keeps ``catalog`` from translating every string in ``template``."""
    locale = str(catalog.locale)
    found: list[Problem] = []
    if catalog.fuzzy:
        found.append(Problem(locale, "", "header is fuzzy, pybabel compile would skip it"))
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id, message.context)
        msgid = _ids(message)[0]
        if translated is None:
            found.append(Problem(locale, msgid, "missing, run `make extract-messages`"))
        elif message.pluralizable != translated.pluralizable or _ids(message) != _ids(translated):
            found.append(Problem(locale, msgid, "plural form changed, run `make extract-messages`"))
    for message in catalog:
        if not message.id:
            continue
        msgid = _ids(message)[0]
        if template.get(message.id, message.context) is None:
            stale = "no longer in the code, run `make extract-messages`"
            found.append(Problem(locale, msgid, stale))
            continue
        if message.fuzzy:
            found.append(Problem(locale, msgid, "fuzzy: check the translation, then drop the flag"))
        strings = _strings(message)
        if not all(s.strip() for s in strings):
            found.append(Problem(locale, msgid, "untranslated"))
            continue
        if message.pluralizable and len(strings) != catalog.num_plurals:
            reason = f"has {len(strings)} plural forms, {locale} needs {catalog.num_plurals}"
            found.append(Problem(locale, msgid, reason))
        found.extend(Problem(locale, msgid, r) for r in _placeholder_problems(message))
    return found


def main(argv: list[str] | None = None) -> int:
    """List what is left to translate; exit status 1 if anything is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locales", nargs="*", help="languages to check (default: all)")
    args = parser.parse_args(argv)
    template = extract_template()
    total = 0
    for locale in args.locales or catalog_locales():
        found = problems(load_catalog(locale), template)
        total += len(found)
        print(f"{locale}: {len(found) or 'no'} problem(s)")
        for problem in found:
            print(f"  {problem.reason}: {problem.msgid!r}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
