"""Races: simultaneous signatures and confirmations keep the count exact.

These run on both engines; the task demands PostgreSQL, where the races are real
(several connections at once), and SQLite shows the same guarantees under its lock.
The races of the organisers' pages are in the other ``test_concurrency_*`` files.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives import clock
from initiatives.extensions import db
from initiatives.models import Initiative, Signature, SignatureState
from initiatives.signature_states import confirmed_count
from initiatives.tokens import Purpose, make_token

from .concurrency_helpers import PG, handed_in_behind_our_back, prepared_signers, run_at_once
from .conftest import csrf_token

THREADS = 20


def live_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Signature.id)))


def test_twenty_simultaneous_submissions_of_one_address_make_one_signature(app, make_initiative):
    make_initiative()
    statuses = run_at_once(prepared_signers(app, ["same@example.org"] * THREADS))
    assert statuses == [303] * THREADS
    assert live_rows(app) == 1


def test_twenty_different_addresses_at_once_make_twenty(app, make_initiative):
    make_initiative()
    emails = [f"person{i}@example.org" for i in range(THREADS)]
    statuses = run_at_once(prepared_signers(app, emails))
    assert statuses == [303] * THREADS
    assert live_rows(app) == THREADS


def test_concurrent_confirms_and_withdrawals_keep_count_equal_to_rows(app, make_initiative):
    make_initiative()
    emails = [f"person{i}@example.org" for i in range(THREADS)]
    run_at_once(prepared_signers(app, emails))
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)))
        confirm_tokens = [make_token(Purpose.CONFIRM, p) for p in ids]
        withdraw_tokens = [make_token(Purpose.WITHDRAW, p) for p in ids[:5]]

    def poster(path: str) -> Callable[[], int]:
        browser = app.test_client()
        token = csrf_token(browser, "/i/amiralsgatan")  # one token per session
        return lambda: browser.post(path, data={"csrf_token": token}).status_code

    # Every link confirmed twice at the same moment: each signature counts once.
    actions = [poster(f"/confirm/{t}") for t in confirm_tokens for _ in range(2)]
    assert set(run_at_once(actions)) == {303}
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == THREADS

    # Five withdraw at once while the same five are confirmed again.
    actions = [poster(f"/withdraw/{t}") for t in withdraw_tokens]
    actions += [poster(f"/confirm/{t}") for t in confirm_tokens[:5]]
    run_at_once(actions)
    with app.app_context():
        db.session.expire_all()
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == THREADS - 5
        states = db.session.scalars(sa.select(Signature.state)).all()
        assert states.count(SignatureState.WITHDRAWN) == 5


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_confirmation_or_withdrawal_racing_the_submission_changes_nothing(
    app, make_initiative, sign
):
    """The state was checked, then the list was handed in, then the count would move:
    the count the audit log recorded for the submission must stay the count."""
    from initiatives import signature_states

    make_initiative()
    sign(email="late@example.org")
    sign(email="early@example.org")
    with app.app_context():
        early = db.session.scalars(
            sa.select(Signature).order_by(Signature.id.desc()).limit(1)
        ).one()
        signature_states.confirm(early)
        db.session.commit()
    for act in (signature_states.confirm, signature_states.withdraw):
        with app.app_context():
            rows = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()
            target = rows[0] if act is signature_states.confirm else rows[1]
            assert target.initiative.state == "collecting"  # checked, in this request
            handed_in_behind_our_back(target.initiative_id)
            with pytest.raises(signature_states.ListHandedInError):
                act(target)
            db.session.rollback()
        with app.app_context():
            states = [
                s.state for s in db.session.scalars(sa.select(Signature).order_by(Signature.id))
            ]
            initiative = db.session.scalars(sa.select(Initiative)).one()
            assert states == ["pending", "confirmed"]
            assert initiative.confirmed_count == confirmed_count(initiative.id) == 1
            db.session.execute(sa.update(Initiative).values(state="collecting"))
            db.session.commit()


def test_the_link_page_says_409_when_the_list_was_handed_in_meanwhile(
    app, make_initiative, sign, monkeypatch
):
    """The same race seen by the signer: a clear page, nothing stored (the check that
    let the request through is made to pass here, as it did before the submission)."""
    make_initiative()
    sign()
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        link = f"/confirm/{make_token(Purpose.CONFIRM, signature.public_id)}"
    client = app.test_client()
    token = csrf_token(client, link)
    with app.app_context():
        db.session.execute(sa.update(Initiative).values(state="submitted"))
        db.session.commit()
    monkeypatch.setattr(Initiative, "accepts_confirmations", lambda self: True)
    response = client.post(link, data={"csrf_token": token})
    assert response.status_code == 409
    assert "Det går inte just nu" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.state)).one() == "pending"
        assert db.session.scalars(sa.select(Initiative.confirmed_count)).one() == 0


@PG
def test_one_address_submitted_twenty_times_at_once_gets_no_more_mail_than_the_cap(
    app, make_initiative
):
    """The daily cap is what stops anyone filling a stranger's inbox: it must hold for
    submissions sent in parallel (several tabs, a script)."""
    from initiatives.models import OutboxMessage

    make_initiative()
    cap = app.config["MAILS_PER_ADDRESS_PER_DAY"]
    assert run_at_once(prepared_signers(app, ["same@example.org"] * 20)) == [303] * 20
    with app.app_context():
        mails = db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "confirm")
        )
    assert mails <= cap


@PG
@pytest.mark.parametrize(
    ("age", "purged_as"),
    [("UNCONFIRMED_RETENTION_DAYS", "deleted"), ("CONFIRM_DAYS", "expired")],
)
def test_signing_again_while_purge_removes_the_old_pending_signature_signs_fresh(
    app, make_initiative, sign, monkeypatch, age, purged_as
):
    """A signer whose unconfirmed signature is old enough to be deleted (or expired)
    signs again at the moment ``flask purge`` does it: the repeat path had read the row
    pending, purge commits before the row is locked.  The signer gets the usual "check
    your mail" page and a new pending signature with a working link, never a 500 nor a
    link to the expired one."""
    from datetime import timedelta

    from initiatives import retention, signatures
    from initiatives.models import OutboxMessage

    make_initiative()
    sign()
    with app.app_context():
        old = clock.utcnow() - timedelta(days=app.config[age] + 1)
        db.session.execute(sa.update(Signature).values(created_at=old))
        db.session.commit()
    read = signatures._live_signature
    purged: list[int] = []

    def read_then_purge(*args, **kwargs):
        found = read(*args, **kwargs)
        if found is not None and not purged:
            with app.app_context():  # the purge, on its own connection
                report = retention.purge(actor="cli")
                purged.append("deleted" if report.deleted_unconfirmed else "expired")
                db.session.commit()
        return found

    monkeypatch.setattr(signatures, "_live_signature", read_then_purge)
    response = sign()
    assert purged == [purged_as]
    assert response.status_code == 303
    with app.app_context():
        fresh = db.session.scalars(sa.select(Signature).where(Signature.state == "pending")).one()
        assert fresh.created_at > old
        mails = db.session.scalars(
            sa.select(OutboxMessage.signature_id).where(OutboxMessage.kind == "confirm")
        ).all()
        assert fresh.id in mails


def test_one_address_submitted_twice_at_once_gets_one_link(app, make_initiative):
    """A double tap sends the two POSTs together: one signature, one confirmation mail."""
    from initiatives.models import OutboxMessage

    make_initiative()
    assert run_at_once(prepared_signers(app, ["same@example.org"] * 2)) == [303, 303]
    with app.app_context():
        kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
    assert kinds == ["confirm"]
    assert live_rows(app) == 1


@PG
@pytest.mark.parametrize("address", ["new", "signed before"])
def test_a_signature_racing_the_close_is_refused_not_written_after_it(
    app, make_initiative, sign, address
):
    """The sign form was checked against an open collection, then an organiser's close
    committed: the signature must not be written after the close (it would be
    confirmed and counted on a list that had stopped).  The signer gets the closed page,
    whether or not the address had signed before (a different answer would tell)."""
    from initiatives.models import OutboxMessage

    from .concurrency_helpers import while_held

    make_initiative()
    if address == "signed before":
        sign(email="late@example.org")
    before = live_rows(app)
    [signer] = prepared_signers(app, ["late@example.org"])

    def close(first: sa.orm.Session) -> None:
        # As ``lifecycle.close`` does, on another connection: the row held, then closed.
        initiative = first.scalars(sa.select(Initiative).with_for_update()).one()
        initiative.state = "closed"
        initiative.closed_at = clock.utcnow()

    assert while_held(app, close, signer) == [409]
    assert live_rows(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == before
        assert db.session.scalars(sa.select(Initiative.state)).one() == "closed"
