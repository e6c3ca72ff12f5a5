"""Names in every script Rosengård's residents write reach the clerk's PDF.

Scripts with a shipped font come out as the same text, drawn from that script's font;
characters no shipped font has (Chinese, emoji) are shown as Unicode codes, the name is
marked, and a note says which rows to read in the spreadsheet, where the name is whole.
"""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from initiatives import campaign, printing
from initiatives.pdf import Document, covered, readable
from initiatives.printing_layout import SHEETS

from .print_tools import pdf_text, poppler, rasterise
from .test_admin_pack import _exported, _stored_names

# A name in each script a shipped font covers, and the font that must draw it.
SCRIPTS = {
    "ሰላም ተስፋይ": "NotoSansEthiopic",  # Tigrinya
    "שרה כהן": "NotoSansHebrew",
    "สมชาย ใจดี": "NotoSansThai",
    # Conjuncts (क्ष, त्र) and a vowel sign drawn before its consonant (त्रि): shaping.
    "अक्षय क्षत्रिय": "NotoSansDevanagari",
    "সুস্মিতা দত্ত": "NotoSansBengali",
    "தமிழ்செல்வன்": "NotoSansTamil",
    "Արամ Պետրոսյան": "NotoSansArmenian",
    "გიორგი ბერიძე": "NotoSansGeorgian",
}
CHINESE = "王小明"
EMOJI = "Amira 🌸 Hassan"


def _fonts(pdf: bytes, tmp_path: Path) -> set[str]:
    """The fonts embedded in ``pdf``, without their subset prefix."""
    source = tmp_path / "fonts.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(
        [poppler("pdffonts"), str(source)], check=True, capture_output=True, text=True
    ).stdout
    return {line.split()[0].split("+")[-1] for line in out.splitlines()[2:]}


def _joined(text: str) -> str:
    # poppler puts a space inside some Indic words: a vowel sign drawn before its
    # consonant (ि, ெ) makes a gap in the order the glyphs' text is read back.  What
    # is compared is the letters and their order.
    return "".join(text.split())


def _numbers(archive: zipfile.ZipFile) -> dict[str, str]:
    """Each name's Nr, as the clerk finds it in the CSV file."""
    rows = csv.reader(
        io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
    )
    return {name: number for number, name, *_ in list(rows)[1:]}


def test_names_in_every_shipped_script_come_out_of_the_list_pdf(
    app, make_initiative, tmp_path, artifacts
):
    """They used to print as nothing at all: fpdf2 drops a glyph no font has."""
    _stored_names(app, make_initiative(opens_days_ago=5), [*SCRIPTS, "Åsa Öberg", "أمينة حسن"])
    listing = _exported(app, tmp_path).read("underskrifter.pdf")
    text = pdf_text(listing, tmp_path)
    for name in [*SCRIPTS, "Åsa Öberg", "أمينة حسن"]:
        assert _joined(name) in _joined(text), name
    assert "U+" not in text and "namn innehåller tecken" not in text
    # Each drawn from its script's font, and only fonts that are used are embedded (bold
    # is the header's).
    embedded = {"NotoSans", "NotoSansBold", "NotoSansArabic", *SCRIPTS.values()}
    assert _fonts(listing, tmp_path) == embedded
    # To look at: every name drawn, Devanagari's conjuncts joined, no empty boxes.
    rasterise(listing, tmp_path, dpi=150).save(artifacts / "pack-list-scripts.png")


def test_names_no_shipped_font_can_draw_are_shown_as_codes_marked_and_listed(
    app, make_initiative, tmp_path, artifacts
):
    """A Chinese name printed as nothing and an emoji vanished: the clerk could not tell a
    name was there, let alone read it.  Now the PDF says where to read it whole."""
    names = ["Åsa Öberg", CHINESE, "שרה כהן", EMOJI, "Hodan Ali"]
    _stored_names(app, make_initiative(opens_days_ago=5), names)
    archive = _exported(app, tmp_path)
    listing = archive.read("underskrifter.pdf")
    text = pdf_text(listing, tmp_path)
    rasterise(listing, tmp_path, dpi=150).save(artifacts / "pack-list-unreadable.png")
    assert "[U+738B U+5C0F U+660E] *" in text
    assert "Amira [U+1F338] Hassan *" in text
    assert "Åsa Öberg *" not in text and "Hodan Ali *" not in text
    # The numbers the note gives are the rows' Nr in the spreadsheet and the CSV file.
    numbers = _numbers(archive)
    assert list(numbers) == names
    chinese, emoji = numbers[CHINESE], numbers[EMOJI]
    assert (chinese, emoji) == ("2", "4")
    note = (
        "* 2 namn innehåller tecken som inte kan visas i denna PDF, till exempel kinesiska, "
        "japanska eller koreanska tecken eller emojier. I listan står i stället tecknens "
        "Unicode-koder inom hakparentes, till exempel [U+1F600], och namnet är markerat "
        "med *. Kalkylbladet (XLSX) och CSV-filen visar namnen som de skrevs, på raden med "
        f"samma nummer i kolumnen Nr: {chinese} och {emoji}."
    )
    assert note in text
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    in_book = {str(r[0].value): r[1].value for r in book["Underskrifter"].iter_rows(min_row=2)}
    assert in_book[chinese] == CHINESE and in_book[emoji] == EMOJI
    # The cover letter, read first, says so too.
    cover = pdf_text(archive.read("foljebrev.pdf"), tmp_path)
    assert "2 namn innehåller tecken som inte kan visas i listan" in cover
    assert f"kolumnen Nr: {chinese} och {emoji}." in cover


def test_a_long_list_of_unreadable_names_is_shortened_in_the_cover_letter(
    app, make_initiative, tmp_path
):
    _stored_names(app, make_initiative(opens_days_ago=5), [f"李{n}" for n in range(1, 24)])
    archive = _exported(app, tmp_path)
    cover = pdf_text(archive.read("foljebrev.pdf"), tmp_path)
    first = ", ".join(str(n) for n in range(1, 21))
    assert f"kolumnen Nr: {first} och 3 till (alla står sist i listan)." in cover
    listing = pdf_text(archive.read("underskrifter.pdf"), tmp_path)
    every = ", ".join(str(n) for n in range(1, 23))
    assert f"kolumnen Nr: {every} och 23." in listing
    assert "[U+674E]1 *" in listing and "[U+674E]23 *" in listing


def test_readable_keeps_what_a_font_draws_and_codes_the_rest():
    for name in [*SCRIPTS, "Åsa Öberg", "محمد‌رضا کریمی", "Zlatan Ibrahimović"]:
        assert readable(name) == (name, False)
    assert readable(CHINESE) == ("[U+738B U+5C0F U+660E]", True)
    # A sequence is one bracket: its joiners and variation selectors are part of it.
    assert readable("Sara 👨‍👩‍👧") == ("Sara [U+1F468 U+200D U+1F469 U+200D U+1F467]", True)
    assert readable("Ali ❤️ Hodan") == ("Ali [U+2764 U+FE0F] Hodan", True)
    assert readable("김민준") == ("[U+AE40 U+BBFC U+C900]", True)
    assert ord("ሰ") in covered() and ord("王") not in covered()


def test_a_bold_line_in_a_script_with_only_a_regular_font_is_drawn(tmp_path):
    """Posters set titles in bold; the script fonts are shipped in regular only."""
    pdf = Document(unit="mm", format="A4")
    pdf.add_page()
    pdf.set_font("NotoSans", "B", 14)
    pdf.cell(150, 10, "Tryggare gata ሰላም ተስፋይ")
    text = pdf_text(bytes(pdf.output()), tmp_path)
    assert "Tryggare gata ሰላም ተስፋይ" in text


def test_a_poster_shows_titles_in_these_scripts(app, make_initiative, tmp_path, artifacts):
    titles = {
        "ti": "ጽቡቕ ኣሚራልስጋታን",
        "he": "אמירלסגאטן בטוחה יותר",
        "hi": "सुरक्षित अमिरालस्गाटन",
        # Not "อามิรัล": poppler reads the vowel sign over ร back after the ล.
        "th": "ถนนที่ปลอดภัย",
    }
    texts = {"sv": {"title": "Tryggare Amiralsgatan", "summary": "Kort."}}
    texts |= {code: {"title": title, "summary": ""} for code, title in titles.items()}
    make_initiative(texts=texts)
    with app.app_context():
        item = printing.material(campaign.by_slug("amiralsgatan"), "poster")
    pdf = printing.render(item, SHEETS["poster"])
    rasterise(pdf, tmp_path, dpi=100).save(artifacts / "poster-scripts.png")
    text = _joined(pdf_text(pdf, tmp_path))
    for title in titles.values():
        assert _joined(title) in text


# An organisation's name in Chinese and a title with an emoji: no shipped font draws them.
ORGANISATION = "瑞典 Rosengård"
ORGANISATION_CODES = "[U+745E U+5178] Rosengård"
BIKE_TITLE = "Tryggare Amiralsgatan 🚲"
BIKE_CODES = "Tryggare Amiralsgatan [U+1F6B2]"


def test_titles_and_other_texts_no_font_can_draw_are_shown_as_codes_in_the_pack(
    app, make_initiative, tmp_path
):
    """The list's header, the cover letter and its footer lost the emoji and the Chinese
    characters without a sign (the organisation read " Rosengård").  They show codes
    now, like a name, but no row is marked and no note about names is added."""
    from initiatives import pack
    from initiatives.extensions import db

    texts = {
        "sv": {
            "title": BIKE_TITLE,
            "summary": "Säkra övergångar 🚸 och en cykelbana.",
            "body": "Vi föreslår 🌳 träd.\nOch en cykelbana.",
        }
    }
    initiative = make_initiative(opens_days_ago=5, texts=texts)
    _stored_names(app, initiative, ["Åsa Öberg", "Hodan Ali"])
    with app.app_context():
        initiative = campaign.by_slug("amiralsgatan")
        result = pack.build(
            initiative,
            tmp_path / "out",
            generated_by="test",
            organisation=ORGANISATION,
            contact="kontakt@example.org",
        )
        db.session.commit()
    archive = zipfile.ZipFile(result.path)
    listing = pdf_text(archive.read("underskrifter.pdf"), tmp_path)
    assert f"Underskrifter: {BIKE_CODES}" in listing
    assert f"{ORGANISATION_CODES} · skapad" in listing
    assert "*" not in listing and "namn innehåller tecken" not in listing
    cover = pdf_text(archive.read("foljebrev.pdf"), tmp_path)
    assert f"Medborgarinitiativet ”{BIKE_CODES}”".lower() in cover.lower()
    assert cover.startswith(ORGANISATION_CODES)
    assert f"Med vänliga hälsningar {ORGANISATION_CODES}" in cover
    assert "Säkra övergångar [U+1F6B8] och en cykelbana." in cover
    assert "Vi föreslår [U+1F333] träd. Och en cykelbana." in cover
    assert "namn innehåller tecken" not in cover
    # The spreadsheet keeps the title as it was written.
    summary = dict(load_workbook(archive.open("underskrifter.xlsx"))["Sammanfattning"].values)
    assert summary["Initiativ"] == BIKE_TITLE


def test_a_poster_shows_a_title_and_organisation_no_font_can_draw_as_codes(
    app, make_initiative, tmp_path
):
    app.config["ORGANISATION_NAME"] = ORGANISATION
    texts = {
        "sv": {"title": BIKE_TITLE, "summary": "Kort 🚸."},
        "ar": {"title": "أمينة 🌸", "summary": ""},
    }
    make_initiative(texts=texts)
    with app.app_context():
        item = printing.material(campaign.by_slug("amiralsgatan"), "poster")
    for sheet in ("poster", "flyer"):
        text = pdf_text(printing.render(item, SHEETS[sheet]), tmp_path)
        assert BIKE_CODES in text, sheet
        assert f"{ORGANISATION_CODES} · Malmöinitiativ" in text, sheet
        # Drawn as "[U+1F338] أمينة" (checked on the page); pdftotext reads the brackets
        # of a left-to-right run inside a right-to-left line back in its own order.
        assert "U+1F338" in text, sheet
    assert "Kort [U+1F6B8]." in pdf_text(printing.render(item, SHEETS["poster"]), tmp_path)


def test_the_first_page_says_up_front_that_names_are_shown_as_codes(app, make_initiative, tmp_path):
    """The note saying which names show codes came only after the last row, pages away
    from a clerk reading from the top; page 1 now points to it, once."""
    names = [CHINESE, *(f"Person {n}" for n in range(1, 120)), EMOJI]
    _stored_names(app, make_initiative(opens_days_ago=5), names)
    archive = _exported(app, tmp_path)
    text = pdf_text(archive.read("underskrifter.pdf"), tmp_path)
    pointer = (
        "* 2 namn innehåller tecken som inte kan visas i denna PDF och står som "
        "Unicode-koder; se anmärkningen sist i listan."
    )
    assert text.count(pointer) == 1
    assert text.index(pointer) < text.index("[U+738B U+5C0F U+660E] *")
    assert "sida 2 av" in text and text.index("sida 1 av") > text.index(pointer)
    assert "kolumnen Nr: 1 och 121." in text
