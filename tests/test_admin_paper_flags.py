"""Which row of a pair waits for review once what flagged it is gone: of two paper rows of
one person the earlier is the signature that counts, and the later one carries the
question, after a rescan and after a correction as when they were typed."""

from __future__ import annotations

import datetime

import pytest

from initiatives import abuse, clock, signature_states
from initiatives.extensions import db
from initiatives.models import Signature

from .admin_helpers import decide, logged_in, post_form
from .test_admin_paper import (
    BASE,
    _correct,
    _events,
    _reviews,
    _row,
    _row_id,
    _sheet,
    _state,
    _web_signatures,
    _withdraw,
)

PENDING, KEPT, RESOLVED = "pending", "kept", "resolved"
REVIEW = f"{BASE}/review"


def _confirm(app, signature_id) -> None:
    with app.app_context():
        signature_states.confirm(db.session.get(Signature, signature_id))
        db.session.commit()


def _online(app, sign, email, *, confirmed=True) -> int:
    """Amina Hassan, 212 14, signs online: her signature's id."""
    sign(name="Amina Hassan", email=email, postcode="212 14")
    online = _web_signatures(app)[-1]
    if confirmed:
        _confirm(app, online.id)
    return online.id


def _taken_out_as_a_typing_error(app, client, signature_id) -> None:
    with app.app_context():
        public_id = db.session.get(Signature, signature_id).public_id
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    done = post_form(client, detail, f"{detail}/invalidate", reason="entry_error", note="")
    assert done.status_code == 302


def _restored(client, signature_id, app) -> None:
    """Undo the row's invalidation on its signature's page."""
    with app.app_context():
        public_id = db.session.get(Signature, signature_id).public_id
    detail = f"/admin/initiatives/amiralsgatan/signatures/{public_id}"
    assert post_form(client, detail, f"{detail}/restore").status_code == 302


def _expired(app, monkeypatch) -> None:
    later = clock.utcnow() + datetime.timedelta(days=app.config["CONFIRM_DAYS"] + 1)
    with monkeypatch.context() as patched, app.app_context():
        patched.setattr(clock, "utcnow", lambda: later)
        assert signature_states.expire_unconfirmed() == 1
        db.session.commit()


def _rescan(client) -> str:
    """Press "Sök efter nya dubbletter": what the review page then says."""
    assert post_form(client, REVIEW, f"{REVIEW}/rescan").status_code == 302
    return client.get(REVIEW).get_data(as_text=True)


def _amina_online_then_typed(app, client, sign, *names: str) -> tuple[int, str]:
    """Amina Hassan, 212 14, signs online; then an organiser types ``names`` on a new
    sheet, a line each.  The online signature's id, and the sheet."""
    online = _online(app, sign, "amina@example.org")
    sheet = _sheet(client)
    for name in names:
        assert _row(client, sheet, name).status_code == 302
    return online, sheet


def _amina_typed_twice(app, client, sign, *, confirmed=True) -> tuple[int, str]:
    """Amina signs online, then on a sheet twice: line 1 is flagged against her online
    signature, line 2 against both.  The online signature's id, and the sheet."""
    online = _online(app, sign, "amina@example.org", confirmed=confirmed)
    sheet = _sheet(client)
    for _ in range(2):
        assert _row(client, sheet, "Amina Hassan", postcode="21214").status_code == 302
    assert _reviews(app) == {1: PENDING, 2: PENDING}
    return online, sheet


@pytest.mark.parametrize("gone", ["withdrawn", "typing error", "expired"])
def test_the_earlier_row_is_unflagged_once_only_a_later_row_matches_it(
    app, make_initiative, sign, monkeypatch, gone
):
    """Amina's online signature goes (withdrawn, taken out as a typing error, or never
    confirmed): line 1 is then the signature that counts, and line 2 asks whether it is
    a second one.  Line 1 stayed flagged, so the organiser was asked about the row that
    counts and could take it out instead of line 2."""
    make_initiative()
    client = logged_in(app)
    online, _ = _amina_typed_twice(app, client, sign, confirmed=gone != "expired")
    if gone == "withdrawn":
        _withdraw(app, online)
    elif gone == "typing error":
        _taken_out_as_a_typing_error(app, client, online)
    else:
        _expired(app, monkeypatch)

    page = _rescan(client)
    assert _reviews(app) == {1: None, 2: PENDING}
    assert "0 nya rader att granska. 1 rad behöver inte längre granskas" in page
    assert _events(app, "paper.rescanned")[-1].details == {"flagged": 0, "cleared": 1}
    # The review page asks about line 2 alone, showing line 1 to compare with.
    assert page.count("Samma person") == 1 and "Lista 1, rad 2" in page
    assert _state(app)[0] == 2

    # Nothing moves back at the next rescan.
    assert "0 nya rader att granska. 0 rader behöver inte längre" in _rescan(client)
    assert _reviews(app) == {1: None, 2: PENDING}


@pytest.mark.parametrize("corrected", [1, 2])
def test_a_correction_leaves_the_flag_on_the_later_row(app, make_initiative, sign, corrected):
    """Amina's online signature is withdrawn, and one of her two rows is corrected (the
    sheet gives no postcode after all) before any rescan: she still signed the sheet
    twice, and line 2 is the one asked about.  Line 1 corrected was flagged against line
    2 (and stayed so), line 2 corrected left line 1 flagged against it."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_typed_twice(app, client, sign)
    _withdraw(app, online)
    url = f"{sheet}/rows/{_row_id(app, corrected)}"
    done = _correct(client, url, name="Amina Hassan", postcode="")
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert _reviews(app) == {1: None, 2: PENDING}
    event = _events(app, "paper.row_corrected")[-1]
    if corrected == 1:
        assert "Rad 1 är rättad. Den liknar bara rader inskrivna senare, som väntar på" in page
        assert (event.details["flagged"], event.details["cleared"]) == (False, 0)
    else:
        assert "Rad 2 är rättad, men den liknar en annan underskrift och behöver granskas." in page
        assert "1 annan rad behöver inte längre granskas" in page
        assert (event.details["flagged"], event.details["cleared"]) == (True, 1)
    assert "0 nya rader att granska. 0 rader behöver inte längre" in _rescan(client)
    assert _reviews(app) == {1: None, 2: PENDING}


def test_a_row_with_something_of_its_own_to_answer_for_stays_flagged(app, make_initiative, sign):
    """Line 1 stays flagged while Amina's online signature counts, and once it is
    withdrawn, while another one made after line 1 was typed matches it: nobody else
    can be asked about that one, whenever it was made."""
    make_initiative()
    client = logged_in(app)
    online, _ = _amina_typed_twice(app, client, sign)
    assert "0 nya rader att granska. 0 rader behöver inte längre" in _rescan(client)
    assert _reviews(app) == {1: PENDING, 2: PENDING}

    _online(app, sign, "amina.hassan@example.org")
    _withdraw(app, online)
    page = _rescan(client)
    assert _reviews(app) == {1: PENDING, 2: PENDING}
    assert "0 nya rader att granska. 0 rader behöver inte längre" in page


def test_three_rows_of_one_person(app, make_initiative, sign):
    """Amina signed online and three times on paper; the online signature is withdrawn.
    Line 1 counts; lines 2 and 3 each ask whether they are a second signature, and line
    2 still does once line 3 is taken out as the same person."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_online_then_typed(
        app, client, sign, "Amina Hassan", "Amina Hassan", "Amina Hassan", "Hodan Ali"
    )
    assert _reviews(app) == {1: PENDING, 2: PENDING, 3: PENDING, 4: None}
    _withdraw(app, online)
    page = _rescan(client)
    assert _reviews(app) == {1: None, 2: PENDING, 3: PENDING, 4: None}
    assert "0 nya rader att granska. 1 rad behöver inte längre granskas" in page

    third = decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 3)}/duplicate", note="")
    assert third.status_code == 302
    assert "0 nya rader att granska. 0 rader behöver inte längre" in _rescan(client)
    assert _reviews(app) == {1: None, 2: PENDING, 3: RESOLVED, 4: None}
    assert _state(app)[0] == 3  # lines 1, 2 (until decided) and 4


@pytest.mark.parametrize("later_row", ["waiting", "kept"])
def test_a_kept_row_flagged_again_goes_back_to_kept_when_a_later_row_carries_it(
    app, make_initiative, sign, later_row
):
    """Line 1 was kept as another person than Amina online, and flagged again by a
    second Amina who signed online after that.  Line 2, typed later, matches all three.
    Once the second Amina withdraws, line 1 has nothing left made since its keep that
    is its own to answer for: line 2 asks about the two (or an organiser kept it after
    line 1 was kept, and answered), and line 1 goes back to kept."""
    make_initiative()
    client = logged_in(app)
    _online(app, sign, "amina@example.org")
    sheet = _sheet(client)
    assert _row(client, sheet, "Amina Hassan").status_code == 302
    first = _row_id(app, 1)
    assert decide(client, REVIEW, f"{REVIEW}/{first}/keep").status_code == 302
    second_online = _online(app, sign, "amina.h@example.org", confirmed=False)
    assert "1 nya rader att granska." in _rescan(client)
    assert _row(client, sheet, "Amina Hassan").status_code == 302
    assert _reviews(app) == {1: PENDING, 2: PENDING}
    if later_row == "kept":
        assert decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 2)}/keep").status_code == 302

    _withdraw(app, second_online)
    page = _rescan(client)
    assert _reviews(app) == {1: KEPT, 2: PENDING if later_row == "waiting" else KEPT}
    assert "0 nya rader att granska. 1 rad behöver inte längre granskas" in page


def test_a_row_corrected_to_the_name_of_a_later_kept_row_stays_flagged(app, make_initiative, sign):
    """Line 2 was kept as another person than Amina online; line 1, typed "Amina Hasan",
    is corrected to her name afterwards.  Nobody was asked whether lines 1 and 2 are one
    person (line 2 was kept before line 1 read so), so line 1 stays flagged after the
    online signature is withdrawn."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_online_then_typed(app, client, sign, "Amina Hasan", "Amina Hassan")
    assert decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 2)}/keep").status_code == 302
    done = _correct(client, f"{sheet}/rows/{_row_id(app, 1)}", name="Amina Hassan")
    assert done.status_code == 302
    assert _reviews(app) == {1: PENDING, 2: KEPT}
    _withdraw(app, online)
    page = _rescan(client)
    assert _reviews(app) == {1: PENDING, 2: KEPT}
    assert "0 nya rader att granska. 0 rader behöver inte längre" in page


@pytest.mark.parametrize("line_1", ["as typed", "corrected before the keep"])
def test_the_earlier_row_is_unflagged_once_a_later_row_was_kept_after_it(
    app, make_initiative, sign, line_1
):
    """Amina signs online, then the sheet twice; an organiser keeps line 2 as another
    person, on a review page that showed her online signature and line 1.  Once the
    online signature is withdrawn, line 1 matches only line 2, and that keep answered
    about the two: it came after line 1 last changed (typed, or corrected to no
    postcode: still Amina).  Line 1 needs no review, and counts."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_typed_twice(app, client, sign)
    if line_1 == "corrected before the keep":
        done = _correct(client, f"{sheet}/rows/{_row_id(app, 1)}", name="Amina Hassan", postcode="")
        assert done.status_code == 302
        assert _reviews(app) == {1: PENDING, 2: PENDING}
    assert decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 2)}/keep").status_code == 302
    _withdraw(app, online)

    page = _rescan(client)
    assert _reviews(app) == {1: None, 2: KEPT}
    assert "0 nya rader att granska. 1 rad behöver inte längre granskas" in page
    assert _events(app, "paper.rescanned")[-1].details == {"flagged": 0, "cleared": 1}
    assert _state(app)[0] == 2
    assert "0 nya rader att granska. 0 rader behöver inte längre" in _rescan(client)
    assert _reviews(app) == {1: None, 2: KEPT}


def test_a_row_corrected_after_an_earlier_row_was_kept_is_flagged_by_a_rescan(
    app, make_initiative, sign
):
    """Line 1 is kept as another person than Amina online after line 2 ("Hodan Ali") was
    typed.  Line 1 is taken out as a typing error, Amina withdraws, and line 2 is
    corrected to her name: it matches nothing that counts, and is not flagged.  Line 1
    restored matches it, and nobody was asked about the two: line 1's keep came before
    line 2 read "Amina Hassan", though after it was typed.  A rescan flags line 2, as
    typing it now would."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_online_then_typed(app, client, sign, "Amina Hassan", "Hodan Ali")
    first, second = _row_id(app, 1), _row_id(app, 2)
    assert decide(client, REVIEW, f"{REVIEW}/{first}/keep").status_code == 302
    _taken_out_as_a_typing_error(app, client, first)
    _withdraw(app, online)
    assert _correct(client, f"{sheet}/rows/{second}", name="Amina Hassan").status_code == 302
    assert _reviews(app) == {1: KEPT, 2: None}
    _restored(client, first, app)
    assert _state(app)[0] == 2

    page = _rescan(client)
    assert _reviews(app) == {1: KEPT, 2: PENDING}
    assert "1 nya rader att granska. 0 rader behöver inte längre" in page
    assert page.count("Samma person") == 1 and "Lista 1, rad 2" in page


@pytest.mark.parametrize("restored_by", ["its page", "abuse review"])
def test_a_row_restored_after_a_later_row_was_kept_stays_flagged(
    app, make_initiative, sign, restored_by
):
    """Amina signs online, then the sheet twice.  Line 1 is taken out as a typing error,
    and line 2 kept as another person on a page that showed her online signature alone.
    Line 1 counts again (restored on its signature's page, or with a selection of
    signatures in abuse review) and matches line 2, and nobody was asked about the two:
    once the online signature is withdrawn, line 1 still waits for review."""
    make_initiative()
    client = logged_in(app)
    online, _ = _amina_typed_twice(app, client, sign)
    first = _row_id(app, 1)
    _taken_out_as_a_typing_error(app, client, first)
    assert decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 2)}/keep").status_code == 302
    if restored_by == "its page":
        _restored(client, first, app)
    else:
        with app.app_context():
            initiative_id = db.session.get(Signature, first).initiative_id
            selection = abuse.Selection(initiative_id, signature_ids=[first])
            assert abuse.restore(selection, actor="admin").confirmed == 1
            db.session.commit()
    _withdraw(app, online)

    page = _rescan(client)
    assert _reviews(app) == {1: PENDING, 2: KEPT}
    assert "0 nya rader att granska. 0 rader behöver inte längre" in page
    assert page.count("Samma person") == 1 and "Lista 1, rad 1" in page


def test_a_kept_row_is_flagged_again_by_a_pending_signature_corrected_to_its_name(
    app, make_initiative, sign
):
    """Amina signed online as "Amina H" and has not confirmed yet.  Line 1, Amina Hassan,
    was flagged against another Amina Hassan online and kept as another person.  Then
    Amina signs again with her full name: her pending signature now carries it (a
    correction), and nobody has compared it with line 1.  The next rescan asks, though
    the signature was made before the keep."""
    make_initiative()
    client = logged_in(app)
    sign(name="Amina H", email="amina.h@example.org", postcode="212 14")
    _online(app, sign, "amina@example.org")
    sheet = _sheet(client)
    assert _row(client, sheet, "Amina Hassan").status_code == 302
    assert decide(client, REVIEW, f"{REVIEW}/{_row_id(app, 1)}/keep").status_code == 302
    assert "0 nya rader att granska." in _rescan(client)

    sign(name="Amina Hassan", email="amina.h@example.org", postcode="212 14")
    assert _events(app, "signature.details_corrected")
    assert "1 nya rader att granska." in _rescan(client)
    assert _reviews(app) == {1: PENDING}
