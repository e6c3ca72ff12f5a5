"""Reading material back as a print shop and a phone would: poppler renders and extracts
text, zxing-cpp decodes QR codes.  Without poppler-utils tests skip locally, fail in CI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import zxingcpp
from PIL import Image

from initiatives.pdf import strip_bidi_marks

from .conftest import skip_or_fail


def decode(image: Image.Image) -> list[str]:
    """Every QR code a real decoder finds in the image."""
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        skip_or_fail(f"{tool} not found: install poppler-utils (make test does this as root)")
    return path


def rasterise(pdf: bytes, tmp_path: Path, dpi: int, name: str = "page") -> Image.Image:
    """The PDF's first page as poppler renders it, at ``dpi``."""
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    prefix = tmp_path / name
    subprocess.run(
        [poppler("pdftoppm"), "-png", "-r", str(dpi), "-singlefile", str(source), str(prefix)],
        check=True,
        timeout=60,
    )
    return Image.open(f"{prefix}.png")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(
        [poppler("pdftotext"), "-enc", "UTF-8", str(source), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    # Logical order, one space between words: lines wrap differently than the source.
    return " ".join(strip_bidi_marks(out).split())


def as_poppler_reads(text: str) -> str:
    """``text`` as pdftotext gives it back: it reads the two letters of a ligature of lam
    and an alef (لا, لأ, لى: one glyph) in reverse order inside right-to-left text."""
    return re.sub("ل([اأإآى])", r"\1ل", text)


def page_size_mm(pdf: bytes, tmp_path: Path) -> tuple[float, float]:
    source = tmp_path / "info.pdf"
    source.write_bytes(pdf)
    info = subprocess.run(
        [poppler("pdfinfo"), str(source)], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups()
    return round(float(width) * 25.4 / 72), round(float(height) * 25.4 / 72)


def word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in points for every word poppler finds."""
    source = tmp_path / "boxes.pdf"
    source.write_bytes(pdf)
    return _words(source)


def _words(pdf: Path) -> list[tuple[str, float, float, float, float]]:
    """``word_boxes`` of a PDF file."""
    html = subprocess.run(
        [poppler("pdftotext"), "-bbox", str(pdf), "-"], check=True, capture_output=True
    ).stdout.decode()
    number = r'"([\d.]+)"'
    pattern = rf"<word xMin={number} yMin={number} xMax={number} yMax={number}>([^<]*)</word>"
    return [
        (word, float(x0), float(y0), float(x1), float(y1))
        for x0, y0, x1, y1, word in re.findall(pattern, html)
    ]


def qr_boxes(image: Image.Image, dpi: int) -> list[tuple[float, float, float, float]]:
    """(xMin, yMin, xMax, yMax) in points of every QR code a real decoder finds."""
    boxes = []
    for result in zxingcpp.read_barcodes(image):
        corners = result.position
        points = [corners.top_left, corners.top_right, corners.bottom_left, corners.bottom_right]
        xs, ys = [p.x * 72 / dpi for p in points], [p.y * 72 / dpi for p in points]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


def words_past_the_margin(pdf: Path, margin: float = 15) -> list[str]:
    """Words that reach into the left or right margin (``margin`` mm) of an A4 page."""
    left, right = margin * 72 / 25.4 - 1, (210 - margin) * 72 / 25.4 + 1
    return [word for word, x0, _, x1, _ in _words(pdf) if x0 < left or x1 > right]


def words_drawn_over_others(pdf: Path) -> list[tuple[str, str]]:
    """Pairs of words on one line whose boxes overlap: text drawn over other text."""
    words = [(w, x0, (y0 + y1) / 2, x1) for w, x0, y0, x1, y1 in _words(pdf)]
    return [
        (a, b)
        for n, (a, ax0, ay, ax1) in enumerate(words)
        for b, bx0, by, bx1 in words[n + 1 :]
        if abs(ay - by) < 4 and min(ax1, bx1) - max(ax0, bx0) > 0.5
    ]
