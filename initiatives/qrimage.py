"""QR codes: one module matrix from the ``qrcode`` library, drawn three ways.

SVG for screens (scales to any size, one path, a white background so it still scans on
a dark page), PNG for messaging apps and slides, and vector rectangles in a PDF so a
printed poster is sharp at any size.  Every drawing keeps the quiet zone of 4 modules
that the QR standard requires; scanners fail without it more often than for any other
reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M, ERROR_CORRECT_Q

QUIET_ZONE = 4
# Screens: M (15 % of the code may be lost) keeps the code coarse and quick to scan.
# Print: Q (25 %) survives a torn corner, a staple or a scribble on a poster in a stairwell.
SCREEN = ERROR_CORRECT_M
PRINT = ERROR_CORRECT_Q
# PNG edge length in pixels: large enough for 1 px modules, small enough that one request
# cannot make the server build a huge image.
PNG_MIN_SIZE = 120
PNG_MAX_SIZE = 2000
PNG_DEFAULT_SIZE = 600

Matrix = list[list[bool]]


def matrix(data: str, error_correction: int = SCREEN) -> Matrix:
    """The modules of the smallest QR code holding ``data``, quiet zone included."""
    code = qrcode.QRCode(error_correction=error_correction, border=QUIET_ZONE)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def runs(row: list[bool]) -> Iterator[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row.

    Drawing runs instead of single modules keeps files small and leaves no hairline
    seams between neighbouring modules when a renderer anti-aliases.
    """
    start = None
    for x, dark in enumerate([*row, False]):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            yield start, x - start
            start = None


def svg(modules: Matrix, pixels_per_module: int = 8) -> bytes:
    """A standalone SVG: one path on white, presentation attributes only (no ``style``,
    which the Content-Security-Policy would block when the file is opened directly)."""
    n = len(modules)
    parts = [
        f"M{x} {y}h{length}v1h-{length}z"
        for y, row in enumerate(modules)
        for x, length in runs(row)
    ]
    size = n * pixels_per_module
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'width="{size}" height="{size}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/>'
        "</svg>\n"
    ).encode()


def png(modules: Matrix, size: int) -> bytes:
    """A black-on-white PNG of ``size`` × ``size`` pixels.

    Every module gets the same whole number of pixels (uneven modules confuse some
    scanners); what is left over widens the white margin, centred.
    """
    n = len(modules)
    per_module = max(1, size // n)
    code = Image.new("1", (n, n), 1)
    code.putdata([0 if dark else 1 for row in modules for dark in row])
    code = code.resize((n * per_module, n * per_module), Image.Resampling.NEAREST)
    edge = max(size, code.width)
    canvas = Image.new("1", (edge, edge), 1)
    offset = (edge - code.width) // 2
    canvas.paste(code, (offset, offset))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def draw(pdf: Any, modules: Matrix, x: float, y: float, size: float) -> None:
    """Draw the code as one filled vector path into an fpdf2 document, at (x, y) with
    edge ``size`` (quiet zone included) in the document's unit."""
    from fpdf.enums import PathPaintRule

    module = size / len(modules)
    with pdf.new_path(paint_rule=PathPaintRule.FILL_NONZERO) as path:
        path.style.fill_color = "#000000"
        for row_index, row in enumerate(modules):
            for start, length in runs(row):
                path.rectangle(x + start * module, y + row_index * module, length * module, module)
