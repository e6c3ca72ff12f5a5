"""The submission pack: one ZIP a clerk can open, read and check."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from initiatives import clock, pack
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.lifecycle import local_date
from initiatives.models import AuditEvent, Initiative, Signature, SignatureState
from initiatives.pdf import is_rtl, strip_bidi_marks

from .admin_helpers import logged_in, post_form
from .conftest import skip_or_fail
from .print_tools import (
    as_poppler_reads,
    pdf_text,
    word_boxes,
    words_drawn_over_others,
    words_past_the_margin,
)

SWEDISH = "Åsa Öberg"
ARABIC = "أمينة حسن"
SOMALI = "Faadumo Cabdi Maxamed"
# A formula; no web address in it (a name with one is refused: see names.py).
FORMULA = '=HYPERLINK("x";"Klicka")'
SIGNERS = {
    SWEDISH: "asa.oberg@example.org",
    ARABIC: "amina.hassan@example.net",
    SOMALI: "faadumo@example.com",
    FORMULA: "formula@example.org",
}


@pytest.fixture
def poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        skip_or_fail("poppler-utils (pdftotext, pdftoppm) is not installed")


def _confirm_all(app) -> None:
    from initiatives import signature_states

    with app.app_context():
        for signature in db.session.scalars(
            sa.select(Signature).where(Signature.state == SignatureState.PENDING)
        ).all():
            signature_states.confirm(signature)
        db.session.commit()


@pytest.fixture
def campaign(app, make_initiative, sign):
    """Confirmed signers in three scripts, a formula, a pending and a withdrawn one, paper."""
    make_initiative(opens_days_ago=20)
    for name, email in SIGNERS.items():
        sign(name=name, email=email, postcode="212 14")
    _confirm_all(app)
    sign(name="Väntar Fortfarande", email="pending@example.org")
    sign(name="Ångrade Sig", email="withdrawn@example.org")
    from initiatives import signature_states

    with app.app_context():
        box = crypto()
        for s in db.session.scalars(sa.select(Signature)).all():
            if box.decrypt(s.name_enc) == "Ångrade Sig":
                signature_states.confirm(s)
                signature_states.withdraw(s)
        db.session.commit()
    client = logged_in(app, role="organiser", email="nadia@example.org")
    sheet = post_form(
        client,
        "/admin/initiatives/amiralsgatan/paper",
        "/admin/initiatives/amiralsgatan/paper",
        number="7",
        collected_on=clock.utcnow().date().isoformat(),
        collected_by="Hodan",
    ).headers["Location"]
    post_form(client, sheet, sheet, name="Pappers Person", postcode="213 63",
              signed_on=clock.utcnow().date().isoformat())  # fmt: skip
    return client


def _download(client, names="full") -> zipfile.ZipFile:
    page = "/admin/initiatives/amiralsgatan/pack"
    response = post_form(client, page, page, names=names)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/zip"
    assert re.match(
        r"attachment; filename=amiralsgatan-underlag-\d{4}-\d\d-\d\d\.zip",
        response.headers["Content-Disposition"],
    )
    return zipfile.ZipFile(io.BytesIO(response.data))


def _page_texts(pdf: Path) -> list[str]:
    """Each page's text as pdftotext lays it out (``-layout``), without bidi marks."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    return [
        strip_bidi_marks(
            subprocess.run(
                ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )  # fmt: skip
        for page in range(1, pages + 1)
    ]


def _pdf_text(data: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return strip_bidi_marks(out.stdout)


def test_the_pack_holds_what_a_clerk_needs(app, campaign, tmp_path, poppler, artifacts):
    archive = _download(campaign)
    assert sorted(archive.namelist()) == sorted(pack.FILES.values())

    # CSV: UTF-8 with BOM, ';'-separated, only confirmed signatures and the paper row.
    raw = archive.read("underskrifter.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(pack.COLUMNS)
    listed = {r[1] for r in rows[1:]}
    assert {SWEDISH, ARABIC, SOMALI, "Pappers Person"} <= listed
    assert "'" + FORMULA in listed and FORMULA not in listed
    assert "Väntar Fortfarande" not in listed and "Ångrade Sig" not in listed
    assert len(rows) == 1 + 5
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    paper = next(r for r in rows if r[1] == "Pappers Person")
    assert paper[4] == "papper" and paper[5] == "7" and paper[2] == "213"
    assert {r[4] for r in rows[1:]} == {"webb", "papper"}

    # XLSX: the same list; the formula is a plain string cell.
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    sheet = book["Underskrifter"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == list(pack.COLUMNS)
    names = {row[1] for row in values[1:]}
    assert names == listed
    formula_cell = next(c for row in sheet.iter_rows() for c in row if c.value == "'" + FORMULA)
    assert formula_cell.data_type == "s"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    assert "Sammanfattning" in book.sheetnames

    # PDFs: the names in three scripts, the page footer, the cover letter's facts.
    listing = _pdf_text(archive.read("underskrifter.pdf"), tmp_path, "list.pdf")
    for name in (SWEDISH, ARABIC, SOMALI, "Pappers Person"):
        assert name in listing, name
    assert "sida 1 av 1" in listing
    cover = _pdf_text(archive.read("foljebrev.pdf"), tmp_path, "cover.pdf")
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        text_hash = initiative.text_hash
    assert "Tryggare Amiralsgatan" in cover and "Tekniska nämnden" in cover
    assert text_hash in cover.replace("\n", "")
    assert re.search(r"Via webben, bekräftade med e-post\s+4", cover)
    assert re.search(r"På papperslistor \(1 lista\)\s+1", cover)
    assert "Rosengård Samverkan" in cover

    # manifest.json: recompute every hash.
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"] == {
        "confirmed_total": 5, "web": 4, "kiosk": 0, "paper": 1, "paper_sheets": 1,
        "invalidated": 0, "invalidated_never_confirmed": 0, "invalidated_own_entries": 0,
        "invalidated_withdrawn": 0, "invalidated_duplicates": 0, "invalidated_other": 0,
        "anonymised": 0,
    }  # fmt: skip
    assert manifest["generated_by"] == "nadia@example.org"
    assert manifest["initiative"]["text_sha256"] == text_hash
    listed_files = {f["name"] for f in manifest["files"]}
    assert listed_files == set(pack.FILES.values()) - {"manifest.json"}
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
        assert len(archive.read(entry["name"])) == entry["bytes"]
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    assert "Get-FileHash -Algorithm SHA256" in readme and "sha256sum" in readme
    assert manifest["files"][1]["sha256"] in readme

    # No signer's address anywhere: in raw bytes, in the XLSX's XML, in the PDFs' text.
    texts = [archive.read(n) for n in archive.namelist()]
    xlsx = zipfile.ZipFile(io.BytesIO(archive.read("underskrifter.xlsx")))
    texts += [xlsx.read(n) for n in xlsx.namelist()]
    texts += [listing.encode(), cover.encode()]
    for email in [*SIGNERS.values(), "pending@example.org", "withdrawn@example.org"]:
        local = email.split("@")[0] + "@"
        assert not any(local.encode() in blob for blob in texts), email

    # Generating a pack is on the record.
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "pack.generated")
        ).one()
        assert event.actor == "nadia@example.org" and event.details["total"] == 5
        assert (
            event.details["manifest_sha256"]
            == hashlib.sha256(archive.read("manifest.json")).hexdigest()
        )

    # A page for people to look at.
    (artifacts / "pack-list.pdf").write_bytes(archive.read("underskrifter.pdf"))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
         str(artifacts / "pack-list.pdf"), str(artifacts / "pack-list-page-1")],
        check=True,
    )  # fmt: skip
    assert (artifacts / "pack-list-page-1.png").stat().st_size > 10_000


def test_the_readme_says_to_unpack_the_zip_before_checking_the_sums(campaign):
    """Opened with a double click, the ZIP is a folder in Windows' Explorer that
    PowerShell cannot enter: "in the folder with the files" (Get-FileHash) and a Mac's or
    Linux's shasum need the files unpacked first, and the steps did not say so."""
    readme = _download(campaign).read("LÄS MIG.txt").decode("utf-8-sig")
    steps = readme[readme.index("KONTROLLERA ATT INGET HAR ÄNDRATS") :]
    unpack = steps.index("Packa först upp ZIP-filen")
    assert unpack < steps.index("Get-FileHash") and unpack < steps.index("sha256sum")
    assert "Extrahera alla" in steps[unpack : steps.index("Get-FileHash")]
    # Every file at once, and in a list: PowerShell's table cuts a long sum short in a
    # narrow window ("…").
    assert "Get-FileHash -Algorithm SHA256 * | Format-List" in steps
    assert "sha256sum *" in steps


def test_the_pack_page_gives_each_manifests_sum_to_send_apart_from_the_zip(app, campaign):
    """Everything in the ZIP can be changed together, the sums in manifest.json and in
    the letter with the files: only a sum that reaches the clerk another way anchors
    them.  The pack page lists the packs made, newest first, each with its manifest's
    SHA-256, and says to send it apart; the readme tells the clerk to compare it."""
    page = "/admin/initiatives/amiralsgatan/pack"
    assert "Skapade underlag" not in campaign.get(page).get_data(as_text=True)
    sums = []
    for names in ("full", "short"):
        archive = _download(campaign, names)
        sums.append(hashlib.sha256(archive.read("manifest.json")).hexdigest())
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    steps = readme[readme.index("KONTROLLERA ATT INGET HAR ÄNDRATS") :]
    assert "manifest.json" in steps and "skickat separat" in steps
    html = campaign.get(page).get_data(as_text=True)
    made = html[html.index("Skapade underlag") :]
    assert sums[1] in made and sums[0] in made
    assert made.index(sums[1]) < made.index(sums[0])  # newest first
    assert "förkortade" in made[: made.index(sums[1])]
    assert "separat" in made and "nadia@example.org" in made


def test_every_name_starts_under_the_name_heading_a_right_to_left_one_too(
    campaign, tmp_path, poppler
):
    """The list is a Swedish table read down its columns.  An Arabic name set flush right
    in its cell ended next to the postcode ("أمينة حسن 212" read as one value) and away
    from the others: it starts under "Namn" as every name does (its letters still run
    right to left)."""
    boxes = word_boxes(_download(campaign).read("underskrifter.pdf"), tmp_path)
    heading = next(box for box in boxes if box[0] == "Namn")
    area = next(box for box in boxes if box[0].startswith("Postnr"))
    arabic = [box for box in boxes if is_rtl(box[0])]
    assert arabic
    assert abs(min(box[1] for box in arabic) - heading[1]) < 2
    assert area[1] - max(box[3] for box in arabic) > 100  # well clear of the postcode


def test_the_cover_letter_is_set_ragged_right_not_justified(campaign, tmp_path, poppler):
    """A justified line that holds a few words and a 64-letter hash spreads the words a
    centimetre apart ("SHA-256    för    initiativtexten"): the letter is set flush left,
    its word spaces as the font has them, as Swedish plain-language letters are."""
    cover = _download(campaign).read("foljebrev.pdf")
    lines: dict[float, list[tuple[float, float]]] = {}
    for _word, x0, y0, x1, _y1 in word_boxes(cover, tmp_path):
        lines.setdefault(round(y0), []).append((x0, x1))
    gaps = [
        after[0] - before[1]
        for words in lines.values()
        for before, after in zip(sorted(words), sorted(words)[1:], strict=False)
        if after[0] - before[1] < 60  # not the date beside the name, a figure in its column
    ]
    assert len(gaps) > 100
    assert max(gaps) < 5, max(gaps)  # points: a space at 8.5–12 pt is 2–4


def test_shortened_names_for_publication(app, campaign):
    archive = _download(campaign, names="short")
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    names = {r[1] for r in rows[1:]}
    assert {"Åsa Ö.", "أمينة ح.", "Faadumo M.", "Pappers P."} <= names
    assert SWEDISH not in names
    assert json.loads(archive.read("manifest.json"))["names"] == "short"


def test_a_shortened_name_keeps_the_accent_of_its_initial():
    """A name pasted with decomposed letters (S and a combining caron, as some PDFs and
    Macs give them) was shortened to its bare first code point: "Senad Šehović" became
    "Senad S.", another letter; the mark belongs to the initial."""
    assert pack.shorten("Senad S\u030cehovic\u0301") == "Senad S\u030c."
    assert pack.shorten("Lejla C\u0301atic\u0301") == "Lejla C\u0301."
    assert pack.shorten("Amira Hassan") == "Amira H."
    assert pack.shorten("Dženana Đuričić") == "Dženana Đ."


SHORT_NOTE = "Namnen i listan är förkortade för publicering"


def test_a_pack_with_shortened_names_says_so_where_the_clerk_reads_the_list(
    app, campaign, tmp_path, poppler
):
    """The cover letter of a pack with "Amira H." in it said "Den fullständiga listan
    finns bifogad", and neither it, the list's pages nor LÄS MIG.txt said the names were
    shortened (only the workbook's second sheet did): a clerk could take the list for the
    one to check signers against.  A pack with whole names says nothing of it."""
    short = _download(campaign, names="short")
    cover = " ".join(_pdf_text(short.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert SHORT_NOTE in cover and "fullständiga listan" not in cover
    listing = _pdf_text(short.read("underskrifter.pdf"), tmp_path, "l.pdf")
    assert SHORT_NOTE in " ".join(listing.split())
    readme = " ".join(short.read("LÄS MIG.txt").decode("utf-8-sig").split())
    assert SHORT_NOTE in readme

    full = _download(campaign)
    cover = " ".join(_pdf_text(full.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert "Den fullständiga listan finns bifogad" in cover and SHORT_NOTE not in cover
    listing = _pdf_text(full.read("underskrifter.pdf"), tmp_path, "l.pdf")
    assert "förkortade" not in listing
    assert "förkortade" not in full.read("LÄS MIG.txt").decode("utf-8-sig")


def test_long_lists_repeat_the_header_and_number_pages(
    app, make_initiative, tmp_path, poppler, artifacts
):
    initiative = make_initiative(opens_days_ago=30)
    now = clock.utcnow()
    with app.app_context():
        box = crypto()
        names = [SWEDISH, ARABIC, SOMALI, "Zlatan Ibrahimović", "Xalimo Maxamuud Cali"]
        long_name = "Maria " + " ".join(["Lång-Efternamn"] * 12)
        db.session.add_all(
            Signature(
                initiative_id=initiative.id,
                state=SignatureState.CONFIRMED,
                name_enc=box.encrypt(long_name if i == 7 else f"{names[i % 5]} {i}"),
                postcode_area="212",
                confirmed_at=now,
            )
            for i in range(130)
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["export", "amiralsgatan", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "130 confirmed signatures" in result.output
    zips = list((tmp_path / "out").glob("*.zip"))
    archive = zipfile.ZipFile(zips[0])
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(archive.read("underskrifter.pdf"))
    texts = _page_texts(pdf)
    pages = len(texts)
    assert pages >= 3
    for page, text in enumerate(texts, start=1):
        assert "Underskrifter: Tryggare Amiralsgatan" in text
        assert re.search(r"Nr\s+Namn\s+Postnr", text)
        assert f"sida {page} av {pages}" in text
    whole = strip_bidi_marks(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    )
    assert "Lång-Efternamn" in whole and whole.count("Lång-Efternamn") == 12  # wrapped, not cut
    with app.app_context():
        assert (
            db.session.scalars(
                sa.select(AuditEvent.actor).where(AuditEvent.action == "pack.generated")
            )
            .one()
            .startswith("cli:")
        )
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
         str(pdf), str(artifacts / "pack-list-long-page-1")],
        check=True,
    )  # fmt: skip


def test_neutralise_every_formula_start():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert pack.neutralise(start + "1+1").startswith("'")
    assert pack.neutralise("Amira") == "Amira"
    assert pack.neutralise("Ann-Sofie") == "Ann-Sofie"


# Markup XlsxWriter would copy into the sheet's XML as it stands (its rich-text form),
# here closing the name's cell and adding a formula cell of its own.
MARKUP = (
    '<r><t>x</t></r></is></c><c r="G2"><f>1+1</f></c>'
    + '<c r="H2" t="inlineStr"><is><r><t>y</t></r>'
)


def _widths(sheet) -> list[int]:
    """Column widths in Excel's characters (a ``<col>`` element may span columns; the
    file holds a little more than the width asked for: Excel's cell padding)."""
    widths = {}
    for dimension in sheet.column_dimensions.values():
        for column in range(dimension.min, dimension.max + 1):
            widths[column] = int(dimension.width)
    return [widths[c] for c in sorted(widths)]


def test_the_workbook_read_back_by_another_library(tmp_path, monkeypatch):
    """What XlsxWriter wrote, as openpyxl reads it: types, formats, both sheets."""
    rows = [
        pack.Row(1, SWEDISH, "212", "2026-03-01", "web", ""),
        pack.Row(2, FORMULA, "", "2026-03-02", "paper", "7"),
        pack.Row(3, MARKUP, "-1", "2026-03-02", "kiosk", ""),
    ]
    summary = [("Initiativ", "=1+1"), ("Bekräftade underskrifter totalt", 3)]
    # Its temporary files hold names: they belong beside the workbook, never in the
    # system's temporary directory (made unusable here).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "not-here"))
    out = tmp_path / "out"
    out.mkdir()
    pack.write_xlsx(iter(rows), out / "l.xlsx", summary)
    assert [p.name for p in out.iterdir()] == ["l.xlsx"]

    book = load_workbook(out / "l.xlsx")
    assert book.sheetnames == ["Underskrifter", "Sammanfattning"]
    sheet = book["Underskrifter"]
    assert sheet.freeze_panes == "A2"
    assert _widths(sheet) == [8, 42, 18, 12, 12, 14]
    header, *cells = list(sheet.iter_rows())
    assert [c.value for c in header] == list(pack.COLUMNS)
    assert all(c.font.b for c in header)
    assert not any(c.font.b for row in cells for c in row)
    assert [[c.value for c in row] for row in cells] == [
        [1, SWEDISH, "212", datetime(2026, 3, 1), "webb", None],
        [2, "'" + FORMULA, None, datetime(2026, 3, 2), "papper", "7"],
        [3, "'" + MARKUP, "'-1", datetime(2026, 3, 2), "surfplatta", None],
    ]
    assert all(row[0].data_type == "n" for row in cells)
    assert all(row[3].is_date and row[3].number_format == "yyyy-mm-dd" for row in cells)
    # Text stays text: no formula, and an empty value is no cell at all.
    assert all(c.data_type == "s" for row in cells for c in row[1:] if isinstance(c.value, str))
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    assert sheet.max_column == len(pack.COLUMNS)
    raw = zipfile.ZipFile(out / "l.xlsx").read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="C3"' not in raw and '<c r="F2"' not in raw and "<f>" not in raw

    about = book["Sammanfattning"]
    assert [[c.value for c in row] for row in about.iter_rows()] == [
        ["Initiativ", "'=1+1"],
        ["Bekräftade underskrifter totalt", 3],
    ]
    assert about["B2"].data_type == "n"
    assert _widths(about) == [32, 70]


def test_no_pack_for_a_draft_or_an_unknown_slug(app, make_initiative, tmp_path):
    make_initiative(state="draft")
    runner = app.test_cli_runner()
    draft = runner.invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert draft.exit_code != 0 and "utkast" in draft.output
    missing = runner.invoke(args=["export", "nope", "--out", str(tmp_path)])
    assert missing.exit_code != 0


def _stored_names(app, initiative, names: list[str]) -> str:
    """Confirmed signatures with these names exactly as stored (as an older version or a
    paper row may have stored them); the first one's public id."""
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
        return db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)).first()


def _exported(app, tmp_path) -> zipfile.ZipFile:
    """The pack `flask export` writes."""
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(next(tmp_path.glob("*.zip")))


def test_a_name_typed_with_a_tab_or_a_line_break_keeps_its_space(
    app, make_initiative, tmp_path, poppler
):
    """A name pasted from a spreadsheet into the paper form (first and last name in two
    cells) holds a tab; the PDF has no glyph for it and printed "AmiraHassan"."""
    _stored_names(
        app, make_initiative(opens_days_ago=5), ["Amira\tHassan", "Hodan\r\nAli", "أمينة\tحسن"]
    )
    archive = _exported(app, tmp_path)
    listing = " ".join(_pdf_text(archive.read("underskrifter.pdf"), tmp_path, "l.pdf").split())
    assert "Amira Hassan" in listing and "Hodan Ali" in listing and "أمينة حسن" in listing
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    assert [r[1] for r in rows[1:]] == ["Amira Hassan", "Hodan Ali", "أمينة حسن"]
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    assert [r[1].value for r in book["Underskrifter"].iter_rows(min_row=2)] == [
        "Amira Hassan", "Hodan Ali", "أمينة حسن",
    ]  # fmt: skip


def test_a_name_stored_with_direction_controls_is_listed_without_them(
    app, make_initiative, tmp_path
):
    """A name stored before the forms took them out: an override (U+202E) would print it
    backwards in the clerk's PDF and spreadsheet, and the admin's page would show it so."""
    public_id = _stored_names(
        app,
        make_initiative(opens_days_ago=5),
        ["\u202enassaH arimA", "\u2067\u0623\u0645\u064a\u0646\u0629\u200f\u2069 Ali"],
    )
    archive = _exported(app, tmp_path)
    expected = ["nassaH arimA", "\u0623\u0645\u064a\u0646\u0629 Ali"]
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    assert [r[1] for r in rows[1:]] == expected
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    assert [r[1].value for r in book["Underskrifter"].iter_rows(min_row=2)] == expected
    page = logged_in(app).get(f"/admin/initiatives/amiralsgatan/signatures/{public_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "nassaH arimA" in html and "\u202e" not in html


def test_the_list_header_wraps_long_notes_and_titles_within_the_page(
    app, make_initiative, tmp_path, poppler
):
    """A withdrawn initiative whose signers' data retention removed: the header's note
    says both, a long sentence; with a long title too it ran off the page, cut off."""
    title = "Tryggare och tystare " + " ".join(["Amiralsgatan"] * 13)
    initiative = make_initiative(
        state="withdrawn",
        opens_days_ago=40,
        target_body="Tekniska nämnden och stadsbyggnadsnämnden i Malmö stad",
        texts={"sv": {"title": title, "summary": "S.", "body": "B."}},
    )
    with app.app_context():
        db.session.add_all(
            Signature(
                initiative_id=initiative.id,
                state=SignatureState.CONFIRMED,
                name_enc=None,
                anonymised_at=clock.utcnow(),
                confirmed_at=clock.utcnow(),
            )
            for _ in range(3)
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(zipfile.ZipFile(next(tmp_path.glob("*.zip"))).read("underskrifter.pdf"))
    text = " ".join(_pdf_text(pdf.read_bytes(), tmp_path, "l.pdf").split())
    assert "Initiativet har dragits tillbaka." in text
    assert "namnen står som ”(anonymiserad)”, antalen är oförändrade." in text
    assert title in text
    assert "3 bekräftade underskrifter" in text
    assert words_past_the_margin(pdf) == []


# A committee's name as long as the field takes (200 characters).
LONG_BODY = ("Nämnden för trygghet, gator, parker och " * 5).strip()[:200]


@pytest.mark.parametrize("body", ["Tekniska nämnden", LONG_BODY], ids=["short", "long"])
def test_every_page_of_the_cover_letter_says_what_it_is_and_its_number(
    app, make_initiative, tmp_path, poppler, body
):
    """A proposal of a few paragraphs puts the letter's hashes and greeting on a second
    page, and that page had no page number and nothing saying what it belonged to: filed
    or printed apart from page 1, it was a loose sheet of hashes.  A committee's name too
    long for the foot leaves the word "Följebrev" there, never over the page number."""
    paragraph = "Vi föreslår att Tekniska nämnden bygger säkra övergångar vid skolan. " * 12
    texts = {"sv": {"title": "Tryggare Amiralsgatan", "summary": "Säkrare gator.",
                    "body": "\n\n".join([paragraph] * 6)}}  # fmt: skip
    initiative = make_initiative(opens_days_ago=5, texts=texts, target_body=body)
    _stored_names(app, initiative, ["Amira Hassan"])
    with _exported(app, tmp_path) as archive:
        pdf = tmp_path / "cover.pdf"
        pdf.write_bytes(archive.read("foljebrev.pdf"))
    texts = _page_texts(pdf)
    pages = len(texts)
    assert pages >= 2
    for page, text in enumerate(texts, start=1):
        foot = text.strip().splitlines()[-1]
        what = "Följebrev till Tekniska nämnden" if body == "Tekniska nämnden" else "Följebrev"
        assert re.fullmatch(rf"{what}\s+sida {page} av {pages}", foot), (page, foot)
        # The foot below the text, not over it (one page at a time: the helpers read
        # every word of a file as if on one page).
        alone = tmp_path / f"cover-{page}.pdf"
        subprocess.run(["pdfseparate", "-f", str(page), "-l", str(page), str(pdf), str(alone)],
                       check=True)  # fmt: skip
        assert words_past_the_margin(alone) == [], page
        assert words_drawn_over_others(alone) == [], page


def test_export_to_a_folder_that_cannot_be_made_says_so(app, make_initiative, tmp_path):
    """``--out`` under a file (or where the operator may not write): a one-line error, not
    a traceback, and no pack on the record."""
    make_initiative()
    blocker = tmp_path / "packs"
    blocker.write_text("not a folder")
    result = app.test_cli_runner().invoke(
        args=["export", "amiralsgatan", "--out", str(blocker / "2026")]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Error:" in result.output and str(blocker / "2026") in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0


@pytest.fixture
def server_in_utc(monkeypatch):
    """The process's local time zone is UTC, as on the server."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_files_in_the_zip_are_dated_when_the_pack_says_it_was_made(
    app, make_initiative, tmp_path, server_in_utc
):
    """A ZIP's dates have no time zone: unpacking programs take them as local time.  They
    were the server's (UTC), so in Malmö the unpacked files were dated an hour or two
    before the "Skapad" of the letter, the list and LÄS MIG.txt."""
    _stored_names(app, make_initiative(opens_days_ago=5), ["Amira Hassan"])
    with _exported(app, tmp_path) as archive:
        made = datetime.fromisoformat(json.loads(archive.read("manifest.json"))["generated_at"])
        stamps = {entry.date_time[:5] for entry in archive.infolist()}
        readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    local = made.astimezone(clock.LOCAL_TZ)
    assert stamps == {(local.year, local.month, local.day, local.hour, local.minute)}
    assert f"Skapad: {local:%Y-%m-%d %H:%M}" in readme


def test_a_withdrawn_initiatives_period_ends_when_it_was_withdrawn(app, make_initiative, tmp_path):
    """Withdrawn while collecting, it took no signature after that day: the pack's period
    ended then, not on the planned last day months after the pack was made."""
    now = clock.utcnow()
    withdrawn = now - timedelta(days=3)
    make_initiative(state="withdrawn", opens_days_ago=20, closes_in_days=90, withdrawn_at=withdrawn)
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(next(tmp_path.glob("*.zip")))
    period = json.loads(archive.read("manifest.json"))["initiative"]["collection_period"]
    assert period["to"] == local_date(withdrawn).isoformat()
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    assert f"– {local_date(withdrawn).isoformat()}" in readme


def test_a_long_sheet_number_is_printed_whole(app, make_initiative, tmp_path, poppler):
    """Sheets are numbered as the organisers wrote them ("Möllevångstorget-2026-03-14-B",
    up to 32 characters): the clerk finds the original by it.  It ran past the page's
    edge and was cut off."""
    from initiatives.paper import PaperRow, PaperSheet

    number = "Möllevångstorget-2026-03-14-B"
    initiative = make_initiative(opens_days_ago=5)
    with app.app_context():
        sheet = PaperSheet(
            initiative_id=initiative.id, number=number, collected_on=clock.utcnow().date(),
            collected_by="Hodan", created_by="nadia@example.org",
        )  # fmt: skip
        signature = Signature(
            initiative_id=initiative.id, state=SignatureState.CONFIRMED, channel="paper",
            name_enc=crypto().encrypt("Hodan Ali"), confirmed_at=clock.utcnow(),
        )  # fmt: skip
        db.session.add_all([sheet, signature])
        db.session.flush()
        db.session.add(PaperRow(signature_id=signature.id, sheet_id=sheet.id, line=1))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(zipfile.ZipFile(next(tmp_path.glob("*.zip"))).read("underskrifter.pdf"))
    assert words_past_the_margin(pdf) == []
    # The "Lista" column alone (its last 20 mm, above the footer), read top to bottom.
    column = subprocess.run(
        ["pdftotext", "-r", "72", "-x", str(round(175 * 72 / 25.4)), "-y", "0",
         "-W", str(round(20 * 72 / 25.4)), "-H", "780", str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "".join(column.split()) == "Lista" + number


def test_a_signature_confirmed_after_the_period_is_dated_the_day_it_was_made(
    app, make_initiative, tmp_path
):
    """Made on the period's last day, its link clicked two days later (links still confirm
    until the hand-in): the list dated it after the period, as if signed too late."""
    now = clock.utcnow()
    initiative = make_initiative(state="closed", opens_days_ago=20, closes_in_days=-2)
    made = now - timedelta(days=2, hours=1)
    with app.app_context():
        box = crypto()
        db.session.add_all(
            [
                Signature(
                    initiative_id=initiative.id, state=SignatureState.CONFIRMED,
                    name_enc=box.encrypt("Sen Bekräftare"), created_at=made, confirmed_at=now,
                ),
                Signature(
                    initiative_id=initiative.id, state=SignatureState.CONFIRMED,
                    name_enc=box.encrypt("Tidig Person"), created_at=now - timedelta(days=9),
                    confirmed_at=now - timedelta(days=9),
                ),
            ]
        )  # fmt: skip
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(next(tmp_path.glob("*.zip")))
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    period = json.loads(archive.read("manifest.json"))["initiative"]["collection_period"]
    assert [(r[1], r[3]) for r in rows[1:]] == [
        ("Tidig Person", local_date(now - timedelta(days=9)).isoformat()),
        ("Sen Bekräftare", local_date(made).isoformat()),
    ]
    assert all(period["from"] <= r[3] <= period["to"] for r in rows[1:])
    assert "Datum är dagen då underskriften gjordes" in archive.read("LÄS MIG.txt").decode(
        "utf-8-sig"
    )


def test_the_invalidated_count_says_what_never_counted_and_what_was_mistyped(
    app, make_initiative, tmp_path, poppler
):
    """Three invalidated: a bot's row never confirmed, a confirmed duplicate, a paper row
    typed wrong.  The total stays 3 (as the dashboard says); the clerk reads which never
    counted and which were the organisers' own mistyping, not rejected signatures."""
    from initiatives import moderation, paper
    from tests.privacy_support import Spec, add_signatures

    make_initiative(opens_days_ago=20)
    people = add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("amira@example.org", "Amira Hassan"),
            Spec("bilal@example.org", "Bilal Said"),
            Spec("bot@example.org", "Bot Bot", state=SignatureState.PENDING),
        ],
    )
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        today = clock.utcnow().date()
        sheet = paper.add_sheet(
            initiative, "test", number="1", collected_on=today, collected_by="Hodan"
        )
        row, _matches = paper.add_row(
            sheet, "test", name="Cecilia Öbreg", postcode="214 32", signed_on=today
        )
        paper.add_row(sheet, "test", name="Cecilia Öberg", postcode="214 32", signed_on=today)
        for signature_id, reason in (
            (people[2], "abuse"),
            (people[1], "duplicate"),
            (row.signature_id, "entry_error"),
        ):
            moderation.invalidate(db.session.get(Signature, signature_id), "test", reason=reason,
                                  note="")  # fmt: skip
        db.session.commit()
        result = pack.build(
            initiative, tmp_path / "out", generated_by="test", organisation="N", contact="a@b.se"
        )
        db.session.commit()
    archive = zipfile.ZipFile(result.path)
    counts = json.loads(archive.read("manifest.json"))["counts"]
    assert counts["invalidated"] == 3 and counts["confirmed_total"] == 2
    # The manifest carries the same breakdown the clerk reads below, from the same counts.
    assert counts["invalidated_never_confirmed"] == 1
    assert counts["invalidated_own_entries"] == 1

    cover = " ".join(_pdf_text(archive.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert "ogiltigförklarat 3 underskrifter" in cover
    assert "Av dem hade 1 aldrig bekräftats och räknades aldrig" in cover
    assert "1 är en rad som organisatörerna skrev in fel eller för att prova" in cover
    assert "och 1 är en dubblett (samma person hade redan skrivit under)" in cover
    summary = dict(load_workbook(archive.open("underskrifter.xlsx"))["Sammanfattning"].values)
    assert summary["  varav aldrig bekräftade (räknades aldrig)"] == 1
    assert summary["  varav felinmatade rader och testrader"] == 1
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    assert (
        "inte med i listan: 3 (varav aldrig bekräftade: 1, felinmatade rader och testrader: 1, "
        "återkallade av underskrivaren: 0, dubbletter: 1, andra skäl: 0)" in readme
    )


def test_a_signature_its_signer_withdrew_while_held_is_said_to_be_withdrawn(
    app, make_initiative, tmp_path, poppler
):
    """Two confirmed signatures invalidated as one person's; then one signer withdraws
    theirs with the link in their mail.  It stays among the invalidated (the review's
    decision came first, the dashboard counts it so, and a withdrawal must not make a
    caught duplicate vanish from the clerk's figures), but the clerk reads that its
    signer withdrew it, as a restore would make it: withdrawn, never counted."""
    from initiatives import abuse, signature_states
    from tests.privacy_support import Spec, add_signatures

    make_initiative(opens_days_ago=20)
    kept, held, withdrawn = add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("amira@example.org", "Amira Hassan"),
            Spec("bilal@example.org", "Bilal Said"),
            Spec("bilal.s@example.org", "Bilal Said"),
        ],
    )
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        selection = abuse.Selection(initiative.id, signature_ids=[held, withdrawn])
        abuse.invalidate(selection, reason=abuse.Reason.DUPLICATE_PERSON, actor="test")
        db.session.commit()
        signature = db.session.get(Signature, withdrawn)
        assert signature_states.withdraw(signature) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
        assert signature.state == SignatureState.INVALIDATED and signature.withdrawn_at
        result = pack.build(
            initiative, tmp_path / "out", generated_by="test", organisation="N", contact="a@b.se"
        )
        db.session.commit()
    archive = zipfile.ZipFile(result.path)
    counts = json.loads(archive.read("manifest.json"))["counts"]
    assert counts["confirmed_total"] == 1 and counts["invalidated"] == 2
    assert counts["invalidated_withdrawn"] == 1
    assert counts["invalidated_never_confirmed"] == 0

    cover = " ".join(_pdf_text(archive.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert "ogiltigförklarat 2 underskrifter" in cover
    assert "Av dem har 1 sedan återkallats av underskrivaren själv" in cover
    summary = dict(load_workbook(archive.open("underskrifter.xlsx"))["Sammanfattning"].values)
    assert summary["  varav återkallade av underskrivaren efter granskningen"] == 1
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    # The other of the two is still a caught duplicate: the parts add up to the 2.
    assert "återkallade av underskrivaren: 1, dubbletter: 1, andra skäl: 0)" in readme


def test_the_invalidated_breakdown_adds_up_to_the_total_in_every_file(
    app, make_initiative, tmp_path, poppler
):
    """One signature invalidated for every reason an organiser can give (one at a time or
    in the abuse review), one never confirmed, one withdrawn by its signer while held, and
    a paper row taken out as a duplicate (as the paper review does).  The clerk must be able
    to trust the numbers: in the manifest, the summary sheet, LÄS MIG.txt and the cover
    letter the parts of the invalidated add up to the total, and duplicates are named."""
    from initiatives import abuse, moderation, paper, paper_review, signature_states
    from tests.privacy_support import Spec, add_signatures

    make_initiative(opens_days_ago=20)
    single = sorted(moderation.REASONS)
    review = [reason.value for reason in abuse.Reason]
    specs = [Spec(f"single-{r}@example.org", f"Ett {r}") for r in single]
    specs += [Spec(f"review-{r}@example.org", f"Två {r}") for r in review]
    specs += [
        Spec("never@example.org", "Aldrig Bekräftad", state=SignatureState.PENDING),
        Spec("held@example.org", "Återkallar Sedan"),
        Spec("kept@example.org", "Räknas Fortfarande"),
    ]
    ids = add_signatures(app, "amiralsgatan", specs)
    by_single = dict(zip(single, ids, strict=False))
    by_review = dict(zip(review, ids[len(single) :], strict=False))
    never, held = ids[len(single) + len(review) :][:2]
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        for reason, signature_id in by_single.items():
            moderation.invalidate(db.session.get(Signature, signature_id), "test",
                                  reason=reason, note="")  # fmt: skip
        for reason, signature_id in by_review.items():
            selection = abuse.Selection(initiative.id, signature_ids=[signature_id])
            abuse.invalidate(selection, reason=reason, actor="test")
        moderation.invalidate(db.session.get(Signature, never), "test", reason="abuse", note="")
        moderation.invalidate(db.session.get(Signature, held), "test", reason="other", note="")
        today = clock.utcnow().date()
        sheet = paper.add_sheet(
            initiative, "test", number="1", collected_on=today, collected_by="Hodan"
        )
        paper.add_row(sheet, "test", name="Ruth Pappersson", postcode="214 32", signed_on=today)
        row, _matches = paper.add_row(
            sheet, "test", name="Ruth Pappersson", postcode="214 32", signed_on=today
        )
        db.session.commit()
        seen = paper_review.review_version(row, paper_review.review_matches(row))
        paper_review.resolve_duplicate(row, "test", "", seen=seen)
        db.session.commit()
        signature_states.withdraw(db.session.get(Signature, held))
        db.session.commit()
        total = len(single) + len(review) + 3
        result = pack.build(
            initiative, tmp_path / "out", generated_by="test", organisation="N", contact="a@b.se"
        )
        db.session.commit()
    archive = zipfile.ZipFile(result.path)

    counts = json.loads(archive.read("manifest.json"))["counts"]
    assert counts["invalidated"] == total
    parts = {key: value for key, value in counts.items() if key.startswith("invalidated_")}
    assert sum(parts.values()) == total
    # The paper duplicate, the single duplicate and the review's duplicate_person.
    assert parts["invalidated_duplicates"] == 3
    assert parts["invalidated_never_confirmed"] == 1
    assert parts["invalidated_own_entries"] == 2  # entry_error, test
    assert parts["invalidated_withdrawn"] == 1

    summary = list(load_workbook(archive.open("underskrifter.xlsx"))["Sammanfattning"].values)
    labels = [label for label, _value in summary]
    start = labels.index("Ogiltigförklarade efter granskning (finns inte i listan)")
    assert summary[start][1] == total
    lines = [value for label, value in summary[start + 1 :] if label.startswith("  varav")]
    assert len(lines) == len(parts) and sum(lines) == total
    assert dict(summary)["  varav dubbletter (samma person hade redan skrivit under)"] == 3

    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    said = re.search(r"inte med i listan: (\d+) \(varav ([^)]*)\)", readme)
    assert said and int(said[1]) == total
    assert "dubbletter: 3" in said[2]
    assert sum(int(n) for n in re.findall(r"\d+", said[2])) == total

    cover = " ".join(_pdf_text(archive.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert f"ogiltigförklarat {total} underskrifter" in cover
    sentence = re.search(r"Av dem ([^.]*)\.", cover)
    assert sentence and "3 är dubbletter" in sentence[1]
    assert sum(int(n) for n in re.findall(r"\d+", sentence[1])) == total


def test_sheet_numbers_excel_takes_for_dates_stay_text_and_the_clerk_is_told_to_use_the_xlsx(
    app, make_initiative, tmp_path
):
    """Paper sheets numbered "1-3", "3/4" and "2026-11": Excel opening the CSV turns them
    into dates (1 mars, 3 april, nov-26), and the clerk could not find the sheets.  The
    CSV keeps them as written (an apostrophe or a formula would change them for every
    other program, and a formula is what the export refuses to write); the workbook holds
    them as text, and the cover letter and LÄS MIG.txt say to open the list in Excel from
    the XLSX and use the CSV for other programs."""
    from initiatives import paper

    make_initiative(opens_days_ago=20)
    numbers = ["1-3", "3/4", "2026-11"]
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        today = clock.utcnow().date()
        for number, name in zip(numbers, ["Amira Hassan", "Hodan Ali", "Bilal Said"], strict=True):
            sheet = paper.add_sheet(
                initiative, "test", number=number, collected_on=today, collected_by="Hodan"
            )
            paper.add_row(sheet, "test", name=name, postcode="214 32", signed_on=today)
        db.session.commit()
    archive = _exported(app, tmp_path)
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    assert sorted(r[5] for r in rows[1:]) == sorted(numbers)
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    cells = [row[5] for row in book["Underskrifter"].iter_rows(min_row=2)]
    assert sorted(c.value for c in cells) == sorted(numbers)
    assert {c.data_type for c in cells} == {"s"}
    area = [row[2] for row in book["Underskrifter"].iter_rows(min_row=2)]
    assert {(c.value, c.data_type) for c in area} == {("214", "s")}

    readme = " ".join(archive.read("LÄS MIG.txt").decode("utf-8-sig").split())
    assert (
        "Öppna listan i Excel från underskrifter.xlsx, inte från CSV-filen: Excel gör om "
        "vissa värden i en CSV-fil till datum, till exempel listnumret 1-3 eller 3/4." in readme
    )
    cover = " ".join(_pdf_text(archive.read("foljebrev.pdf"), tmp_path, "c.pdf").split())
    assert "Öppna listan i Excel från kalkylbladet (XLSX)" in cover


# A neighbourhood network's full name, of 150 characters; the clerk knows it by that name.
LONG_ORGANISATIONS = {
    "sv": (
        "Föreningen Rosengårds grannskapsnätverk för trygghet, kultur, idrott och gemenskap "
        "bland barn, unga, vuxna och äldre i stadsdelarna Rosengård och Fosie"
    ),
    "ar": (
        "شبكة الجيران في روزنغورد من أجل الأمان والثقافة والرياضة والمجتمع بين الأطفال "
        "والشباب والكبار وكبار السن في أحياء روزنغورد وفوسيه بمدينة مالمو السويدية"
    ),
}


@pytest.mark.parametrize("locale", list(LONG_ORGANISATIONS))
def test_a_long_organisation_name_is_printed_whole_in_the_pack(
    app, make_initiative, tmp_path, poppler, locale
):
    """The cover letter's letterhead and the list's footer gave the name one line of
    120 mm: a long name ran over the date and the page number and off the page."""
    name = LONG_ORGANISATIONS[locale]
    app.config["ORGANISATION_NAME"] = name
    _stored_names(app, make_initiative(opens_days_ago=5), ["Amira Hassan", "Hodan Ali"])
    with _exported(app, tmp_path) as archive:
        files = {f: archive.read(f) for f in ("foljebrev.pdf", "underskrifter.pdf")}
    for file, data in files.items():
        pdf = tmp_path / file
        pdf.write_bytes(data)
        assert words_past_the_margin(pdf) == [], file
        assert words_drawn_over_others(pdf) == [], file
        # The name's letters in their order (poppler reads right-to-left lines back in
        # pieces), on the letterhead and under the greeting, and on the list's one page.
        # Left out what poppler reads into the name's lines: the date beside it on the
        # letterhead, "· skapad" with the date and time after it in the list's foot.
        letters = "".join(pdf_text(data, tmp_path).split())
        letters = re.sub(r"\d{4}-\d\d-\d\d|\d\d:\d\d|skapad|·", "", letters)
        whole = "".join(as_poppler_reads(name).split())
        assert letters.count(whole) == (2 if file == "foljebrev.pdf" else 1), file


# Too long for the foot's line at its size, short enough for it at a smaller one.
SEVENTY = "Rosengårds grannskapsnätverk för trygghet, kultur och gemenskap i Malmö"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "name", [SEVENTY, " ".join([LONG_ORGANISATIONS["sv"]] * 3)], ids=["one-line", "cut"]
)
def test_the_lists_foot_holds_a_name_of_any_length(app, make_initiative, tmp_path, poppler, name):
    """Smaller on one line, or on two lines at the smallest size; only beyond them cut
    with an ellipsis, the date still after it.  Never over the page number or off the
    page."""
    app.config["ORGANISATION_NAME"] = name
    _stored_names(app, make_initiative(opens_days_ago=5), ["Amira Hassan"])
    with _exported(app, tmp_path) as archive:
        data = archive.read("underskrifter.pdf")
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(data)
    assert words_past_the_margin(pdf) == []
    assert words_drawn_over_others(pdf) == []
    text = pdf_text(data, tmp_path)
    assert "sida 1 av 1" in text
    if name == SEVENTY:
        assert re.search(rf"{SEVENTY} · skapad \d{{4}}-\d\d-\d\d \d\d:\d\d", text)
    else:
        assert f"{LONG_ORGANISATIONS['sv']} Föreningen" in text
        assert re.search(r"\w… · skapad \d{4}-\d\d-\d\d \d\d:\d\d", text)
