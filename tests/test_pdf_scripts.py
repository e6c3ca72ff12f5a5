"""Names in every script Rosengård's residents write reach the clerk's PDF.

Scripts with a shipped font come out as the same text, drawn from that script's font.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

from initiatives import campaign, clock, printing
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Signature, SignatureState
from initiatives.pdf import Document
from initiatives.printing_layout import SHEETS

from .print_tools import pdf_text, poppler, rasterise

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


def _stored_names(app, initiative, names: list[str]) -> None:
    """Confirmed signatures with these names, listed in this order."""
    with app.app_context():
        box = crypto()
        db.session.add_all(
            Signature(
                initiative_id=initiative.id,
                state=SignatureState.CONFIRMED,
                name_enc=box.encrypt(name),
                confirmed_at=clock.utcnow(),
            )
            for name in names
        )
        db.session.commit()


def _exported(app, tmp_path: Path) -> zipfile.ZipFile:
    out = tmp_path / "out"
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(io.BytesIO(next(out.glob("*.zip")).read_bytes()))


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


def test_names_in_every_shipped_script_come_out_of_the_list_pdf(
    app, make_initiative, tmp_path, artifacts
):
    """They used to print as nothing at all: fpdf2 drops a glyph no font has."""
    _stored_names(app, make_initiative(opens_days_ago=5), [*SCRIPTS, "Åsa Öberg", "أمينة حسن"])
    listing = _exported(app, tmp_path).read("underskrifter.pdf")
    text = pdf_text(listing, tmp_path)
    for name in [*SCRIPTS, "Åsa Öberg", "أمينة حسن"]:
        assert _joined(name) in _joined(text), name
    # Each drawn from its script's font, and only fonts that are used are embedded (bold
    # is the header's).
    embedded = {"NotoSans", "NotoSansBold", "NotoSansArabic", *SCRIPTS.values()}
    assert _fonts(listing, tmp_path) == embedded
    # To look at: every name drawn, Devanagari's conjuncts joined, no empty boxes.
    rasterise(listing, tmp_path, dpi=150).save(artifacts / "pack-list-scripts.png")


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
