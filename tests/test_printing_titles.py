"""Long titles on posters and flyers: a title is printed whole up to the 200 characters the
database takes, in every format and language, with the QR code still scanning and no text
drawn over other text.  A poster with a cut title on a noticeboard misstates the proposal.
The organisation's name above the title is printed whole beside it, up to about 150
characters, smaller the longer it is, and from the right margin in Arabic or Persian.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from initiatives import campaign, printing
from initiatives.pdf import Document
from initiatives.printing_layout import SHEETS, Sheet, fitted_kicker, fitted_title

from .print_tools import as_poppler_reads, decode, pdf_text, qr_boxes, rasterise, word_boxes
from .test_pdf_scripts import _joined

# The longest titles the database takes (200 characters), words of realistic length; one
# with a word of 37 letters, wider than a flyer's line at the title's usual sizes.
LONG = {
    "sv": (
        "Gör Amiralsgatan säker för barn, fotgängare och cyklister mellan Rosengård centrum "
        "och Värnhemstorget – sänkt hastighet, upphöjda övergångsställen, bredare cykelbanor "
        "och fler träd längs hela gatan nu"
    ),
    "sv-long-word": (
        "Genomför trafiksäkerhetsförbättringsåtgärderna på Amiralsgatan mellan Rosengård "
        "centrum och Värnhemstorget – sänkt hastighet, upphöjda övergångsställen, bredare "
        "cykelbanor och fler träd längs gatan nu"
    ),
    "ar": (
        "اجعلوا شارع أميرالسغاتان آمنًا للأطفال والمشاة وراكبي الدراجات بين مركز روزنغورد "
        "وساحة فيرنهيمستورغيت مع خفض السرعة وممرات مشاة مرتفعة ومسارات أوسع للدراجات "
        "والمزيد من الأشجار على طول الشارع كله فورًا"
    ),
}
SUMMARY = {
    "sv": "Vi vill att Tekniska nämnden gör gatan trygg för alla som går och cyklar där.",
    "ar": "نريد أن تجعل اللجنة الفنية الشارع آمنًا لكل من يمشي أو يركب الدراجة فيه.",
}

# Drawing does not depend on the database.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def render(app: Flask, sheet: Sheet) -> tuple[bytes, printing.Material]:
    with app.app_context():
        item = printing.material(campaign.by_slug("amiralsgatan"), sheet.tag)
    return printing.render(item, sheet), item


def dpi_for(sheet: Sheet) -> int:
    return 100 if sheet.page[0] > 200 else 150


def assert_nothing_overlaps(pdf: bytes, image, sheet: Sheet, tmp_path: Path) -> None:
    """No word on a QR code, none off the page, and no two lines drawn over each other.

    poppler makes a word's box as tall as its font's ascent and descent, so the boxes of
    neighbouring lines overlap (Noto Sans Arabic's are twice the font size); the middle
    halves of the boxes, where the letters are, do not."""
    words = word_boxes(pdf, tmp_path)
    codes = qr_boxes(image, dpi_for(sheet))
    assert len(codes) == len(sheet.origins)
    width, height = (length * 72 / 25.4 for length in sheet.page)
    for word, x0, y0, x1, y1 in words:
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height, word
        for qx0, qy0, qx1, qy1 in codes:
            assert x1 <= qx0 or x0 >= qx1 or y1 <= qy0 or y0 >= qy1, f"{word!r} on the QR code"
    for n, (a, ax0, ay0, ax1, ay1) in enumerate(words):
        for b, bx0, by0, bx1, by1 in words[n + 1 :]:
            if "\u200c" in a + b and (ay0, ay1) == (by0, by1):
                # One word on one line: poppler splits a Persian word at its zero-width
                # non-joiner (محله‌های) into two boxes that overlap by a few points.
                continue
            if min(ax1, bx1) - max(ax0, bx0) > 0.5:  # one above the other
                apart = abs((ay0 + ay1) - (by0 + by1)) / 2
                assert apart >= ((ay1 - ay0) + (by1 - by0)) / 4, f"{a!r} over {b!r}"


def assert_looks_right(pdf: bytes, sheet: Sheet, tmp_path: Path, picture: Path) -> None:
    """Rendered (kept as ``picture``, to look at), every QR code on the sheet scans to
    its piece's link, and nothing is drawn over anything else or off the page."""
    image = rasterise(pdf, tmp_path, dpi=dpi_for(sheet))
    image.save(picture)
    link = f"http://localhost/i/amiralsgatan?src={sheet.tag}"
    assert decode(image) == [link] * len(sheet.origins)
    assert_nothing_overlaps(pdf, image, sheet, tmp_path)


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
@pytest.mark.parametrize("case", list(LONG))
def test_a_title_of_200_characters_is_printed_whole(
    app, make_initiative, tmp_path, artifacts, kind, case
):
    """Such titles used to be cut with an ellipsis after about 120 characters."""
    locale = case[:2]
    title = LONG[case]
    assert len(title) == 200
    make_initiative(texts={locale: {"title": title, "summary": SUMMARY[locale]}})
    sheet = SHEETS[kind]
    pdf, item = render(app, sheet)
    assert item.title == title
    text = pdf_text(pdf, tmp_path)
    assert "…" not in text
    # Every word, in order, on every piece of the sheet (and no word split at a line end).
    assert text.count(as_poppler_reads(title)) == len(sheet.origins)
    assert_looks_right(pdf, sheet, tmp_path, artifacts / f"{sheet.name}-title-200-{case}.png")


ENGLISH = (
    "Make Amiralsgatan safe for children, pedestrians and cyclists between Rosengård centre "
    "and Värnhemstorget – lower speeds, raised pedestrian crossings, wider cycle lanes and "
    "more trees along the street"
)


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
def test_titles_of_200_characters_in_other_languages_are_printed_whole(
    app, make_initiative, tmp_path, artifacts, kind
):
    """Under the QR code the titles in other languages were cut after two or three lines."""
    assert len(ENGLISH) == 200
    texts = {"sv": {"title": LONG["sv"], "summary": SUMMARY["sv"]}}
    texts |= {"en": {"title": ENGLISH, "summary": ""}, "ar": {"title": LONG["ar"], "summary": ""}}
    make_initiative(texts=texts)
    sheet = SHEETS[kind]
    pdf, _ = render(app, sheet)
    text = pdf_text(pdf, tmp_path)
    assert "…" not in text
    for title in (LONG["sv"], ENGLISH, as_poppler_reads(LONG["ar"])):
        assert text.count(title) == len(sheet.origins)
    assert_looks_right(
        pdf, sheet, tmp_path, artifacts / f"{sheet.name}-titles-200-three-languages.png"
    )


# Titles of up to 200 characters in the other languages of Rosengård and in scripts pdf.py
# draws with their own fonts (Tamil is the widest; Devanagari and Ethiopic).
MORE = {
    "so": (
        "Ka dhig Amiralsgatan mid ammaan u ah carruurta, dadka lugeynaya iyo baaskiil "
        "wadayaasha inta u dhexeysa xarunta Rosengård iyo Värnhemstorget – xawaare yar, goobo "
        "laga tallaabo oo la kordhiyay iyo geed"
    ),
    "bs": (
        "Učinite Amiralsgatan sigurnom za djecu, pješake i bicikliste između centra Rosengårda "
        "i Värnhemstorgeta – smanjena brzina, povišeni pješački prelazi, šire biciklističke "
        "staze i više drveća duž ulice"
    ),
    "fa": (
        "خیابان آمیرالسگاتان را برای کودکان، عابران پیاده و دوچرخه\u200cسواران میان مرکز "
        "روزنگورد و میدان ورنهمستورگت امن کنید – کاهش سرعت، گذرگاه\u200cهای برجسته، "
        "مسیرهای دوچرخه پهن\u200cتر و درختان بیشتر در سراسر خیابان"
    ),
    "en": ENGLISH,
    "hi": (
        "रोज़ेनगार्ड केंद्र और वेर्नहेम्सटोर्गेट के बीच अमिरालस्गाटन को बच्चों, पैदल चलने वालों और "
        "साइकिल चालकों के लिए सुरक्षित बनाएं – कम गति, ऊंचे पैदल पारपथ, चौड़ी साइकिल लेन और पूरी "
        "सड़क पर अधिक पेड़ लगाए"
    ),
    "ta": (
        "ரோசன்கார்ட் மையத்துக்கும் வேர்ன்ஹெம்ஸ்டோர்கெட்டுக்கும் இடையே அமிரால்ஸ்காட்டனைக் "
        "குழந்தைகள், பாதசாரிகள், மிதிவண்டி ஓட்டுநர்களுக்குப் பாதுகாப்பானதாக்குங்கள் – குறைந்த "
        "வேகம், உயர்த்தப்பட்ட கடவைகள் தேவை"
    ),
    "ti": (
        "ንኣሚራልስጋታን ንቖልዑ፡ ንእግረኛታትን ብሽክለታ ዝዝውሩን ኣብ መንጎ ማእከል ሮዘንጎርድን ቨርንሄምስቶርጌትን ውሑስ "
        "ግበርዎ – ዝተቐነሰ ፍጥነት፡ ልዑላት መሳገሪታት፡ ሰፋሕቲ መንገድታት ብሽክለታን ዝያዳ ኣእዋምን ኣብ ምሉእ ጎደና "
        "ይተኸሉ ኣብዚ ዓመት ንምርግጋጽ ድሕንነት ኩሉ ሰብ ብሓባር ንስራሕ"
    ),
}


def as_read_back(text: str) -> str:
    """What of ``text`` pdftotext reliably gives back: the letters in their order."""
    return _joined(as_poppler_reads(text)).replace("\u200c", "")


@SQLITE
@pytest.mark.parametrize("kind", ["poster", "flyer"])
@pytest.mark.parametrize("locale", list(MORE))
def test_a_long_title_in_any_language_is_printed_whole(
    app, make_initiative, tmp_path, artifacts, kind, locale
):
    title = MORE[locale]
    assert len(title) <= 200
    make_initiative(texts={locale: {"title": title, "summary": ""}})
    sheet = SHEETS[kind]
    pdf, item = render(app, sheet)
    assert item.title == title
    text = pdf_text(pdf, tmp_path)
    assert "…" not in text
    if locale in ("so", "bs", "en"):
        assert title in text  # every word, none split at a line's end
    else:  # poppler reads some Indic and Persian words back with gaps
        assert as_read_back(title) in as_read_back(text)
    if locale == "ta":
        rasterise(pdf, tmp_path, dpi=dpi_for(sheet)).save(
            artifacts / f"{sheet.name}-title-200-{locale}.png"
        )


@pytest.fixture
def pdf() -> Iterator[Document]:
    """A document to measure text in, as render() sets it up."""
    pdf = Document(unit="mm", format="A4")
    pdf.add_page()
    pdf.c_margin = 0
    yield pdf
    pdf.output()  # closes the font files fpdf2 keeps open (a ResourceWarning otherwise)


@pytest.mark.parametrize("kind", ["poster", "flyer"])
def test_a_short_title_is_set_as_large_as_before(pdf, kind):
    """Whole words are compared with what is drawn: a title with an emoji, drawn as its
    code, was set at the smallest size as if a word had been broken."""
    layout = SHEETS[kind].layout
    width = layout.width - 2 * layout.margin
    assert fitted_title(pdf, "Tryggare Amiralsgatan", width, layout).size == layout.title[0][0]
    with_code = fitted_title(pdf, "Tryggare Amiralsgatan [U+1F6B2]", width, layout)
    assert fitted_title(pdf, "Tryggare Amiralsgatan 🚲", width, layout) == with_code
    assert with_code.size > layout.title[-1][0]


ORGANISATION = "Rosengårds grannskapsnätverk för trygghet, kultur och gemenskap i Malmö"


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
@pytest.mark.parametrize("locale", ["sv", "ar"])
def test_a_long_organisation_name_is_printed_whole(
    app, make_initiative, tmp_path, artifacts, kind, locale
):
    """The line above the title names who collects: it was cut with an ellipsis after one
    line, so a longer name lost its end.  It takes two lines, beside a title of 200
    characters, with nothing drawn over anything else or off the page."""
    app.config["ORGANISATION_NAME"] = ORGANISATION
    make_initiative(texts={locale: {"title": LONG[locale], "summary": SUMMARY[locale]}})
    sheet = SHEETS[kind]
    pdf, item = render(app, sheet)
    text = pdf_text(pdf, tmp_path)
    assert "…" not in text
    assert text.count(f"{ORGANISATION} · Malmöinitiativ") == len(sheet.origins)
    assert text.count(as_poppler_reads(LONG[locale])) == len(sheet.origins)
    assert_looks_right(
        pdf, sheet, tmp_path, artifacts / f"{sheet.name}-long-organisation-{locale}.png"
    )


# Full names of neighbourhood networks, about 150 characters, in the languages of
# Rosengård: the name the city's clerk and the residents know the network by.
ORGANISATIONS = {
    "sv": (
        "Föreningen Rosengårds grannskapsnätverk för trygghet, kultur, idrott och gemenskap "
        "bland barn, unga, vuxna och äldre i stadsdelarna Rosengård och Fosie"
    ),
    "en": (
        "Rosengård Neighbourhood Network for Safety, Culture, Sport and Community among "
        "Children, Young People, Adults and Older Residents of Rosengård and Fosie"
    ),
    "ar": (
        "شبكة الجيران في روزنغورد من أجل الأمان والثقافة والرياضة والمجتمع بين الأطفال "
        "والشباب والكبار وكبار السن في أحياء روزنغورد وفوسيه بمدينة مالمو السويدية"
    ),
    "so": (
        "Shabakadda Deriskii Rosengård ee Nabadgelyada, Dhaqanka, Ciyaaraha iyo Bulshada ee "
        "Carruurta, Dhallinyarada, Dadka Waaweyn iyo Waayeelka Rosengård iyo Fosie"
    ),
    "bs": (
        "Mreža susjeda Rosengårda za sigurnost, kulturu, sport i zajedništvo djece, mladih, "
        "odraslih i starijih stanovnika četvrti Rosengård i Fosie u gradu Malmöu"
    ),
    "fa": (
        "شبکه همسایگان روزنگورد برای امنیت، فرهنگ، ورزش و همبستگی میان کودکان، جوانان، "
        "بزرگسالان و سالمندان محله\u200cهای روزنگورد و فوسیه در شهر مالمو در جنوب سوئد"
    ),
}
# The longest titles the database takes, in each of those languages.
TITLES = MORE | {"sv": LONG["sv"], "ar": LONG["ar"]}


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
@pytest.mark.parametrize("locale", list(ORGANISATIONS))
def test_an_organisation_name_of_150_characters_is_printed_whole(
    app, make_initiative, tmp_path, artifacts, kind, locale
):
    """Beyond two lines at the kicker's size the name was cut with an ellipsis, and
    "Malmöinitiativ" with it; it is set smaller instead, beside a title of 200 characters
    in the same language, with nothing drawn over anything else or off the page."""
    name = ORGANISATIONS[locale]
    assert 145 <= len(name) <= 160
    app.config["ORGANISATION_NAME"] = name
    make_initiative(texts={locale: {"title": TITLES[locale], "summary": SUMMARY.get(locale, "")}})
    sheet = SHEETS[kind]
    pdf, _ = render(app, sheet)
    text = pdf_text(pdf, tmp_path)
    assert "…" not in text
    kicker = f"{name} · Malmöinitiativ"
    if locale in ("ar", "fa"):  # poppler reads right-to-left lines back with gaps
        assert as_read_back(text).count(as_read_back(kicker)) == len(sheet.origins)
    else:  # every word, in order, none split at a line's end
        assert text.count(kicker) == len(sheet.origins)
    assert_looks_right(
        pdf, sheet, tmp_path, artifacts / f"{sheet.name}-organisation-150-{locale}.png"
    )


# A word of 77 letters: wider than a line at the kicker's full size, on the poster and
# on the flyer, narrower at a smaller one.
WORDY = "Rosengårdsgrannskapsnätverksföreningsstyrelsesammanträdesprotokollsjusterarna i Malmö"


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
def test_a_long_word_in_the_organisation_name_is_not_broken(app, make_initiative, tmp_path, kind):
    """fpdf2 broke a word wider than the line in the middle, without a hyphen."""
    app.config["ORGANISATION_NAME"] = WORDY
    make_initiative(texts={"sv": {"title": LONG["sv"], "summary": SUMMARY["sv"]}})
    sheet = SHEETS[kind]
    pdf, _ = render(app, sheet)
    assert pdf_text(pdf, tmp_path).count(f"{WORDY} · Malmöinitiativ") == len(sheet.origins)


@SQLITE
@pytest.mark.parametrize("kind", list(SHEETS))
def test_a_name_too_long_for_the_smallest_size_is_cut_visibly_and_keeps_malmoinitiativ(
    app, make_initiative, pdf, tmp_path, kind
):
    """Only a name that does not fit even at the smallest size is cut, with an ellipsis
    where the rest would be; "Malmöinitiativ" still follows it."""
    name = " ".join([ORGANISATIONS["sv"]] * 2)
    layout = SHEETS[kind].layout
    block = fitted_kicker(pdf, name, layout.width - 2 * layout.margin, layout)
    assert (block.size, len(block.lines)) == layout.kicker[-1]
    assert block.lines[-1].endswith("… · Malmöinitiativ")
    app.config["ORGANISATION_NAME"] = name
    make_initiative(texts={"sv": {"title": LONG["sv"], "summary": SUMMARY["sv"]}})
    printed, _ = render(app, SHEETS[kind])
    text = pdf_text(printed, tmp_path)
    assert ORGANISATIONS["sv"] in text
    assert re.search(r"\w… · Malmöinitiativ", text)


@pytest.mark.parametrize("kind", ["poster", "flyer"])
def test_a_short_organisation_name_is_set_as_before(pdf, kind):
    """At the kicker's full size: on one line, or two for a name of 70 characters."""
    layout = SHEETS[kind].layout
    width = layout.width - 2 * layout.margin
    short = fitted_kicker(pdf, "Rosengård Samverkan", width, layout)
    # Lines as drawn: fpdf2 gives the no-break spaces back as spaces.
    assert short.lines == ["Rosengård Samverkan · Malmöinitiativ"]
    assert short.size == layout.kicker[0][0] == (13 if kind == "poster" else 7)
    two = fitted_kicker(pdf, ORGANISATION, width, layout)
    assert (two.size, len(two.lines)) == (layout.kicker[0][0], 2)


@SQLITE
@pytest.mark.parametrize("kind", ["poster", "flyer"])
@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_an_arabic_or_persian_organisation_name_reads_from_the_right(
    app, make_initiative, tmp_path, kind, locale
):
    """Set as a left-to-right line, a name on two lines had "Malmöinitiativ ·" at the
    right end of its second line, where a reader of Arabic starts: before the end of the
    name.  Set from the right, every line starts at the right margin and "Malmöinitiativ"
    comes last, at the left of the name's last words, on a Swedish poster too."""
    app.config["ORGANISATION_NAME"] = ORGANISATIONS[locale]
    make_initiative(texts={"sv": {"title": "Tryggare Amiralsgatan", "summary": "Kort."}})
    sheet = SHEETS[kind]
    pdf, _ = render(app, sheet)
    # (word, xMin, middle of its line, xMax): the Arabic font's boxes are taller.
    words = [(w, x0, (y0 + y1) / 2, x1) for w, x0, y0, x1, y1 in word_boxes(pdf, tmp_path)]
    [(_, malmo_left, last_line, malmo_right)] = [w for w in words if w[0] == "Malmöinitiativ"]
    name = [w for w in words if re.search("[\u0600-\u06ff]", w[0]) and w[2] < last_line + 3]
    assert any(middle < last_line - 5 for _, _, middle, _ in name)  # on more than one line
    right_margin = (sheet.layout.width - sheet.layout.margin) * 72 / 25.4
    on_last_line = [w for w in name if abs(w[2] - last_line) < 3]
    assert on_last_line and all(x_min > malmo_right for _, x_min, _, _ in on_last_line)
    assert abs(max(x_max for *_, x_max in on_last_line) - right_margin) < 1.5
    first_line = min(middle for _, _, middle, _ in name)
    ends = [x_max for _, _, middle, x_max in name if abs(middle - first_line) < 3]
    assert abs(max(ends) - right_margin) < 1.5
    assert malmo_left > sheet.layout.margin * 72 / 25.4 - 1
