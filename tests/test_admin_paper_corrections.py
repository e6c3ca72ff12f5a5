"""Corrections of typed paper rows: the signed date (never after the sheet's), flags left
over from what a row said before, and names typed with a space or a zero-width non-joiner;
a sheet's date never before its rows'."""

from __future__ import annotations

import datetime

import sqlalchemy as sa

from initiatives import clock, lifecycle, paper_matching, paper_review, stats
from initiatives.extensions import db
from initiatives.models import Initiative, SignatureState
from initiatives.paper import PaperRow, Review

from .admin_helpers import decide, logged_in, post_form
from .test_admin_paper import (
    BASE,
    SEEN_RE,
    _confirm_all,
    _correct,
    _days_ago,
    _events,
    _reviews,
    _row,
    _row_id,
    _sheet,
    _sheet_values,
    _state,
    _stored,
    _today,
)


def _day(app, row_id) -> str:
    """The day a row says it was signed (its ``confirmed_at`` in Malmö)."""
    return lifecycle.local_date(_stored(app, row_id)[4]).isoformat()


def _row_line(app, row_id) -> int:
    with app.app_context():
        return db.session.get(PaperRow, row_id).line


def _per_day(app) -> dict[str, int]:
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        return {day.isoformat(): n for day, n in stats.per_day(initiative) if n}


def test_an_organiser_corrects_the_date_a_row_was_signed(app, make_initiative, tmp_path):
    """Signed five days ago, typed with the sheet's date two days ago: corrected, the row
    counts as before, on the day it was signed, in the dashboard's days and the clerk's
    list.  The log says the date was corrected, never which date."""
    from initiatives import pack

    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    assert _row(client, sheet, "Amira Hassan", signed_on=_days_ago(2)).status_code == 302
    row_id = _row_id(app)
    url = f"{sheet}/rows/{row_id}"
    assert f'value="{_days_ago(2)}"' in client.get(url).get_data(as_text=True)
    assert _per_day(app) == {_days_ago(2): 1}

    fields = {"name": "Amira Hassan", "postcode": "212 14", "signed_on": _days_ago(5)}
    done = _correct(client, url, **fields)
    assert done.status_code == 302 and done.headers["Location"].endswith(sheet)
    page = client.get(sheet).get_data(as_text=True)
    assert "Rad 1 är rättad." in page and _days_ago(5) in page
    assert _day(app, row_id) == _days_ago(5)
    stored = _stored(app, row_id)
    assert stored[:4] == ("Amira Hassan", "212 14", "212", SignatureState.CONFIRMED)
    assert stored[5] is None
    cached, counted, numbers = _state(app)
    assert cached == counted == 1 and numbers.by_channel["paper"]["confirmed"] == 1
    assert _per_day(app) == {_days_ago(5): 1}
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        rows = list(pack.snapshot(initiative, tmp_path / "list.csv").rows())
    assert [(r.name, r.day, r.sheet) for r in rows] == [("Amira Hassan", _days_ago(5), "1")]

    (event,) = _events(app, "paper.row_corrected")
    assert event.details == {
        "sheet": "1",
        "line": 1,
        "fields": ["signed_on"],
        "flagged": False,
        "cleared": 0,
    }
    # Sent again (a double click): nothing left to change, nothing logged twice.
    assert _correct(client, url, **fields).status_code == 302
    assert len(_events(app, "paper.row_corrected")) == 1


def test_a_date_is_refused_where_a_typed_row_would_be(app, make_initiative):
    """The rules of a typed row: not in the future, not before the collection opened,
    not after it was closed early; an impossible date is a clear 400.  Each refusal says
    why, keeps what was typed and changes nothing."""
    now = clock.utcnow()
    make_initiative(state="closed", opens_days_ago=10, closed_at=now - datetime.timedelta(days=3))
    client = logged_in(app)
    sheet = _sheet(client)
    assert _row(client, sheet, "Hodan Ali", signed_on=_days_ago(4)).status_code == 302
    row_id = _row_id(app)
    url = f"{sheet}/rows/{row_id}"
    same = {"name": "Hodan Ali", "postcode": "212 14"}
    for day, says in (
        (_days_ago(-1), "under insamlingen och inte i framtiden"),
        (_days_ago(30), "under insamlingen och inte i framtiden"),
        (_days_ago(1), "efter att insamlingen slutade"),
    ):
        refused = _correct(client, url, **same, signed_on=day)
        assert refused.status_code == 400, day
        html = refused.get_data(as_text=True)
        assert says in html and f'value="{day}"' in html, day
    for bad in ("2026-02-30", "99999-01-01", "\x00", ""):
        refused = _correct(client, url, **same, signed_on=bad)
        assert refused.status_code == 400, bad
        assert "Skriv ett datum som ÅÅÅÅ-MM-DD." in refused.get_data(as_text=True), bad
    assert _day(app, row_id) == _days_ago(4)
    assert _events(app, "paper.row_corrected") == []
    # The name can still be corrected on a row whose date is left as it is.
    assert _correct(client, url, name="Hodan Cali", postcode="212 14").status_code == 302
    assert _correct(client, url, **same, signed_on=_days_ago(6)).status_code == 302
    assert _day(app, row_id) == _days_ago(6)
    assert [e.details["fields"] for e in _events(app, "paper.row_corrected")] == [
        ["name"],
        ["name", "signed_on"],
    ]


def test_a_row_cannot_be_corrected_to_a_day_after_its_sheet_was_collected(app, make_initiative):
    """The sheet was collected three days ago: a row corrected to a later day is refused
    as bad input, saying the sheet's date, with what was typed kept and the row as it
    was.  The sheet's own day is accepted."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client, collected_on=_days_ago(3))
    assert _row(client, sheet, "Hodan Ali", signed_on=_days_ago(4)).status_code == 302
    row_id = _row_id(app)
    url = f"{sheet}/rows/{row_id}"
    before = _stored(app, row_id)
    for day in (_days_ago(2), _today()):
        refused = _correct(client, url, name="Hodan Cali", postcode="213 63", signed_on=day)
        assert refused.status_code == 400, day
        html = refused.get_data(as_text=True)
        assert f"Datumet är efter att listan samlades in ({_days_ago(3)})." in html, day
        assert 'value="Hodan Cali"' in html and f'value="{day}"' in html, day
    assert _stored(app, row_id) == before
    assert _events(app, "paper.row_corrected") == []

    done = _correct(client, url, name="Hodan Ali", postcode="212 14", signed_on=_days_ago(3))
    assert done.status_code == 302
    assert _day(app, row_id) == _days_ago(3)


def test_a_sheet_cannot_be_dated_before_a_row_on_it(app, make_initiative):
    """Rows signed one, two and five days ago: the sheet cannot have been collected
    before the latest of them.  The refusal says how many rows are dated later and the
    latest date, keeps what was typed, and changes nothing; the latest row's day is
    accepted."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client, "4")
    for name, days in (("Hodan Ali", 5), ("Amira Hassan", 1), ("Samira Yusuf", 2)):
        assert _row(client, sheet, name, signed_on=_days_ago(days)).status_code == 302
    edit = f"{sheet}/edit"
    for days, says in (
        (3, f"2 rader på listan är daterade senare, den senaste {_days_ago(1)}: ingen kan"),
        (2, f"En rad på listan är daterad senare ({_days_ago(1)}): ingen kan skriva under"),
    ):
        refused = _correct(
            client, edit, number="40", collected_on=_days_ago(days), collected_by="Hodan"
        )
        assert refused.status_code == 400, days
        html = refused.get_data(as_text=True)
        assert says in html, days
        assert 'value="40"' in html and f'value="{_days_ago(days)}"' in html, days
    assert _sheet_values(app, "4") == ("4", _today(), "Hodan, Zainab")
    assert _events(app, "paper.sheet_corrected") == []
    assert [_day(app, _row_id(app, line)) for line in (1, 2, 3)] == [
        _days_ago(5), _days_ago(1), _days_ago(2)
    ]  # fmt: skip

    fields = {"number": "4", "collected_on": _days_ago(1), "collected_by": "Hodan"}
    assert _correct(client, edit, **fields).status_code == 302
    assert _sheet_values(app, "4") == ("4", _days_ago(1), "Hodan")


def test_an_erased_row_does_not_hold_its_sheets_date(app, make_initiative):
    """A row erased on the signer's request can no longer be corrected, its date neither:
    were it dated after the sheet's true day, it would hold the sheet's date for good."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client, "5")
    assert _row(client, sheet, "Hodan Ali", signed_on=_days_ago(5)).status_code == 302
    assert _row(client, sheet, "Amira Hassan", signed_on=_days_ago(1)).status_code == 302
    edit = f"{sheet}/edit"
    fields = {"number": "5", "collected_on": _days_ago(3), "collected_by": "Hodan"}
    assert _correct(client, edit, **fields).status_code == 400
    with app.app_context():
        public_id = db.session.get(PaperRow, _row_id(app, 2)).signature.public_id
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    erase = {"erase-received_via": "email", "erase-received_on": _today()}
    assert post_form(client, detail, f"{detail}/erase", **erase).status_code == 302

    assert _correct(client, edit, **fields).status_code == 302
    assert _sheet_values(app, "5") == ("5", _days_ago(3), "Hodan")


def test_a_date_correction_from_an_old_page_is_refused(app, make_initiative):
    """Another organiser corrected the date while this page was open: the name sent from
    it is refused, so that it cannot put the old date back unseen."""
    make_initiative(opens_days_ago=10)
    first, second = logged_in(app, email="nadia@example.org"), logged_in(app)
    sheet = _sheet(first)
    _row(first, sheet, "Hodan Ali", signed_on=_days_ago(2))
    url = f"{sheet}/rows/{_row_id(app)}"
    old_page = second.get(url).get_data(as_text=True)
    old = SEEN_RE.search(old_page).group(1)
    moved = _correct(first, url, name="Hodan Ali", postcode="212 14", signed_on=_days_ago(3))
    assert moved.status_code == 302
    stale = _correct(
        second, url, name="Hodan Cali", postcode="212 14", signed_on=_days_ago(2), seen=old
    )
    assert stale.status_code == 409
    assert "ändrats sedan du öppnade sidan" in stale.get_data(as_text=True)
    assert _stored(app, _row_id(app))[0] == "Hodan Ali"
    assert _day(app, _row_id(app)) == _days_ago(3)


def test_a_new_date_keeps_the_rows_state_and_review(app, make_initiative, sign):
    """The date is no part of the duplicate check: a row kept as "different people" stays
    kept, one taken out stays out, and the count does not move."""
    make_initiative(opens_days_ago=10)
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    sign(name="Hodan Ali", email="hodan@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hassan", signed_on=_days_ago(2))
    _row(client, sheet, "Hodan Ali", signed_on=_days_ago(2))
    kept, out = _row_id(app, 1), _row_id(app, 2)
    decide(client, f"{BASE}/review", f"{BASE}/review/{kept}/keep")
    decide(client, f"{BASE}/review", f"{BASE}/review/{out}/duplicate", note="")
    with app.app_context():
        kept_at = db.session.get(PaperRow, kept).kept_at
    assert _state(app)[0] == 3
    for row_id, name in ((kept, "Amira Hassan"), (out, "Hodan Ali")):
        url = f"{sheet}/rows/{row_id}"
        done = _correct(client, url, name=name, postcode="212 14", signed_on=_days_ago(4))
        assert done.status_code == 302
        assert _day(app, row_id) == _days_ago(4)
    assert _stored(app, kept)[3:6:2] == (SignatureState.CONFIRMED, Review.KEPT)
    assert _stored(app, out)[3:6:2] == (SignatureState.INVALIDATED, Review.RESOLVED)
    with app.app_context():
        assert db.session.get(PaperRow, kept).kept_at == kept_at
        assert paper_review.review_count(db.session.scalars(sa.select(Initiative.id)).one()) == 0
    cached, counted, _ = _state(app)
    assert cached == counted == 3
    assert _per_day(app).get(_days_ago(4)) == 1  # the kept row; the one taken out is not


def test_the_log_says_whether_the_corrected_row_waits_for_review(app, make_initiative, sign):
    """A row correction's ``flagged`` says whether the row waits for an organiser's
    review once corrected, whatever was changed: a flagged row whose date alone is
    corrected still does (the log said it did not), as after a new postcode it still
    matches with; after a name and date that match nobody it does not; a row that was
    never flagged, or was kept, does not after a new date; one corrected to a name
    signed online does."""
    make_initiative(opens_days_ago=10)
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    sign(name="Hodan Ali", email="hodan@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    for name in ("Amira Hassan", "Hodan Ali", "Dalia Nur"):
        assert _row(client, sheet, name, signed_on=_days_ago(2)).status_code == 302
    amira, hodan, dalia = (_row_id(app, line) for line in (1, 2, 3))
    assert decide(client, f"{BASE}/review", f"{BASE}/review/{hodan}/keep").status_code == 302
    assert _reviews(app) == {1: Review.PENDING, 2: Review.KEPT, 3: None}

    cases = [
        (amira, {"name": "Amira Hassan", "postcode": "212 14", "signed_on": _days_ago(3)},
         ["signed_on"], True),
        (amira, {"name": "Amira Hassan", "postcode": "", "signed_on": _days_ago(3)},
         ["postcode"], True),
        (amira, {"name": "Amina Hassan", "postcode": "", "signed_on": _days_ago(4)},
         ["name", "signed_on"], False),
        (dalia, {"name": "Dalia Nur", "postcode": "212 14", "signed_on": _days_ago(3)},
         ["signed_on"], False),
        (hodan, {"name": "Hodan Ali", "postcode": "212 14", "signed_on": _days_ago(3)},
         ["signed_on"], False),
        (dalia, {"name": "Hodan Ali", "postcode": "212 14", "signed_on": _days_ago(4)},
         ["name", "signed_on"], True),
    ]  # fmt: skip
    for row_id, fields, changed, flagged in cases:
        done = _correct(client, f"{sheet}/rows/{row_id}", **fields)
        assert done.status_code == 302
        told = client.get(done.headers["Location"]).get_data(as_text=True)
        # A flagged row given a new date alone is told it still waits (a new name or
        # postcode is compared again, and a match says so in a message of its own).
        still = f"Rad {_row_line(app, row_id)} är rättad och väntar fortfarande på granskning."
        assert (still in told) is (flagged and changed == ["signed_on"]), fields
        details = _events(app, "paper.row_corrected")[-1].details
        assert (details["fields"], details["flagged"]) == (changed, flagged), fields
        assert (_stored(app, row_id)[5] == Review.PENDING) is flagged, fields
    assert len(_events(app, "paper.row_corrected")) == len(cases)

    # Flagged, then taken out on its signature's page as a typing error: its flag is
    # left, but nothing waits for a decision (``paper_review.review_count``), nor after a date.
    assert _row(client, sheet, "Amira Hassan", signed_on=_days_ago(2)).status_code == 302
    out = _row_id(app, 4)
    with app.app_context():
        public_id = db.session.get(PaperRow, out).signature.public_id
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    taken = post_form(client, detail, f"{detail}/invalidate", reason="entry_error", note="")
    assert taken.status_code == 302
    fields = {"name": "Amira Hassan", "postcode": "212 14", "signed_on": _days_ago(3)}
    assert _correct(client, f"{sheet}/rows/{out}", **fields).status_code == 302
    assert _events(app, "paper.row_corrected")[-1].details["flagged"] is False
    assert _stored(app, out)[3:6:2] == (SignatureState.INVALIDATED, Review.PENDING)


def test_today_is_a_date_a_row_can_be_corrected_to(app, make_initiative):
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Hodan Ali", signed_on=_days_ago(2))
    url = f"{sheet}/rows/{_row_id(app)}"
    done = _correct(client, url, name="Hodan Ali", postcode="212 14", signed_on=_today())
    assert done.status_code == 302
    assert _day(app, _row_id(app)) == _today()


def test_a_flag_raised_only_by_a_rows_old_name_goes_with_it(app, make_initiative):
    """Line 1 typed "Amira Hassan" for Amina Hassan; line 2, the real Amira Hassan, was
    flagged against it.  Line 1 corrected: line 2 matches nobody now, and no longer
    waits for an organiser; the page and the log say one flag went."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hassan")
    _row(client, sheet, "Amira Hassan")
    assert _reviews(app) == {1: None, 2: Review.PENDING}
    url = f"{sheet}/rows/{_row_id(app, 1)}"
    done = _correct(client, url, name="Amina Hassan", postcode="212 14")
    assert done.status_code == 302
    page = client.get(sheet).get_data(as_text=True)
    assert "Rad 1 är rättad." in page
    assert "1 annan rad behöver inte längre granskas: den liknade bara det som stod" in page
    assert _reviews(app) == {1: None, 2: None}
    assert "Inget att granska." in client.get(f"{BASE}/review").get_data(as_text=True)
    (event,) = _events(app, "paper.row_corrected")
    assert event.details["cleared"] == 1 and event.details["flagged"] is False
    assert _state(app)[0] == 2


def test_a_rescan_leaves_one_flag_on_a_pair_a_correction_made(app, make_initiative):
    """Line 1, typed "Amira Hasan", is corrected to the name of line 2, typed after it:
    the corrected row is flagged, as it is.  A rescan flags line 2 no more than the
    correction did, nor once line 1 is kept as another person: that was the question."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hasan")
    _row(client, sheet, "Amira Hassan")
    assert _reviews(app) == {1: None, 2: None}
    first = _row_id(app, 1)
    assert _correct(client, f"{sheet}/rows/{first}", name="Amira Hassan").status_code == 302
    assert _reviews(app) == {1: Review.PENDING, 2: None}
    review = f"{BASE}/review"
    post_form(client, review, f"{review}/rescan")
    assert _reviews(app) == {1: Review.PENDING, 2: None}
    assert decide(client, review, f"{review}/{first}/keep").status_code == 302
    post_form(client, review, f"{review}/rescan")
    assert _reviews(app) == {1: Review.KEPT, 2: None}
    assert [e.details["flagged"] for e in _events(app, "paper.rescanned")] == [0, 0]


def test_only_flags_with_nothing_left_behind_them_go(app, make_initiative, sign):
    """Flagged against the old name and an online signature too: still flagged.  Kept
    or resolved by an organiser: the decision stays.  A name the correction now matches:
    the corrected row is flagged, the other is not, as when a row is typed."""
    make_initiative(opens_days_ago=10)
    sign(name="Hodan Ali", email="hodan@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    for name in ("Hodan Ali", "Hodan Ali", "Hodan Ali", "Hodan Ali", "Dalia Nur"):
        assert _row(client, sheet, name).status_code == 302
    # Line 1 matches the online signature; lines 2 to 4 match it and the rows before.
    assert _reviews(app) == {1: Review.PENDING, 2: Review.PENDING, 3: Review.PENDING,
                             4: Review.PENDING, 5: None}  # fmt: skip
    decide(client, f"{BASE}/review", f"{BASE}/review/{_row_id(app, 3)}/keep")
    decide(client, f"{BASE}/review", f"{BASE}/review/{_row_id(app, 4)}/duplicate", note="")
    url = f"{sheet}/rows/{_row_id(app, 1)}"
    done = _correct(client, url, name="Dalia Nur", postcode="212 14")
    assert done.status_code == 302
    page = client.get(sheet).get_data(as_text=True)
    assert "behöver granskas" in page and "behöver inte längre granskas" not in page
    assert _reviews(app) == {1: Review.PENDING, 2: Review.PENDING, 3: Review.KEPT,
                             4: Review.RESOLVED, 5: None}  # fmt: skip
    assert _events(app, "paper.row_corrected")[-1].details["cleared"] == 0


def test_several_flags_can_go_with_one_correction(app, make_initiative):
    """Line 1 without a postcode matches the same name in every area: lines 2 and 3 were
    flagged against it alone (their areas differ).  Corrected, both flags go."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client)
    for postcode in ("", "212 14", "213 63"):
        assert _row(client, sheet, "علی رضایی", postcode=postcode).status_code == 302
    assert _reviews(app) == {1: None, 2: Review.PENDING, 3: Review.PENDING}
    done = _correct(client, f"{sheet}/rows/{_row_id(app, 1)}", name="رضا علوی", postcode="")
    assert done.status_code == 302
    page = client.get(sheet).get_data(as_text=True)
    assert "2 andra rader behöver inte längre granskas: de liknade bara det som stod" in page
    assert _reviews(app) == {1: None, 2: None, 3: None}
    assert _events(app, "paper.row_corrected")[-1].details["cleared"] == 2


def test_a_persian_name_typed_with_a_space_or_a_non_joiner_is_still_flagged(
    app, make_initiative, sign
):
    """Persian writes the parts of a name joined, with a zero-width non-joiner, or with a
    space (محمدرضا, محمد‌رضا, محمد رضا), and the signer and the organiser each chose one.
    The same person, counted twice unless the row is flagged."""
    make_initiative()
    online = {
        "محمدرضا کریمی": ("محمد رضا کریمی", "محمد\u200cرضا کریمی"),
        "زهرا احمدی\u200cنژاد": ("زهرا احمدی نژاد", "زهرا احمدینژاد", "زهرا احمدي نژاد"),
        "علی اکبر": ("علی\u200cاکبر", "علیاکبر"),
        # A Latin name the same way: a flag an organiser looks at, never a row dropped.
        "Ann Marie Svensson": ("Annmarie Svensson",),
    }
    for i, name in enumerate(online):
        sign(name=name, email=f"s{i}@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    typed = [name for names in online.values() for name in names]
    for name in typed:
        assert _row(client, sheet, name, postcode="212 14").status_code == 302, name
    # Other people: another family name, a first name alone, a name in the same letters.
    for name in ("محمد رضایی", "محمد کریمی", "زهرا احمدی", "علی اکبری"):
        assert _row(client, sheet, name, postcode="212 14").status_code == 302, name
    reviews = _reviews(app)
    assert [line for line, review in sorted(reviews.items()) if review] == list(
        range(1, len(typed) + 1)
    )
    # The review page compares the same way: each row shows what it matched.
    review_page = client.get(f"{BASE}/review").get_data(as_text=True)
    assert review_page.count("Liknar:") == len(typed)
    assert "finns inte längre kvar" not in review_page


def test_the_match_key_leaves_out_spaces_hyphens_and_joiners_only():
    assert paper_matching.normalise_name(" محمد\u200cرضا  کریمی ") == "محمدرضا كريمي"
    written = ("محمدرضا کریمی", "محمد رضا كريمي", "محمد\u200dرضا کریمی")
    keys = {paper_matching.match_key(n) for n in written}
    assert keys == {"محمدرضاكريمي"}
    assert paper_matching.match_key("Emina Hadžić") == "eminahadzic"
    hyphenated = ("Ann-Marie", "Ann Marie", "Ann\u2011Marie", "ann\u2013marie", "Ann - Marie")
    assert {paper_matching.match_key(n) for n in hyphenated} == {"annmarie"}
    assert paper_matching.match_key(" \u200c ") == ""


def test_a_double_name_typed_with_a_space_instead_of_a_hyphen_is_still_flagged(
    app, make_initiative, sign
):
    """Ann-Marie signed online with the hyphen; the organiser typed the sheet's row
    "Ann Marie" (or a phone's non-breaking hyphen came along): the same person, and the
    row is flagged.  Names that only look alike are not."""
    make_initiative()
    sign(name="Ann-Marie Lindqvist", email="ann@example.org", postcode="212 14")
    sign(name="Emina Hadžić-Berg", email="emina@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    typed = ("Ann Marie Lindqvist", "Ann\u2011Marie Lindqvist", "Emina Hadzic Berg")
    near_misses = ("Anna-Maria Lindqvist", "Ann Lindqvist", "Marie-Ann Lindqvist", "Emina Berg")
    for name in (*typed, *near_misses):
        assert _row(client, sheet, name, postcode="212 14").status_code == 302, name
    reviews = _reviews(app)
    assert [line for line, review in sorted(reviews.items()) if review] == [1, 2, 3]
