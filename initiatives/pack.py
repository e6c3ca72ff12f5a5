"""The submission pack for the committee's clerk: one ZIP a clerk can open and check.

Contents: a cover letter (PDF), the signature list as PDF, XLSX and CSV, ``manifest.json``
with the SHA-256 of every file, and ``LÄS MIG.txt`` saying how to check them.  Only
confirmed signatures are listed (paper rows included, as their own channel); no email
address is ever read for it.  The list is read from the database in one statement (one
consistent snapshot), written once to a temporary file, and every format is made from
that file: constant memory, and the three lists cannot disagree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO, Any, NamedTuple

import sqlalchemy as sa
import xlsxwriter

from . import audit, clock
from .crypto import crypto
from .extensions import db
from .lifecycle import TransitionError, local_date, require_names_or_consent
from .models import Channel, Initiative, InitiativeState, Signature, SignatureState
from .names import without_invisible
from .paper import PaperRow, PaperSheet

FORMAT = "initiatives-pack/1"
# The name of a listed signer whose personal data has been anonymised (see retention).
ANONYMISED = "(anonymiserad)"
COLUMNS = ("Nr", "Namn", "Postnummerområde", "Datum", "Kanal", "Papperslista")
CHANNEL_LABELS = {Channel.WEB: "webb", Channel.KIOSK: "surfplatta", Channel.PAPER: "papper"}
NAMES = ("full", "short")
FILES = {
    "cover": "foljebrev.pdf",
    "list_pdf": "underskrifter.pdf",
    "xlsx": "underskrifter.xlsx",
    "csv": "underskrifter.csv",
    "readme": "LÄS MIG.txt",
    "manifest": "manifest.json",
}
# Invalidation reasons that say a row was never a signer's at all: a paper row the
# organisers typed wrong (moderation's "entry_error"), or their own test entry (abuse
# review's "test").  The pack says how many of the invalidated are such rows.
OWN_ENTRY_REASONS = ("entry_error", "test")
# Reasons that say the person had signed already: a single signature or a paper row taken
# out as a duplicate (moderation's and the paper review's "duplicate"), or one person's
# several addresses (abuse review's "duplicate_person").  Every other reason (automated,
# not resident, false name, other, ...) is counted as "other", so the parts always add up.
DUPLICATE_REASONS = ("duplicate", "duplicate_person")
# Characters that make a spreadsheet treat a cell as a formula (or, after the leading
# whitespace Excel strips, as one).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Make a text cell inert in Excel, LibreOffice and Google Sheets.

    A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before
    one) is run as a formula, so a signer named ``=HYPERLINK("http://x")`` would put a
    live link, or worse, on the clerk's screen.  Quoting the CSV field is not enough:
    quotes only delimit the field and are gone by the time the spreadsheet decides what
    the cell is.  A leading apostrophe is the spreadsheet's own "this is text" mark.
    """
    return "'" + value if value.startswith(FORMULA_START) else value


def shorten(name: str) -> str:
    """``Amira Hassan`` → ``Amira H.``: first name and the initial of the last name.

    The initial is its first letter with the marks that follow it: a name pasted with
    decomposed letters (S and a combining caron) keeps ``Š``, not ``S``.
    """
    parts = name.split()
    if len(parts) < 2:
        return name.strip()
    last = parts[-1]
    end = 1
    while end < len(last) and unicodedata.combining(last[end]):
        end += 1
    return f"{parts[0]} {last[:end]}."


class Row(NamedTuple):
    """One line of the list (a named tuple: the lists are written row by row, fast)."""

    number: int
    name: str
    area: str
    day: str  # ISO date it was signed, Malmö time
    channel: str
    sheet: str

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


@dataclass
class Snapshot:
    """The list as read once, in a temporary CSV file of our own, and its counts."""

    path: Path
    counts: Counter[str] = field(default_factory=Counter)
    sheets: int = 0
    # Listed rows whose personal data retention has removed (named ANONYMISED).
    anonymised: int = 0
    # Signatures the organisers invalidated after review: not listed, but said so.
    invalidated: int = 0
    # Of those, each in exactly one part, so the parts add up to ``invalidated``: never
    # confirmed (they never counted), and, of the rest, rows the organisers themselves
    # typed wrong or entered to try things out, signatures their signers withdrew while
    # they were held, duplicates, and those taken out for any other reason.
    invalidated_unconfirmed: int = 0
    invalidated_own: int = 0
    invalidated_withdrawn: int = 0
    invalidated_duplicates: int = 0
    invalidated_other: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rows(self) -> Iterator[Row]:
        with self.path.open("r", encoding="utf-8", newline="") as handle:
            for number, name, area, day, channel, sheet in csv.reader(handle):
                yield Row(int(number), name, area, day, channel, sheet)


def snapshot(initiative: Initiative, path: Path, *, names: str = "full") -> Snapshot:
    """Read every confirmed signature once (streamed) into ``path``; decrypt names only."""
    if names not in NAMES:
        raise ValueError(f"names must be one of {NAMES}")
    # The day it was signed: online, when it was made (its link may be clicked after the
    # period ended, until the hand-in); on paper, the day written on the sheet (its
    # ``confirmed_at``; it was typed in later).  One that reached us after the collection
    # ended was taken by a tablet before the end (its queue sent it late, and only with
    # a checked signing time: ``kiosk_signatures.signed_in_time``): that time.
    made: sa.ColumnElement[datetime] = Signature.created_at
    end = initiative.collection_ends_at
    if end is not None:
        made = sa.case(
            (
                sa.and_(Signature.created_at >= end, Signature.device_signed_at.is_not(None)),
                Signature.device_signed_at,
            ),
            else_=Signature.created_at,
        )
    signed = sa.case(
        (Signature.channel == Channel.PAPER, Signature.confirmed_at),
        else_=made,
    )
    query = (
        sa.select(
            Signature.name_enc,
            Signature.postcode_area,
            signed,
            Signature.channel,
            PaperSheet.number,
        )
        .outerjoin(PaperRow, PaperRow.signature_id == Signature.id)
        .outerjoin(PaperSheet, PaperSheet.id == PaperRow.sheet_id)
        .where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.CONFIRMED,
        )
        .order_by(signed, Signature.id)
        .execution_options(yield_per=2000)
    )
    box = crypto()
    result = Snapshot(path)
    sheets: set[str] = set()
    today = local_date(clock.utcnow()).isoformat()
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for number, (name_enc, area, signed_at, channel, sheet) in enumerate(
            db.session.execute(query), start=1
        ):
            if name_enc is None:
                name = ANONYMISED
                result.anonymised += 1
            else:
                # One space between words: a tab or line break pasted into a name has no
                # glyph in the PDF (the words ran together) and splits a spreadsheet row.
                # Direction controls out: one stored before the forms removed them would
                # still lay the name out backwards (see names.INVISIBLE).
                name = " ".join(without_invisible(box.decrypt(name_enc) or "").split())
                if names == "short":
                    name = shorten(name)
            day = _local_day(_hour(signed_at)) if signed_at else today
            writer.writerow((number, name, area or "", day, channel, sheet or ""))
            result.counts[channel] += 1
            if sheet:
                sheets.add(sheet)
    result.sheets = len(sheets)
    # Each invalidated signature in one part, the first that fits: one never confirmed
    # is already said never to have counted; a row of the organisers' own is theirs.
    # Withdrawn by its signer while held (signature_states.mark_withdrawn_while_held): the
    # state stays invalidated, so the address stays taken and the review's figures hold, but
    # the signer has the last word (a restore makes it withdrawn).  What is left is a
    # duplicate or was taken out for another reason; ``else_`` makes the parts exhaustive.
    part = sa.case(
        (Signature.confirmed_at.is_(None), "unconfirmed"),
        (Signature.invalidation_reason.in_(OWN_ENTRY_REASONS), "own"),
        (Signature.withdrawn_at.is_not(None), "withdrawn"),
        (Signature.invalidation_reason.in_(DUPLICATE_REASONS), "duplicates"),
        else_="other",
    ).label("part")
    parts = dict(
        db.session.execute(
            sa.select(part, sa.func.count(Signature.id))
            .where(
                Signature.initiative_id == initiative.id,
                Signature.state == SignatureState.INVALIDATED,
            )
            .group_by(part)
        ).all()
    )
    result.invalidated = sum(parts.values())
    result.invalidated_unconfirmed = parts.get("unconfirmed", 0)
    result.invalidated_own = parts.get("own", 0)
    result.invalidated_withdrawn = parts.get("withdrawn", 0)
    result.invalidated_duplicates = parts.get("duplicates", 0)
    result.invalidated_other = parts.get("other", 0)
    return result


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@lru_cache(maxsize=4096)
def _local_day(hour: datetime) -> str:
    """The Malmö calendar day of an hour (time zones change only on the hour)."""
    return local_date(hour).isoformat()


# --- spreadsheets --------------------------------------------------------------------------


def write_csv(rows: Iterator[Row], handle: IO[bytes]) -> None:
    """UTF-8 with BOM and ``;``: å ä ö and the columns come out right in Swedish Excel.

    Values stay as written, for the programs that import the list.  Excel still reads
    some of them as dates when it opens a CSV file ("1-3", "3/4", "2026-11" in a sheet
    number); no mark in the file stops it without changing the value for every other
    program (an apostrophe stays in the text, ``="1-3"`` is a formula, which ``neutralise``
    exists to keep out).  So the cover letter and LÄS MIG.txt send Excel users to the
    XLSX, where every such value is a text cell.
    """
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="", write_through=False)
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            (
                row.number,
                neutralise(row.name),
                neutralise(row.area),
                row.day,
                row.channel_label,
                neutralise(row.sheet),
            )
        )
    text.flush()
    text.detach()


def xlsx_text(value: str) -> str:
    """``neutralise`` for the workbook, and never XlsxWriter's rich-text markup.

    XlsxWriter takes a string that starts with ``<r>`` and ends with ``</r>`` for rich
    text of its own and writes it into the sheet's XML unescaped, so a signer named
    ``<r>…</r>`` could put any markup, a formula cell included, into the clerk's workbook
    (or just break it).  No name or place starts with ``<r>``: such a value gets the
    apostrophe a formula gets.
    """
    value = neutralise(value)
    return "'" + value if value.startswith("<r>") else value


def write_xlsx(rows: Iterator[Row], path: Path, summary: list[tuple[str, Any]]) -> None:
    """The list as a workbook, streamed (XlsxWriter's constant-memory mode).

    Each row goes to a temporary file as it is written, not into memory; that file holds
    names, so it is made next to ``path`` (the pack's own temporary directory) rather than
    in the system's.  Text stays text twice over: XlsxWriter's conversions of strings to
    formulas, links and numbers are off, and every value goes in through ``xlsx_text``
    (``neutralise`` included).  Dates are real dates, so Excel sorts and filters them.
    """
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "tmpdir": str(path.parent),
    }
    with xlsxwriter.Workbook(str(path), options) as book:
        bold = book.add_format({"bold": True})
        dated = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet = book.add_worksheet("Underskrifter")
        sheet.freeze_panes(1, 0)
        for column, width in enumerate((8, 42, 18, 12, 12, 14)):
            sheet.set_column(column, column, width)
        for column, title in enumerate(COLUMNS):
            sheet.write_string(0, column, title, bold)
        number, text, day = sheet.write_number, sheet.write_string, sheet.write_datetime
        to_date = date.fromisoformat
        for line, row in enumerate(rows, start=1):
            # Past Excel's last row (1,048,576) XlsxWriter drops cells without a word and
            # returns -1: refuse to hand over a list that silently lacks signatures.
            if number(line, 0, row.number) == -1:
                raise ValueError(f"a worksheet holds at most {line - 1:,} signatures")
            text(line, 1, xlsx_text(row.name))
            # An empty value is no cell at all rather than an empty string cell.  Most
            # rows have no paper sheet.
            if row.area:
                text(line, 2, xlsx_text(row.area))
            day(line, 3, to_date(row.day), dated)
            text(line, 4, row.channel_label)
            if row.sheet:
                text(line, 5, xlsx_text(row.sheet))
        about = book.add_worksheet("Sammanfattning")
        about.set_column(0, 0, 32)
        about.set_column(1, 1, 70)
        for line, (key, value) in enumerate(summary):
            about.write_string(line, 0, key)
            if isinstance(value, str):
                about.write_string(line, 1, xlsx_text(value))
            else:
                about.write(line, 1, value)


# --- the pack ------------------------------------------------------------------------------


@dataclass
class PackResult:
    path: Path
    counts: dict[str, int]
    total: int
    files: list[dict[str, Any]]
    manifest_sha256: str
    # Listed signers whose names retention removed (they stand as ANONYMISED).
    anonymised: int = 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _add(archive: zipfile.ZipFile, path: Path, name: str, made: datetime) -> None:
    """Put ``path`` in the ZIP (streamed) dated ``made`` on Malmö's clock.

    A ZIP's dates have no time zone and unpacking programs read them as local time; the
    file's own date would be the server's clock (UTC), an hour or two before the
    "Skapad" the letter and the list print.
    """
    entry = zipfile.ZipInfo.from_file(path, name)
    entry.date_time = made.astimezone(clock.LOCAL_TZ).timetuple()[:6]
    entry.compress_type = zipfile.ZIP_DEFLATED
    with path.open("rb") as source, archive.open(entry, "w") as target:
        shutil.copyfileobj(source, target, 1 << 16)


def filename(initiative: Initiative, now: datetime | None = None) -> str:
    day = local_date(now or clock.utcnow())
    return f"{initiative.slug}-underlag-{day.isoformat()}.zip"


def build(
    initiative: Initiative,
    out_dir: Path,
    *,
    names: str = "full",
    generated_by: str,
    organisation: str,
    contact: str,
    without_names: bool = False,
) -> PackResult:
    """Write the pack as a ZIP in ``out_dir`` and record it in the audit log.

    A list not yet handed in whose names retention removed is packed only
    ``without_names`` (the organiser confirmed the committee gets counts only for those);
    otherwise ``lifecycle.NamesGone`` is raised and nothing is written.
    """
    from . import pack_pdf, pack_texts

    if initiative.state in (InitiativeState.DRAFT,):
        raise TransitionError("Ett utkast har inga underskrifter att lämna in.")
    now = clock.utcnow().replace(microsecond=0)
    target = out_dir / filename(initiative, now)
    with TemporaryDirectory(prefix="pack-") as tmp:
        work = Path(tmp)
        snap = snapshot(initiative, work / "rows.csv", names=names)
        # Counted from the very rows packed, so no extra query; refused before anything
        # leaves the temporary directory.
        consent = require_names_or_consent(
            initiative, snap.anonymised, snap.total, without_names=without_names
        )
        info = pack_texts.PackInfo.of(
            initiative, snap, names=names, now=now, organisation=organisation, contact=contact
        )
        paths = {key: work / name for key, name in FILES.items()}
        with paths["csv"].open("wb") as handle:
            write_csv(snap.rows(), handle)
        write_xlsx(snap.rows(), paths["xlsx"], info.summary())
        info.unreadable = pack_pdf.write_list(snap.rows, paths["list_pdf"], info)
        hashes = {key: sha256_of(paths[key]) for key in ("list_pdf", "xlsx", "csv")}
        pack_pdf.write_cover(paths["cover"], info, {FILES[k]: v for k, v in hashes.items()})
        hashes["cover"] = sha256_of(paths["cover"])
        listed = [FILES[k] for k in ("cover", "list_pdf", "xlsx", "csv")]
        paths["readme"].write_bytes(
            pack_texts.readme(info, [(n, hashes[k]) for k, n in FILES.items() if n in listed])
        )
        hashes["readme"] = sha256_of(paths["readme"])
        files = [
            {"name": FILES[k], "sha256": hashes[k], "bytes": paths[k].stat().st_size}
            for k in ("cover", "list_pdf", "xlsx", "csv", "readme")
        ]
        manifest = pack_texts.manifest(info, files, generated_by=generated_by)
        paths["manifest"].write_bytes(manifest)
        manifest_sha = hashlib.sha256(manifest).hexdigest()
        # Made only now that the pack is allowed and written: a refusal leaves no empty
        # folder behind (and one that was there before is left as it was).
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".zip.part")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for key in ("readme", "cover", "list_pdf", "xlsx", "csv", "manifest"):
                _add(archive, paths[key], FILES[key], now)
        partial.replace(target)
    counts = {c.value: snap.counts.get(c.value, 0) for c in Channel}
    audit.record(
        "pack.generated",
        actor=generated_by,
        initiative=initiative,
        names=names,
        total=snap.total,
        counts=counts,
        anonymised=snap.anonymised,
        manifest_sha256=manifest_sha,
        **consent,
    )
    db.session.flush()
    return PackResult(target, counts, snap.total, files, manifest_sha, snap.anonymised)
