"""PDF documents with correct multilingual text, from fonts shipped with the project.

fpdf2 with HarfBuzz text shaping (uharfbuzz) renders Arabic joined and right-to-left,
Somali and Swedish (å ä ö) with Noto Sans, the other scripts Rosengård's residents write
their names in (Ethiopic, Hebrew, Thai, Devanagari, Bengali, Tamil, Armenian, Georgian)
with their own Noto fonts, and fetches nothing from the network; output does not depend on
the fonts of the machine.  What no shipped font can draw (Chinese, Japanese and Korean:
their fonts are tens of megabytes; emoji) fpdf2 would silently leave out: ``readable``
writes it as Unicode codes instead, so a document can say so, and ``Document`` does so
with every text it draws.  Why fpdf2 and not
WeasyPrint: it needs no system libraries (Pango, Cairo), so `make run` works on a bare
machine, and it writes a 10,000-row list quickly with little memory.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
FAMILY = "NotoSans"
ARABIC_FAMILY = "NotoSansArabic"
# One font per script Noto Sans lacks, each tried in this order after Noto Sans Arabic.
# Regular only: names are never bold, and a bold title in one of these scripts is drawn
# in the regular face rather than not at all.  Registered with a document only once its
# text needs one (parsing all eight would add ~25 ms to every document, posters included).
SCRIPT_FONTS = {
    "NotoSansEthiopic": "NotoSansEthiopic-Regular.ttf",  # Tigrinya, Amharic
    "NotoSansHebrew": "NotoSansHebrew-Regular.ttf",
    "NotoSansThai": "NotoSansThai-Regular.ttf",
    "NotoSansDevanagari": "NotoSansDevanagari-Regular.ttf",  # Hindi, Nepali, Marathi
    "NotoSansBengali": "NotoSansBengali-Regular.ttf",
    "NotoSansTamil": "NotoSansTamil-Regular.ttf",
    "NotoSansArmenian": "NotoSansArmenian-Regular.ttf",
    "NotoSansGeorgian": "NotoSansGeorgian-Regular.ttf",
}
# Characters that belong to the one before them and are invisible on their own: the
# joiner of an emoji sequence (👨‍👩‍👧) and variation selectors (❤️).  Noto Sans has a
# glyph for the joiner, so it would split an undrawable sequence in two.
JOINERS = frozenset(["\u200d", *map(chr, range(0xFE00, 0xFE10))])
# Directional marks that text extraction inserts around right-to-left runs.
BIDI_MARKS = dict.fromkeys(
    map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f\u2066\u2067\u2068\u2069")
)


def is_rtl(text: str) -> bool:
    """Whether the first strongly directional character is right-to-left."""
    import unicodedata

    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in ("R", "AL"):
            return True
        if direction == "L":
            return False
    return False


@cache
def _cmap(file: str) -> frozenset[int]:
    """The code points ``file`` in static/fonts has a glyph for."""
    with TTFont(FONTS / file, lazy=True) as font:
        return frozenset(font.getBestCmap())


@cache
def _script_fonts() -> dict[int, str]:
    """For each code point one of SCRIPT_FONTS can draw, the first that can."""
    table: dict[int, str] = {}
    for family, file in reversed(SCRIPT_FONTS.items()):
        table.update(dict.fromkeys(_cmap(file), family))
    return table


@cache
def covered() -> frozenset[int]:
    """Every code point some font of ``Document`` can draw (read once per process)."""
    files = ["NotoSans-Regular.ttf", "NotoSansArabic-Regular.ttf", *SCRIPT_FONTS.values()]
    return frozenset().union(*map(_cmap, files))


@cache
def _kept() -> frozenset[int]:
    """What ``readable`` leaves as it is: what a font draws, and the line breaks and tabs
    fpdf2 lays out itself (a paragraph's line breaks are not missing characters)."""
    return covered() | frozenset(map(ord, "\n\r\t"))


def drawable(text: str) -> bool:
    """Whether ``readable`` leaves ``text`` as it is (one set operation)."""
    return _kept().issuperset(map(ord, text))


def readable(text: str) -> tuple[str, bool]:
    """``text`` as a document can show it, and whether anything had to be replaced.

    Each run of characters no shipped font can draw becomes its Unicode code points in
    brackets: ``王小明`` → ``[U+738B U+5C0F U+660E]``.  fpdf2 would print nothing in their
    place (a name would lose letters, or disappear, without a sign); a code can be looked
    up, and tells the reader that something is there.
    """
    if drawable(text):
        return text, False
    have = _kept()
    out: list[str] = []
    run: list[str] = []
    for char in text:
        if ord(char) not in have or (run and char in JOINERS):
            run.append(f"U+{ord(char):04X}")
            continue
        if run:
            out.append(f"[{' '.join(run)}]")
            run = []
        out.append(char)
    if run:
        out.append(f"[{' '.join(run)}]")
    return "".join(out), True


ELLIPSIS = "…"


def shortened(text: str, fits: Callable[[str], bool]) -> str:
    """The longest beginning of ``text`` that ``fits`` with an ellipsis after it: whole
    words if the first one fits, else letters.  Binary searches: a longer beginning never
    takes fewer lines."""

    def cut(beginning: str) -> str:
        return beginning.rstrip(" ,.;:–-") + ELLIPSIS

    words = text.split(" ")
    low, high = 0, len(words)  # fits(low words), not fits(high words)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(cut(" ".join(words[:middle]))) else (low, middle)
    if low:
        return cut(" ".join(words[:low]))
    low, high = 0, len(words[0])
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(cut(words[0][:middle])) else (low, middle)
    return cut(words[0][:low])


class Document(FPDF):
    """An FPDF with the project's fonts registered and text shaping on."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_font(FAMILY, "", str(FONTS / "NotoSans-Regular.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "NotoSans-Bold.ttf"))
        self.add_font(ARABIC_FAMILY, "", str(FONTS / "NotoSansArabic-Regular.ttf"))
        self.add_font(ARABIC_FAMILY, "B", str(FONTS / "NotoSansArabic-Bold.ttf"))
        # Glyphs missing from Noto Sans come from Noto Sans Arabic, then from the font of
        # their script (see get_fallback_font).  Not an exact match of style: a bold
        # title in Hebrew is drawn in regular Hebrew rather than left out.
        self.set_fallback_fonts([ARABIC_FAMILY], exact_match=False)
        self.set_text_shaping(True)
        self.set_creator("initiatives")
        self.set_font(FAMILY, size=11)

    def normalize_text(self, text: str) -> str:
        # fpdf2 passes every text it measures or draws through here: a title, an
        # organisation's name or a paragraph with an emoji or Chinese shows codes, as a
        # name does, instead of losing characters without a sign (``readable``).  Only
        # the list marks a name so changed; no other text is marked.
        return readable(super().normalize_text(text))[0]

    def get_fallback_font(self, char: str, style: str = "") -> str | None:
        # fpdf2 asks this for each character Noto Sans lacks; a script's font is added
        # the first time one of its characters is asked for.  A font is embedded (as a
        # subset) only if used.
        found = super().get_fallback_font(char, style)
        if found is None and (family := _script_fonts().get(ord(char))) is not None:
            self.add_font(family, "", str(FONTS / SCRIPT_FONTS[family]))
            self.set_fallback_fonts(
                [ARABIC_FAMILY, *(f for f in SCRIPT_FONTS if f.lower() in self.fonts)],
                exact_match=False,
            )
            found = super().get_fallback_font(char, style)
        return found

    def _render_styled_text_line(self, *args: Any, **kwargs: Any) -> bool:
        # fpdf2 2.8.9 bug: a line whose first fragment comes from a fallback font (an
        # Arabic word) selects the main font only inside that line's own graphics state,
        # yet records it as selected for the whole page.  The next line then shows text
        # with no font selected: words vanish or print as the wrong glyphs.  Forgetting
        # the record after every line makes fpdf2 select the font again where needed.
        # (Introduced by the fix for py-pdf/fpdf2#1772; remove when fpdf2 fixes it.)
        try:
            return super()._render_styled_text_line(*args, **kwargs)
        finally:
            self.current_font_is_set_on_page = False


def strip_bidi_marks(text: str) -> str:
    """Text as extracted from a PDF, without the invisible direction marks."""
    return text.translate(BIDI_MARKS)
