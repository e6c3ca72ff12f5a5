"""The pack's PDFs: the cover letter and the signature list, both from ``pdf.Document``.

The list repeats its title and column headers on every page and says "sida N av M" at
the foot (fpdf2 fills in M when the document is finished).  Names are shaped by HarfBuzz;
a right-to-left name is laid out right-to-left and aligned to the right of its cell.  A
name too long for its cell gets a smaller font, then wraps: a name is never cut.  A name
with characters no shipped font has (Chinese, emoji) shows their Unicode codes, is marked,
and a note after the last row says which rows to read in the spreadsheet instead; a line
on the first page points to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from .pack import Row
from .pack_texts import (
    UNREADABLE_MARK,
    PackInfo,
    swedish_number,
    unreadable_note,
    unreadable_pointer,
)
from .pdf import FAMILY, Document, drawable, readable, shortened

# Column widths in mm; A4 less 15 mm margins is 180 mm.
WIDTHS = (14, 76, 26, 24, 20, 20)
HEADERS = ("Nr", "Namn", "Postnr.-område", "Datum", "Kanal", "Lista")
ROW_H = 6.0
FONT_SIZE = 9.0
MIN_FONT_SIZE = 7.0
# Names this short always fit at full size (measuring every name would cost time).
SURELY_FITS = 26
GREY = (242, 242, 240)
# The footer's text beside the page number when the organisation's name is long (mm),
# and its line height on two lines.
FOOTER_TEXT = 145
FOOTER_LINE = 3.4


def needs_shaping(text: str) -> bool:
    """Whether HarfBuzz must lay the text out: any script beyond Latin, or combining marks.

    Latin letters up to Latin Extended-B (å ä ö, ć, ş ...) are precomposed glyphs that
    need no shaping; Arabic, Cyrillic with marks, decomposed accents and the like do.
    """
    return any(ord(char) > 0x24F for char in text)


class ListDocument(Document):
    """A4 list with a header and column titles on every page and page numbers."""

    def __init__(self, info: PackInfo):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.info = info
        self.set_margins(15, 14, 15)
        self.set_auto_page_break(True, margin=16)
        self.alias_nb_pages("{nb}")
        self.set_title(f"Underskrifter: {info.title}")
        self.set_author(info.organisation)
        self.set_subject(f"Medborgarinitiativ till {info.target_body}")
        self.set_draw_color(200, 200, 195)
        # The Nr of every name shown with codes instead of some of its characters.
        self.unreadable: list[int] = []
        # How many there will be, counted before the first page (see write_list).
        self.unreadable_ahead = 0

    def header(self) -> None:
        self.set_font(FAMILY, "B", 11)
        title = f"Underskrifter: {self.info.title}"
        size = self._fit(title, 180, 11, 8)
        # What does not fit at the smallest size wraps: a title or a note is never cut
        # off at the edge of the page.
        self.multi_cell(180, size * 0.55, title, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_font(FAMILY, "", 8.5)
        line = (
            f"Till {self.info.target_body} · insamlingsperiod {self.info.period} · "
            f"{swedish_number(self.info.total)} bekräftade underskrifter"
        )
        self.multi_cell(180, 5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        for note in (self.info.state_note, self.info.names_note):
            if note:
                self.multi_cell(180, 5, note, align="L", new_x="LMARGIN", new_y="NEXT")
        if self.unreadable_ahead and self.page_no() == 1:
            pointer = unreadable_pointer(self.unreadable_ahead)
            self.multi_cell(180, 5, pointer, align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self.set_font(FAMILY, "B", 8.5)
        self.set_fill_color(225, 232, 228)
        for width, title, align in zip(WIDTHS, HEADERS, "RLLLLL", strict=True):
            self.cell(width, 6.5, title, border="B", align=align, fill=True)
        self.ln(6.5)
        self.set_font(FAMILY, "", FONT_SIZE)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        name, made = self.info.organisation, f" · skapad {self.info.generated_local}"
        page = f"sida {self.page_no()} av {{nb}}"
        if self.get_string_width(name + made) <= 120 - 2:
            self.cell(120, 5, name + made)
            self.cell(60, 5, page, align="R")
            return
        # The organisation's whole name, the one the clerk knows it by: smaller, then on
        # two lines, rather than over the page number and off the page.  Only a name too
        # long even for that is cut, visibly, and the date still follows it.
        top, height = self.get_y(), 5.0
        self._fit(name + made, FOOTER_TEXT, 8, MIN_FONT_SIZE)
        if self.get_string_width(name + made) <= FOOTER_TEXT - 2:
            self.cell(FOOTER_TEXT, height, name + made)
        else:
            made, height = made.replace(" ", "\u00a0"), FOOTER_LINE  # the date kept whole

            def fits(shown: str) -> bool:
                return self._lines(shown + made, FOOTER_TEXT) <= 2

            shown = name if fits(name) else shortened(name, fits)
            self.multi_cell(FOOTER_TEXT, height, shown + made, align="L")
            self.set_xy(self.l_margin + FOOTER_TEXT, top)
        self.set_font_size(8)
        self.cell(180 - FOOTER_TEXT, height, page, align="R")

    def _fit(self, text: str, width: float, size: float, smallest: float) -> float:
        """Shrink the current font until ``text`` fits ``width``; returns the size."""
        self.set_font_size(size)
        while self.get_string_width(text) > width - 2 and size > smallest:
            size -= 0.5
            self.set_font_size(size)
        return size

    def _lines(self, text: str, width: float) -> int:
        """How many lines ``text`` takes in a cell ``width`` wide, at the current size."""
        if self.get_string_width(text) <= width - 2:
            return 1
        return len(self.multi_cell(width, 4.2, text, dry_run=True, output="LINES"))

    def _wrapped(self, width: float, height: float, text: str, align: str, shaded: bool) -> None:
        """Background and rule at the row's full height, then the wrapped text on top."""
        x, y = self.get_x(), self.get_y()
        self.cell(width, height, "", border="B", fill=shaded)
        self.set_xy(x, y + 0.9)
        self.multi_cell(width, 4.2, text, align=align, new_x="RIGHT", new_y="TOP")
        self.set_xy(x + width, y)

    def row(self, row: Row, shaded: bool) -> None:
        name, unreadable = readable(row.name)
        if unreadable:
            name = f"{name} {UNREADABLE_MARK}"
            self.unreadable.append(row.number)
        self.set_font(FAMILY, "", FONT_SIZE)
        # A sheet's number is as the organisers wrote it, up to 32 characters: smaller,
        # then wrapped, like a name, never cut off at the edge of the page.
        sheet_size, sheet_lines = FONT_SIZE, 1
        if row.sheet and self.get_string_width(row.sheet) > WIDTHS[5] - 2:
            sheet_size = self._fit(row.sheet, WIDTHS[5], FONT_SIZE, MIN_FONT_SIZE)
            sheet_lines = self._lines(row.sheet, WIDTHS[5])
            self.set_font_size(FONT_SIZE)
        lines = 1
        if len(name) > SURELY_FITS:
            self._fit(name, WIDTHS[1], FONT_SIZE, MIN_FONT_SIZE)
            lines = self._lines(name, WIDTHS[1])
        height = max(ROW_H, max(lines, sheet_lines) * 4.2 + 1.8)
        if self.will_page_break(height):
            self.add_page()
            if lines == 1 and len(name) > SURELY_FITS:
                self._fit(name, WIDTHS[1], FONT_SIZE, MIN_FONT_SIZE)
        self.set_fill_color(*GREY)
        name_size = self.font_size_pt
        self.set_font_size(FONT_SIZE)
        # Only the name needs HarfBuzz (and the bidi algorithm); the other cells are
        # digits and ASCII words, and shaping them would cost most of the time.
        self.set_text_shaping(False)
        self.cell(WIDTHS[0], height, str(row.number), border="B", align="R", fill=shaded)
        self.set_font_size(name_size)
        self.set_text_shaping(needs_shaping(name))
        # Every name starts under the column's heading, a right-to-left one too: flush
        # right it sat against the postcode ("أمينة حسن 212") and away from the others.
        align = "L"
        if lines == 1:
            self.cell(WIDTHS[1], height, name, border="B", align=align, fill=shaded)
        else:
            self._wrapped(WIDTHS[1], height, name, align, shaded)
        self.set_font_size(FONT_SIZE)
        self.set_text_shaping(False)
        for width, value in zip(WIDTHS[2:5], (row.area, row.day, row.channel_label), strict=True):
            if not value.isascii():
                self.set_text_shaping(needs_shaping(value))
            self.cell(width, height, value, border="B", fill=shaded)
        if not row.sheet.isascii():
            self.set_text_shaping(needs_shaping(row.sheet))
        self.set_font_size(sheet_size)
        if sheet_lines == 1:
            self.cell(WIDTHS[5], height, row.sheet, border="B", fill=shaded)
        else:
            self._wrapped(WIDTHS[5], height, row.sheet, "L", shaded)
        self.set_text_shaping(True)
        self.ln(height)


def write_list(rows: Callable[[], Iterator[Row]], path: Path, info: PackInfo) -> list[int]:
    """Write the list PDF from ``rows`` (called twice: the snapshot is read again); returns
    the Nr of the names it could not show whole."""
    document = ListDocument(info)
    # A first pass, before page 1, so it can say up front how many names show codes: it
    # only reads the snapshot again and looks each name's characters up (14 ms for
    # 10,000 rows, 0.3 % of the PDF's ~4.9 s in bench.pack).
    document.unreadable_ahead = sum(1 for row in rows() if not drawable(row.name))
    document.add_page()
    count = 0
    for count, row in enumerate(rows(), start=1):
        document.row(row, shaded=count % 2 == 0)
    if count == 0:
        document.set_font(FAMILY, "", 10)
        document.cell(180, 10, "Inga bekräftade underskrifter.")
    if document.unreadable:
        # After the last row, like a footnote: the rows are streamed, so which ones
        # are marked is known only now.  The cover letter says it up front.
        document.ln(4)
        document.set_font(FAMILY, "", 8.5)
        document.multi_cell(
            180, 4.5, unreadable_note(document.unreadable), align="L", new_x="LMARGIN"
        )
    document.output(str(path))
    return document.unreadable


# --- the cover letter ----------------------------------------------------------------------


def _heading(document: Document, text: str, size: float = 12) -> None:
    document.ln(3)
    document.set_font(FAMILY, "B", size)
    document.multi_cell(180, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
    document.ln(1)
    document.set_font(FAMILY, "", 10)


def _para(document: Document, text: str, size: float = 10, height: float = 5) -> None:
    """A paragraph of the letter, flush left: justified, a short line beside a long word
    (a hash) would spread its words apart, and plain-language letters are not set so."""
    document.set_font(FAMILY, "", size)
    document.multi_cell(180, height, text, align="L", new_x="LMARGIN", new_y="NEXT")
    document.ln(2)


def _facts(document: Document, facts: list[tuple[str, int]]) -> None:
    document.set_font(FAMILY, "", 10)
    for label, value in facts:
        document.cell(120, 6, label, border="B")
        document.cell(
            60, 6, swedish_number(value), border="B", align="R", new_x="LMARGIN", new_y="NEXT"
        )
    document.ln(3)


class CoverDocument(Document):
    """The letter, with what it is and "sida N av M" at the foot of every page: its second
    page (the hashes, the greeting) may be printed or filed apart from the first."""

    def __init__(self, info: PackInfo):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.info = info
        self.alias_nb_pages("{nb}")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        what = f"Följebrev till {self.info.target_body}"
        # A committee's name is up to 200 characters: smaller, and beyond that the word
        # alone, never over the page number.
        if self._fits(what, 140):
            self.cell(140, 5, what)
        else:
            self.cell(140, 5, "Följebrev")
        self.set_font_size(8)
        self.cell(40, 5, f"sida {self.page_no()} av {{nb}}", align="R")

    def _fits(self, text: str, width: float) -> bool:
        size = 8.0
        while self.get_string_width(text) > width - 2 and size > MIN_FONT_SIZE:
            size -= 0.5
            self.set_font_size(size)
        return self.get_string_width(text) <= width - 2


def write_cover(path: Path, info: PackInfo, hashes: dict[str, str]) -> None:
    """The letter to the committee: what is handed in, how many, and how to check it."""
    document = CoverDocument(info)
    document.set_margins(15, 15, 15)
    document.set_auto_page_break(True, margin=15)
    document.set_title(f"Följebrev: {info.title}")
    document.set_author(info.organisation)
    document.add_page()
    document.set_draw_color(190, 190, 185)

    # The organisation's whole name, the one the clerk knows it by: a long one wraps
    # beside the date rather than running over it and off the page.
    top = document.get_y()
    document.set_font(FAMILY, "B", 11)
    document.multi_cell(140, 6, info.organisation, align="L", new_x="LMARGIN", new_y="NEXT")
    below = document.get_y()
    document.set_font(FAMILY, "", 10)
    document.set_xy(document.l_margin + 140, top)
    document.cell(40, 6, info.generated_local[:10], align="R")
    document.set_xy(document.l_margin, below)
    if info.contact:
        _para(document, info.contact, size=9.5, height=4.6)
    document.ln(4)
    _para(document, f"Till {info.target_body}\nMalmö stad")

    _heading(document, f"Medborgarinitiativ: {info.title}", 15)
    counted = "underskrift" if info.total == 1 else "underskrifter"
    _para(
        document,
        f"Vi lämnar härmed in medborgarinitiativet ”{info.title}” till {info.target_body} "
        f"enligt Malmöinitiativet. Under insamlingsperioden {info.period} fick initiativet "
        f"{swedish_number(info.total)} bekräftade {counted}. "
        f"{'Listan' if info.names_note else 'Den fullständiga listan'} finns "
        "bifogad som PDF, som kalkylblad (XLSX) och som CSV-fil med samma innehåll.",
    )
    if info.names_note:
        _para(document, info.names_note)
    _para(
        document,
        "Öppna listan i Excel från kalkylbladet (XLSX): Excel gör om vissa värden i "
        "CSV-filen till datum, till exempel listnumret 1-3. CSV-filen är till för andra "
        "program och för import.",
        size=9,
        height=4.5,
    )
    if info.state_note:
        _para(document, info.state_note)
    if info.city_reference:
        _para(document, f"Stadens diarienummer: {info.city_reference}")

    _heading(document, "Underskrifter per kanal")
    sheets = swedish_number(info.paper_sheets)
    lists = "lista" if info.paper_sheets == 1 else "listor"
    facts = [
        ("Via webben, bekräftade med e-post", info.counts["web"]),
        ("Vid insamlingsplats på surfplatta, bekräftade med e-post", info.counts["kiosk"]),
        (f"På papperslistor ({sheets} {lists})", info.counts["paper"]),
        ("Totalt", info.total),
    ]
    if info.anonymised:
        # Counted, but the clerk cannot check these names: said beside the total.
        facts.append(
            (
                "Varav utan namn (gallrade eller raderade på begäran, står som ”(anonymiserad)”)",
                info.anonymised,
            )
        )
    _facts(document, [*facts, ("Antal som krävs", info.threshold)])
    _para(
        document,
        "Varje underskrift på webben och på surfplattan har bekräftats med en länk i ett "
        "mejl till underskrivarens egen adress. Papperslistornas rader har förts in av "
        "organisatörerna; originalen finns hos oss. Listorna innehåller inga e-postadresser.",
        size=9,
        height=4.5,
    )
    if info.invalidated_note:
        _para(document, info.invalidated_note, size=9, height=4.5)
    if info.unreadable:
        _para(document, unreadable_note(info.unreadable, cover=True), size=9, height=4.5)

    _heading(document, "Initiativtexten")
    document.set_font(FAMILY, "B", 10)
    document.multi_cell(180, 5, info.title, align="L", new_x="LMARGIN", new_y="NEXT")
    if info.summary_text:
        _para(document, info.summary_text)
    _para(document, info.body)
    _para(
        document,
        f"SHA-256 för initiativtexten (alla språk, så som den låstes): {info.text_hash}",
        size=8.5,
        height=4.2,
    )
    if info.amendments:
        _heading(document, "Rättelser av texten under insamlingen", 11)
        for amendment in info.amendments:
            _para(
                document,
                f"{amendment['date']}: {amendment['note']}\n"
                f"före: {amendment['previous_sha256']}\nefter: {amendment['sha256']}",
                size=8.5,
                height=4.2,
            )

    _heading(document, "Bifogade filer och deras SHA-256")
    for name, digest in hashes.items():
        _para(document, f"{name}\n{digest}", size=8.5, height=4.2)
    _para(
        document,
        "Hur summorna kontrolleras står i filen LÄS MIG.txt. Alla filers summor finns "
        "också i manifest.json.",
        size=9,
        height=4.5,
    )
    document.ln(4)
    _para(document, f"Med vänliga hälsningar\n{info.organisation}")
    document.output(str(path))
