"""Posters (A4) and flyers (A6) as PDF: title, summary, last day, a large QR code, and the
call to sign in every language the initiative has a text in.

Built for an organiser who prints 200 copies: black on white (a greyscale office printer
loses nothing), the QR code as large as the page allows and drawn as vectors, the address
printed under it for people who cannot scan, one page, nothing fetched from the network.
The material is Swedish first whatever language the organiser's browser uses, so its
phrases come from a fixed table below instead of the request's catalog.

``material()`` gathers what goes on the page (it needs the app); ``render()`` only draws.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path

from babel.dates import format_date
from flask import current_app

from . import campaign, qrimage
from .clock import LOCAL_TZ
from .i18n import text_direction
from .models import DEFAULT_LOCALE, Initiative
from .pdf import FONTS, Document
from .printing_layout import Sheet, draw_material

# "Scan to sign" and "Last day to sign" in the languages of Rosengård.  An initiative text
# in a language missing here still shows its title, without the call.
PHRASES: dict[str, dict[str, str]] = {
    "sv": {"call": "Skanna för att skriva under", "last_day": "Sista dag att skriva under: {date}"},
    "en": {"call": "Scan to sign", "last_day": "Last day to sign: {date}"},
    "ar": {"call": "امسح الرمز للتوقيع", "last_day": "آخر يوم للتوقيع: {date}"},
    "so": {
        "call": "Iskaan garee si aad u saxiixdo",
        "last_day": "Maalinta ugu dambeysa ee saxiixa: {date}",
    },
    "bs": {"call": "Skenirajte i potpišite", "last_day": "Posljednji dan za potpisivanje: {date}"},
    "fa": {"call": "برای امضا اسکن کنید", "last_day": "آخرین روز برای امضا: {date}"},
    "tr": {"call": "İmzalamak için tarayın", "last_day": "İmza için son gün: {date}"},
}
TARGET_SV = "Underskrifterna lämnas till {body}."
CONTACT_SV = "Frågor: {email}"


@dataclass(frozen=True)
class OtherLanguage:
    """One more language on the page: the call, the title and the last day in it."""

    locale: str
    title: str
    call: str | None
    last_day: str | None
    rtl: bool


@dataclass(frozen=True)
class Material:
    """Everything printed on a poster or flyer; no personal data."""

    locale: str  # of the main text: Swedish, unless the initiative has no Swedish text
    organisation: str
    contact: str
    target: str
    title: str
    summary: str
    last_day: str | None
    call: str
    qr_data: str
    short_url: str
    others: tuple[OtherLanguage, ...] = ()
    # PDF metadata: a fixed date keeps the file byte-for-byte the same for the same input.
    issued: str = ""


def last_day(initiative: Initiative) -> datetime | None:
    """The last day one can sign, in Malmö: ``closes_at`` is the first moment one cannot."""
    if initiative.closes_at is None:
        return None
    return (initiative.closes_at - timedelta(microseconds=1)).astimezone(LOCAL_TZ)


def material(initiative: Initiative, tag: str) -> Material:
    """What goes on the page for ``initiative`` with a QR code for ``tag``."""
    config = current_app.config
    texts = {t.locale: t for t in initiative.texts}
    if not texts:
        raise ValueError(f"initiative {initiative.slug!r} has no text to print")
    main = texts.get(DEFAULT_LOCALE) or next(iter(texts.values()))
    day = last_day(initiative)

    def deadline(locale: str) -> str | None:
        phrase = PHRASES.get(locale, {}).get("last_day")
        if day is None or phrase is None:
            return None
        return phrase.format(date=format_date(day.date(), "long", locale=locale))

    others = tuple(
        OtherLanguage(
            locale=locale,
            title=text.title,
            call=PHRASES.get(locale, {}).get("call"),
            last_day=deadline(locale),
            # The language decides, not the first letter (a title may start with a
            # street's Swedish name).
            rtl=text_direction(locale) == "rtl",
        )
        for locale, text in sorted(texts.items(), key=lambda item: _language_order(item[0]))
        if text is not main
    )
    return Material(
        locale=main.locale,
        organisation=str(config["ORGANISATION_NAME"]),
        contact=CONTACT_SV.format(email=config["ORGANISATION_EMAIL"]),
        target=TARGET_SV.format(body=initiative.target_body),
        title=main.title,
        summary=main.summary,
        last_day=deadline(main.locale),
        call=PHRASES.get(main.locale, PHRASES[DEFAULT_LOCALE])["call"],
        qr_data=campaign.sign_url(initiative, tag),
        short_url=campaign.short_url(initiative),
        others=others,
        issued=initiative.created_at.isoformat(),
    )


def _language_order(locale: str) -> tuple[int, str]:
    order = list(PHRASES)
    return (order.index(locale) if locale in order else len(order), locale)


@cache
def _code_version() -> str:
    """Changes whenever the drawing code, the fonts or fpdf2 change, so ETags do too."""
    import fpdf

    digest = hashlib.sha256(fpdf.__version__.encode())
    here = Path(__file__).resolve().parent
    for name in ("printing.py", "printing_layout.py", "qrimage.py", "pdf.py"):
        digest.update((here / name).read_bytes())
    for font in sorted(FONTS.glob("*.ttf")):  # read once per process (cached)
        digest.update(font.name.encode() + font.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(item: Material, sheet: Sheet) -> str:
    """An ETag for the PDF, computed without drawing it."""
    data = json.dumps([asdict(item), sheet.name, _code_version()], ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()[:32]


# A poster takes a fifth of a second to draw; a link to it shared in a group chat is
# opened by many people at once.  Inputs are immutable, so a small cache is exact.
@lru_cache(maxsize=16)
def render(item: Material, sheet: Sheet) -> bytes:
    """The PDF for ``item`` on ``sheet`` (one page)."""
    pdf = Document(unit="mm", format=sheet.page)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0  # text flush with the rules and the QR code, not inset
    pdf.set_title(item.title)
    pdf.set_author(item.organisation)
    pdf.set_subject(item.call)
    pdf.set_lang(item.locale)
    pdf.set_creation_date(datetime.fromisoformat(item.issued))
    pdf.add_page()
    modules = qrimage.matrix(item.qr_data, qrimage.PRINT)
    for x, y in sheet.origins:
        draw_material(pdf, item, modules, sheet.layout, x, y)
    if len(sheet.origins) > 1:
        sheet.draw_cut_marks(pdf)
    return bytes(pdf.output())
