"""The blank A4 signature sheet organisers print to collect signatures on paper.

A signer reads what the web form tells her before she signs: the title and summary (the
Swedish text), the committee, the last day, and the declaration and consent of the
form's two boxes, worded as what a signature on the sheet means; who processes the data,
where the privacy notice is and that the list becomes a public record.  A QR code and
the address let her sign online instead.  The rest is what the admin's typing-in asks
for (``paper``): the sheet's number and who collected it, and numbered rows of name,
optional postcode and date, with room for the signature.  No personal identity number:
the service never asks for one.  The text version (the first 12 hex digits of the
text's SHA-256) tells organisers which text a sheet was printed with, should the text
be corrected later.

Swedish whatever the organiser's language, like the rest of the admin: fixed strings,
not the catalog.  Black on white, for a greyscale office printer.  The rows fill the
page; a summary too long to leave room for ``MIN_ROWS`` of them moves the rows to a page
of their own, headed by the title and the declaration, and the pages are numbered.

Not to be confused with ``paper.PaperSheet``, a sheet collected and typed in.
``content()`` gathers what goes on the sheet (it needs the app); ``render()`` only draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from babel.dates import format_date
from flask import current_app

from . import campaign, printing, qrimage
from .models import DEFAULT_LOCALE, Initiative
from .pdf import Document
from .printing_layout import LEADING, PT, Block, draw_block, whole_words, wrap

BLACK = (0, 0, 0)
# Millimetres.  The rows are at least ROW tall: room to write a name by hand.
PAGE_WIDTH, PAGE_HEIGHT = 210, 297
MARGIN, TOP, BOTTOM = 15, 14, 297 - 14
WIDTH = PAGE_WIDTH - 2 * MARGIN
# The QR code's column: the code (its quiet zone included) and the gap beside it.
QR, QR_COLUMN, GAP = 36, 42, 4
ROW, MIN_ROWS = 10, 8
COLUMNS = (
    ("Nr", 9),
    ("Namn (textat)", 60),
    ("Postnummer (frivilligt)", 38),
    ("Datum", 22),
    ("Namnteckning", 51),
)
HEADER_ROW = 7
# (size, most lines) tried in order: a long title smaller, and whole at the last size.
TITLE_SIZES = ((20, 2), (17, 3), (15, 4), (13, 99))

DECLARATION = (
    "Med min namnteckning på listan intygar jag att jag är folkbokförd i Malmö och "
    "samtycker till att mina uppgifter på listan behandlas för det här initiativet, så "
    "som står nedan."
)
PRIVACY = (
    "Personuppgiftsansvarig är {organisation}, {email}. Vi för in uppgifterna krypterade "
    "och använder dem bara för det här initiativet. När initiativet lämnas in får "
    "{target} en lista med namn (hela eller förkortade), postnummerområde och datum, och "
    "den blir en allmän handling som vem som helst kan "
    "begära att få läsa. Vill du återkalla din underskrift innan dess, skriv till {email}. "
    "Skriv inte ditt personnummer: det behövs inte. Mer om hur vi hanterar uppgifterna: "
    "{privacy}"
)
ONLINE = "Vill du hellre skriva under på webben? Skanna QR-koden eller gå till"


@dataclass(frozen=True)
class SheetContent:
    """Everything printed on the sheet; no personal data."""

    organisation: str
    email: str
    privacy_url: str
    target: str
    title: str
    summary: str
    last_day: str | None
    qr_data: str
    short_url: str
    version: str
    # PDF metadata: a fixed date keeps the file byte-for-byte the same for the same input.
    issued: str


def file_name(initiative: Initiative, tag: str) -> str:
    """``<slug>-papperslista-a4[-<tag>].pdf``: no suffix for the screen's own tag."""
    suffix = "" if tag == campaign.SCREEN_TAG else f"-{tag}"
    return f"{initiative.slug}-papperslista-a4{suffix}.pdf"


def content(initiative: Initiative, tag: str) -> SheetContent:
    """What goes on the sheet of ``initiative``, with a QR code for ``tag``."""
    config = current_app.config
    text = initiative.text(DEFAULT_LOCALE) or initiative.texts[0]
    day = printing.last_day(initiative)
    last_day = printing.PHRASES[DEFAULT_LOCALE]["last_day"]
    return SheetContent(
        organisation=" ".join(str(config["ORGANISATION_NAME"]).split()),
        email=str(config["ORGANISATION_EMAIL"]),
        privacy_url=campaign.printed(campaign.privacy_url()),
        target=initiative.target_body,
        title=text.title,
        summary=text.summary,
        last_day=None
        if day is None
        else last_day.format(date=format_date(day.date(), "long", locale=DEFAULT_LOCALE)),
        qr_data=campaign.sign_url(initiative, tag),
        short_url=campaign.short_url(initiative),
        version=(initiative.text_hash or initiative.compute_text_hash())[:12],
        issued=initiative.created_at.isoformat(),
    )


class SheetDocument(Document):
    """Numbers its pages ("sida N av M") once there is more than one."""

    numbered = False

    def footer(self) -> None:
        # fpdf2 draws a page's footer when the next page is added: ``new_page`` says so
        # first, so page 1 is numbered too.
        if self.numbered:
            draw_block(
                self,
                Block([f"sida {self.page_no()} av {{nb}}"], 8, align="R", color=BLACK),
                MARGIN,
                PAGE_HEIGHT - 11,
                WIDTH,
            )

    def new_page(self) -> float:
        self.numbered = True
        self.add_page()
        return TOP


def _block(pdf: Document, text: str, width: float, size: float, bold: bool = False) -> Block:
    """``text`` wrapped whole (never cut) to ``width``."""
    return Block(wrap(pdf, text, width, size, bold), size, bold, color=BLACK)


def _title(pdf: Document, title: str, width: float) -> Block:
    """The title at the largest size at which it fits its lines, no word broken."""
    for size, most in TITLE_SIZES:
        lines = wrap(pdf, title, width, size, bold=True)
        if len(lines) <= most and whole_words(lines, title):
            break
    return Block(lines, size, True, color=BLACK)


def _flow(pdf: SheetDocument, blocks: list[tuple[Block, float]], y: float, width: float) -> float:
    """Draw ``blocks`` (each with the space above it) down from ``y`` at the left
    margin, line by line onto new pages if need be; returns the y below them."""
    for block, space in blocks:
        y += space if y > TOP else 0
        line_height = block.size * PT * LEADING
        for line in block.lines:
            if y + line_height > BOTTOM:
                y = pdf.new_page()
            draw_block(pdf, Block([line], block.size, block.bold, color=BLACK), MARGIN, y, width)
            y += line_height
    return y


def _intro(pdf: SheetDocument, item: SheetContent) -> float:
    """What is signed and the last day beside the QR code, then the summary and how to
    sign online across the page; returns the y below them."""
    width = WIDTH - QR_COLUMN
    beside = [
        (_block(pdf, "Namninsamling", width, 12, bold=True), 0.0),
        (_title(pdf, item.title, width), 1.5),
        (_block(pdf, f"Malmöinitiativ till {item.target}", width, 11), 1.5),
    ]
    if item.last_day:
        beside.append((_block(pdf, item.last_day, width, 10.5, bold=True), 3.0))
    y = _flow(pdf, beside, TOP, width)
    modules = qrimage.matrix(item.qr_data, qrimage.PRINT)
    qrimage.draw(pdf, modules, MARGIN + WIDTH - QR, TOP, QR)
    below = [
        (_block(pdf, item.summary, WIDTH, 10), 0.0),
        (_block(pdf, ONLINE, WIDTH, 9.5), 3.0),
        (_block(pdf, item.short_url, WIDTH, 10, bold=True), 0.3),
    ]
    return _flow(pdf, below, max(y, TOP + QR) + 2, WIDTH)


def _heading_again(pdf: SheetDocument, item: SheetContent) -> float:
    """What a page of rows of its own says first: what is signed on it."""
    y = draw_block(
        pdf, _block(pdf, f"Namninsamling: {item.title}", WIDTH, 12, True), MARGIN, TOP, WIDTH
    )
    return draw_block(
        pdf, _block(pdf, f"Malmöinitiativ till {item.target}", WIDTH, 10), MARGIN, y + 1, WIDTH
    )


def _signing_parts(pdf: SheetDocument, item: SheetContent) -> tuple[Block, Block]:
    declaration = _block(pdf, DECLARATION, WIDTH - 6, 10.5, bold=True)
    privacy = _block(
        pdf,
        PRIVACY.format(
            organisation=item.organisation,
            email=item.email,
            target=item.target,
            privacy=item.privacy_url,
        ),
        WIDTH,
        8,
    )
    return declaration, privacy


def _signing_height(declaration: Block, privacy: Block) -> float:
    """The declaration's box, the privacy text, the fields and the table's header."""
    return declaration.height + 6 + GAP + privacy.height + GAP + 8 + 2 + HEADER_ROW


def _draw_signing(
    pdf: SheetDocument, item: SheetContent, parts: tuple[Block, Block], y: float
) -> None:
    """The declaration in a box, the privacy text, the fields, and the rows to the foot."""
    declaration, privacy = parts
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.5)
    pdf.rect(MARGIN, y, WIDTH, declaration.height + 6)
    y = draw_block(pdf, declaration, MARGIN + 3, y + 3, WIDTH - 6) + 3 + GAP
    y = draw_block(pdf, privacy, MARGIN, y, WIDTH) + GAP
    _draw_fields(pdf, item, y)
    _draw_table(pdf, y + 8 + 2)


def _draw_fields(pdf: SheetDocument, item: SheetContent, y: float) -> None:
    """The sheet's number and its collector, lines to fill in by hand, and the text
    version."""
    pdf.set_line_width(0.3)
    x = MARGIN
    for label, line in (("Lista nr", 28), ("Insamlad av", 62)):
        block = Block([label], 10.5, True, color=BLACK)
        draw_block(pdf, block, x, y + 1.5, WIDTH)
        x += pdf.get_string_width(label) + 2
        pdf.line(x, y + 6.5, x + line, y + 6.5)
        x += line + 8
    version = Block([f"Textversion {item.version}"], 8, align="R", color=BLACK)
    draw_block(pdf, version, x, y + 3, MARGIN + WIDTH - x)


def _draw_table(pdf: SheetDocument, y: float) -> None:
    """The column headers and as many numbered rows as fill the page."""
    rows = max(1, int((BOTTOM - y - HEADER_ROW) // ROW))
    height = (BOTTOM - y - HEADER_ROW) / rows
    pdf.set_line_width(0.5)
    pdf.line(MARGIN, y + HEADER_ROW, MARGIN + WIDTH, y + HEADER_ROW)
    pdf.set_line_width(0.25)
    pdf.rect(MARGIN, y, WIDTH, HEADER_ROW + rows * height)
    x = MARGIN
    for label, width in COLUMNS:
        draw_block(pdf, Block([label], 8.5, True, color=BLACK), x + 1.5, y + 1.8, width - 3)
        x += width
        if x < MARGIN + WIDTH:
            pdf.line(x, y, x, y + HEADER_ROW + rows * height)
    top = y + HEADER_ROW
    for number in range(1, rows + 1):
        row_top = top + (number - 1) * height
        if number > 1:
            pdf.line(MARGIN, row_top, MARGIN + WIDTH, row_top)
        nr = Block([str(number)], 9, align="R", color=BLACK)
        draw_block(pdf, nr, MARGIN + 1, row_top + (height - nr.height) / 2, COLUMNS[0][1] - 3)


# Drawing takes a fifth of a second; an organiser may print for every volunteer.
@lru_cache(maxsize=8)
def render(item: SheetContent) -> bytes:
    """The sheet as PDF: one page, or two when the summary leaves too little room."""
    pdf = SheetDocument(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0  # text flush with the rules and the QR code, not inset
    pdf.set_title(f"Namninsamling: {item.title}")
    pdf.set_author(item.organisation)
    pdf.set_lang(DEFAULT_LOCALE)
    pdf.set_creation_date(datetime.fromisoformat(item.issued))
    pdf.add_page()
    parts = _signing_parts(pdf, item)
    y = _intro(pdf, item) + GAP + 2
    if BOTTOM - y < _signing_height(*parts) + MIN_ROWS * ROW:
        pdf.new_page()
        y = _heading_again(pdf, item) + GAP + 2
    _draw_signing(pdf, item, parts, y)
    return bytes(pdf.output())
