"""Posters and flyers as a print shop sees them: every language the initiative has, one
page whatever the length of the text, right-to-left text at the right margin, the last
day in Malmö time, and nothing fetched from the network."""

from __future__ import annotations

import re
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.dates import format_date
from flask import Flask

from initiatives import campaign, printing
from initiatives.extensions import db
from initiatives.pdf import Document, strip_bidi_marks
from initiatives.printing_layout import SHEETS

from .conftest import create_initiative
from .print_tools import decode, pdf_text, poppler, rasterise, word_boxes

TITLES = {
    "sv": "Gör Amiralsgatan tryggare och grönare för den som går och cyklar",
    "en": "Make Amiralsgatan safer and greener for people walking and cycling",
    "ar": "اجعلوا شارع أميرالسغاتان أكثر أمانًا وخضرة للمشاة وراكبي الدراجات",
    "so": "Ka dhig Amiralsgatan mid ammaan ah oo cagaar ah",
    "bs": "Učinite Amiralsgatan sigurnijom i zelenijom",
    "fa": "آمیرالسگاتان را برای عابران پیاده امن‌تر و سبزتر کنید",
    "tr": "Amiralsgatan'ı daha güvenli ve yeşil yapın",
}
SEVEN = {code: {"title": t, "summary": "Kort sammanfattning."} for code, t in TITLES.items()}


def material(app: Flask, tag: str = "poster", slug: str = "amiralsgatan") -> printing.Material:
    with app.app_context():
        return printing.material(campaign.by_slug(slug), tag)


def words_with_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[str, float, float]]:
    """(word, xMin, xMax) in points for every word poppler finds."""
    return [(word, x0, x1) for word, x0, _, x1, _ in word_boxes(pdf, tmp_path)]


def pages(pdf: bytes, tmp_path: Path) -> int:
    source = tmp_path / "pages.pdf"
    source.write_bytes(pdf)
    info = subprocess.run([poppler("pdfinfo"), str(source)], check=True, capture_output=True)
    return int(re.search(r"Pages:\s+(\d+)", info.stdout.decode()).group(1))


def test_arabic_then_latin_lines_all_reach_the_page(tmp_path):
    """Guards the Document work-around for fpdf2 2.8.9 (a line after one that starts in
    the fallback font used to be shown with no font: its words vanished)."""
    pdf = Document(unit="mm", format="A4")
    pdf.add_page()
    lines = ["آخر يوم للتوقيع", "Amira Hassan 2027", "أميرالسغاتان", "Yusuf 25 maj"]
    for n, line in enumerate(lines):
        pdf.set_xy(20, 20 + 10 * n)
        pdf.cell(150, 8, line)
    text = pdf_text(bytes(pdf.output()), tmp_path)
    for line in lines:
        assert line in text


@pytest.mark.parametrize("kind", ["poster", "flyer"])
def test_every_language_of_the_initiative_is_on_the_page(
    app, make_initiative, tmp_path, artifacts, kind
):
    make_initiative(texts=SEVEN)
    item = material(app, kind)
    pdf = printing.render(item, SHEETS[kind])
    assert pages(pdf, tmp_path) == 1
    image = rasterise(pdf, tmp_path, dpi=100 if kind == "poster" else 150)
    image.save(artifacts / f"{kind}-seven-languages.png")
    assert decode(image) == [f"http://localhost/i/amiralsgatan?src={kind}"]
    text = pdf_text(pdf, tmp_path)
    for code, phrases in printing.PHRASES.items():
        assert phrases["call"] in text, code
    if kind == "poster":  # the A4 page has room for every title as well
        for title in TITLES.values():
            assert " ".join(title.split()) in text


def test_languages_come_in_a_fixed_order_with_their_own_date_format(app, make_initiative):
    texts = {code: SEVEN[code] for code in ("tr", "ar", "sv", "en")}
    texts["de"] = {"title": "Amiralsgatan sicherer machen", "summary": ""}
    make_initiative(texts=texts)
    item = material(app)
    assert [o.locale for o in item.others] == ["en", "ar", "tr", "de"]
    english, arabic, turkish, german = item.others
    assert english.call == "Scan to sign" and not english.rtl
    assert arabic.rtl and arabic.call == "امسح الرمز للتوقيع"
    with app.app_context():
        day = printing.last_day(campaign.by_slug("amiralsgatan")).date()
    assert turkish.last_day == f"İmza için son gün: {format_date(day, 'long', locale='tr')}"
    assert english.last_day == f"Last day to sign: {day:%B} {day.day}, {day.year}"
    # A language without a phrase in the table still shows its title.
    assert german.call is None and german.last_day is None
    assert german.title == "Amiralsgatan sicherer machen"


def test_the_last_day_is_the_day_before_closing_in_malmo(app, make_initiative):
    make_initiative()
    with app.app_context():
        initiative = campaign.by_slug("amiralsgatan")
        # Midnight in Stockholm (23:00 UTC in winter): the last day is the day before.
        initiative.closes_at = datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
        assert printing.last_day(initiative).date().isoformat() == "2027-02-28"
        item = printing.material(initiative, "poster")
        assert item.last_day == "Sista dag att skriva under: 28 februari 2027"
        # Noon UTC is in the middle of a Stockholm day: that day is still open.
        initiative.closes_at = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
        assert printing.last_day(initiative).date().isoformat() == "2027-03-01"
        initiative.closes_at = None
        assert printing.material(initiative, "poster").last_day is None
        db.session.rollback()


def test_a_very_long_title_and_summary_still_make_one_page_that_scans(
    app, make_initiative, tmp_path
):
    # The longest title the database takes (200 characters) is printed whole.
    title = ("Inför en sammanhängande och upplyst gång- och cykelbana " * 4)[:200].strip()
    summary = "Vi föreslår säkra övergångar vid varje skola i området. " * 30
    make_initiative(texts={**SEVEN, "sv": {"title": title, "summary": summary}})
    for kind in ("poster", "flyer"):
        pdf = printing.render(material(app, kind), SHEETS[kind])
        assert pages(pdf, tmp_path) == 1
        text = pdf_text(pdf, tmp_path)
        # pdftotext joins "gång-" at a line's end to the next line's first word.
        assert title.replace("- ", "") in text.replace("- ", "")
        assert text.count("…") == 1  # the summary is cut, and it shows
        assert "Skanna för att skriva under" in text
        image = rasterise(pdf, tmp_path, dpi=150)
        assert decode(image) == [f"http://localhost/i/amiralsgatan?src={kind}"]


def test_the_address_to_type_is_never_cut_however_long(make_app, tmp_path):
    """Under the QR code for whoever cannot scan: with a long domain and the longest
    slugs it is set smaller, never cut with an ellipsis."""
    app = make_app(BASE_URL="https://malmoinitiativ.rosengard-samverkan.se")
    slug = "amiralsgatan-tryggare-och-gronare-for-alla-som-gar-och-cyklar-i-rosengard"
    create_initiative(app, slug)
    for kind in ("poster", "flyer"):
        with app.app_context():
            item = printing.material(campaign.by_slug(slug), kind)
        pdf = printing.render(item, SHEETS[kind])
        assert pages(pdf, tmp_path) == 1
        text = pdf_text(pdf, tmp_path).replace(" ", "")
        assert "…" not in text
        assert item.short_url.replace(" ", "") in text
        image = rasterise(pdf, tmp_path, dpi=150)
        assert decode(image) == [
            f"https://malmoinitiativ.rosengard-samverkan.se/i/{slug}?src={kind}"
        ]


def test_right_to_left_text_ends_at_the_right_margin(app, make_initiative, tmp_path):
    make_initiative(texts={code: SEVEN[code] for code in ("sv", "en", "ar")})
    pdf = printing.render(material(app), SHEETS["poster"])
    words = words_with_boxes(pdf, tmp_path)
    right_margin = (210 - 13) * 72 / 25.4
    arabic = [x_max for word, _, x_max in words if re.search("[\u0600-\u06ff]", word)]
    latin_call = [x_min for word, x_min, _ in words if word == "Scan"]
    assert arabic and abs(max(arabic) - right_margin) < 1.5
    assert latin_call and abs(latin_call[0] - 13 * 72 / 25.4) < 1.5


def test_an_arabic_title_that_starts_with_a_swedish_street_name_is_still_set_from_the_right(
    app, make_initiative, tmp_path
):
    """The language decides the direction, not the title's first letter."""
    make_initiative(
        texts={
            "sv": {"title": "Tryggare Amiralsgatan", "summary": "Kort."},
            "ar": {"title": "Amiralsgatan: شارع أكثر أمانًا", "summary": "قصير."},
        }
    )
    item = material(app)
    assert next(o for o in item.others if o.locale == "ar").rtl
    words = words_with_boxes(printing.render(item, SHEETS["poster"]), tmp_path)
    right_margin = (210 - 13) * 72 / 25.4
    arabic = [x_max for word, _, x_max in words if re.search("[\u0600-\u06ff]", word)]
    assert arabic and abs(max(arabic) - right_margin) < 1.5


@pytest.mark.parametrize("kind", ["poster", "flyer"])
def test_an_arabic_title_that_starts_with_a_swedish_street_name_reads_from_the_right(
    app, make_initiative, tmp_path, kind
):
    """Read from the right, the street name comes first, as it was written: set as a
    left-to-right line (its first letter is Latin), the Arabic words came first and the
    street name with its colon trailed at the far end."""
    make_initiative(
        texts={
            "sv": {"title": "Tryggare Amiralsgatan", "summary": "Kort."},
            "ar": {"title": "Bennets väg: شارع أكثر أمانًا", "summary": "قصير."},
        }
    )
    source = tmp_path / "lines.pdf"
    source.write_bytes(printing.render(material(app, kind), SHEETS[kind]))
    html = subprocess.run(
        [poppler("pdftotext"), "-bbox", str(source), "-"], check=True, capture_output=True
    ).stdout.decode()
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    # (word, xMin, middle of the line, xMax): the two fonts' boxes differ in height.
    words = [
        (w, float(a), (float(top) + float(bottom)) / 2, float(b))
        for a, top, b, bottom, w in re.findall(pattern, html)
    ]
    [(_, street, line, _)] = [w for w in words if "Bennets" in w[0]]
    arabic = [
        x_max
        for word, _, middle, x_max in words
        if re.search("[\u0600-\u06ff]", word) and abs(middle - line) < 2
    ]
    assert len(arabic) == 3
    assert street > max(arabic)


def test_rendering_fetches_nothing_from_the_network(app, make_initiative, monkeypatch):
    make_initiative(texts=SEVEN)
    item = material(app)

    def no_network(*args, **kwargs):
        raise AssertionError("rendering tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    pdf = printing.render.__wrapped__(item, SHEETS["poster"])
    assert pdf.startswith(b"%PDF-")


def test_the_same_input_gives_the_same_file_and_etag(app, make_initiative):
    make_initiative(texts=SEVEN)
    item = material(app)
    first = printing.render.__wrapped__(item, SHEETS["poster"])
    assert printing.render.__wrapped__(material(app), SHEETS["poster"]) == first
    assert printing.fingerprint(item, SHEETS["poster"]) == printing.fingerprint(
        material(app), SHEETS["poster"]
    )
    assert printing.fingerprint(item, SHEETS["poster"]) != printing.fingerprint(
        material(app, "stand"), SHEETS["poster"]
    )
    assert printing.fingerprint(item, SHEETS["poster"]) != printing.fingerprint(
        item, SHEETS["flyer"]
    )


def test_a_changed_font_changes_the_etag(app, make_initiative, tmp_path, monkeypatch):
    """A poster drawn with another font is another file: a cache or a browser that kept
    the old one must not be told it is still current."""
    make_initiative()
    item = material(app)
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for font in printing.FONTS.glob("*.ttf"):
        (fonts / font.name).write_bytes(font.read_bytes())
    monkeypatch.setattr(printing, "FONTS", fonts)
    printing._code_version.cache_clear()
    try:
        before = printing.fingerprint(item, SHEETS["poster"])
        hebrew = fonts / "NotoSansHebrew-Regular.ttf"
        hebrew.write_bytes(hebrew.read_bytes() + b"\0")  # a newer release of one font
        printing._code_version.cache_clear()
        assert printing.fingerprint(item, SHEETS["poster"]) != before
    finally:
        printing._code_version.cache_clear()  # the shipped fonts again afterwards


def test_extracted_arabic_keeps_logical_order(app, make_initiative, tmp_path):
    make_initiative(texts={code: SEVEN[code] for code in ("sv", "ar", "fa")})
    pdf = printing.render(material(app), SHEETS["flyer"])
    text = pdf_text(pdf, tmp_path)
    assert TITLES["ar"] in text
    assert strip_bidi_marks("\u202b" + TITLES["fa"] + "\u202c").replace("\u200c", "") in (
        text.replace("\u200c", "")
    )
