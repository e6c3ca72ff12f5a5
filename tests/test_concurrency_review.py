"""Races in the organisers' review: signatures held out or restored while their
signers confirm or withdraw, or while the list is handed in, and one previewed
invalidation confirmed twice.  On PostgreSQL, where the requests truly overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from initiatives.extensions import db
from initiatives.models import Initiative, Signature
from initiatives.signature_states import confirmed_count

from .concurrency_helpers import PG, handed_in_behind_our_back, wait_for_lock_waiters
from .conftest import csrf_token


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_review_racing_the_hand_in_changes_nothing(app, burst_campaign):
    """The organiser's review read the list open, then another organiser's hand-in
    committed, then the review would change signatures.  Held-out or restored pending
    ones move no count, so only the initiative's lock and a fresh look at its state stop
    them: the handed-in list must stay as it was handed in."""
    from initiatives import abuse, moderation
    from initiatives.lifecycle import TransitionError

    pending = burst_campaign["bot_pending"]
    with app.app_context():
        initiative_id = db.session.scalars(sa.select(Initiative.id)).one()
        held = abuse.invalidate(
            abuse.Selection(initiative_id, signature_ids=pending[:1]), reason="other", actor="x"
        )
        db.session.commit()
    attempts: list[Callable[[Initiative], object]] = [
        lambda initiative: abuse.invalidate(
            abuse.Selection(initiative.id, signature_ids=pending[1:2]), reason="other", actor="x"
        ),
        lambda initiative: abuse.restore(
            abuse.selection_of_event(initiative, held.event_id), actor="x", event_id=held.event_id
        ),
        lambda initiative: moderation.invalidate(
            db.session.get(Signature, pending[2]), "x", reason="abuse", note=""
        ),
        lambda initiative: moderation.restore(db.session.get(Signature, pending[0]), "x"),
    ]
    for attempt in attempts:
        with app.app_context():
            initiative = db.session.scalars(sa.select(Initiative)).one()
            assert initiative.state == "collecting"  # checked, in this request
            handed_in_behind_our_back(initiative.id)
            with pytest.raises((abuse.ReviewClosedError, TransitionError)):
                attempt(initiative)
            db.session.rollback()
        with app.app_context():
            states = db.session.scalars(
                sa.select(Signature.state).where(Signature.id.in_(pending)).order_by(Signature.id)
            ).all()
            assert states == ["invalidated", "pending", "pending", "pending"]
            db.session.execute(sa.update(Initiative).values(state="collecting"))
            db.session.commit()


@PG
def test_one_previewed_invalidation_confirmed_twice_at_once_acts_once(app, burst_campaign):
    """Two organisers confirm the same preview (or one, in two tabs) while a signer's
    confirmation holds one of its rows: both got past the preview's count; one
    invalidates the twelve, the other is told the selection changed, and the log
    holds one invalidation, not a second one of nothing."""
    from initiatives.models import AuditEvent

    from .admin_helpers import logged_in
    from .privacy_support import BOT, count_is_exact

    review = "/admin/initiatives/amiralsgatan/review"
    page = f"{review}/preview?client={BOT[:16]}"
    actions = []
    for email in ("lina@example.org", "omar@example.org"):
        organiser = logged_in(app, role="organiser", email=email)
        data = {"client": BOT[:16], "expected": "12", "reason": "automated"}
        data["csrf_token"] = csrf_token(organiser, page)
        actions.append(
            lambda o=organiser, d=data: o.post(f"{review}/invalidate", data=d).status_code
        )
    statuses: list[int] = []
    with app.app_context(), db.engine.connect() as signer, db.engine.connect() as watcher:
        signer.execute(
            sa.select(Signature.id)
            .where(Signature.id == burst_campaign["bot"][0])
            .with_for_update()
        )
        threads = [threading.Thread(target=lambda a=a: statuses.append(a())) for a in actions]
        for t in threads:
            t.start()
        wait_for_lock_waiters(watcher, 2)
        signer.rollback()
    for t in threads:
        t.join(timeout=120)
    assert sorted(statuses) == [302, 409]
    assert count_is_exact(app, "amiralsgatan") == 6
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "abuse.invalidate")
        ).all()
        assert [e.details["signature_ids"] for e in events] == [sorted(burst_campaign["bot"])]


@PG
def test_a_restore_racing_the_signers_withdrawal_leaves_it_withdrawn(app, make_initiative, sign):
    """The organiser opened a held signature's page and restores it; its signer withdrew
    in between (committed).  A restored review makes a withdrawn signature withdrawn,
    never counted, whatever the organiser's page had read."""
    from initiatives import moderation, signature_states

    make_initiative()
    sign()
    with app.app_context():
        held = db.session.scalars(sa.select(Signature)).one()
        signature_states.confirm(held)
        moderation.invalidate(held, "lina@example.org", reason="abuse", note="")
        db.session.commit()
    with app.app_context():
        seen = db.session.scalars(sa.select(Signature)).one()  # the organiser's page
        assert seen.withdrawn_at is None
        with app.app_context():  # the signer's request, on its own connection
            mine = db.session.scalars(sa.select(Signature)).one()
            assert signature_states.withdraw(mine) == signature_states.WithdrawOutcome.WITHDRAWN
            db.session.commit()
        moderation.restore(seen, "lina@example.org")
        db.session.commit()
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.state)).one() == "withdrawn"
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 0


@PG
def test_an_invalidation_racing_the_confirmation_logs_the_state_it_moved_from(
    app, make_initiative, sign
):
    """The organiser's page read the signature pending; its signer confirmed before the
    click.  The log says it was confirmed when held out: it had counted."""
    from initiatives import moderation, signature_states
    from initiatives.models import AuditEvent

    make_initiative()
    sign()
    with app.app_context():
        seen = db.session.scalars(sa.select(Signature)).one()  # the organiser's page
        assert seen.state == "pending"
        with app.app_context():  # the signer's request, on its own connection
            signature_states.confirm(db.session.scalars(sa.select(Signature)).one())
            db.session.commit()
        moderation.invalidate(seen, "lina@example.org", reason="abuse", note="")
        db.session.commit()
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "signature.invalidated")
        ).one()
        assert event.details["previous_state"] == "confirmed"
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert initiative.confirmed_count == confirmed_count(initiative.id) == 0
