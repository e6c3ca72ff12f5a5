"""Paper sheets: rows count as channel paper, and likely duplicates are flagged, not dropped."""

from __future__ import annotations

import datetime
import re

import pytest
import sqlalchemy as sa

from initiatives import clock, lifecycle, paper, paper_review, signature_states, stats
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import (
    AuditEvent,
    Channel,
    Initiative,
    InitiativeState,
    Signature,
    SignatureState,
)
from initiatives.paper import PaperRow, PaperSheet, Review

from .admin_helpers import decide, form_as_shown, logged_in, post_form

BASE = "/admin/initiatives/amiralsgatan/paper"


def _today() -> str:
    return lifecycle.local_date(clock.utcnow()).isoformat()


def _sheet(client, number="1", collected_on=None) -> str:
    response = post_form(
        client, BASE, BASE, number=number, collected_on=collected_on or _today(),
        collected_by="Hodan, Zainab",
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _row(client, sheet_url, name, postcode="212 14", signed_on=None):
    return post_form(
        client, sheet_url, sheet_url, name=name, postcode=postcode, signed_on=signed_on or _today()
    )


def _confirm_all(app) -> None:
    with app.app_context():
        for signature in db.session.scalars(sa.select(Signature)).all():
            signature_states.confirm(signature)
        db.session.commit()


def _state(app):
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        return (
            initiative.confirmed_count,
            signature_states.confirmed_count(initiative.id),
            stats.dashboard(initiative),
        )


def test_the_sheets_page_links_the_blank_sheet_to_print_while_collecting(app, make_initiative):
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    link = 'href="/admin/initiatives/amiralsgatan/campaign/paper-sheet.pdf"'
    assert link in client.get("/admin/initiatives/amiralsgatan/paper").get_data(as_text=True)
    make_initiative("stangd", state=InitiativeState.CLOSED, opens_days_ago=100)
    closed = client.get("/admin/initiatives/stangd/paper").get_data(as_text=True)
    assert "paper-sheet.pdf" not in closed


def test_the_next_row_starts_with_the_date_of_the_row_typed_before(app, make_initiative):
    """A sheet signed over several days is typed row after row in signing order: the
    next row's date starts as the last row's, not the sheet's, which had to be typed
    again on every row after the first day."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)

    def date_field() -> str:
        html = client.get(sheet).get_data(as_text=True)
        return re.search(r'<input[^>]*name="signed_on"[^>]*>', html).group(0)

    assert f'value="{_today()}"' in date_field()  # no row yet: the sheet's date
    assert _row(client, sheet, "Åsa Öberg", signed_on=_days_ago(3)).status_code == 302
    assert f'value="{_days_ago(3)}"' in date_field()


def test_paper_rows_count_as_their_own_channel(app, make_initiative):
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    assert _row(client, sheet, "Åsa Öberg").status_code == 302
    assert _row(client, sheet, "أمينة حسن", postcode="").status_code == 302
    assert _row(client, sheet, "Faadumo Cabdi", postcode="213 63").status_code == 302
    cached, counted, numbers = _state(app)
    assert cached == counted == 3
    assert numbers.by_channel["paper"]["confirmed"] == 3
    assert numbers.by_channel["web"]["confirmed"] == 0

    page = client.get(sheet).get_data(as_text=True)
    assert "Åsa Öberg" in page and "أمينة حسن" in page
    dashboard = client.get("/admin/initiatives/amiralsgatan").get_data(as_text=True)
    assert re.search(r"Papper</th>", dashboard)
    with app.app_context():
        rows = db.session.scalars(sa.select(PaperRow).order_by(PaperRow.line)).all()
        assert [r.line for r in rows] == [1, 2, 3]
        assert {r.signature.channel for r in rows} == {Channel.PAPER}
        assert all(r.signature.email_enc is None for r in rows)
        assert rows[0].signature.name_enc != "Åsa Öberg".encode()


def test_a_typed_row_loses_its_direction_controls_and_keeps_its_non_joiner(app, make_initiative):
    from .test_signing import PASTED_NAME, STORED_NAME

    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    assert _row(client, sheet, PASTED_NAME).status_code == 302
    assert _row(client, sheet, "\u202eAmira\u202c Hassan", postcode="213 63").status_code == 302
    with app.app_context():
        box = crypto()
        rows = db.session.scalars(sa.select(PaperRow).order_by(PaperRow.line)).all()
        assert [box.decrypt(r.signature.name_enc) for r in rows] == [STORED_NAME, "Amira Hassan"]
    page = client.get(sheet).get_data(as_text=True)
    assert "Amira Hassan" in page and "\u202e" not in page


def test_a_row_with_a_web_or_email_address_for_a_name_is_refused(app, make_initiative):
    from .test_signing import ADDRESS_NAMES, REAL_NAMES

    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    for name in ADDRESS_NAMES:
        response = _row(client, sheet, name)
        assert response.status_code == 400, name
        assert "Skriv bara namnet, utan webbadress eller e-postadress." in response.get_data(
            as_text=True
        )
    assert _state(app)[0] == 0
    for name in REAL_NAMES:
        assert _row(client, sheet, name).status_code == 302, name
    with app.app_context():
        box = crypto()
        rows = db.session.scalars(sa.select(PaperRow).order_by(PaperRow.line)).all()
        assert [box.decrypt(r.signature.name_enc) for r in rows] == REAL_NAMES


def test_rows_outside_the_period_and_bad_postcodes_are_refused(app, make_initiative):
    make_initiative(opens_days_ago=2)
    client = logged_in(app)
    sheet = _sheet(client)
    before = _row(client, sheet, "Tidig Person", signed_on="2001-01-01")
    assert before.status_code == 400 and "under insamlingen" in before.get_data(as_text=True)
    bad = _row(client, sheet, "Någon", postcode="ABC")
    assert bad.status_code == 400
    assert _state(app)[0] == 0
    again = post_form(client, BASE, BASE, number="1", collected_on=_today(), collected_by="X")
    assert again.status_code == 409  # the sheet number is taken


def test_a_postcode_past_the_form_is_refused_in_swedish(app, make_initiative):
    """The form lets only five digits through; a postcode that reaches ``add_row``
    another way is refused with the form's Swedish message, not an English one."""
    make_initiative(opens_days_ago=2)
    client = logged_in(app)
    sheet_id = int(_sheet(client).rsplit("/", 1)[1])
    with app.app_context():
        sheet = db.session.get(PaperSheet, sheet_id)
        for postcode in ("ABC", "2121", "212 14 5"):
            with pytest.raises(lifecycle.TransitionError) as refused:
                paper.add_row(
                    sheet, "test", name="Hodan Ali", postcode=postcode,
                    signed_on=lifecycle.local_date(clock.utcnow()),
                )  # fmt: skip
            assert str(refused.value) == "Skriv postnumret som fem siffror, till exempel 212 14."
        db.session.rollback()
    assert _state(app)[0] == 0


def test_duplicates_of_online_signatures_are_flagged_not_dropped(app, make_initiative, sign):
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    response = _row(client, sheet, "  amira   HASSAN ", postcode="21214")
    assert response.status_code == 302
    assert "behöver granskas" in client.get(sheet).get_data(as_text=True)
    assert _row(client, sheet, "Amira Hassan", postcode="213 63").status_code == 302  # other area
    cached, counted, _ = _state(app)
    assert cached == counted == 3  # flagged rows still count until someone decides

    review = client.get(f"{BASE}/review").get_data(as_text=True)
    assert review.count("Samma person") == 1
    assert "webb, bekräftad, " in review  # the row it matches, in Swedish words
    with app.app_context():
        flagged = db.session.scalars(
            sa.select(PaperRow).where(PaperRow.review == Review.PENDING)
        ).one()
        flagged_id = flagged.signature_id
    done = decide(
        client, f"{BASE}/review", f"{BASE}/review/{flagged_id}/duplicate", note="Skrev även online"
    )
    assert done.status_code == 302
    cached, counted, _ = _state(app)
    assert cached == counted == 2
    with app.app_context():
        row = db.session.get(PaperRow, flagged_id)
        assert row.review == Review.RESOLVED
        assert row.signature.state == SignatureState.INVALIDATED
        assert row.signature.invalidation_reason == "duplicate"


def test_a_row_is_flagged_when_the_online_signer_gave_no_postcode(app, make_initiative, sign):
    """The postcode is optional online: the same name then decides, as it does for a
    row without one; otherwise the person counts twice in the list to the committee."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="")
    sign(name="Hodan Ali", email="hodan@example.org", postcode="")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    assert _row(client, sheet, "Amira Hassan", postcode="212 14").status_code == 302
    assert _row(client, sheet, "Zainab Omar", postcode="212 14").status_code == 302
    with app.app_context():
        flagged = db.session.scalars(
            sa.select(PaperRow).where(PaperRow.review == Review.PENDING)
        ).all()
        assert len(flagged) == 1
        assert "Samma person" in client.get(f"{BASE}/review").get_data(as_text=True)


def test_rescan_flags_rows_signed_online_later_and_keep_clears(app, make_initiative, sign):
    """A kept row answers the matches the organiser looked at, not ones made later."""
    make_initiative()
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Hodan Ali", postcode="212 14")
    sign(name="Hodan Ali", email="hodan@example.org", postcode="212 14")
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(PaperRow.review.is_not(None))) == 0
        )
    post_form(client, f"{BASE}/review", f"{BASE}/review/rescan")
    with app.app_context():
        row = db.session.scalars(sa.select(PaperRow)).one()
        assert row.review == Review.PENDING
        row_id = row.signature_id
    decide(client, f"{BASE}/review", f"{BASE}/review/{row_id}/keep")
    with app.app_context():
        assert db.session.get(PaperRow, row_id).review == Review.KEPT
        assert db.session.get(PaperRow, row_id).signature.state == SignatureState.CONFIRMED
    assert _state(app)[0] == 1  # the online one is still pending

    # Looked at and kept: a rescan with nothing new leaves it alone.
    post_form(client, f"{BASE}/review", f"{BASE}/review/rescan")
    with app.app_context():
        assert db.session.get(PaperRow, row_id).review == Review.KEPT

    # Another Hodan Ali signs online later: the organiser has not compared that one.
    sign(name="Hodan Ali", email="hodan.ali@example.org", postcode="212 14")
    post_form(client, f"{BASE}/review", f"{BASE}/review/rescan")
    page = client.get(f"{BASE}/review").get_data(as_text=True)
    assert "1 nya rader att granska." in page
    with app.app_context():
        row = db.session.get(PaperRow, row_id)
        assert row.review == Review.PENDING
        # Still counting until the organiser decides again.
        assert row.signature.state == SignatureState.CONFIRMED
        online = db.session.scalars(
            sa.select(Signature.public_id).where(Signature.channel == Channel.WEB)
        ).all()
    # Both online signatures are shown to compare with, the old one and the new one.
    assert len(online) == 2 and all(public_id in page for public_id in online)


def test_paper_is_closed_after_submission(app, make_initiative):
    make_initiative(state="submitted")
    client = logged_in(app)
    refused = post_form(client, BASE, BASE, number="9", collected_on=_today(), collected_by="X")
    assert refused.status_code == 409


def test_a_row_dated_after_an_early_close_is_refused(app, make_initiative):
    """Closed early, the collection ended that day (as the pack's period says): a row
    signed later would be a signature from outside the period in the list to the clerk."""
    now = clock.utcnow()
    make_initiative(state="closed", opens_days_ago=10, closed_at=now - datetime.timedelta(days=3))
    client = logged_in(app)
    sheet = _sheet(client)
    late = _row(client, sheet, "Sen Person", signed_on=_today())
    assert late.status_code == 400
    assert "efter att insamlingen slutade" in late.get_data(as_text=True)
    before = lifecycle.local_date(now - datetime.timedelta(days=4)).isoformat()
    assert _row(client, sheet, "Tidig Person", signed_on=before).status_code == 302
    assert _state(app)[0] == 1


def test_a_row_dated_after_its_sheet_was_collected_is_refused(app, make_initiative):
    """Nobody signs a sheet after it was collected: a row dated later (a day mistyped) is
    refused as bad input, saying the sheet's date, with what was typed kept, and nothing
    is stored.  The day the sheet was collected is a day a row can be signed."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client, collected_on=_days_ago(3))
    for day in (_days_ago(2), _today()):
        late = _row(client, sheet, "Hodan Ali", postcode="213 63", signed_on=day)
        assert late.status_code == 400, day
        html = late.get_data(as_text=True)
        assert f"Datumet är efter att listan samlades in ({_days_ago(3)})." in html, day
        assert 'value="Hodan Ali"' in html and 'value="213 63"' in html, day
        assert f'value="{day}"' in html, day
    assert _state(app)[0] == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaperRow)) == 0
    assert _events(app, "paper.row_added") == []

    assert _row(client, sheet, "Hodan Ali", signed_on=_days_ago(3)).status_code == 302
    assert _row(client, sheet, "Amira Hassan", signed_on=_days_ago(5)).status_code == 302
    assert _state(app)[0] == 2


def test_a_decision_sent_again_from_an_old_page_is_refused(app, make_initiative, sign):
    """ "Same person" and then, from the page still open in another tab, "different
    people": the row does not count, so the second answer must not say it does (nor put
    a contrary decision on the record)."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hassan")
    with app.app_context():
        row_id = db.session.scalars(sa.select(PaperRow.signature_id)).one()
    review = f"{BASE}/review"
    # Both forms as one page showed them, sent one after the other.
    keep, same = f"{review}/{row_id}/keep", f"{review}/{row_id}/duplicate"
    keep_form, same_form = (form_as_shown(client, review, action) for action in (keep, same))
    assert client.post(same, data=same_form).status_code == 302
    assert _state(app)[0] == 1

    kept = client.post(keep, data=keep_form)
    assert kept.status_code == 409
    assert "inte längre på granskning" in kept.get_data(as_text=True)
    again = client.post(same, data=same_form)
    assert again.status_code == 409
    with app.app_context():
        row = db.session.get(PaperRow, row_id)
        assert row.review == Review.RESOLVED
        assert row.signature.state == SignatureState.INVALIDATED
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(AuditEvent.action == "paper.review_kept")
            )
            == 0
        )
    assert _state(app)[0] == 1


def test_a_flagged_row_taken_out_on_its_own_page_no_longer_awaits_review(
    app, make_initiative, sign
):
    """A flagged row the organiser invalidates from the signature's page (a typing error):
    it no longer counts, so the pack page must not warn that it is counted unreviewed, and
    the review must not offer to "count" it."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hassan")
    with app.app_context():
        row_id, public_id = db.session.execute(
            sa.select(PaperRow.signature_id, Signature.public_id).join(PaperRow.signature)
        ).one()
    pack_page = "/admin/initiatives/amiralsgatan/pack"
    assert "inte granskad och räknas med" in client.get(pack_page).get_data(as_text=True)
    keep = f"{BASE}/review/{row_id}/keep"
    keep_form = form_as_shown(client, f"{BASE}/review", keep)
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    done = post_form(client, detail, f"{detail}/invalidate", reason="entry_error", note="")
    assert done.status_code == 302
    assert _state(app)[0] == 1

    assert "inte granskad" not in client.get(pack_page).get_data(as_text=True)
    review = client.get(f"{BASE}/review").get_data(as_text=True)
    assert "Inget att granska." in review
    # The sheet says what became of the row, in Swedish, not that it waits for review.
    line = client.get(sheet).get_data(as_text=True).split("Amira Hassan", 1)[1].split("</tr>")[0]
    assert ">ogiltig<" in line
    assert "granskas" not in line and "invalidated<" not in line
    kept = client.post(keep, data=keep_form)  # from the review page opened before
    assert kept.status_code == 409
    assert _state(app)[0] == 1


def test_a_name_spelt_on_another_keyboard_is_still_flagged(app, make_initiative, sign):
    """Signed online on a Persian phone, typed from the sheet on an Arabic or a Swedish
    keyboard: ی or ي, ک or ك, أ or ا, Hadžić or Hadzic.  The same person, counted twice
    unless the row is flagged."""
    make_initiative()
    online = {
        "علی رضایی": "علي رضايي",  # Persian yeh, as typed on an Arabic keyboard
        "کاظم": "كاظم",  # Persian kaf and Arabic kaf
        "أمينة حسن": "امينه حسن",  # hamza and taa marbuta left out
        "Emina Hadžić": "Emina Hadzic",
        "Åsa Öberg": "Asa Oberg",
    }
    for i, name in enumerate(online):
        sign(name=name, email=f"s{i}@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    for typed in online.values():
        assert _row(client, sheet, typed).status_code == 302
    assert _row(client, sheet, "Emina Hadžiomerović").status_code == 302  # someone else
    with app.app_context():
        flagged = db.session.scalars(
            sa.select(PaperRow.line).where(PaperRow.review == Review.PENDING)
        )
        assert sorted(flagged) == [1, 2, 3, 4, 5]


def test_a_sheet_dated_in_the_future_or_before_the_collection_is_refused(app, make_initiative):
    """A sheet cannot be changed once recorded, so a mistyped year (2062 for 2026) would
    stay on it, and every row would start from that date and be refused."""
    make_initiative(opens_days_ago=5)
    client = logged_in(app)
    now = clock.utcnow()
    for day in (now + datetime.timedelta(days=2), now - datetime.timedelta(days=30)):
        on = lifecycle.local_date(day).isoformat()
        refused = post_form(client, BASE, BASE, number="7", collected_on=on, collected_by="X")
        assert refused.status_code == 400, on
        assert "insamlingen" in refused.get_data(as_text=True)
    _sheet(client, "7")  # today: taken
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(PaperSheet.id))) == 1


def _refused_at_the_field(response, field: str, says: str, status: int = 400) -> None:
    """A value the rules refuse (a date, a sheet's number) is its field's error, as a
    format error is: said at the field and in the summary at the top linking to it, not
    only in a banner."""
    assert response.status_code == status
    html = " ".join(response.get_data(as_text=True).split())
    assert f'<a href="#{field}">{says}</a>' in html, field
    inline = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', html)
    assert inline and says in inline[1], field
    tag = re.search(rf'<input[^>]*\bid="{field}"[^>]*>', html)[0]
    assert 'aria-invalid="true"' in tag and f"{field}-error" in tag, field
    assert "Det gick inte" not in html, field


def test_a_date_the_collection_refuses_is_shown_at_the_date_field(app, make_initiative):
    """A new sheet dated before the collection started, and the same for a typed row and
    the two correction forms: the organiser is taken to the date that is wrong."""
    make_initiative(opens_days_ago=5)
    client = logged_in(app)
    before = _days_ago(30)
    sheet_said = "Datumet kan inte vara i framtiden eller före insamlingens början."
    new_sheet = post_form(client, BASE, BASE, number="7", collected_on=before, collected_by="X")
    _refused_at_the_field(new_sheet, "collected_on", sheet_said)

    sheet = _sheet(client, "1")
    row_said = "Datumet måste vara under insamlingen och inte i framtiden."
    _refused_at_the_field(_row(client, sheet, "Hodan Ali", signed_on=before), "signed_on",
                               row_said)  # fmt: skip
    corrected = _correct(client, f"{sheet}/edit", number="1", collected_on=before,
                         collected_by="Hodan")  # fmt: skip
    _refused_at_the_field(corrected, "collected_on", sheet_said)
    _row(client, sheet, "Hodan Ali")
    row_url = f"{sheet}/rows/{_row_id(app)}"
    corrected = _correct(client, row_url, name="Hodan Ali", postcode="212 14", signed_on=before)
    _refused_at_the_field(corrected, "signed_on", row_said)


def test_a_rescan_does_not_flag_the_row_a_duplicate_was_taken_out_for(app, make_initiative):
    """Hodan signed two sheets; the second row was marked "same person".  A later rescan
    flagged the first row against that invalidated duplicate, inviting the organiser to
    take out Hodan's last counted signature too."""
    make_initiative()
    client = logged_in(app)
    first, second = _sheet(client, "1"), _sheet(client, "2")
    _row(client, first, "Hodan Ali")
    _row(client, second, "Hodan Ali")
    with app.app_context():
        flagged = db.session.scalars(
            sa.select(PaperRow.signature_id).where(PaperRow.review == Review.PENDING)
        ).one()
    review = f"{BASE}/review"
    assert decide(client, review, f"{review}/{flagged}/duplicate").status_code == 302
    assert _state(app)[0] == 1

    post_form(client, review, f"{review}/rescan")
    assert "0 nya rader att granska." in client.get(review).get_data(as_text=True)

    # A row typed wrong, taken out as a typing error and typed again: no second signature.
    _row(client, first, "Zainab Omar", postcode="213 63")
    with app.app_context():
        typo = db.session.scalars(
            sa.select(Signature.public_id).join(PaperRow.signature).where(PaperRow.line == 2)
        ).one()
    detail = f"/admin/initiatives/amiralsgatan/signatures/{typo}"
    post_form(client, detail, f"{detail}/invalidate", reason="entry_error", note="fel datum")
    assert _row(client, first, "Zainab Omar", postcode="213 63").status_code == 302
    with app.app_context():
        assert paper_review.review_count(db.session.scalars(sa.select(Initiative.id)).one()) == 0
    assert _state(app)[0] == 2


def _reviews(app) -> dict[int, str | None]:
    """Each row's review by its line (the tests that read it type a single sheet)."""
    with app.app_context():
        return dict(db.session.execute(sa.select(PaperRow.line, PaperRow.review)).all())


def test_a_rescan_flags_what_typing_flags(app, make_initiative, sign):
    """Typed one after the other, the later row of a pair is flagged and the review page
    shows both.  "Sök efter nya dubbletter" over the same rows flagged the earlier row
    too (all three rows of one person), and asked again about rows an organiser had kept
    as another person.  Now it flags what typing flagged: nothing more over typed rows,
    and the same flags over the same rows without any."""
    make_initiative()
    sign(name="Lina Berg", email="lina@example.org", postcode="212 14")
    sign(name="Zainab Omar", email="zainab@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    review = f"{BASE}/review"
    names = (
        "Hodan Ali", "Hodan Ali", "Hodan Ali",  # one person three times
        "Amira Hassan", "Amira Hassan",  # the second kept: another person
        "Samira Yusuf", "Samira Yusuf",  # the second taken out: the same person
        "Lina Berg",  # signed online too
        "Omar Farah",  # nobody else
        "Zainab Omar",  # signed online too; kept: another person
    )  # fmt: skip
    for name in names:
        assert _row(client, sheet, name).status_code == 302, name
    for line, decision in ((5, "keep"), (7, "duplicate"), (10, "keep")):
        done = decide(client, review, f"{review}/{_row_id(app, line)}/{decision}")
        assert done.status_code == 302, line
    # The Zainab Omar kept on line 10 signs the sheet again: compared with her, flagged.
    assert _row(client, sheet, "Zainab Omar").status_code == 302
    typed = _reviews(app)
    pending, kept = Review.PENDING, Review.KEPT
    assert typed == {1: None, 2: pending, 3: pending, 4: None, 5: kept, 6: None,
                     7: Review.RESOLVED, 8: pending, 9: None, 10: kept,
                     11: pending}  # fmt: skip

    assert post_form(client, review, f"{review}/rescan").status_code == 302
    assert "0 nya rader att granska. 0 rader behöver inte längre" in client.get(review).get_data(
        as_text=True
    )
    assert _reviews(app) == typed
    assert _events(app, "paper.rescanned")[-1].details == {"flagged": 0, "cleared": 0}

    # The same rows with no flag waiting (as if typed before the check existed): the
    # rescan raises those typing raised, and none other.
    with app.app_context():
        db.session.execute(
            sa.update(PaperRow).where(PaperRow.review == Review.PENDING).values(review=None)
        )
        db.session.commit()
    assert post_form(client, review, f"{review}/rescan").status_code == 302
    assert "4 nya rader att granska." in client.get(review).get_data(as_text=True)
    assert _reviews(app) == typed
    assert _state(app)[0] == 12  # two online, and every row but line 7


def _web_signatures(app) -> list[Signature]:
    """The online signatures, in the order they were made."""
    with app.app_context():
        return db.session.scalars(
            sa.select(Signature).where(Signature.channel == Channel.WEB).order_by(Signature.id)
        ).all()


def _withdraw(app, signature_id) -> None:
    with app.app_context():
        outcome = signature_states.withdraw(db.session.get(Signature, signature_id))
        assert outcome == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()


def test_a_rescan_unflags_rows_whose_match_no_longer_counts(
    app, make_initiative, sign, monkeypatch
):
    """Rows flagged against online signatures that were then withdrawn, ran out, or were
    taken out as duplicates have nothing left to review: a rescan takes their flags off
    and says how many.  A row still matching stays flagged, a decision stays, and a row
    kept earlier goes back to kept, not to a new comparison with what it was kept
    against."""
    make_initiative()
    people = ("Hodan Ali", "Samira Yusuf", "Amira Hassan", "Lina Berg", "Omar Farah")
    for n, name in enumerate(people):
        sign(name=name, email=f"signer{n}@example.org", postcode="212 14")
    _confirm_all(app)
    sign(name="Zainab Omar", email="zainab@example.org", postcode="212 14")  # never confirmed
    client = logged_in(app)
    sheet = _sheet(client)
    for name in (*people, "Zainab Omar"):
        assert _row(client, sheet, name).status_code == 302
    hodan, samira, amira, lina, omar, zainab = (_row_id(app, line) for line in range(1, 7))
    review = f"{BASE}/review"
    assert decide(client, review, f"{review}/{amira}/keep").status_code == 302
    assert decide(client, review, f"{review}/{omar}/duplicate").status_code == 302
    # A second Amira Hassan signs online after the row was kept: flagged again.
    sign(name="Amira Hassan", email="amira.h@example.org", postcode="212 14")
    post_form(client, review, f"{review}/rescan")
    assert _stored(app, amira)[5] == Review.PENDING

    web = _web_signatures(app)
    _withdraw(app, web[0].id)  # Hodan
    detail = f"/admin/initiatives/amiralsgatan/signatures/{web[1].public_id}"
    post_form(client, detail, f"{detail}/invalidate", reason="duplicate", note="även på papper")
    _withdraw(app, web[6].id)  # the second Amira
    _withdraw(app, web[4].id)  # Omar, whose paper row was taken out
    later = clock.utcnow() + datetime.timedelta(days=app.config["CONFIRM_DAYS"] + 1)
    with monkeypatch.context() as patched, app.app_context():
        patched.setattr(clock, "utcnow", lambda: later)
        assert signature_states.expire_unconfirmed() == 1  # Zainab's link ran out
        db.session.commit()

    rescan = post_form(client, review, f"{review}/rescan")
    assert rescan.status_code == 302
    page = client.get(review).get_data(as_text=True)
    assert (
        "0 nya rader att granska. 4 rader behöver inte längre granskas: de liknar ingen "
        "annan underskrift längre, eller bara rader inskrivna senare" in page
    )
    reviews = {row_id: _stored(app, row_id)[5] for row_id in (hodan, samira, zainab)}
    assert reviews == {hodan: None, samira: None, zainab: None}
    assert _stored(app, amira)[5] == Review.KEPT  # as answered, against the first Amira
    assert _stored(app, lina)[5] == Review.PENDING  # Lina Berg's web signature counts
    assert _stored(app, omar)[3:6:2] == (SignatureState.INVALIDATED, Review.RESOLVED)
    assert _events(app, "paper.rescanned")[-1].details == {"flagged": 0, "cleared": 4}
    assert _state(app)[0] == 7  # online Amira and Lina, and five rows (not Omar's)

    # Nothing is flagged back: the kept row is compared with newer signatures only.
    post_form(client, review, f"{review}/rescan")
    assert "0 nya rader att granska. 0 rader behöver inte längre" in client.get(review).get_data(
        as_text=True
    )
    with app.app_context():
        assert paper_review.review_count(db.session.scalars(sa.select(Initiative.id)).one()) == 1


def test_a_bad_note_on_a_duplicate_is_a_clear_400(app, make_initiative, sign):
    """A note too long, or holding a NUL (PostgreSQL stores no NUL in text: a database
    error, answered 500): the review page again, saying what is wrong, the row untouched."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    _row(client, _sheet(client), "Amira Hassan")
    with app.app_context():
        row_id = db.session.scalars(sa.select(PaperRow.signature_id)).one()
    review = f"{BASE}/review"
    for note, says in (
        ("a\x00b", "tecken som inte är tillåtna"),
        ("x" * 1001, "högst 1 000 tecken"),
    ):
        refused = decide(client, review, f"{review}/{row_id}/duplicate", note=note)
        assert refused.status_code == 400
        assert says in refused.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(PaperRow, row_id)
        assert row.review == Review.PENDING
        assert row.signature.state == SignatureState.CONFIRMED


# --- corrections -------------------------------------------------------------------------

SEEN_RE = re.compile(r'name="seen" type="hidden" value="([0-9a-f]*)"')
SIGNED_ON_RE = re.compile(r'name="signed_on"[^>]* value="([^"]*)"')


def _days_ago(days: int) -> str:
    return lifecycle.local_date(clock.utcnow() - datetime.timedelta(days=days)).isoformat()


def _correct(client, url, **data):
    """Open the correction page (its CSRF token and what it shows), then send ``data``."""
    page = client.get(url)
    assert page.status_code == 200, url
    html = page.get_data(as_text=True)
    if "seen" not in data:
        data["seen"] = SEEN_RE.search(html).group(1)
    # The date a row's page shows goes back with the form unless changed, as in a browser.
    shown_date = SIGNED_ON_RE.search(html)
    if shown_date and "signed_on" not in data:
        data["signed_on"] = shown_date.group(1)
    data["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]
    return client.post(url, data=data)


def _events(app, action):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def _sheet_values(app, number):
    with app.app_context():
        sheet = db.session.scalars(sa.select(PaperSheet).where(PaperSheet.number == number)).one()
        return sheet.number, sheet.collected_on.isoformat(), sheet.collected_by


def test_an_organiser_corrects_a_sheets_number_date_and_collector(app, make_initiative):
    """Sheet 21 typed as 12, on today's date, by a misspelt volunteer: corrected, logged
    with the old and new number and date (the collector's name stays out of the log), and
    the rows keep counting."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client, "12")
    assert _row(client, sheet, "Åsa Öberg", signed_on=_days_ago(3)).status_code == 302
    edit = f"{sheet}/edit"
    assert "Rätta listans uppgifter" in client.get(sheet).get_data(as_text=True)
    fields = {"number": "21", "collected_on": _days_ago(3), "collected_by": "Hodan Cali"}
    done = _correct(client, edit, **fields)
    assert done.status_code == 302 and done.headers["Location"].endswith(sheet)
    assert "Listans uppgifter är rättade." in client.get(sheet).get_data(as_text=True)
    assert _sheet_values(app, "21") == ("21", _days_ago(3), "Hodan Cali")
    assert _state(app)[0] == 1
    listing = client.get(BASE).get_data(as_text=True)
    assert "Lista 21" in listing and "Hodan Cali" in listing and "Lista 12" not in listing

    (event,) = _events(app, "paper.sheet_corrected")
    assert event.actor == "organiser@example.org"
    assert event.details["number"] == {"old": "12", "new": "21"}
    assert event.details["collected_on"] == {"old": _today(), "new": _days_ago(3)}
    assert event.details["collected_by_changed"] is True
    assert "Hodan" not in str(event.details)
    audit_page = client.get("/admin/initiatives/amiralsgatan/audit").get_data(as_text=True)
    assert "Papperslista rättad" in audit_page

    # The same form again (a double click, the browser's "resend"): nothing changes twice.
    again = _correct(client, edit, **fields)
    assert again.status_code == 302
    assert len(_events(app, "paper.sheet_corrected")) == 1
    assert _sheet_values(app, "21") == ("21", _days_ago(3), "Hodan Cali")


def test_a_sheet_correction_is_refused_where_a_new_sheet_would_be(app, make_initiative):
    """The rules of a new sheet: a number another sheet has, a date in the future or
    before the collection opened; and no changes after the hand-in.  Each refusal says
    why, keeps what was typed and changes nothing."""
    make_initiative(opens_days_ago=5)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client, "1")
    _sheet(client, "2")
    edit = f"{sheet}/edit"
    taken = _correct(client, edit, number="2", collected_on=_today(), collected_by="Hodan")
    _refused_at_the_field(taken, "number", "Det finns redan en lista med nummer 2.", 409)
    page = taken.get_data(as_text=True)
    assert 'value="2"' in page and 'value="Hodan"' in page
    again = post_form(client, BASE, BASE, number="2", collected_on=_today(), collected_by="X")
    _refused_at_the_field(again, "number", "Det finns redan en lista med nummer 2.", 409)
    for day in (-2, 30):
        refused = _correct(
            client, edit, number="1", collected_on=_days_ago(day), collected_by="Hodan"
        )
        assert refused.status_code == 400, day
        page = refused.get_data(as_text=True)
        assert "insamlingens början" in page and _days_ago(day) in page
    assert _sheet_values(app, "1") == ("1", _today(), "Hodan, Zainab")

    seen = SEEN_RE.search(client.get(edit).get_data(as_text=True)).group(1)
    with app.app_context():
        db.session.execute(sa.update(Initiative).values(state="submitted"))
        db.session.commit()
    late = _correct(
        client, edit, number="3", collected_on=_today(), collected_by="Hodan", seen=seen
    )
    assert late.status_code == 409
    assert "innan inlämningen" in late.get_data(as_text=True)
    assert "Rätta listans uppgifter" not in client.get(sheet).get_data(as_text=True)
    assert _sheet_values(app, "1") == ("1", _today(), "Hodan, Zainab")
    assert _events(app, "paper.sheet_corrected") == []


def test_bad_input_to_a_sheet_correction_is_a_clear_400(app, make_initiative):
    """Binary, huge and impossible values, and a form without the page's version: the
    page again saying what is wrong, what was typed kept, never a 500."""
    make_initiative(opens_days_ago=5)
    client = logged_in(app)
    sheet = _sheet(client, "1")
    edit = f"{sheet}/edit"
    good = {"number": "1", "collected_on": _today(), "collected_by": "Hodan"}
    cases = [
        ({"number": "1\x002"}, "tecken som inte är tillåtna"),
        ({"number": "9" * 5000}, "Fältet får inte vara längre än 32 tecken."),
        ({"collected_by": "\x7f\x00\ufffe"}, "tecken som inte är tillåtna"),
        ({"collected_by": ""}, "Skriv vem som samlade in listan."),
        ({"collected_on": "2026-02-30"}, "Skriv ett datum som ÅÅÅÅ-MM-DD."),
        ({"collected_on": "99999-01-01"}, "Skriv ett datum som ÅÅÅÅ-MM-DD."),
        ({"collected_on": "\x00"}, "Skriv ett datum som ÅÅÅÅ-MM-DD."),
        ({"seen": "x" * 100}, "Ladda om sidan"),
        ({"seen": ""}, "Ladda om sidan"),
    ]
    for change, says in cases:
        response = _correct(client, edit, **{**good, **change})
        assert response.status_code == 400, change
        page = response.get_data(as_text=True)
        assert says in page, change
    assert _sheet_values(app, "1") == ("1", _today(), "Hodan, Zainab")
    assert _events(app, "paper.sheet_corrected") == []
    assert client.get(f"{BASE}/999999999/edit").status_code == 404
    assert client.get(f"{BASE}/9999999999/edit").status_code == 404


def test_a_sheet_correction_sent_from_an_old_page_is_refused(app, make_initiative):
    """Two organisers open the sheet's correction; the first saves 21, the second then 22
    from the page that still shows 12: told that the sheet changed, shown what it holds
    now, and nothing changes until she sends it again."""
    make_initiative(opens_days_ago=5)
    first, second = logged_in(app, email="nadia@example.org"), logged_in(app)
    sheet = _sheet(first, "12")
    edit = f"{sheet}/edit"
    old = SEEN_RE.search(second.get(edit).get_data(as_text=True)).group(1)
    fields = {"collected_on": _today(), "collected_by": "Hodan, Zainab"}
    assert _correct(first, edit, number="21", **fields).status_code == 302
    stale = _correct(second, edit, number="22", seen=old, **fields)
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "ändrats sedan du öppnade sidan" in page and 'value="22"' in page
    assert "Lista 21" in page
    assert _sheet_values(app, "21")[0] == "21"
    # Sent again from the page that now shows 21: done.
    fresh = SEEN_RE.search(page).group(1)
    assert fresh != old
    assert _correct(second, edit, number="22", seen=fresh, **fields).status_code == 302
    assert _sheet_values(app, "22")[0] == "22"


def _row_id(app, line=1):
    with app.app_context():
        return db.session.scalars(
            sa.select(PaperRow.signature_id).where(PaperRow.line == line)
        ).one()


def _stored(app, row_id):
    with app.app_context():
        row = db.session.get(PaperRow, row_id)
        box = crypto()
        s = row.signature
        return (
            box.decrypt(s.name_enc),
            box.decrypt(s.postcode_enc),
            s.postcode_area,
            s.state,
            s.confirmed_at,
            row.review,
        )


def test_an_organiser_corrects_a_mistyped_row(app, make_initiative):
    """A row typed "Amira Hasan, 212 41": corrected to what the sheet says.  It still
    counts, on the day it was signed; the log names the signature, never the name."""
    make_initiative(opens_days_ago=10)
    client = logged_in(app, role="organiser")
    sheet = _sheet(client)
    assert _row(client, sheet, "Amira Hasan", "212 41", signed_on=_days_ago(2)).status_code == 302
    row_id = _row_id(app)
    before = _stored(app, row_id)
    url = f"{sheet}/rows/{row_id}"
    assert url in client.get(sheet).get_data(as_text=True)
    fields = {"name": " Amira\u202e Hassan ", "postcode": "21214"}
    done = _correct(client, url, **fields)
    assert done.status_code == 302 and done.headers["Location"].endswith(sheet)
    page = client.get(sheet).get_data(as_text=True)
    assert "Rad 1 är rättad." in page and "Amira Hassan" in page
    after = _stored(app, row_id)
    assert after[:3] == ("Amira Hassan", "212 14", "212")
    assert after[3:] == before[3:] == (SignatureState.CONFIRMED, before[4], None)
    cached, counted, numbers = _state(app)
    assert cached == counted == 1 and numbers.by_channel["paper"]["confirmed"] == 1

    (event,) = _events(app, "paper.row_corrected")
    assert event.signature_id == row_id and event.actor == "organiser@example.org"
    assert event.details == {
        "sheet": "1",
        "line": 1,
        "fields": ["name", "postcode"],
        "flagged": False,
        "cleared": 0,
    }
    assert "Pappersrad rättad" in client.get("/admin/initiatives/amiralsgatan/audit").get_data(
        as_text=True
    )
    again = _correct(client, url, **fields)
    assert again.status_code == 302
    assert len(_events(app, "paper.row_corrected")) == 1


def test_a_corrected_row_is_checked_for_duplicates_again(app, make_initiative, sign):
    """Typed "Amira Hasan", it matched nobody; corrected to the name on the sheet, it is
    the Amira Hassan who signed online: flagged.  Corrected again (it said Amina), the
    flag goes.  A row kept as "different people" is compared afresh once its name changes."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hasan")
    row_id = _row_id(app)
    url = f"{sheet}/rows/{row_id}"
    assert _stored(app, row_id)[5] is None
    flagged = _correct(client, url, name="Amira Hassan", postcode="212 14")
    assert flagged.status_code == 302
    assert "behöver granskas" in client.get(sheet).get_data(as_text=True)
    assert _stored(app, row_id)[5] == Review.PENDING
    assert _events(app, "paper.row_corrected")[-1].details["flagged"] is True
    assert _state(app)[0] == 2  # flagged rows count until someone decides

    assert _correct(client, url, name="Amina Hassan", postcode="212 14").status_code == 302
    assert _stored(app, row_id)[5] is None
    with app.app_context():
        assert paper_review.review_count(db.session.scalars(sa.select(Initiative.id)).one()) == 0

    _correct(client, url, name="Amira Hassan", postcode="212 14")
    decide(client, f"{BASE}/review", f"{BASE}/review/{row_id}/keep")
    assert _stored(app, row_id)[5] == Review.KEPT
    # Kept for the name it had; a new postcode is a new comparison.
    assert _correct(client, url, name="Amira Hassan", postcode="").status_code == 302
    assert _stored(app, row_id)[5] == Review.PENDING
    assert _state(app)[0] == 2


def test_a_row_taken_out_keeps_its_state_when_corrected(app, make_initiative, sign):
    """A row invalidated as a duplicate and then corrected: still out, still not
    counted, its decision kept."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Amira Hassan")
    row_id = _row_id(app)
    decide(client, f"{BASE}/review", f"{BASE}/review/{row_id}/duplicate", note="")
    assert _state(app)[0] == 1
    done = _correct(client, f"{sheet}/rows/{row_id}", name="Amina Hassan", postcode="212 14")
    assert done.status_code == 302
    after = _stored(app, row_id)
    assert after[0] == "Amina Hassan"
    assert after[3:] == (SignatureState.INVALIDATED, after[4], Review.RESOLVED)
    assert after[4] is not None
    assert _state(app)[0] == 1


def test_bad_input_to_a_row_correction_is_a_clear_4xx(app, make_initiative):
    """The rules of a typed row (the names rule, the postcode rule), binary and huge
    values, an old page, an erased row, the hand-in: a clear message, what was typed
    kept, the row unchanged, never a 500."""
    make_initiative(opens_days_ago=5)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Hodan Ali", "212 14")
    row_id = _row_id(app)
    before = _stored(app, row_id)
    url = f"{sheet}/rows/{row_id}"
    cases = [
        ({"name": "www.example.com"}, "Skriv bara namnet, utan webbadress eller e-postadress."),
        ({"name": "Hodan\x00Ali"}, "tecken som inte är tillåtna"),
        ({"name": "H" * 5000}, "Fältet får inte vara längre än 200 tecken."),
        ({"name": "  "}, "Skriv namnet."),
        ({"postcode": "ABC"}, "Skriv postnumret som fem siffror"),
        ({"postcode": "\xff\xfe\x00"}, "Skriv postnumret som fem siffror"),
        ({"seen": "'; DROP"}, "Ladda om sidan"),
    ]
    for change, says in cases:
        response = _correct(client, url, **{"name": "Hodan Cali", "postcode": "213 63", **change})
        assert response.status_code == 400, change
        assert says in response.get_data(as_text=True), change
    # Beyond any form's size: the app's own answer, not the database's.
    huge = _correct(client, url, name="H" * 100_000, postcode="212 14")
    assert huge.status_code == 413 and "För mycket text" in huge.get_data(as_text=True)
    kept = _correct(client, url, name="Hodan Cali", postcode="ABC")
    assert 'value="Hodan Cali"' in kept.get_data(as_text=True)
    assert _stored(app, row_id) == before

    # From a page opened before another organiser's correction.
    old = SEEN_RE.search(client.get(url).get_data(as_text=True)).group(1)
    assert _correct(client, url, name="Hodan Alí", postcode="212 14").status_code == 302
    stale = _correct(client, url, name="Hodan Cali", postcode="212 14", seen=old)
    assert stale.status_code == 409
    assert "ändrats sedan du öppnade sidan" in stale.get_data(as_text=True)
    assert _stored(app, row_id)[0] == "Hodan Alí"

    # Another initiative's row, or this one under another sheet: no such page.
    other = _sheet(client, "2")
    assert client.get(f"{other}/rows/{row_id}").status_code == 404
    assert client.get(f"{sheet}/rows/999999999").status_code == 404

    # Erased on the signer's request: there is no name left to correct.
    with app.app_context():
        public_id = db.session.get(PaperRow, row_id).signature.public_id
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    erase = {"erase-received_via": "email", "erase-received_on": _today()}
    erased = post_form(client, detail, f"{detail}/erase", **erase)
    assert erased.status_code == 302, erased.get_data(as_text=True)
    # Sent from the old page, with the date it showed (this page has no form now).
    refused = _correct(client, url, name="Hodan Ali", postcode="", signed_on=_today(), seen=old)
    assert refused.status_code == 409
    assert "raderade" in refused.get_data(as_text=True)
    assert _stored(app, row_id)[0] is None
    assert f"{sheet}/rows/{row_id}" not in client.get(sheet).get_data(as_text=True)


def test_a_row_cannot_be_corrected_after_the_hand_in(app, make_initiative):
    make_initiative(opens_days_ago=5)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Hodan Ali", "212 14")
    row_id = _row_id(app)
    url = f"{sheet}/rows/{row_id}"
    seen = SEEN_RE.search(client.get(url).get_data(as_text=True)).group(1)
    with app.app_context():
        db.session.execute(sa.update(Initiative).values(state="submitted"))
        db.session.commit()
    refused = _correct(
        client, url, name="Hodan Cali", postcode="212 14", signed_on=_today(), seen=seen
    )
    assert refused.status_code == 409
    assert "innan inlämningen" in refused.get_data(as_text=True)
    assert _stored(app, row_id)[0] == "Hodan Ali"
    assert url not in client.get(sheet).get_data(as_text=True)


def test_corrections_reach_the_list_the_city_receives(app, make_initiative, tmp_path):
    """The pack's list is read when it is made: the corrected sheet number, name and
    postcode area are what the clerk gets, on the day the row was signed."""
    from initiatives import pack

    make_initiative(opens_days_ago=10)
    client = logged_in(app)
    sheet = _sheet(client, "12")
    _row(client, sheet, "Amira Hasan", "212 41", signed_on=_days_ago(2))
    _correct(client, f"{sheet}/edit", number="21", collected_on=_today(), collected_by="Hodan")
    _correct(client, f"{sheet}/rows/{_row_id(app)}", name="Amira Hassan", postcode="213 63")
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        rows = list(pack.snapshot(initiative, tmp_path / "list.csv").rows())
    assert [(r.name, r.area, r.day, r.sheet) for r in rows] == [
        ("Amira Hassan", "213", _days_ago(2), "21")
    ]


def test_no_review_decision_after_the_hand_in(app, make_initiative, sign):
    """The list handed to the committee is final: a row still flagged then keeps its flag
    ("different people" changed it after the hand-in; "same person" was refused)."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    _row(client, _sheet(client), "Amira Hassan")
    with app.app_context():
        row_id = db.session.scalars(sa.select(PaperRow.signature_id)).one()
        db.session.execute(sa.update(Initiative).values(state="submitted"))
        db.session.commit()
    review = f"{BASE}/review"
    for action in ("keep", "duplicate"):
        refused = decide(client, review, f"{review}/{row_id}/{action}")
        assert refused.status_code == 409, action
        assert "innan inlämningen" in refused.get_data(as_text=True), action
    with app.app_context():
        row = db.session.get(PaperRow, row_id)
        assert row.review == Review.PENDING and row.kept_at is None
        assert row.signature.state == SignatureState.CONFIRMED
    assert _events(app, "paper.review_kept") == []


def test_a_row_waiting_for_review_links_to_the_review_from_its_sheet(app, make_initiative, sign):
    """The sheet marks a likely duplicate "granskas", and the organiser typing rows is
    told it needs a review: the mark leads to the page where it is decided, which the
    sheet otherwise never links to."""
    make_initiative()
    sign(name="Amira Hassan", email="amira@example.org", postcode="212 14")
    _confirm_all(app)
    client = logged_in(app)
    sheet = _sheet(client)
    _row(client, sheet, "Fatima Osman", postcode="213 66")
    _row(client, sheet, "Amira Hassan")
    page = client.get(sheet).get_data(as_text=True)
    flagged = page.split("Amira Hassan", 1)[1].split("</tr>")[0]
    assert ">granskas</span>" in flagged
    assert re.search(rf'<a href="{BASE}/review#row-\d+">Avgör<', flagged)
    counted = page.split("Fatima Osman", 1)[1].split("</tr>")[0]
    assert f"{BASE}/review" not in counted
