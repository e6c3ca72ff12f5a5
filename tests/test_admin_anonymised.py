"""After retention has anonymised an initiative's signers, the admin and the pack still
work, on SQLite and PostgreSQL: no 500, "(anonymiserad)" where a name was, counts kept,
and no paper row flagged as a duplicate just because two names are now both gone."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from openpyxl import load_workbook

from initiatives import clock, pack_texts, paper, paper_matching, paper_review, retention
from initiatives.extensions import db
from initiatives.lifecycle import local_date
from initiatives.models import AuditEvent, Initiative, InitiativeState, Signature

from .admin_helpers import logged_in, post_form
from .print_tools import pdf_text
from .privacy_support import Spec, add_signatures, count_is_exact, set_initiative

BASE = "/admin/initiatives/amiralsgatan"


@pytest.fixture
def anonymised(app, make_initiative, monkeypatch):
    """An answered initiative with web and paper signatures, purged after the period."""
    make_initiative(opens_days_ago=20)
    add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("amira@example.org", "Amira Hassan", source_tag="poster", client_hash="c" * 64),
            Spec("bilal@example.org", "Bilal Said", postcode="213 63"),
        ],
    )
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        today = clock.utcnow().date()
        sheet = paper.add_sheet(
            initiative, "test", number="1", collected_on=today, collected_by="Hodan"
        )
        paper.add_row(sheet, "test", name="Cecilia Öberg", postcode="214 32", signed_on=today)
        paper.add_row(sheet, "test", name="Dalia Nur", postcode="214 32", signed_on=today)
        # The same person as the first online signer: flagged for review.
        _row, matches = paper.add_row(
            sheet, "test", name="Amira Hassan", postcode="212 14", signed_on=today
        )
        assert matches
        db.session.commit()
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    later = clock.utcnow() + timedelta(days=91)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        report = retention.purge(actor="test")
        db.session.commit()
    assert report.initiatives_anonymised == ["amiralsgatan"]
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count(Signature.id)).where(Signature.name_enc.is_not(None))
            )
            == 0
        )
    return logged_in(app, role="organiser")


def test_signature_pages_show_anonymised_instead_of_a_name(app, anonymised):
    listing = anonymised.get(f"{BASE}/signatures?state=confirmed")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    table = text.split("<table", 1)[1].split("</table>", 1)[0]
    assert table.count("(anonymiserad)") == 5
    assert "Amira Hassan" not in table and "@example.org" not in table
    public_id = text.split(f"{BASE}/signatures/", 1)[1].split('"', 1)[0]
    detail = anonymised.get(f"{BASE}/signatures/{public_id}")
    assert detail.status_code == 200 and "(anonymiserad)" in detail.get_data(as_text=True)
    for query in ("amira", "amira@example.org", "212 14"):
        found = anonymised.get(f"{BASE}/signatures", query_string={"q": query})
        assert found.status_code == 200 and "Inga träffar" in found.get_data(as_text=True)
    assert anonymised.get(BASE).status_code == 200
    assert count_is_exact(app, "amiralsgatan") == 5


def test_paper_pages_cope_and_the_rescan_flags_nothing_new(app, anonymised):
    sheet = anonymised.get(f"{BASE}/paper/1")
    assert sheet.status_code == 200
    page = sheet.get_data(as_text=True)
    # Its three rows, and who collected it (a volunteer's name goes with the signers').
    assert page.count("(anonymiserad)") == 4 and "av (anonymiserad)" in page
    review = anonymised.get(f"{BASE}/paper/review")
    assert review.status_code == 200 and "(anonymiserad)" in review.get_data(as_text=True)
    # Two rows whose names are both gone are not "the same name".
    rescan = post_form(anonymised, f"{BASE}/paper/review", f"{BASE}/paper/review/rescan")
    assert rescan.status_code == 302
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert paper_review.review_count(initiative.id) == 1  # the one flagged before
        assert paper_matching.find_matches(initiative.id, "", "214 32") == []


def test_the_pack_lists_anonymised_rows_with_the_counts_unchanged(app, anonymised):
    response = post_form(anonymised, f"{BASE}/pack", f"{BASE}/pack", names="short")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["confirmed_total"] == 5
    assert (manifest["counts"]["web"], manifest["counts"]["paper"]) == (2, 3)
    assert manifest["counts"]["anonymised"] == 5
    rows = list(
        csv.reader(
            io.StringIO(archive.read("underskrifter.csv").decode("utf-8-sig")), delimiter=";"
        )
    )
    assert [r[1] for r in rows[1:]] == ["(anonymiserad)"] * 5
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    assert "Bekräftade underskrifter: 5" in readme


def test_abuse_review_copes_with_anonymised_rows(app, anonymised):
    review = anonymised.get(f"{BASE}/review")
    assert review.status_code == 200
    preview = anonymised.get(f"{BASE}/review/preview?domain=example.org")
    assert preview.status_code == 200
    assert "<strong data-confirmed>0</strong>" in preview.get_data(as_text=True)


def test_pack_builds_from_the_cli_too(app, anonymised, tmp_path: Path):
    result = app.test_cli_runner().invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (zip_path,) = tmp_path.glob("*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        assert json.loads(archive.read("manifest.json"))["counts"]["confirmed_total"] == 5


def test_the_pack_says_how_many_listed_signatures_have_no_name(
    app, make_initiative, tmp_path: Path
):
    """Three counted signers, two of them without a name any more: the manifest, the
    audit event, the cover letter, the summary sheet and LÄS MIG.txt all say 2."""
    make_initiative(opens_days_ago=20)
    ids = add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("amira@example.org", "Amira Hassan"),
            Spec("bilal@example.org", "Bilal Said"),
            Spec("cecilia@example.org", "Cecilia Öberg"),
        ],
    )
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    with app.app_context():
        # As purge does it, for two of the three.
        assert retention._anonymise(Signature.id.in_(ids[:2]), clock.utcnow()) == 2
        db.session.commit()
    client = logged_in(app, role="organiser")
    response = post_form(client, f"{BASE}/pack", f"{BASE}/pack", names="full")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    archive = zipfile.ZipFile(io.BytesIO(response.data))

    counts = json.loads(archive.read("manifest.json"))["counts"]
    assert counts["anonymised"] == 2 and counts["confirmed_total"] == 3
    # The keys a clerk's tooling may read stay as they were.
    assert {"confirmed_total", "web", "kiosk", "paper", "paper_sheets", "invalidated"} <= set(
        counts
    )
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "pack.generated")
        ).one()
        assert event.details["anonymised"] == 2 and event.details["total"] == 3

    cover = pdf_text(archive.read("foljebrev.pdf"), tmp_path)
    assert re.search(
        r"Totalt 3 Varav utan namn \(gallrade eller raderade på begäran, "
        r"står som ”\(anonymiserad\)”\) 2",
        cover,
    )
    book = load_workbook(io.BytesIO(archive.read("underskrifter.xlsx")))
    summary = dict(book["Sammanfattning"].iter_rows(values_only=True))
    assert summary[pack_texts.ANONYMISED_LABEL] == 2
    readme = archive.read("LÄS MIG.txt").decode("utf-8-sig")
    assert f"{pack_texts.ANONYMISED_LABEL}: 2\r\n" in readme


def test_a_pack_with_every_name_kept_says_none_is_missing(app, make_initiative, tmp_path: Path):
    make_initiative(opens_days_ago=20)
    add_signatures(app, "amiralsgatan", [Spec("amira@example.org", "Amira Hassan")])
    client = logged_in(app, role="organiser")
    response = post_form(client, f"{BASE}/pack", f"{BASE}/pack", names="full")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert json.loads(archive.read("manifest.json"))["counts"]["anonymised"] == 0
    # The letter and LÄS MIG.txt mention it only when there is something to say.
    assert "utan namn" not in pdf_text(archive.read("foljebrev.pdf"), tmp_path)
    assert "utan namn" not in archive.read("LÄS MIG.txt").decode("utf-8-sig")


# --- before the names go: the organisers are told when, and reminded in time ----------------


def _close(app, slug: str, days_ago: float, state=InitiativeState.CLOSED, **values) -> None:
    set_initiative(
        app, slug, state=state, closed_at=clock.utcnow() - timedelta(days=days_ago), **values
    )


def _removal_day(app, days_ago: float) -> date:
    """The Malmö day the names of a list closed ``days_ago`` go, as purge counts."""
    closed = clock.utcnow() - timedelta(days=days_ago)
    return local_date(closed + timedelta(days=app.config["ANONYMISE_AFTER_DAYS"]))


def _names_notice(html: str) -> str:
    """The notice about the names' removal on an admin page ('' if there is none)."""
    if "data-names-" not in html:
        return ""
    start = html.rfind("<p", 0, html.index("data-names-"))
    return html[start : html.index("</p>", start)]


def _two_signers(app, make_initiative, slug: str = "amiralsgatan") -> None:
    make_initiative(slug, opens_days_ago=120)
    add_signatures(
        app,
        slug,
        [Spec(f"amira.{slug}@example.org"), Spec(f"bilal.{slug}@example.org", "Bilal Said")],
    )


def test_dashboard_and_pack_page_say_from_the_close_when_the_names_go(
    app, make_initiative, monkeypatch
):
    make_initiative(opens_days_ago=20)
    add_signatures(app, "amiralsgatan", [Spec("amira@example.org")])
    client = logged_in(app, role="organiser")
    # While collecting there is no such date.
    assert _names_notice(client.get(BASE).get_data(as_text=True)) == ""

    _close(app, "amiralsgatan", days_ago=1)
    day = _removal_day(app, 1)
    long_date = format_date(day, "long", locale="sv")
    for page in (BASE, f"{BASE}/pack", f"{BASE}/lifecycle"):
        html = client.get(page).get_data(as_text=True)
        assert CONFIRM_BOX not in html  # every name is still there
        notice = _names_notice(html)
        assert f'data-names-removed-on="{day.isoformat()}"' in notice, page
        assert long_date in notice and "om listan inte" in notice, notice
        assert "notice-warning" not in notice  # not yet pressing

    # Ten days before: prominent, with the days left.
    later = clock.utcnow() + timedelta(days=app.config["ANONYMISE_AFTER_DAYS"] - 11)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    client = logged_in(app, role="organiser", email="nadia@example.org")
    left = (day - local_date(later)).days
    assert left <= retention.WARN_DAYS
    for page in (BASE, f"{BASE}/pack", f"{BASE}/lifecycle"):
        notice = _names_notice(client.get(page).get_data(as_text=True))
        assert "notice-warning" in notice and f"Om {left} dagar" in notice, notice
        assert long_date in notice


def test_the_start_page_lists_lists_whose_names_go_within_two_weeks(app, make_initiative):
    for slug in ("amiralsgatan", "rosengardsbadet", "lekplatsen", "tomma"):
        if slug == "tomma":
            make_initiative(slug, opens_days_ago=120)
        else:
            _two_signers(app, make_initiative, slug)
    days = app.config["ANONYMISE_AFTER_DAYS"]
    _close(app, "amiralsgatan", days_ago=days - 10)  # ten days left
    _close(app, "rosengardsbadet", days_ago=10)  # months left
    _close(app, "lekplatsen", days_ago=days - 5, state=InitiativeState.SUBMITTED)  # handed in
    _close(app, "tomma", days_ago=days - 5)  # no signer: no name to lose
    client = logged_in(app, role="organiser")
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="names-due-h"' in html
    section = html.split('id="names-due-h"', 1)[1].split("</section>", 1)[0]
    assert "/admin/initiatives/amiralsgatan" in section
    for slug in ("rosengardsbadet", "lekplatsen", "tomma"):
        assert f"/admin/initiatives/{slug}" not in section
    day = _removal_day(app, days - 10)
    assert format_date(day, "long", locale="sv") in section

    # Nothing close: no such section.
    _close(app, "amiralsgatan", days_ago=1)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="names-due-h"' not in html


@pytest.fixture
def anonymised_unsubmitted(app, make_initiative, monkeypatch):
    """A closed list never handed in, whose names retention removed."""
    _two_signers(app, make_initiative)
    _close(app, "amiralsgatan", days_ago=1)
    later = clock.utcnow() + timedelta(days=app.config["ANONYMISE_AFTER_DAYS"])
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    with app.app_context():
        assert retention.purge(actor="test").initiatives_anonymised == ["amiralsgatan"]
        db.session.commit()
    # The day purge removed them.
    return logged_in(app, role="organiser"), local_date(later)


def test_pack_and_hand_in_pages_say_the_names_are_gone_before_anything_is_sent(
    app, anonymised_unsubmitted
):
    client, day = anonymised_unsubmitted
    for page in (f"{BASE}/pack", f"{BASE}/lifecycle", BASE):
        html = client.get(page).get_data(as_text=True)
        notice = _names_notice(html)
        assert 'data-names-removed="2"' in notice, page
        assert "notice-warning" in notice and "(anonymiserad)" in notice
        assert format_date(day, "long", locale="sv") in notice
        assert "om listan inte" not in notice  # no deadline left to meet
    # On the hand-in page it stands above the button.
    html = client.get(f"{BASE}/lifecycle").get_data(as_text=True)
    assert html.index("data-names-removed") < html.index("Markera som inlämnat</button>")


def _events(app, action: str) -> list[dict]:
    with app.app_context():
        return [
            e.details
            for e in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action))
        ]


CONFIRM_BOX = 'name="without_names"'


def test_handing_in_a_list_whose_names_are_gone_asks_for_a_confirmation(
    app, anonymised_unsubmitted
):
    client, day = anonymised_unsubmitted
    set_initiative(app, "amiralsgatan", threshold=2)
    page = f"{BASE}/lifecycle"
    html = client.get(page).get_data(as_text=True)
    assert CONFIRM_BOX in html and "bara får antalet, inga namn" in html
    hand_in = {"submitted_on": day.isoformat(), "reference": "TN-2026-01234"}

    refused = post_form(client, page, f"{BASE}/submit", **hand_in)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "error-summary" in html and 'href="#without_names"' in html
    assert "för 2 av 2 bekräftade underskrifter" in html
    assert "Nämnden får bara antalet för dem" in html
    with app.app_context():
        assert db.session.scalars(sa.select(Initiative)).one().state == InitiativeState.CLOSED
    assert _events(app, "initiative.submitted") == []

    done = post_form(client, page, f"{BASE}/submit", without_names="y", **hand_in)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    with app.app_context():
        assert db.session.scalars(sa.select(Initiative)).one().state == InitiativeState.SUBMITTED
    (event,) = _events(app, "initiative.submitted")
    assert event["confirmed_without_names"] is True and event["anonymised"] == 2


def test_a_pack_of_a_list_whose_names_are_gone_asks_for_a_confirmation(app, anonymised_unsubmitted):
    client, _day = anonymised_unsubmitted
    page = f"{BASE}/pack"
    assert CONFIRM_BOX in client.get(page).get_data(as_text=True)

    refused = post_form(client, page, page, names="full")
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    html = refused.get_data(as_text=True)
    assert 'href="#without_names"' in html and "Nämnden får bara antalet för dem" in html
    assert _events(app, "pack.generated") == []

    response = post_form(client, page, page, names="full", without_names="y")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("manifest.json"))
    assert manifest["counts"]["anonymised"] == 2
    (event,) = _events(app, "pack.generated")
    assert event["confirmed_without_names"] is True and event["anonymised"] == 2


def test_no_confirmation_is_asked_once_handed_in_or_with_every_name_kept(app, anonymised):
    # Answered: the names went after the hand-in, as retention intends.
    assert CONFIRM_BOX not in anonymised.get(f"{BASE}/pack").get_data(as_text=True)
    response = post_form(anonymised, f"{BASE}/pack", f"{BASE}/pack", names="full")
    assert response.status_code == 200
    (event,) = _events(app, "pack.generated")
    assert event["anonymised"] == 5 and "confirmed_without_names" not in event


def test_the_cli_export_says_the_names_are_gone(app, anonymised_unsubmitted, tmp_path: Path):
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["export", "amiralsgatan", "--out", str(tmp_path)])
    assert refused.exit_code != 0
    assert "2 of 2 listed signers have no name" in refused.output
    assert "--without-names" in refused.output
    assert list(tmp_path.glob("*.zip")) == [] and _events(app, "pack.generated") == []
    # A folder it was to make is not left behind, empty, by the refusal.
    new = tmp_path / "packs" / "tekniska"
    refused = runner.invoke(args=["export", "amiralsgatan", "--out", str(new)])
    assert refused.exit_code != 0 and "--without-names" in refused.output
    assert not (tmp_path / "packs").exists()
    assert tmp_path.is_dir()  # one that was there stays

    result = runner.invoke(args=["export", "amiralsgatan", "--out", str(new), "--without-names"])
    assert result.exit_code == 0, result.output
    assert len(list(new.glob("*.zip"))) == 1
    assert "2 of 2 listed signers have no name" in result.output
    assert "(anonymiserad)" in result.output
    (event,) = _events(app, "pack.generated")
    assert event["confirmed_without_names"] is True
