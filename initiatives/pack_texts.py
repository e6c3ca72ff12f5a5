"""The words and facts of the submission pack: its summary, manifest and ``LÄS MIG.txt``.

The pack is written for a Swedish clerk, so its texts are Swedish whatever language the
organiser's browser prefers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from babel.numbers import format_decimal

from .lifecycle import local_date
from .models import Initiative, InitiativeState
from .texts import amendments

if TYPE_CHECKING:
    from .pack import Snapshot

STATE_NOTES = {
    InitiativeState.COLLECTING: "Insamlingen pågår fortfarande: detta är en preliminär lista.",
    InitiativeState.WITHDRAWN: "Initiativet har dragits tillbaka.",
}


# What the invalidated were, in parts that add up to them all: what never counted, what
# was never a signer's at all, what its signer withdrew, duplicates, and the rest.
INVALIDATED_UNCONFIRMED_LABEL = "varav aldrig bekräftade (räknades aldrig)"
INVALIDATED_OWN_LABEL = "varav felinmatade rader och testrader"
INVALIDATED_WITHDRAWN_LABEL = "varav återkallade av underskrivaren efter granskningen"
INVALIDATED_DUPLICATES_LABEL = "varav dubbletter (samma person hade redan skrivit under)"
INVALIDATED_OTHER_LABEL = (
    "varav av andra skäl (till exempel automatiserade, inte folkbokförda i Malmö eller falskt namn)"
)
# The same parts under the manifest's keys, so the machine-readable counts and the words
# the clerk reads come from one place (``PackInfo.invalidated_parts``).
INVALIDATED_LABELS = {
    "invalidated_never_confirmed": INVALIDATED_UNCONFIRMED_LABEL,
    "invalidated_own_entries": INVALIDATED_OWN_LABEL,
    "invalidated_withdrawn": INVALIDATED_WITHDRAWN_LABEL,
    "invalidated_duplicates": INVALIDATED_DUPLICATES_LABEL,
    "invalidated_other": INVALIDATED_OTHER_LABEL,
}
# Confirmed signatures that count and are listed, but whose names retention (or an
# erasure on the signer's request) removed.
ANONYMISED_LABEL = (
    "Bekräftade underskrifter utan namn "
    "(gallrade eller raderade på begäran, står som ”(anonymiserad)”)"
)


# Said wherever the list is described when the pack was made with shortened names: such a
# list is for publication, and no signer can be checked against it.
SHORT_NAMES_NOTE = (
    "Namnen i listan är förkortade för publicering: förnamn och första bokstaven i "
    "efternamnet, till exempel ”Amira H.”."
)


def swedish_number(value: int) -> str:
    """A count as Swedish is written, in groups of three: ``12 345`` (a no-break space)."""
    return format_decimal(value, locale="sv")


# Marks a name in the list PDF that holds characters no shipped font can draw.  Not a
# dagger: beside a name in Swedish print, † means the person has died.
UNREADABLE_MARK = "*"


def _listed(numbers: list[str]) -> str:
    """``1, 2 och 3``."""
    return numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} och {numbers[-1]}"


def unreadable_note(numbers: list[int], *, cover: bool = False) -> str:
    """What the list PDF shows instead of characters it cannot draw, and where the names are.

    The numbers are the list's own Nr column, the same in the PDF, the XLSX and the CSV
    (as digits without spaces, as that column prints them).  In the list every number is
    given; the cover letter gives the first few and points to the list.
    """
    shown = [str(number) for number in numbers]
    if cover and len(shown) > 20:
        rest = swedish_number(len(shown) - 20)
        shown = [*shown[:20], f"{rest} till (alla står sist i listan)"]
    where = "listan" if cover else "denna PDF"
    return (
        f"{UNREADABLE_MARK} {swedish_number(len(numbers))} namn innehåller tecken som inte "
        f"kan visas i {where}, till exempel kinesiska, japanska eller koreanska tecken eller "
        "emojier. I listan står i stället tecknens Unicode-koder inom hakparentes, till "
        f"exempel [U+1F600], och namnet är markerat med {UNREADABLE_MARK}. Kalkylbladet "
        "(XLSX) och CSV-filen visar namnen som de skrevs, på raden med samma nummer i "
        f"kolumnen Nr: {_listed(shown)}."
    )


def unreadable_pointer(count: int) -> str:
    """The line on the list's first page pointing to ``unreadable_note`` after the rows."""
    return (
        f"{UNREADABLE_MARK} {swedish_number(count)} namn innehåller tecken som inte kan visas "
        "i denna PDF och står som Unicode-koder; se anmärkningen sist i listan."
    )


@dataclass
class PackInfo:
    """Everything the cover letter, the list headers and the manifest say."""

    slug: str
    title: str
    summary_text: str
    body: str
    target_body: str
    text_hash: str
    threshold: int
    opens_on: date | None
    closes_on: date | None
    state: str
    counts: dict[str, int]
    total: int
    paper_sheets: int
    names: str
    generated_at: datetime
    organisation: str
    contact: str
    city_reference: str | None
    amendments: list[dict[str, str]] = field(default_factory=list)
    invalidated: int = 0
    invalidated_unconfirmed: int = 0
    invalidated_own: int = 0
    invalidated_withdrawn: int = 0
    invalidated_duplicates: int = 0
    invalidated_other: int = 0
    anonymised: int = 0
    # Nr of the names the list PDF cannot show whole (known once it is written).
    unreadable: list[int] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        initiative: Initiative,
        snap: Snapshot,
        *,
        names: str,
        now: datetime,
        organisation: str,
        contact: str,
    ) -> PackInfo:
        text = initiative.text("sv")
        # The period's end, the organiser's close or the withdrawal, whichever came first.
        closes = initiative.collection_ends_at
        return cls(
            slug=initiative.slug,
            title=text.title if text else initiative.slug,
            summary_text=text.summary if text else "",
            body=text.body if text else "",
            target_body=initiative.target_body,
            text_hash=initiative.text_hash or initiative.compute_text_hash(),
            threshold=initiative.threshold,
            opens_on=local_date(initiative.opens_at) if initiative.opens_at else None,
            closes_on=local_date(closes) if closes else None,
            state=initiative.state,
            counts={c: snap.counts.get(c, 0) for c in ("web", "kiosk", "paper")},
            total=snap.total,
            paper_sheets=snap.sheets,
            names=names,
            generated_at=now,
            organisation=organisation,
            contact=(initiative.organiser_contact or contact).strip(),
            city_reference=initiative.city_reference,
            invalidated=snap.invalidated,
            invalidated_unconfirmed=snap.invalidated_unconfirmed,
            invalidated_own=snap.invalidated_own,
            invalidated_withdrawn=snap.invalidated_withdrawn,
            invalidated_duplicates=snap.invalidated_duplicates,
            invalidated_other=snap.invalidated_other,
            anonymised=snap.anonymised,
            amendments=[
                {
                    "date": local_date(a.at).isoformat(),
                    "previous_sha256": a.previous_hash,
                    "sha256": a.new_hash,
                    "note": a.note,
                }
                for a in amendments(initiative)
            ],
        )

    @property
    def period(self) -> str:
        if self.opens_on is None:
            return "–"
        return (
            f"{self.opens_on.isoformat()} – {self.closes_on.isoformat() if self.closes_on else ''}"
        )

    @property
    def generated_local(self) -> str:
        return self.generated_at.astimezone(_tz()).strftime("%Y-%m-%d %H:%M")

    @property
    def state_note(self) -> str | None:
        notes = [STATE_NOTES.get(InitiativeState(self.state))]
        if self.anonymised:
            notes.append(
                "Underskrivarnas personuppgifter har gallrats enligt tjänstens regler; "
                "namnen står som ”(anonymiserad)”, antalen är oförändrade."
            )
        return " ".join(n for n in notes if n) or None

    @property
    def names_note(self) -> str | None:
        """``SHORT_NAMES_NOTE`` for a list of shortened names (the pack's texts say it)."""
        return SHORT_NAMES_NOTE if self.names == "short" else None

    @property
    def invalidated_note(self) -> str | None:
        """Signatures taken out after review: not listed, but not hidden either."""
        if not self.invalidated:
            return None
        counted = "underskrift" if self.invalidated == 1 else "underskrifter"
        number = swedish_number(self.invalidated)
        note = (
            f"Efter granskning har organisatörerna ogiltigförklarat {number} {counted} (till "
            "exempel automatiserade eller dubbletter). De räknas inte "
            "och finns inte i listan."
        )
        # Not every one was a signature that counted until the review, or one its signer
        # still stood behind: say which, every part, so that they add up to the total.
        # A part opening the sentence puts its verb first ("Av dem hade 1 ..."), a later
        # one its number ("..., och 1 är ...").
        rows = "en rad" if self.invalidated_own == 1 else "rader"
        signer = (
            "underskrivaren själv" if self.invalidated_withdrawn == 1 else "underskrivarna själva"
        )
        duplicates = (
            "en dubblett (samma person hade redan skrivit under)"
            if self.invalidated_duplicates == 1
            else "dubbletter (samma personer hade redan skrivit under)"
        )
        parts = (
            (self.invalidated_unconfirmed, "hade", "aldrig bekräftats och räknades aldrig"),
            (
                self.invalidated_own,
                "är",
                f"{rows} som organisatörerna skrev in fel eller för att prova",
            ),
            (self.invalidated_withdrawn, "har", f"sedan återkallats av {signer}"),
            (self.invalidated_duplicates, "är", duplicates),
            (
                self.invalidated_other,
                "ogiltigförklarades",
                "av andra skäl (till exempel automatiserade, inte folkbokförda i Malmö "
                "eller falskt namn)",
            ),
        )
        clauses: list[str] = []
        for count, verb, rest in parts:
            if count:
                number = swedish_number(count)
                clauses.append(f"{number} {verb} {rest}" if clauses else f"{verb} {number} {rest}")
        if not clauses:
            return note
        if len(clauses) > 1:
            clauses[-1] = "och " + clauses[-1]
        return f"{note} Av dem {', '.join(clauses)}."

    @property
    def invalidated_parts(self) -> dict[str, int]:
        """What the invalidated were, by the manifest's key (the keys of
        INVALIDATED_LABELS); every one is in exactly one part, so they add up."""
        return {
            "invalidated_never_confirmed": self.invalidated_unconfirmed,
            "invalidated_own_entries": self.invalidated_own,
            "invalidated_withdrawn": self.invalidated_withdrawn,
            "invalidated_duplicates": self.invalidated_duplicates,
            "invalidated_other": self.invalidated_other,
        }

    @property
    def invalidated_breakdown(self) -> list[tuple[str, int]]:
        """``invalidated_parts`` in the clerk's words, when any were invalidated."""
        if not self.invalidated:
            return []
        return [(INVALIDATED_LABELS[key], value) for key, value in self.invalidated_parts.items()]

    def summary(self) -> list[tuple[str, Any]]:
        """Key facts, for the spreadsheet's second sheet."""
        rows: list[tuple[str, Any]] = [
            ("Initiativ", self.title),
            ("Till", self.target_body),
            ("Insamlingsperiod", self.period),
            ("Bekräftade underskrifter totalt", self.total),
            ("  via webben (bekräftade med e-post)", self.counts["web"]),
            ("  vid insamlingsplats på surfplatta (bekräftade med e-post)", self.counts["kiosk"]),
            ("  på papperslistor", self.counts["paper"]),
            ("Antal papperslistor", self.paper_sheets),
            (ANONYMISED_LABEL, self.anonymised),
            ("Ogiltigförklarade efter granskning (finns inte i listan)", self.invalidated),
            *(("  " + label, value) for label, value in self.invalidated_breakdown),
            ("SHA-256 för initiativtexten", self.text_hash),
            ("Namn", "hela namn" if self.names == "full" else "förkortade för publicering"),
            ("Skapad", self.generated_local),
        ]
        if self.state_note:
            rows.append(("Obs!", self.state_note))
        return rows


def _tz() -> Any:
    from .clock import LOCAL_TZ

    return LOCAL_TZ


def manifest(info: PackInfo, files: list[dict[str, Any]], *, generated_by: str) -> bytes:
    """``manifest.json``: every file's SHA-256, the counts, and when and by whom."""
    data = {
        "format": "initiatives-pack/1",
        "initiative": {
            "slug": info.slug,
            "title": info.title,
            "target_body": info.target_body,
            "text_sha256": info.text_hash,
            "text_amendments": info.amendments,
            "threshold": info.threshold,
            "collection_period": {
                "from": info.opens_on.isoformat() if info.opens_on else None,
                "to": info.closes_on.isoformat() if info.closes_on else None,
            },
            "state": info.state,
            "city_reference": info.city_reference,
        },
        "counts": {
            "confirmed_total": info.total,
            "web": info.counts["web"],
            "kiosk": info.counts["kiosk"],
            "paper": info.counts["paper"],
            "paper_sheets": info.paper_sheets,
            "invalidated": info.invalidated,
            # What the cover letter, the summary sheet and LÄS MIG.txt say of them.
            **info.invalidated_parts,
            # Listed and counted, but their names were removed by retention.
            "anonymised": info.anonymised,
        },
        "names": info.names,
        "generated_at": info.generated_at.isoformat(),
        "generated_by": generated_by,
        "files": files,
    }
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def readme(info: PackInfo, files: list[tuple[str, str]]) -> bytes:
    """``LÄS MIG.txt`` for the clerk: what is here and how to check that nothing changed."""
    listing = "\r\n".join(f"  {sha}  {name}" for name, sha in files)
    n = swedish_number
    anonymised = f"{ANONYMISED_LABEL}: {n(info.anonymised)}\n" if info.anonymised else ""
    shortened = f"{info.names_note}\n" if info.names_note else ""
    breakdown = (
        f" (varav aldrig bekräftade: {n(info.invalidated_unconfirmed)}, felinmatade rader "
        f"och testrader: {n(info.invalidated_own)}, återkallade av underskrivaren: "
        f"{n(info.invalidated_withdrawn)}, dubbletter: {n(info.invalidated_duplicates)}, "
        f"andra skäl: {n(info.invalidated_other)})"
        if info.invalidated
        else ""
    )
    text = f"""LÄS MIG – underlag för medborgarinitiativ

Initiativ: {info.title}
Till: {info.target_body}
Insamlingsperiod: {info.period}
Bekräftade underskrifter: {n(info.total)} (webben {n(info.counts["web"])}, surfplatta \
vid insamlingsplats {n(info.counts["kiosk"])}, papperslistor {n(info.counts["paper"])})
Ogiltigförklarade efter granskning, inte med i listan: {n(info.invalidated)}{breakdown}
{anonymised}{shortened}Skapad: {info.generated_local}
Från: {info.organisation}

FILERNA
  foljebrev.pdf       Följebrev med initiativtexten, perioden och antalen.
  underskrifter.pdf   Underskriftslistan för utskrift.
  underskrifter.xlsx  Samma lista som kalkylblad: öppna den här i Excel.
  underskrifter.csv   Samma lista som text (UTF-8, semikolonseparerad), för andra
                      program och för import.
  manifest.json       Kontrollsummor och antal i maskinläsbar form.

Öppna listan i Excel från underskrifter.xlsx, inte från CSV-filen: Excel gör om
vissa värden i en CSV-fil till datum, till exempel listnumret 1-3 eller 3/4. I
kalkylbladet står namn, postnummerområden och listnummer som text, precis som de
skrevs.

Listorna innehåller bara bekräftade underskrifter: på webben och på surfplattan
bekräftade med en länk i ett mejl till underskrivarens egen adress, och rader från
papperslistor (kanal "papper", med listans nummer). Inga e-postadresser finns med.
Datum är dagen då underskriften gjordes (på en papperslista: dagen på raden), även
om länken i mejlet klickades senare.
Celler som börjar med = + - eller @ har fått en apostrof först, så att ett
kalkylprogram visar dem som text och aldrig kör dem som formler.

KONTROLLERA ATT INGET HAR ÄNDRATS
Varje fil har en SHA-256-kontrollsumma. Samma summor står i manifest.json och,
för listorna, i följebrevet.

Packa först upp ZIP-filen i en egen mapp (i Windows Utforskaren: högerklicka på
den och välj Extrahera alla). Kör sedan kommandot i mappen med filerna; det visar
summan för var och en:

  Windows (PowerShell):
    Get-FileHash -Algorithm SHA256 * | Format-List
  macOS och Linux:
    shasum -a 256 *      eller     sha256sum *

Jämför summorna som visas med den här listan (stora eller små bokstäver spelar
ingen roll):

{listing}

Summorna i manifest.json gäller alla filerna, den här också. Men allt i ZIP-filen kan
ändras tillsammans, summorna med: summan för manifest.json har därför
{info.organisation} skickat separat, till exempel i e-postmeddelandet som underlaget
kom med. Räkna fram summan för manifest.json på samma sätt och jämför. Stämmer den
är manifest.json oförändrad, och med den alla filer vars summor stämmer.

Initiativtextens SHA-256 är {info.text_hash}. Den räknas på texten (rubrik,
sammanfattning och förslag på alla språk) som den var när insamlingen började, eller
efter en rättelse som finns redovisad i följebrevet. Varje underskrift i tjänsten har
sparat summan för den text den gavs.
"""
    # Windows line endings and a byte-order mark: Notepad shows it right, å ä ö included.
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8-sig")
