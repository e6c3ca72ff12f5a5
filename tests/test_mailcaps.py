"""The daily caps on mail that strangers can make us send to one address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives import mailcaps, signatures, subject_access
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.models import Initiative, OutboxMessage, Signature

PG = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _queued(app, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == kind)
        )


def _while_another_request_is_uncommitted(
    app, first: Callable[[], object], second: Callable[[], object]
) -> None:
    """``first`` has queued its mail, not yet committed, when ``second`` runs on its own
    connection; ``first`` commits once ``second`` has committed or waits for it."""
    errors: list[BaseException] = []

    def other_request() -> None:
        try:
            with app.app_context():
                second()
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    with app.app_context(), db.engine.connect() as watcher:
        first()
        thread = threading.Thread(target=other_request)
        thread.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 60
        while thread.is_alive() and not watcher.execute(waiting).scalar_one():
            watcher.rollback()  # the activity view is a snapshot per transaction
            assert time.monotonic() < deadline, "the second request neither ended nor waited"
            time.sleep(0.05)
        db.session.commit()
    thread.join(timeout=60)
    assert not errors, errors


@PG
def test_two_data_requests_for_one_address_at_once_send_no_more_than_the_cap(app):
    """Requests sent in parallel (from many machines, past each one's rate limit) each
    counted the reports already queued before the others had committed theirs."""
    app.config["DATA_REQUESTS_PER_ADDRESS_PER_DAY"] = 1

    def ask() -> object:
        return subject_access.request_report("victim@example.org", "sv")

    _while_another_request_is_uncommitted(app, ask, ask)
    assert _queued(app, "data_report") == 1


@PG
def test_two_initiatives_signed_with_one_address_at_once_send_no_more_than_the_cap(
    app, make_initiative
):
    """The cap across initiatives: a link for each initiative, signed at the same moment."""
    app.config["MAILS_PER_ADDRESS_PER_DAY_TOTAL"] = 1
    make_initiative("one")
    make_initiative("two")

    def signs(slug: str) -> Callable[[], object]:
        def act() -> object:
            initiative = db.session.scalars(sa.select(Initiative).filter_by(slug=slug)).one()
            return signatures.sign(
                initiative, name="Victim", email="victim@example.org", locale="sv"
            )

        return act

    _while_another_request_is_uncommitted(app, signs("one"), signs("two"))
    assert _queued(app, "confirm") == 1


def _wait_for_lock_waiters(app, n: int) -> None:
    with app.app_context(), db.engine.connect() as watcher:
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 60
        while watcher.execute(waiting).scalar_one() < n:
            watcher.rollback()  # the activity view is a snapshot per transaction
            assert time.monotonic() < deadline, "the requests never reached the lock"
            time.sleep(0.05)


@PG
def test_an_organisers_resend_and_the_signers_new_try_at_once_both_go_through(app, make_initiative):
    """Both count the address's mail under its lock and write the signature's row; they
    must take the two in the same order, or each waits for the other (a deadlock, and
    one of them an error page)."""
    from initiatives import moderation

    make_initiative()
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        signatures.sign(initiative, name="Amira", email="amira@example.org", locale="sv")
        db.session.commit()
    errors: list[BaseException] = []

    def in_thread(act: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                with app.app_context():
                    act()
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def organiser_resends() -> None:
        signature = db.session.scalars(sa.select(Signature)).one()
        assert moderation.resend_confirmation(signature, "lina@example.org")

    def signer_tries_again() -> None:
        initiative = db.session.scalars(sa.select(Initiative)).one()
        signatures.sign(initiative, name="Amira", email="amira@example.org", locale="sv")

    with app.app_context():
        # A third request for the address holds its lock while the two line up behind it:
        # the organiser's first, then the signer's.
        mailcaps.under_global_cap(crypto().email_indexes("amira@example.org"))
        organiser = in_thread(organiser_resends)
        _wait_for_lock_waiters(app, 1)
        signer = in_thread(signer_tries_again)
        _wait_for_lock_waiters(app, 2)
        db.session.commit()
    for thread in (organiser, signer):
        thread.join(timeout=60)
    assert not errors, errors
    # The signer's try comes moments after the organiser's new link: that link is the
    # one she gets (SIGN_AGAIN_QUIET_SECONDS), not a third.
    assert _queued(app, "confirm") == 2


@PG
def test_an_organisers_resend_racing_the_signers_new_try_stays_under_the_cap(app, make_initiative):
    """The signer's new try has queued the last link the day's cap for this initiative
    allows, not yet committed, when the organiser resends one: the resend must count
    that link (under the address's lock), not only the ones committed before it."""
    from datetime import timedelta

    from initiatives import clock, moderation

    app.config["MAILS_PER_ADDRESS_PER_DAY"] = 2
    make_initiative()
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        signatures.sign(initiative, name="Amira", email="amira@example.org", locale="sv")
        # Signed a while ago: her new try is no double tap.
        db.session.execute(
            sa.update(Signature).values(created_at=clock.utcnow() - timedelta(minutes=10))
        )
        db.session.commit()
    resent: list[bool] = []

    def signer_tries_again() -> object:
        initiative = db.session.scalars(sa.select(Initiative)).one()
        return signatures.sign(initiative, name="Amira", email="amira@example.org", locale="sv")

    def organiser_resends() -> None:
        signature = db.session.scalars(sa.select(Signature)).one()
        resent.append(moderation.resend_confirmation(signature, "lina@example.org"))

    _while_another_request_is_uncommitted(app, signer_tries_again, organiser_resends)
    assert _queued(app, "confirm") == 2
    assert resent == [False]
