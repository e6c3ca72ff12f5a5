"""PDF documents with correct multilingual text, from fonts shipped with the project.

fpdf2 with HarfBuzz text shaping (uharfbuzz) renders Arabic joined and right-to-left,
Somali and Swedish (å ä ö) with Noto Sans, and fetches nothing from the network; output
does not depend on the fonts of the machine.  Why fpdf2 and not WeasyPrint: it needs no
system libraries (Pango, Cairo), so `make run` works on a bare machine, and it writes a
10,000-row list quickly with little memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
FAMILY = "NotoSans"
ARABIC_FAMILY = "NotoSansArabic"
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


class Document(FPDF):
    """An FPDF with the project's fonts registered and text shaping on."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_font(FAMILY, "", str(FONTS / "NotoSans-Regular.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "NotoSans-Bold.ttf"))
        self.add_font(ARABIC_FAMILY, "", str(FONTS / "NotoSansArabic-Regular.ttf"))
        self.add_font(ARABIC_FAMILY, "B", str(FONTS / "NotoSansArabic-Bold.ttf"))
        # Glyphs missing from Noto Sans (Arabic script) come from Noto Sans Arabic.
        self.set_fallback_fonts([ARABIC_FAMILY])
        self.set_text_shaping(True)
        self.set_creator("initiatives")
        self.set_font(FAMILY, size=11)

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
