"""A decision on the review page ("different people", "same person") answers only about
what the page showed of the row: sent from a page opened before another row that
matches it was typed or corrected, or before a signature it matched went, it changes
nothing, and the page is shown again as it is now."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from initiatives.extensions import db
from initiatives.models import AuditEvent, Signature

from .admin_helpers import decide, form_as_shown, logged_in, post_form
from .test_admin_paper import _correct, _reviews, _row, _row_id, _state, _withdraw
from .test_admin_paper_flags import PENDING, REVIEW, _amina_online_then_typed

CHANGED = "Raden har ändrats sedan sidan öppnades: titta på den igen."
NO_PAGE = "Formuläret saknar uppgifter om vad sidan visade: titta på raden igen."


def _keep(row_id: int) -> str:
    return f"{REVIEW}/{row_id}/keep"


def _same_person(row_id: int) -> str:
    return f"{REVIEW}/{row_id}/duplicate"


def _decisions(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.action.in_(["paper.review_kept", "signature.invalidated"])
            )
        ).all()


def _decided_on_nothing(app, response, before) -> str:
    """The page refused the decision and changed nothing: what it shows."""
    page = response.get_data(as_text=True)
    assert response.status_code == 409, page
    assert _decisions(app) == []
    assert _state(app) == before
    return page


def _public_id(app, signature_id: int) -> str:
    with app.app_context():
        return db.session.get(Signature, signature_id).public_id


def _amina_on_paper(app, make_initiative, sign, *names: str) -> tuple[FlaskClient, str, int]:
    """Amina Hassan signs online, then an organiser types a sheet with her on line 1
    (flagged against the online signature) and ``names`` on the lines after: the
    organiser's client, the sheet's address and the online signature's id."""
    make_initiative()
    client = logged_in(app)
    online, sheet = _amina_online_then_typed(app, client, sign, "Amina Hassan", *names)
    return client, sheet, online


@pytest.mark.parametrize("decision", ["keep", "same person"])
def test_a_decision_from_a_page_opened_before_a_matching_row_was_typed_is_refused(
    app, make_initiative, sign, decision
):
    """Line 1 (Amina, flagged against her online signature) is on the review page; a
    colleague then types line 2, Amina again.  "Different people" sent from the page as it
    was would count as an answer about lines 1 and 2 too (kept after line 2 was typed),
    though nobody saw line 2 next to line 1.  It is refused, nothing changes, and the
    page shows line 1 with line 2 now, its forms sending what it shows now."""
    client, sheet, _online_id = _amina_on_paper(app, make_initiative, sign)
    first = _row_id(app, 1)
    action = _keep(first) if decision == "keep" else _same_person(first)
    stale = form_as_shown(client, REVIEW, action)

    assert _row(client, sheet, "Amina Hassan").status_code == 302
    second = _row_id(app, 2)
    before = _state(app)
    page = _decided_on_nothing(app, client.post(action, data=stale | {"note": ""}), before)
    assert CHANGED in page
    assert _reviews(app) == {1: PENDING, 2: PENDING}
    # Line 1's matches now: the online signature and line 2.
    first_section = page.split("Lista 1, rad 1")[1].split("Lista 1, rad 2")[0]
    assert _public_id(app, second) in first_section

    # The page shown again is a fresh one: its form is accepted.
    fresh = form_as_shown(client, REVIEW, action)
    assert fresh["seen"] != stale["seen"]
    assert client.post(action, data=fresh | {"note": ""}).status_code == 302
    assert _reviews(app)[1] == ("kept" if decision == "keep" else "resolved")


@pytest.mark.parametrize("correction", ["to the same name", "to another name"])
def test_a_keep_from_a_page_opened_before_a_matched_row_was_corrected_is_refused(
    app, make_initiative, sign, correction
):
    """Line 2 (Amina, flagged against her online signature and line 1) is on the review
    page; a colleague then corrects line 1, still to a name that matches ("AMINA HASSAN":
    what the page showed of line 1 is no longer what it says), or line 3 (Hodan) to
    Amina, a match the page never showed.  Kept from the page as it was, it would count
    as an answer about line 2 and the corrected row as they read now."""
    client, sheet, _online_id = _amina_on_paper(
        app, make_initiative, sign, "Amina Hassan", "Hodan Ali"
    )
    second = _row_id(app, 2)
    stale = form_as_shown(client, REVIEW, _keep(second))

    if correction == "to the same name":
        corrected = _correct(client, f"{sheet}/rows/{_row_id(app, 1)}", name="AMINA HASSAN")
    else:
        corrected = _correct(client, f"{sheet}/rows/{_row_id(app, 3)}", name="Amina Hassan")
    assert corrected.status_code == 302
    reviews = _reviews(app)
    before = _state(app)
    page = _decided_on_nothing(app, client.post(_keep(second), data=stale), before)
    assert CHANGED in page
    assert _reviews(app) == reviews and reviews[2] == PENDING
    assert decide(client, REVIEW, _keep(second)).status_code == 302
    assert _reviews(app)[2] == "kept"


def test_same_person_from_a_page_opened_before_the_match_went_is_refused(
    app, make_initiative, sign
):
    """Line 1 is on the review page against Amina's online signature, which she then
    withdraws: "same person" sent from the page as it was answers about a match that is no
    longer there.  Refused; the page shows that the other signature is gone."""
    client, _sheet_path, online = _amina_on_paper(app, make_initiative, sign)
    first = _row_id(app, 1)
    stale = form_as_shown(client, REVIEW, _same_person(first))

    _withdraw(app, online)
    before = _state(app)
    response = client.post(_same_person(first), data=stale | {"note": "Skrev även online"})
    page = _decided_on_nothing(app, response, before)
    assert CHANGED in page
    assert "Den andra underskriften finns inte längre kvar i listan." in page
    assert _reviews(app) == {1: PENDING}


@pytest.mark.parametrize("decision", ["keep", "same person"])
def test_a_decision_from_a_fresh_page_is_taken(app, make_initiative, sign, decision):
    client, _sheet_path, _online_id = _amina_on_paper(app, make_initiative, sign)
    first = _row_id(app, 1)
    action = _keep(first) if decision == "keep" else _same_person(first)
    assert decide(client, REVIEW, action, note="").status_code == 302
    assert _reviews(app) == {1: "kept" if decision == "keep" else "resolved"}
    assert len(_decisions(app)) == 1


@pytest.mark.parametrize("decision", ["keep", "same person"])
@pytest.mark.parametrize("seen", [None, "", "0" * 64])
def test_a_decision_without_what_the_page_showed_is_refused(
    app, make_initiative, sign, decision, seen
):
    """A form from a page loaded before the review page sent what it showed (open across
    a deploy), or with a value that is not what the row matches now: nothing says what the
    organiser looked at, so it is refused like a stale page rather than taken as an
    answer about whatever the row matches now."""
    client, _sheet_path, _online_id = _amina_on_paper(app, make_initiative, sign)
    first = _row_id(app, 1)
    action = _keep(first) if decision == "keep" else _same_person(first)
    data = {"note": ""} if seen is None else {"note": "", "seen": seen}
    before = _state(app)
    page = _decided_on_nothing(app, post_form(client, REVIEW, action, **data), before)
    assert (NO_PAGE if not seen else CHANGED) in page
    assert _reviews(app) == {1: PENDING}
    assert 'name="seen" type="hidden"' in page


def test_a_refused_same_person_keeps_the_note_the_organiser_typed(app, make_initiative, sign):
    """The organiser wrote why the two are the same person; the page had changed, so the
    decision is refused and she looks again: her note is still in the form, for that
    row only, not typed again from memory."""
    client, sheet, _online_id = _amina_on_paper(app, make_initiative, sign)
    first = _row_id(app, 1)
    stale = form_as_shown(client, REVIEW, _same_person(first))

    assert _row(client, sheet, "Amina Hassan").status_code == 302
    note = "Samma handstil & adress som webbunderskriften <b>"
    before = _state(app)
    response = client.post(_same_person(first), data=stale | {"note": note})
    page = _decided_on_nothing(app, response, before)
    escaped = "Samma handstil &amp; adress som webbunderskriften &lt;b&gt;"
    assert f'id="note-{first}" name="note" type="text" value="{escaped}"' in page
    assert page.count(escaped) == 1  # not in line 2's form (flagged too, on the page)
    assert f'id="note-{_row_id(app, 2)}" name="note" type="text" value=""' in page
