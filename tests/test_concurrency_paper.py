"""Races over paper sheets: lines and sheet numbers taken twice, corrections, duplicate
decisions and rescans made by several organisers at once, which must neither deadlock
nor undo each other.  On PostgreSQL, where the requests truly overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives import clock, lifecycle
from initiatives.extensions import db
from initiatives.models import Initiative, Signature, SignatureState
from initiatives.signature_states import confirmed_count

from .concurrency_helpers import PG, prepared_signers, wait_for_lock_waiters, while_held


def _paper_sheet(app, make_initiative) -> int:
    from initiatives import paper

    make_initiative(opens_days_ago=5)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        sheet = paper.add_sheet(
            initiative, "nadia@example.org", number="7",
            # Malmö's day, as the rows' (the UTC date is a day behind before 1 or 2 am).
            collected_on=lifecycle.local_date(clock.utcnow()), collected_by="Hodan",
        )  # fmt: skip
        db.session.commit()
        return sheet.id


@PG
def test_one_paper_row_saved_twice_at_once_gets_the_next_line_not_an_error(app, make_initiative):
    """ "Spara raden" clicked twice, or two volunteers typing one sheet: both requests
    read the sheet's last line; the second one's row takes the line after the first."""
    from initiatives import paper
    from initiatives.models import Channel

    sheet_id = _paper_sheet(app, make_initiative)

    def hold(first: sa.orm.Session) -> None:
        initiative_id = first.scalars(sa.select(Initiative.id)).one()
        signature = Signature(
            initiative_id=initiative_id, state=SignatureState.CONFIRMED, channel=Channel.PAPER,
            confirmed_at=clock.utcnow(),
        )  # fmt: skip
        first.add(signature)
        first.flush()
        first.add(paper.PaperRow(signature_id=signature.id, sheet_id=sheet_id, line=1))

    def add() -> int:
        row, _ = paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", name="Hodan Ali",
            postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return row.line

    outcome = while_held(app, hold, add)
    assert outcome == [2]
    with app.app_context():
        lines = db.session.scalars(sa.select(paper.PaperRow.line).order_by(paper.PaperRow.line))
        assert lines.all() == [1, 2]


@PG
def test_a_paper_row_typed_while_its_sheet_is_redated_meets_the_new_date(app, make_initiative):
    """Another organiser corrects the sheet's date to yesterday while a row signed today
    is typed: the row waits for her, then is refused against the date she saved, not
    the one its request read before."""
    from datetime import timedelta

    from initiatives import paper

    sheet_id = _paper_sheet(app, make_initiative)
    today = lifecycle.local_date(clock.utcnow())
    yesterday = today - timedelta(days=1)

    def hold(first: sa.orm.Session) -> None:
        first.execute(sa.select(Initiative.id).with_for_update())  # as correct_sheet does
        first.execute(
            sa.update(paper.PaperSheet).where(paper.PaperSheet.id == sheet_id)
            .values(collected_on=yesterday)
        )  # fmt: skip

    def add() -> str:
        paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", name="Hodan Ali",
            postcode=None, signed_on=today,
        )  # fmt: skip
        return "added"

    outcome = while_held(app, hold, add)
    assert outcome == [f"Datumet är efter att listan samlades in ({yesterday.isoformat()})."]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(paper.PaperRow)) == 0


@PG
def test_one_paper_sheet_added_twice_at_once_gets_a_message_not_an_error(app, make_initiative):
    """A double click on "add sheet": both requests find no sheet 7; the second is told
    there is one."""
    from initiatives import paper

    make_initiative(opens_days_ago=5)

    def hold(first: sa.orm.Session) -> None:
        first.add(
            paper.PaperSheet(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(), number="7",
                collected_on=clock.utcnow().date(), collected_by="Hodan",
                created_by="nadia@example.org",
            )
        )  # fmt: skip

    def add() -> str:
        paper.add_sheet(
            db.session.scalars(sa.select(Initiative)).one(), "omar@example.org", number="7",
            collected_on=clock.utcnow().date(), collected_by="Hodan",
        )  # fmt: skip
        return "added"

    outcome = while_held(app, hold, add)
    assert outcome == ["Det finns redan en lista med nummer 7."]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(paper.PaperSheet.id))) == 1


@PG
def test_a_paper_sheet_corrected_to_a_number_just_taken_gets_a_message(app, make_initiative):
    """Sheet 7 corrected to 8 while another organiser adds sheet 8: the correction waits
    for her, then finds sheet 8 and says so (not a database error, not two sheets 8)."""
    from initiatives import paper, paper_corrections

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        seen = paper_corrections.sheet_version(db.session.get(paper.PaperSheet, sheet_id))

    def hold(first: sa.orm.Session) -> None:
        first.add(
            paper.PaperSheet(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(), number="8",
                collected_on=clock.utcnow().date(), collected_by="Hodan",
                created_by="nadia@example.org",
            )
        )  # fmt: skip

    def correct() -> bool:
        return paper_corrections.correct_sheet(
            db.session.get(paper.PaperSheet, sheet_id), "omar@example.org", seen=seen,
            number="8", collected_on=clock.utcnow().date(), collected_by="Hodan",
        )  # fmt: skip

    outcome = while_held(app, hold, correct)
    assert outcome == ["Det finns redan en lista med nummer 8."]
    with app.app_context():
        numbers = db.session.scalars(sa.select(paper.PaperSheet.number).order_by("number"))
        assert numbers.all() == ["7", "8"]


@PG
def test_a_paper_row_corrected_while_the_same_name_signs_online_is_flagged(app, make_initiative):
    """A row corrected to "Hodan Ali" while Hodan Ali's web signature is being saved: the
    correction waits for it, then compares with it and flags the row."""
    from initiatives import paper, paper_corrections
    from initiatives.crypto import crypto
    from initiatives.models import Channel

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        row, _ = paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "nadia@example.org", name="Hodan Alí",
            postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        db.session.commit()
        row_id, seen = row.signature_id, paper_corrections.row_version(row)

    def hold(first: sa.orm.Session) -> None:
        first.add(
            Signature(
                initiative_id=first.scalars(sa.select(Initiative.id)).one(),
                state=SignatureState.PENDING, channel=Channel.WEB,
                name_enc=crypto().encrypt("Hodan Ali"),
            )
        )  # fmt: skip

    def correct() -> tuple[bool, int]:
        done = paper_corrections.correct_row(
            db.session.get(paper.PaperRow, row_id), "omar@example.org", seen=seen,
            name="Hodan Ali", postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return done.changed, len(done.matches)

    outcome = while_held(app, hold, correct)
    assert outcome == [(True, 1)]
    with app.app_context():
        assert db.session.get(paper.PaperRow, row_id).review == paper.Review.PENDING


def _queued_behind_a_paper_action(app, actions: list[Callable[[], object]]) -> list[object]:
    """Run ``actions`` (organisers' requests, each in its own app context and transaction)
    while a third organiser's paper action holds the initiative: each starts once the
    ones before it wait, and the third commits once all of them wait (or have ended).
    What each was told, in order: what it returned, a refusal's message, or the name of
    any other error (the driver's: a deadlock the database broke is DeadlockDetected)."""
    from initiatives.lifecycle import TransitionError

    outcome: list[object] = [None] * len(actions)

    def run(i: int) -> None:
        with app.app_context():
            try:
                result = actions[i]()
                db.session.commit()
                outcome[i] = result
            except TransitionError as exc:
                db.session.rollback()
                outcome[i] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                db.session.rollback()
                outcome[i] = type(getattr(exc, "orig", exc)).__name__

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    with app.app_context(), db.engine.connect() as third, db.engine.connect() as watcher:
        third.execute(sa.select(Initiative.id).with_for_update())
        for n, thread in enumerate(threads, start=1):
            thread.start()
            wait_for_lock_waiters(watcher, n, unless=lambda t=thread: not t.is_alive())
        third.commit()
    for thread in threads:
        thread.join(timeout=120)
    return outcome


def _two_hodans(app, make_initiative) -> tuple[int, int]:
    """Lines 1 and 2 of a sheet, both "Hodan Ali" (line 2 is flagged): their ids."""
    return _two_hodans_on(app, _paper_sheet(app, make_initiative))


def _two_hodans_on(app, sheet_id: int) -> tuple[int, int]:
    """Lines 1 and 2 of the sheet, both "Hodan Ali" (line 2 is flagged): their ids."""
    from initiatives import paper

    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        today = lifecycle.local_date(clock.utcnow())
        rows = [
            paper.add_row(sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
                          signed_on=today)[0]
            for _ in range(2)
        ]  # fmt: skip
        db.session.commit()
        assert [row.review for row in rows] == [None, paper.Review.PENDING]
        return rows[0].signature_id, rows[1].signature_id


def _correct_to_cali(app, row_id: int) -> Callable[[], object]:
    """A correction of the row to "Hodan Cali", sent from its page as it is now: what it
    did (how many signatures the row matches, how many other rows it unflagged)."""
    from initiatives import paper, paper_corrections

    with app.app_context():
        seen = paper_corrections.row_version(db.session.get(paper.PaperRow, row_id))

    def correct() -> object:
        done = paper_corrections.correct_row(
            db.session.get(paper.PaperRow, row_id), "omar@example.org", seen=seen,
            name="Hodan Cali", postcode=None, signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return ("corrected", len(done.matches), done.cleared)

    return correct


def _seen(app, row_id: int) -> str:
    """What the review page shows of the row now (``paper_review.review_version``)."""
    from initiatives import paper, paper_review

    with app.app_context():
        row = db.session.get(paper.PaperRow, row_id)
        return paper_review.review_version(row, paper_review.review_matches(row))


def _same_person(app, row_id: int) -> Callable[[], object]:
    """The "same person" answer on the row, sent from the review page as it is now."""
    from initiatives import paper, paper_review

    seen = _seen(app, row_id)

    def resolve() -> object:
        row = db.session.get(paper.PaperRow, row_id)
        paper_review.resolve_duplicate(row, "lina@example.org", "", seen=seen)
        return "resolved"

    return resolve


NO_LONGER_AWAITING = "Raden väntar inte längre på granskning."


@PG
def test_a_row_corrected_while_another_organiser_says_same_person_gets_no_error(
    app, make_initiative
):
    """Line 2 (flagged) is corrected to "Hodan Cali" by one organiser while another marks
    it "same person"; both wait behind a third organiser's typing.  Neither waits for the
    other (a deadlock, a 500): the correction is saved, and the answer, which came
    second, finds the row no longer waiting for review."""
    from initiatives import paper

    _, second = _two_hodans(app, make_initiative)
    actions = [_correct_to_cali(app, second), _same_person(app, second)]
    outcome = _queued_behind_a_paper_action(app, actions)
    assert outcome == [("corrected", 0, 0), NO_LONGER_AWAITING]
    with app.app_context():
        row = db.session.get(paper.PaperRow, second)
        assert row.review is None and row.signature.state == SignatureState.CONFIRMED


@PG
def test_a_row_corrected_while_it_is_taken_out_on_its_signatures_page_gets_no_error(
    app, make_initiative
):
    """Line 2 is corrected by one organiser while another invalidates it on its
    signature's page (which holds the signature, then the initiative, as a confirmation
    does): neither waits for the other; the invalidation comes second."""
    from initiatives import moderation

    _, second = _two_hodans(app, make_initiative)

    def invalidate() -> object:
        moderation.invalidate(
            db.session.get(Signature, second), "lina@example.org", reason="entry_error", note=""
        )
        return "invalidated"

    outcome = _queued_behind_a_paper_action(app, [_correct_to_cali(app, second), invalidate])
    assert outcome == [("corrected", 0, 0), "invalidated"]
    with app.app_context():
        assert db.session.get(Signature, second).state == SignatureState.INVALIDATED
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 1


@PG
def test_a_decision_on_a_row_another_correction_unflags_is_refused_after_it(app, make_initiative):
    """Line 1 is corrected (its old name flagged line 2) while another organiser marks
    line 2 "same person": the answer waits for the correction, then finds line 2 no
    longer waiting for review; line 2 counts."""
    from initiatives import paper

    first, second = _two_hodans(app, make_initiative)
    actions = [_correct_to_cali(app, first), _same_person(app, second)]
    outcome = _queued_behind_a_paper_action(app, actions)
    assert outcome == [("corrected", 0, 1), NO_LONGER_AWAITING]
    with app.app_context():
        row = db.session.get(paper.PaperRow, second)
        assert row.review is None and row.signature.state == SignatureState.CONFIRMED


@PG
def test_a_rescan_during_a_decision_leaves_the_decision(app, make_initiative, sign):
    """Hodan's web signature, which a typed row was flagged against, was withdrawn; an
    organiser answers "same person" on the row (from the page she opened after that) while
    another presses "Sök efter nya dubbletter".  The rescan waits for the answer and
    leaves it: it does not take the flag off a row taken out as a duplicate."""
    from initiatives import paper, paper_review, signature_states

    sheet_id = _paper_sheet(app, make_initiative)
    sign(name="Hodan Ali", email="hodan@example.org", postcode="")
    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        row, _ = paper.add_row(
            sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
            signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        assert row.review == paper.Review.PENDING
        web = db.session.scalars(sa.select(Signature).where(Signature.channel == "web")).one()
        assert signature_states.withdraw(web) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
        row_id = row.signature_id
    outcome: list[object] = []

    def rescan() -> None:
        with app.app_context():
            done = paper_review.rescan(
                db.session.scalars(sa.select(Initiative)).one(), "omar@example.org"
            )
            db.session.commit()
            outcome.append((done.flagged, done.cleared))

    with app.app_context(), db.engine.connect() as watcher:
        row = db.session.get(paper.PaperRow, row_id)
        seen = paper_review.review_version(row, paper_review.review_matches(row))
        paper_review.resolve_duplicate(row, "lina@example.org", "", seen=seen)
        thread = threading.Thread(target=rescan)
        thread.start()
        wait_for_lock_waiters(watcher, 1, unless=lambda: not thread.is_alive())
        db.session.commit()
    thread.join(timeout=120)
    assert outcome == [(0, 0)]
    with app.app_context():
        row = db.session.get(paper.PaperRow, row_id)
        assert row.review == paper.Review.RESOLVED
        assert row.signature.state == SignatureState.INVALIDATED


@PG
def test_a_correction_waits_for_whoever_holds_a_row_it_unflags_rather_than_skip_it(
    app, make_initiative
):
    """Line 2 was flagged against line 1's old name, and something holds line 2's row
    while line 1 is corrected (no paper action does without the initiative's lock, which
    it takes first; here a bare lock).  The correction waits for it, then unflags line 2:
    skipped, line 2 would wait for a review with nothing behind it."""
    from initiatives import paper

    first, second = _two_hodans(app, make_initiative)

    def hold(holder: sa.orm.Session) -> None:
        holder.execute(
            sa.select(paper.PaperRow.signature_id)
            .where(paper.PaperRow.signature_id == second)
            .with_for_update()
        )

    assert while_held(app, hold, _correct_to_cali(app, first)) == [("corrected", 0, 1)]
    with app.app_context():
        assert db.session.get(paper.PaperRow, second).review is None


@PG
def test_different_people_answered_while_another_organiser_says_same_person(app, make_initiative):
    """Two organisers on the review page: one marks the row "same person" while the other
    presses "different people".  The second answer came after the row was taken out: it
    must be refused, not recorded as kept (its message said the row counted)."""
    from initiatives import paper, paper_review

    sheet_id = _paper_sheet(app, make_initiative)
    with app.app_context():
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        row, _ = paper.add_row(
            sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
            signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        row.review = paper.Review.PENDING
        db.session.commit()
        row_id = row.signature_id

    def hold(first: sa.orm.Session) -> None:
        first.execute(
            sa.update(paper.PaperRow).where(paper.PaperRow.signature_id == row_id)
            .values(review="resolved")
        )  # fmt: skip
        first.execute(
            sa.update(Signature).where(Signature.id == row_id).values(state="invalidated")
        )

    seen = _seen(app, row_id)  # the page the second organiser opened before

    def keep() -> str:
        paper_review.keep(db.session.get(paper.PaperRow, row_id), "omar@example.org", seen=seen)
        return "kept"

    outcome = while_held(app, hold, keep)
    assert outcome == [NO_LONGER_AWAITING]
    with app.app_context():
        assert db.session.get(paper.PaperRow, row_id).review == "resolved"


@PG
def test_different_people_answered_while_a_matching_row_is_typed_is_refused_after_it(
    app, make_initiative
):
    """Line 2 (Hodan, flagged against line 1) is on one organiser's review page while a
    volunteer types line 3, Hodan again; "different people" waits for the typing, then
    finds line 2 matching a row its page never showed.  Kept, it would count as an answer
    about lines 2 and 3 too.  It is refused; line 2 still waits for review."""
    from initiatives import paper, paper_review

    sheet_id = _paper_sheet(app, make_initiative)
    _, second = _two_hodans_on(app, sheet_id)
    seen = _seen(app, second)

    def type_line_3() -> object:
        sheet = db.session.get(paper.PaperSheet, sheet_id)
        row, matches = paper.add_row(
            sheet, "nadia@example.org", name="Hodan Ali", postcode=None,
            signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        return ("typed", row.line, len(matches))

    def keep() -> object:
        paper_review.keep(db.session.get(paper.PaperRow, second), "omar@example.org", seen=seen)
        return "kept"

    outcome = _queued_behind_a_paper_action(app, [type_line_3, keep])
    assert outcome == [("typed", 3, 2), str(paper_review.CHANGED_ON_PAGE)]
    with app.app_context():
        row = db.session.get(paper.PaperRow, second)
        assert row.review == paper.Review.PENDING and row.kept_at is None


@PG
@pytest.mark.parametrize("second_amina", ["new", "corrected"])
def test_a_web_signature_waiting_behind_a_keep_is_compared_with_the_kept_row(
    app, make_initiative, sign, second_amina
):
    """Amina's typed row was flagged against her web signature and an organiser keeps it
    ("different people") just as a second Amina Hassan of 212 14 signs on the web (or
    corrects her pending "Amina H" to it by signing again).  Her signature waits for the
    keep; made (or corrected) after it, it is compared with the kept row at the next
    rescan.  Dated before the keep yet written after it, no rescan would see it."""
    from initiatives import paper, paper_review

    sheet_id = _paper_sheet(app, make_initiative)
    if second_amina == "corrected":
        sign(name="Amina H", email="amina.h@example.org", postcode="212 14")
    sign(name="Amina Hassan", email="amina@example.org", postcode="212 14")
    with app.app_context():
        row, _ = paper.add_row(
            db.session.get(paper.PaperSheet, sheet_id), "nadia@example.org",
            name="Amina Hassan", postcode="212 14", signed_on=lifecycle.local_date(clock.utcnow()),
        )  # fmt: skip
        assert row.review == paper.Review.PENDING
        db.session.commit()
        row_id = row.signature_id
    [second] = prepared_signers(app, ["amina.h@example.org"], name="Amina Hassan")
    statuses: list[int] = []
    signer = threading.Thread(target=lambda: statuses.append(second()))

    with app.app_context(), db.engine.connect() as watcher:
        row = db.session.get(paper.PaperRow, row_id)
        seen = paper_review.review_version(row, paper_review.review_matches(row))
        paper.hold_row(row)  # the keep's locks, taken as it takes them, and first
        signer.start()
        wait_for_lock_waiters(watcher, 1, unless=lambda: not signer.is_alive())
        paper_review.keep(row, "lina@example.org", seen=seen)
        db.session.commit()
    signer.join(timeout=120)
    assert statuses == [303]
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert paper_review.rescan(initiative, "omar@example.org").flagged == 1
        db.session.commit()
        assert db.session.get(paper.PaperRow, row_id).review == paper.Review.PENDING
