"""The blank signature sheet organisers print for collecting on paper: what a signer
reads before signing, a QR code to sign online instead, the fields the admin's typing-in
asks for, and rows to fill in by hand; only for organisers, only while collecting."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from babel.dates import format_date
from PIL import ImageChops

from initiatives import campaign, printing
from initiatives.extensions import db
from initiatives.models import InitiativeState

from .admin_helpers import logged_in
from .print_tools import (
    decode,
    pdf_text,
    poppler,
    qr_boxes,
    rasterise,
    word_boxes,
    words_drawn_over_others,
    words_past_the_margin,
)

URL = "/admin/initiatives/amiralsgatan/campaign/paper-sheet.pdf"
SIGN_AT = "http://localhost/i/amiralsgatan?src="
COLUMNS = "Nr Namn (textat) Postnummer (frivilligt) Datum Namnteckning"
MM = 72 / 25.4  # points per millimetre
# The longest title the database takes, a summary as long as the admin's form takes
# (1,000 characters) and a committee's name as long as its field (200).
LONG_TITLE = ("Inför en sammanhängande och upplyst gång- och cykelbana " * 4)[:200].strip()
LONG_SUMMARY = ("Vi föreslår säkra övergångar vid varje skola i området. " * 18)[:1000].strip()
LONG_BODY = ("Nämnden för trygghet, gator, parker och " * 5).strip()[:200]


def page_count(pdf: bytes, tmp_path: Path) -> int:
    source = tmp_path / "pages.pdf"
    source.write_bytes(pdf)
    info = subprocess.run([poppler("pdfinfo"), str(source)], check=True, capture_output=True)
    return int(re.search(r"Pages:\s+(\d+)", info.stdout.decode()).group(1))


def page_files(pdf: bytes, tmp_path: Path) -> list[Path]:
    """Each page of ``pdf`` as a file of its own (the word checks read one page)."""
    source = tmp_path / "sheet.pdf"
    source.write_bytes(pdf)
    files = []
    for page in range(1, page_count(pdf, tmp_path) + 1):
        alone = tmp_path / f"sheet-{page}.pdf"
        subprocess.run(
            [poppler("pdfseparate"), "-f", str(page), "-l", str(page), str(source), str(alone)],
            check=True,
        )
        files.append(alone)
    return files


def row_numbers(page: Path) -> list[int]:
    """The numbers printed in the table's first column (Nr), top to bottom."""
    column = (15 * MM, 26 * MM)
    numbers = [
        (y0, int(word))
        for word, x0, y0, x1, _ in word_boxes(page.read_bytes(), page.parent)
        if word.isdigit() and column[0] <= x0 and x1 <= column[1]
    ]
    return [n for _, n in sorted(numbers)]


def header_row(page: Path) -> str:
    """The words on the line of the table's "Namnteckning" header, left to right."""
    words = word_boxes(page.read_bytes(), page.parent)
    line = [y0 for word, _, y0, _, _ in words if word == "Namnteckning"]
    return " ".join(
        w for w, _, y0, _, _ in sorted(words, key=lambda w: w[1]) if line and abs(y0 - line[0]) < 2
    )


def words_on_top_of_each_other(page: Path) -> list[tuple[str, str]]:
    """Words whose boxes overlap on different lines too: a block drawn into the one
    above it.  The boxes are shrunk to the letters' middle half (a box has the font's
    whole height, more than the line spacing)."""
    boxes = [
        (word, x0, y0 + (y1 - y0) / 4, x1, y1 - (y1 - y0) / 4)
        for word, x0, y0, x1, y1 in word_boxes(page.read_bytes(), page.parent)
    ]
    return [
        (a, b)
        for n, (a, ax0, ay0, ax1, ay1) in enumerate(boxes)
        for b, bx0, by0, bx1, by1 in boxes[n + 1 :]
        if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5
    ]


def words_over_the_code(page: Path, image, dpi: int) -> list[str]:
    """Words drawn into the QR code (its quiet zone is part of it)."""
    (x0, y0, x1, y1), quiet = qr_boxes(image, dpi)[0], 3  # points: a module or so
    return [
        word
        for word, wx0, wy0, wx1, wy1 in word_boxes(page.read_bytes(), page.parent)
        if min(wx1, x1 + quiet) > max(wx0, x0 - quiet)
        and min(wy1, y1 + quiet) > max(wy0, y0 - quiet)
    ]


def test_the_sheet_holds_what_a_signer_and_an_organiser_need(
    app, make_initiative, tmp_path, artifacts
):
    initiative = make_initiative()
    organiser = logged_in(app, role="organiser")
    response = organiser.get(f"{URL}?src=qr")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "inline; filename=amiralsgatan-papperslista-a4.pdf"
    )
    pdf = response.data
    assert page_count(pdf, tmp_path) == 1
    with app.app_context():
        day = printing.last_day(campaign.by_slug("amiralsgatan")).date()
    text = pdf_text(pdf, tmp_path)
    for part in (
        "Namninsamling",
        "Tryggare Amiralsgatan",
        "Malmöinitiativ till Tekniska nämnden",
        "Säkra övergångar och en egen cykelbana.",
        f"Sista dag att skriva under: {format_date(day, 'long', locale='sv')}",
        # What the web form's two boxes say, as the signature's meaning on paper.
        "intygar jag att jag är folkbokförd i Malmö",
        "samtycker till att mina uppgifter på listan behandlas för det här initiativet",
        # Who processes the data, the full notice, and where the list goes.
        "Personuppgiftsansvarig är Rosengård Samverkan, kontakt@example.org",
        "http://localhost/privacy",
        # As the public notice says it: no more is handed in than that.
        "får Tekniska nämnden en lista med namn (hela eller förkortade), postnummerområde",
        "allmän handling",
        # Signing online instead: the address to type as well as the code.
        "Vill du hellre skriva under på webben? Skanna QR-koden",
        "http://localhost/i/amiralsgatan",
        "Lista nr",
        "Insamlad av",
        f"Textversion {initiative.text_hash[:12]}",
    ):
        assert part in text, part
    assert "sida" not in text  # one page: no page numbers
    (page,) = page_files(pdf, tmp_path)
    assert header_row(page) == COLUMNS  # and no column for a personal identity number
    numbers = row_numbers(page)
    assert numbers == list(range(1, len(numbers) + 1)) and 14 <= len(numbers) <= 20
    image = rasterise(pdf, tmp_path, dpi=150)
    image.save(artifacts / "paper-sheet.png")
    assert decode(image) == [f"{SIGN_AT}qr"]
    # Black on white: a greyscale office printer loses nothing.
    red, green, blue = image.convert("RGB").split()
    assert ImageChops.difference(red, green).getbbox() is None
    assert ImageChops.difference(green, blue).getbbox() is None


def test_the_code_carries_the_tag_asked_for(app, make_initiative, tmp_path):
    """As for posters: the screen tag by default, another of the initiative's tags on
    request (an organiser who adds ``papper`` sees what the sheets brought online)."""
    make_initiative()
    with app.app_context():
        campaign.add_tag(campaign.by_slug("amiralsgatan"), "papper")
        db.session.commit()
    organiser = logged_in(app, role="organiser")
    plain = organiser.get(URL)
    assert decode(rasterise(plain.data, tmp_path, dpi=150)) == [f"{SIGN_AT}qr"]
    tagged = organiser.get(f"{URL}?src=papper")
    assert tagged.headers["Content-Disposition"].endswith("amiralsgatan-papperslista-a4-papper.pdf")
    assert decode(rasterise(tagged.data, tmp_path, dpi=150)) == [f"{SIGN_AT}papper"]
    assert organiser.get(f"{URL}?src=finns-inte").status_code == 404
    assert organiser.get(f"{URL}?src=två ord").status_code == 400


@pytest.mark.parametrize(
    "organisation", ["Rosengård Samverkan", "Föreningen för ett tryggare Rosengård " * 4]
)
def test_long_texts_wrap_within_the_margins_whole_and_never_overlap(
    app, make_initiative, tmp_path, artifacts, organisation
):
    app.config["ORGANISATION_NAME"] = organisation.strip()
    make_initiative(
        target_body=LONG_BODY, texts={"sv": {"title": LONG_TITLE, "summary": LONG_SUMMARY}}
    )
    pdf = logged_in(app, role="organiser").get(f"{URL}?src=qr").data
    assert page_count(pdf, tmp_path) == 1
    text = pdf_text(pdf, tmp_path)
    # pdftotext joins "gång-" at a line's end to the next line's first word.
    assert LONG_TITLE.replace("- ", "") in text.replace("- ", "")
    assert LONG_SUMMARY in text and f"Malmöinitiativ till {LONG_BODY}" in text
    assert organisation.strip() in text and "…" not in text
    (page,) = page_files(pdf, tmp_path)
    assert words_past_the_margin(page) == []
    assert words_drawn_over_others(page) == []
    assert words_on_top_of_each_other(page) == []
    image = rasterise(pdf, tmp_path, dpi=150)
    image.save(artifacts / "paper-sheet-long.png")
    assert decode(image) == [f"{SIGN_AT}qr"]
    assert words_over_the_code(page, image, 150) == []
    # Every text at its longest at once still leaves room for a few rows.
    assert header_row(page) == COLUMNS and len(row_numbers(page)) >= 8


def test_a_very_long_summary_moves_the_rows_to_a_second_page_that_says_what_it_is(
    app, make_initiative, tmp_path, artifacts
):
    """A summary longer than the admin's form takes (typed in before that limit, or in
    the database): it is printed whole, and the rows get a page of their own, with the
    title and the declaration above them (a page signed on says what was signed)."""
    summary = " ".join(["Vi föreslår säkra övergångar vid varje skola i området."] * 70)
    make_initiative(texts={"sv": {"title": "Tryggare Amiralsgatan", "summary": summary}})
    pdf = logged_in(app, role="organiser").get(f"{URL}?src=qr").data
    assert page_count(pdf, tmp_path) == 2
    assert summary in pdf_text(pdf, tmp_path)
    first, second = page_files(pdf, tmp_path)
    for number, page in enumerate((first, second), start=1):
        text = pdf_text(page.read_bytes(), tmp_path)
        assert text.endswith(f"sida {number} av 2"), text[-40:]
        assert words_past_the_margin(page) == [] and words_on_top_of_each_other(page) == []
    second_text = pdf_text(second.read_bytes(), tmp_path)
    for part in ("Namninsamling", "Tryggare Amiralsgatan", "folkbokförd i Malmö", "Lista nr"):
        assert part in second_text, part
    assert header_row(second) == COLUMNS and header_row(first) == ""
    assert len(row_numbers(second)) >= 14
    rasterise(second.read_bytes(), tmp_path, dpi=100).save(artifacts / "paper-sheet-page-2.png")


def test_only_organisers_get_it_and_only_while_collecting(app, make_initiative):
    make_initiative()
    make_initiative("utkast", state=InitiativeState.DRAFT)
    make_initiative("stangd", state=InitiativeState.CLOSED)
    logged_out = app.test_client().get(URL)
    assert logged_out.status_code == 302 and "/admin/login" in logged_out.headers["Location"]
    organiser = logged_in(app, role="organiser")
    assert organiser.get(URL).status_code == 200
    assert organiser.get(URL.replace("amiralsgatan", "utkast")).status_code == 404
    assert organiser.get(URL.replace("amiralsgatan", "no-such")).status_code == 404
    closed = organiser.get(URL.replace("amiralsgatan", "stangd"))
    assert closed.status_code == 409 and "Insamlingen är avslutad" in closed.get_data(as_text=True)


def test_the_campaign_page_links_a_sheet_for_each_tag_while_collecting(app, make_initiative):
    make_initiative()
    make_initiative("utkast", state=InitiativeState.DRAFT)
    make_initiative("stangd", state=InitiativeState.CLOSED)
    organiser = logged_in(app, role="organiser")
    page = organiser.get("/admin/initiatives/amiralsgatan/campaign").get_data(as_text=True)
    for tag in campaign.tags(campaign_initiative(app)):
        row = page.split(f"<td><code>{tag}</code>", 1)[1].split("</tr>", 1)[0]
        assert f'href="{URL}?src={tag}"' in row, tag
    for slug in ("utkast", "stangd"):
        other = organiser.get(f"/admin/initiatives/{slug}/campaign").get_data(as_text=True)
        assert "paper-sheet.pdf" not in other, slug


def campaign_initiative(app):
    with app.app_context():
        initiative = campaign.by_slug("amiralsgatan")
        db.session.expunge(initiative)
        return initiative
