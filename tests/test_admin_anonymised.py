"""After retention has anonymised an initiative's signers, the admin and the pack still
work, on SQLite and PostgreSQL: no 500, "(anonymiserad)" where a name was, counts kept,
and no paper row flagged as a duplicate just because two names are now both gone."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from initiatives import clock, paper, retention
from initiatives.extensions import db
from initiatives.models import Initiative, InitiativeState, Signature

from .admin_helpers import logged_in, post_form
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
    assert sheet.get_data(as_text=True).count("(anonymiserad)") == 3
    review = anonymised.get(f"{BASE}/paper/review")
    assert review.status_code == 200 and "(anonymiserad)" in review.get_data(as_text=True)
    # Two rows whose names are both gone are not "the same name".
    rescan = post_form(anonymised, f"{BASE}/paper/review", f"{BASE}/paper/review/rescan")
    assert rescan.status_code == 302
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert paper.review_count(initiative.id) == 1  # the one flagged before
        assert paper.find_matches(initiative.id, "", "214 32") == []


def test_the_pack_lists_anonymised_rows_with_the_counts_unchanged(app, anonymised):
    response = post_form(anonymised, f"{BASE}/pack", f"{BASE}/pack", names="short")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["confirmed_total"] == 5
    assert (manifest["counts"]["web"], manifest["counts"]["paper"]) == (2, 3)
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
