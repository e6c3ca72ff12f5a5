"""Page layout of posters and flyers: measure every text block, give the QR code all the
height that is left (within bounds), and drop the least important text if it does not fit.

All lengths are millimetres, font sizes points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fpdf.enums import MethodReturnValue

from . import qrimage
from .i18n import text_direction
from .pdf import ELLIPSIS, FAMILY, is_rtl, readable, shortened

if TYPE_CHECKING:
    from .printing import Material, OtherLanguage

PT = 25.4 / 72
LEADING = 1.22
INK = (29, 29, 27)
MUTED = (74, 74, 69)
BRAND = (11, 93, 75)
RULE = (160, 156, 146)


@dataclass(frozen=True)
class Layout:
    """Sizes for one piece of material (a poster, a flyer)."""

    width: float
    height: float
    margin: float
    # (size, most lines) of the line above the title, tried in order: a long name of the
    # organisation is set smaller rather than cut (see fitted_kicker).
    kicker: tuple[tuple[float, int], ...]
    # (size, most lines) tried in order: a short title is set big, a long one smaller and
    # on more lines.  The last ones hold a title of 200 characters (the database's limit)
    # whole, in the languages of Rosengård, in wide scripts (Tamil) and in capitals: a
    # cut title on a noticeboard misstates the proposal.
    title: tuple[tuple[float, int], ...]
    summary: float
    summary_lines: int
    deadline: float
    call: float
    url: float
    other_call: float
    other_text: float
    # The title in another language, whole up to 200 characters (Tamil, the widest, takes
    # 6 lines on the poster and 8 on the flyer); when the page has no room for it,
    # draw_material leaves the titles out rather than cut them.
    other_title_lines: int
    footer: float
    qr_max: float
    qr_min: float
    gap: float


# The smallest title sizes are the legible minimum: on the poster 16 pt, still larger than
# its 15 pt summary so that the title reads as the title; on the flyer, read in the hand,
# 10 pt.  Their 8 and 7 lines leave the QR code more than its minimum even with every
# other block at its largest (two lines each).  A word is never broken while a smaller
# size keeps it on one line: at 10 pt a flyer's line holds about 45 letters.  Only a title
# that fits at none of these sizes is set at the smallest, a longer word (a web address)
# broken at the line's end, and what is beyond the last line cut with an ellipsis.
#
# The organisation's full name is what the city's clerk and the residents know it by.  A
# name too long for two lines at the kicker's size (13 pt on the poster, 7 on the flyer:
# about 120 letters) is set smaller, down to the smallest text elsewhere on the material
# (the poster's other languages, 10 pt; the flyer's footer, 6 pt), and at that size on
# a third line: a name of 180 letters is printed whole, even in capitals.  The third
# line costs the title under 2 mm of the more than 20 it has to spare at its smallest.
POSTER = Layout(
    width=210, height=297, margin=13, kicker=((13, 2), (12, 2), (11, 2), (10, 2), (10, 3)),
    title=((48, 2), (42, 2), (36, 3), (32, 3), (28, 3), (24, 4), (22, 5), (20, 6), (18, 7),
           (16, 8)),
    summary=15, summary_lines=4, deadline=17, call=28, url=18, other_call=12, other_text=10,
    other_title_lines=8, footer=9.5, qr_max=130, qr_min=70, gap=4.5,
)  # fmt: skip
FLYER = Layout(
    width=105, height=148, margin=6.5, kicker=((7, 2), (6.5, 2), (6, 2), (6, 3)),
    title=((20, 2), (17, 2), (15, 3), (13.5, 3), (12, 3), (11, 6), (10, 7)),
    summary=8, summary_lines=2, deadline=8.5, call=12, url=8.5, other_call=7, other_text=6.5,
    other_title_lines=10, footer=6, qr_max=66, qr_min=40, gap=2,
)  # fmt: skip


@dataclass(frozen=True)
class Sheet:
    """A page size and where on it the pieces go (one, or four flyers to cut)."""

    name: str
    page: tuple[float, float]
    layout: Layout
    origins: tuple[tuple[float, float], ...]
    # The campaign tag its QR code carries unless another is asked for.
    tag: str

    def draw_cut_marks(self, pdf: Any) -> None:
        """Dashed lines between the pieces, in the margins, far from any QR code."""
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.2)
        pdf.set_dash_pattern(dash=2, gap=2)
        width, height = self.page
        xs = sorted({x for x, _ in self.origins if x > 0})
        ys = sorted({y for _, y in self.origins if y > 0})
        for x in xs:
            pdf.line(x, 0, x, height)
        for y in ys:
            pdf.line(0, y, width, y)
        pdf.set_dash_pattern()


A4 = (210, 297)
A6 = (105, 148)  # fpdf2 knows no "A6"
SHEETS = {
    "poster": Sheet("poster-a4", A4, POSTER, ((0, 0),), "poster"),
    "flyer": Sheet("flyer-a6", A6, FLYER, ((0, 0),), "flyer"),
    # Office printers take A4: four A6 flyers per sheet, to cut along the dashed lines.
    "flyers-a4": Sheet(
        "flyers-4-on-a4", A4, FLYER, ((0, 0), (105, 0), (0, 148.5), (105, 148.5)), "flyer"
    ),
}


@dataclass
class Block:
    """Lines of text set in one font, ready to draw."""

    lines: list[str]
    size: float
    bold: bool = False
    align: str = "L"
    color: tuple[int, int, int] = INK
    rtl: bool = False

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * PT * LEADING


def _font(pdf: Any, size: float, bold: bool, rtl: bool = False) -> None:
    pdf.set_font(FAMILY, "B" if bold else "", size)
    # The language decides the direction of a line, not its first letter: an Arabic
    # title that starts with a Swedish street name is still read from the right.
    pdf.set_text_shaping(True, direction="rtl" if rtl else "ltr")


def wrap(
    pdf: Any,
    text: str,
    width: float,
    size: float,
    bold: bool = False,
    max_lines: int = 99,
    rtl: bool = False,
) -> list[str]:
    """``text`` broken into lines of ``width``; beyond ``max_lines`` cut with an ellipsis."""
    return _broken(pdf, " ".join(text.split()), width, size, bold, max_lines, rtl)


def _broken(
    pdf: Any, text: str, width: float, size: float, bold: bool, max_lines: int, rtl: bool
) -> list[str]:
    """``wrap`` of a text whose spaces are as they should be: a no-break space (U+00A0)
    keeps the words on either side on one line (fpdf2 draws it as a space)."""
    if not text:
        return []
    _font(pdf, size, bold, rtl)
    lines = pdf.multi_cell(width, text=text, dry_run=True, output=MethodReturnValue.LINES)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1].rstrip()
    while last and pdf.get_string_width(last + ELLIPSIS) > width:
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    kept[-1] = last.rstrip(" ,.;:–-") + ELLIPSIS
    return kept


def fitted_kicker(pdf: Any, organisation: str, width: float, layout: Layout) -> Block:
    """The line above the title, "{organisation} · Malmöinitiativ", at the largest size at
    which the name fits whole, every word on one line.  Else at the smallest size, a word
    wider than the line broken at its end, and a name that still does not fit cut with an
    ellipsis: the reader sees that the name goes on, and "Malmöinitiativ" still follows.

    A name in Arabic or Persian is set from the right margin, so that on every line its
    reader starts with the name and ends with "Malmöinitiativ".  The name's own letters
    decide (the first that has a direction): nothing says which language it is in."""
    name = " ".join(organisation.split())
    rtl = is_rtl(name)
    block = partial(Block, bold=True, align="R" if rtl else "L", color=BRAND, rtl=rtl)
    for size, most in layout.kicker:
        lines = _broken(pdf, _kicker_text(name), width, size, True, 99, rtl)
        if len(lines) <= most and whole_words(lines, _kicker_text(name)):
            return block(lines, size)
    size, most = layout.kicker[-1]

    def fits(shown: str) -> bool:
        return len(_broken(pdf, _kicker_text(shown), width, size, True, 99, rtl)) <= most

    shown = name if fits(name) else shortened(name, fits)
    return block(_broken(pdf, _kicker_text(shown), width, size, True, most, rtl), size)


def _kicker_text(name: str) -> str:
    """No-break spaces hold the dot between the name's last word and "Malmöinitiativ":
    no line ends or starts with it."""
    return f"{name}\u00a0·\u00a0Malmöinitiativ" if name else "Malmöinitiativ"


def whole_words(lines: list[str], text: str) -> bool:
    """Whether ``lines`` break ``text`` only between words: fpdf2 breaks a word wider
    than the line in the middle, without a hyphen ("trafiksäkerhets" / "åtgärder").
    The lines hold what is drawn: an emoji as its code (``readable``)."""
    drawn = readable(" ".join(text.split()))[0]
    return " ".join(line.strip() for line in lines) == drawn


def fitted_title(
    pdf: Any,
    text: str,
    width: float,
    layout: Layout,
    rtl: bool = False,
    room: float = float("inf"),
) -> Block:
    """The title at the largest size at which it fits whole, every word on one line and
    no taller than ``room`` (else at the smallest, cut to its lines and ``room``)."""
    align = "R" if rtl else "L"
    for size, most in layout.title:
        lines = wrap(pdf, text, width, size, bold=True, rtl=rtl)
        block = Block(lines, size, True, align, rtl=rtl)
        if len(lines) <= most and block.height <= room and whole_words(lines, text):
            return block
    size, most = layout.title[-1]
    if room < most * size * PT * LEADING:
        most = max(1, int(room / (size * PT * LEADING)))
    return Block(wrap(pdf, text, width, size, True, most, rtl), size, True, align, rtl=rtl)


def fitted_url(pdf: Any, url: str, width: float, layout: Layout) -> Block:
    """The address to type, whole: smaller rather than cut (a cut one leads nowhere)."""
    for scale in (1.0, 0.85, 0.72, 0.6):
        size = layout.url * scale
        lines = wrap(pdf, url, width, size, bold=True)
        if len(lines) <= 2:
            break
    return Block(lines, size, True, "C", BRAND)


def draw_block(pdf: Any, block: Block, x: float, y: float, width: float) -> float:
    """Draw ``block`` with its top at ``y``; returns the y below it."""
    _font(pdf, block.size, block.bold, block.rtl)
    pdf.set_text_color(*block.color)
    line_height = block.size * PT * LEADING
    for line in block.lines:
        pdf.set_xy(x, y)
        pdf.cell(width, line_height, line, align=block.align)
        y += line_height
    return y


def _language_cell(
    pdf: Any, other: OtherLanguage, width: float, layout: Layout, titles: bool
) -> Cell:
    align, rtl = ("R" if other.rtl else "L"), other.rtl
    blocks = []
    if other.call:
        lines = wrap(pdf, other.call, width, layout.other_call, True, 2, rtl)
        blocks.append(Block(lines, layout.other_call, True, align, rtl=rtl))
    if titles or not other.call:
        most = layout.other_title_lines
        lines = wrap(pdf, other.title, width, layout.other_text, False, most, rtl)
        blocks.append(Block(lines, layout.other_text, False, align, rtl=rtl))
    if other.last_day:
        lines = wrap(pdf, other.last_day, width, layout.other_text, False, 2, rtl)
        blocks.append(Block(lines, layout.other_text, False, align, MUTED, rtl))
    return blocks


Cell = list[Block]
Row = tuple[Cell | None, Cell | None]


def pairs(others: tuple[OtherLanguage, ...]) -> list[tuple[Any, Any]]:
    """Languages two to a row, (left, right): right-to-left ones go on the right, where
    their readers start and where their right-aligned text lines up with the margin."""
    ltr = [o for o in others if not o.rtl]
    rtl = [o for o in others if o.rtl]
    rows: list[tuple[Any, Any]] = []
    while ltr or rtl:
        if ltr and rtl:
            rows.append((ltr.pop(0), rtl.pop(0)))
        elif ltr:
            rows.append((ltr.pop(0), ltr.pop(0) if ltr else None))
        else:
            first = rtl.pop(0)
            rows.append((rtl.pop(0) if rtl else None, first))
    return rows


def _grid(pdf: Any, item: Material, width: float, layout: Layout, titles: bool) -> list[Row]:
    column = (width - layout.gap * 2) / 2

    def cell(other: OtherLanguage | None) -> Cell | None:
        return None if other is None else _language_cell(pdf, other, column, layout, titles)

    return [(cell(left), cell(right)) for left, right in pairs(item.others)]


def _row_height(row: Row, gap: float) -> float:
    return max(sum(b.height for b in cell) for cell in row if cell is not None) + gap


def _text_blocks(pdf: Any, item: Material, layout: Layout, width: float) -> dict[str, Block]:
    wrap_to = partial(wrap, pdf, width=width)
    # Swedish in practice; a main text in Arabic (no Swedish text yet) sets from the right.
    rtl = text_direction(item.locale) == "rtl"
    start = "R" if rtl else "L"
    blocks = {
        "kicker": fitted_kicker(pdf, item.organisation, width, layout),
        "deadline": Block(
            wrap_to(item.last_day or "", size=layout.deadline, bold=True, max_lines=2, rtl=rtl),
            layout.deadline, True, start, rtl=rtl,
        ),
        "call": Block(
            wrap_to(item.call, size=layout.call, bold=True, max_lines=2, rtl=rtl),
            layout.call, True, "C", rtl=rtl,
        ),
        "url": fitted_url(pdf, item.short_url, width, layout),
        "footer": Block(
            wrap_to(f"{item.target} {item.contact}", size=layout.footer, max_lines=2),
            layout.footer, color=MUTED,
        ),
    }  # fmt: skip
    # The title may take what the QR code's minimum and the other blocks leave: the
    # summary and the other languages give way to it (see draw_material), the code not.
    room = layout.height - 2 * layout.margin - layout.qr_min - _fixed_height(blocks, layout)
    return {**blocks, "title": fitted_title(pdf, item.title, width, layout, rtl, room)}


def _fixed_height(blocks: dict[str, Block], layout: Layout) -> float:
    """The height of the blocks always drawn, and the gaps between them."""
    gaps = layout.gap * (AFTER_KICKER + BEFORE_DEADLINE + AFTER_URL)
    return sum(b.height for b in blocks.values()) + gaps


# Vertical space between blocks, in multiples of the layout's gap.
AFTER_KICKER, BEFORE_SUMMARY, BEFORE_DEADLINE, AFTER_URL = 1.5, 0.4, 0.6, 1.0


def draw_material(
    pdf: Any, item: Material, modules: qrimage.Matrix, layout: Layout, x0: float, y0: float
) -> None:
    """Draw one poster or flyer with its top-left corner at (x0, y0)."""
    gap, width = layout.gap, layout.width - 2 * layout.margin
    left, top = x0 + layout.margin, y0 + layout.margin
    bottom = y0 + layout.height - layout.margin
    blocks = _text_blocks(pdf, item, layout, width)
    fixed = _fixed_height(blocks, layout)

    # Give up text in order of importance until the QR code gets its minimum size.
    rtl = blocks["title"].rtl
    for with_summary, titles in ((True, True), (True, False), (False, False)):
        summary = Block(
            wrap(pdf, item.summary, width, layout.summary, False, layout.summary_lines, rtl)
            if with_summary
            else [],
            layout.summary,
            align=blocks["title"].align,
            rtl=rtl,
        )
        rows = _grid(pdf, item, width, layout, titles)
        grid_height = sum(_row_height(row, gap) for row in rows) + (gap if rows else 0)
        used = fixed + grid_height + (summary.height + gap * BEFORE_SUMMARY if summary.lines else 0)
        room = bottom - top - used
        if room >= layout.qr_min:
            break
    while rows and room < layout.qr_min:  # still too much: drop languages from the end
        room += _row_height(rows.pop(), gap) + (0 if rows else gap)
    qr_size = max(layout.qr_min, min(layout.qr_max, room))
    spare = max(0.0, room - qr_size)

    y = draw_block(pdf, blocks["kicker"], left, top, width)
    pdf.set_draw_color(*BRAND)
    pdf.set_line_width(layout.kicker[0][0] * PT * 0.12)  # as thick for any name
    pdf.line(left, y + gap * 0.4, left + width, y + gap * 0.4)
    y = draw_block(pdf, blocks["title"], left, y + gap * AFTER_KICKER, width)
    if summary.lines:
        y = draw_block(pdf, summary, left, y + gap * BEFORE_SUMMARY, width)
    y = draw_block(pdf, blocks["deadline"], left, y + gap * BEFORE_DEADLINE, width)
    # The quiet zone is part of the drawn code: nothing else may come into it.
    y += spare / 2
    qrimage.draw(pdf, modules, left + (width - qr_size) / 2, y, qr_size)
    y = draw_block(pdf, blocks["call"], left, y + qr_size, width)
    y = draw_block(pdf, blocks["url"], left, y, width) + gap * AFTER_URL + spare / 2

    if rows:
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.25)
        pdf.line(left, y, left + width, y)
        y += gap
        column = (width - gap * 2) / 2
        for row in rows:
            for index, cell in enumerate(row):
                cell_y = y
                for block in cell or []:
                    cell_y = draw_block(
                        pdf, block, left + index * (column + gap * 2), cell_y, column
                    )
            y += _row_height(row, gap)
    draw_block(pdf, blocks["footer"], left, bottom - blocks["footer"].height, width)
