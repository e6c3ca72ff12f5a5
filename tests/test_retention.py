"""Retention with controlled time: personal data goes, counts and aggregates stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from initiatives import clock, retention
from initiatives.config import ConfigError
from initiatives.extensions import db
from initiatives.lifecycle import local_date
from initiatives.models import (
    AuditEvent,
    Channel,
    Initiative,
    InitiativeState,
    OutboxMessage,
    OutboxStatus,
    Signature,
    SignatureState,
)

from .privacy_support import (
    BOT,
    Spec,
    add_signatures,
    aggregates,
    count_is_exact,
    set_initiative,
    signature_rows,
)


@pytest.fixture
def travel(monkeypatch):
    """Move the application's clock to ``days`` from the real now."""
    start = clock.utcnow()

    def to(days: float) -> None:
        moment = start + timedelta(days=days)
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return to


def purge(app) -> retention.PurgeReport:
    with app.app_context():
        report = retention.purge(actor="test")
        db.session.commit()
        return report


def mixed_signatures(app) -> None:
    add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("amira@example.org", "Amira Hassan", source_tag="poster"),
            Spec("bilal@example.org", "Bilal Said", channel=Channel.KIOSK, postcode="213 63"),
            Spec("cecilia@example.org", "Cecilia Öberg", channel=Channel.PAPER, postcode=None),
            Spec("dalia@example.org", "Dalia Nur", source_tag="poster", client_hash="c" * 64),
            Spec("emil@example.org", "Emil Lind", state=SignatureState.WITHDRAWN),
        ],
    )


def test_answered_initiative_is_anonymised_after_the_period_keeping_counts_and_aggregates(
    app, make_initiative, travel
):
    make_initiative()
    mixed_signatures(app)
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    count_before = count_is_exact(app, "amiralsgatan")
    assert count_before == 4
    aggregates_before = aggregates(app, "amiralsgatan")

    travel(89)
    report = purge(app)
    assert report.anonymised == 0
    confirmed = [r for r in signature_rows(app) if r.state == SignatureState.CONFIRMED]
    assert all(r.name_enc and r.email_enc and r.email_index for r in confirmed)

    travel(91)
    report = purge(app)
    assert report.anonymised == 4  # the withdrawn one was anonymised at once, earlier
    assert report.initiatives_anonymised == ["amiralsgatan"]
    rows = signature_rows(app)
    assert len(rows) == 5
    for row in rows:
        assert row.name_enc is None and row.email_enc is None and row.postcode_enc is None
        assert row.email_index is None and row.client_hash is None
        assert row.anonymised_at is not None
    assert count_is_exact(app, "amiralsgatan") == count_before
    assert aggregates(app, "amiralsgatan") == aggregates_before

    # Idempotent: a second run changes nothing and says so.
    again = purge(app)
    assert again.anonymised == 0 and again.initiatives_anonymised == []
    assert aggregates(app, "amiralsgatan") == aggregates_before
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == retention.ANONYMISE_ACTION)
        ).all()
        assert [e.details["signatures"] for e in events] == [4]


def test_the_volunteers_who_collected_paper_sheets_are_forgotten_with_the_signers(
    app, make_initiative, travel
):
    """A paper sheet names the volunteer who collected it: a person, whose name must not
    outlive the signers' (the sheet's number and date stay, so the list still adds up)."""
    from initiatives import paper
    from initiatives.paper import PaperSheet

    initiative = make_initiative()
    other = make_initiative("annan-gata")
    with app.app_context():
        for which in (initiative, other):
            paper.add_sheet(
                db.session.get(Initiative, which.id), "lina@example.org", number="7",
                collected_on=clock.utcnow().date(), collected_by="Hodan Ali",
            )  # fmt: skip
        db.session.commit()
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())

    def collectors() -> dict[str, tuple[str, str]]:
        with app.app_context():
            rows = db.session.execute(
                sa.select(Initiative.slug, PaperSheet.number, PaperSheet.collected_by).join(
                    Initiative, Initiative.id == PaperSheet.initiative_id
                )
            )
            return {slug: (number, who) for slug, number, who in rows}

    travel(89)
    purge(app)
    assert collectors()["amiralsgatan"] == ("7", "Hodan Ali")
    travel(91)
    purge(app)
    assert collectors() == {
        "amiralsgatan": ("7", "(anonymiserad)"),
        "annan-gata": ("7", "Hodan Ali"),  # still collecting: kept
    }
    purge(app)  # idempotent
    assert collectors()["amiralsgatan"] == ("7", "(anonymiserad)")


def test_unconfirmed_signatures_are_deleted_after_the_retention_period(
    app, make_initiative, travel
):
    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("pending@example.org", state=SignatureState.PENDING),
            Spec("confirmed@example.org"),
        ],
    )
    days = app.config["UNCONFIRMED_RETENTION_DAYS"]

    travel(app.config["CONFIRM_DAYS"] + 1)
    report = purge(app)
    assert (report.expired, report.deleted_unconfirmed) == (1, 0)

    travel(days - 1)
    assert purge(app).deleted_unconfirmed == 0
    travel(days + 1)
    assert purge(app).deleted_unconfirmed == 1
    rows = signature_rows(app)
    assert [r.state for r in rows] == [SignatureState.CONFIRMED]
    assert count_is_exact(app, "amiralsgatan") == 1
    with app.app_context():
        # The mail row survives without its signature (for delivery statistics).
        orphans = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.signature_id.is_(None))
        ).all()
        assert len(orphans) == 1


def test_an_unconfirmed_signature_is_kept_while_its_newest_link_works(app, make_initiative, travel):
    """An organiser sent a new link on day 29: it works for CONFIRM_DAYS, so the row is
    not deleted on day 30 under it, but as soon as the link stops working (not
    UNCONFIRMED_RETENTION_DAYS after the new link: the privacy notice counts from
    signing)."""
    from initiatives import moderation

    make_initiative()
    [signature_id] = add_signatures(
        app, "amiralsgatan", [Spec("pending@example.org", state=SignatureState.PENDING)]
    )
    days = app.config["UNCONFIRMED_RETENTION_DAYS"]
    travel(days - 1)
    with app.app_context():
        assert moderation.resend_confirmation(db.session.get(Signature, signature_id), "test")
        db.session.commit()
    travel(days + 1)
    report = purge(app)
    assert (report.expired, report.deleted_unconfirmed) == (0, 0)
    travel(days - 1 + app.config["CONFIRM_DAYS"] + 1)
    report = purge(app)
    assert (report.expired, report.deleted_unconfirmed) == (1, 1)


def test_withdrawn_signatures_lose_their_personal_data_at_the_next_run(app, make_initiative):
    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [Spec("stays@example.org"), Spec("leaves@example.org", state=SignatureState.WITHDRAWN)],
    )
    report = purge(app)
    assert report.anonymised_withdrawn == 1
    stays, leaves = signature_rows(app)
    assert stays.email_enc is not None and stays.anonymised_at is None
    assert leaves.state == SignatureState.WITHDRAWN
    assert leaves.name_enc is None and leaves.email_index is None and leaves.anonymised_at
    assert count_is_exact(app, "amiralsgatan") == 1


def test_a_held_signature_its_signer_withdrew_loses_its_personal_data_too(app, make_initiative):
    """Withdrawn while held for review, it stays invalidated, so that its address stays
    taken and signing again cannot get round the review; name, address and postcode
    go at the next run like any withdrawn signature's, the blind index stays."""
    from initiatives import moderation, signature_states, signatures

    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [Spec("held@example.org", "Hodan Ali")],
    )
    with app.app_context():
        [held] = db.session.scalars(sa.select(Signature)).all()
        moderation.invalidate(held, "lina@example.org", reason="abuse", note="")
        assert signature_states.withdraw(held) == signature_states.WithdrawOutcome.WITHDRAWN
        db.session.commit()
    report = purge(app)
    assert report.anonymised_withdrawn == 1
    [row] = signature_rows(app)
    assert row.state == SignatureState.INVALIDATED and row.withdrawn_at is not None
    assert row.name_enc is None and row.email_enc is None and row.postcode_enc is None
    assert row.anonymised_at is not None and row.email_index is not None
    # The address is still taken: signing again is not a new signature.
    with app.app_context():
        initiative = db.session.get(Initiative, row.initiative_id)
        signatures.sign(initiative, name="Hodan Ali", email="held@example.org", postcode=None,
                        locale="sv")  # fmt: skip
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(Signature.id))) == 1


def test_the_blind_index_a_held_withdrawn_signature_kept_goes_with_its_initiative(
    app, make_initiative, travel
):
    """The index kept the address taken while the review could change the list; when
    the initiative's signers are anonymised nothing may link the row to the address
    any more (a data request found it for ever)."""
    from initiatives import moderation, signature_states, subject_access

    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("held@example.org"), Spec("other@example.org")])
    with app.app_context():
        held = db.session.scalars(sa.select(Signature).order_by(Signature.id)).first()
        moderation.invalidate(held, "lina@example.org", reason="abuse", note="")
        signature_states.withdraw(held)
        db.session.commit()
    assert purge(app).anonymised_withdrawn == 1
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    travel(app.config["ANONYMISE_AFTER_DAYS"] + 1)
    assert purge(app).anonymised == 1  # the other one: the held one was anonymised before
    assert all(row.email_index is None for row in signature_rows(app))
    with app.app_context():
        assert subject_access.report_for("held@example.org", "sv")["entries"] == []


def test_signatures_held_for_review_before_they_were_confirmed_lose_their_data_on_time(
    app, make_initiative, travel
):
    """Unconfirmed signatures are deleted after UNCONFIRMED_RETENTION_DAYS, the privacy
    notice says; a bot's burst held for review kept the names and addresses it used
    until the committee had answered.  Held, they lose them on the same schedule; the
    rows stay invalidated (the review's figures and the pack's do not change), the
    blind index keeping the address taken while held, as for one withdrawn while held."""
    from initiatives import abuse

    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [
            Spec("victim@example.org", "Hodan Ali", state=SignatureState.PENDING, client_hash=BOT),
            Spec("other@example.org", "Omar Ali", state=SignatureState.PENDING, client_hash=BOT),
            Spec("counted@example.org", "Cecilia Öberg", client_hash=BOT),
        ],
    )
    with app.app_context():
        initiative_id = db.session.scalar(sa.select(Initiative.id))
        abuse.invalidate(
            abuse.Selection(initiative_id, client_hash=BOT[:16]), reason="automated", actor="lina"
        )
        db.session.commit()
    travel(app.config["UNCONFIRMED_RETENTION_DAYS"] - 1)
    purge(app)
    assert all(row.name_enc is not None for row in signature_rows(app))
    travel(app.config["UNCONFIRMED_RETENTION_DAYS"] + 1)
    purge(app)
    victim, other, counted = signature_rows(app)
    for row in (victim, other):
        assert row.state == SignatureState.INVALIDATED and row.anonymised_at is not None
        assert row.name_enc is None and row.email_enc is None and row.postcode_enc is None
        assert row.email_index is not None
    assert counted.name_enc is not None and counted.anonymised_at is None
    with app.app_context():
        invalidated = sa.select(sa.func.count(Signature.id)).where(
            Signature.state == SignatureState.INVALIDATED
        )
        assert db.session.scalar(invalidated) == 3
    assert count_is_exact(app, "amiralsgatan") == 0


@pytest.mark.parametrize(
    ("state", "stamp"),
    [
        (InitiativeState.CLOSED, "closed_at"),
        (InitiativeState.WITHDRAWN, "withdrawn_at"),
        (InitiativeState.COLLECTING, "closes_at"),  # the period ended, never closed by hand
    ],
)
def test_initiatives_ended_without_submission_are_anonymised_too(
    app, make_initiative, travel, state, stamp
):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("a@example.org"), Spec("b@example.org")])
    set_initiative(app, "amiralsgatan", state=state, **{stamp: clock.utcnow()})
    travel(app.config["ANONYMISE_AFTER_DAYS"] - 1)
    assert purge(app).anonymised == 0
    travel(app.config["ANONYMISE_AFTER_DAYS"] + 1)
    assert purge(app).anonymised == 2
    assert count_is_exact(app, "amiralsgatan") == 2


def test_a_submitted_list_waiting_for_an_answer_is_kept(app, make_initiative, travel):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("a@example.org")])
    set_initiative(
        app, "amiralsgatan", state=InitiativeState.SUBMITTED, submitted_at=clock.utcnow()
    )
    travel(400)
    assert purge(app).anonymised == 0
    [row] = signature_rows(app)
    assert row.email_enc is not None and row.client_hash is None  # the hash is gone, though


def test_client_hashes_are_dropped_after_thirty_days(app, make_initiative, travel):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("a@example.org", client_hash="f" * 64)])
    travel(app.config["CLIENT_HASH_RETENTION_DAYS"] - 1)
    assert purge(app).client_hashes_dropped == 0
    travel(app.config["CLIENT_HASH_RETENTION_DAYS"] + 1)
    assert purge(app).client_hashes_dropped == 1
    [row] = signature_rows(app)
    assert row.client_hash is None and row.email_enc is not None


def test_sent_mail_bodies_are_cleared_and_queued_mail_is_kept(
    app, make_initiative, sign, deliver, smtp, travel
):
    make_initiative()
    sign(email="sent@example.org")
    deliver()
    smtp.wait_for(1)
    sign(email="queued@example.org")
    travel(app.config["OUTBOX_RETENTION_DAYS"] + 1)
    assert purge(app).outbox_bodies_cleared == 1
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert rows[0].status == OutboxStatus.SENT
        assert rows[0].payload_enc is None and rows[0].email_index is None
        assert rows[1].status == OutboxStatus.PENDING and rows[1].payload_enc is not None
    # The queued one still goes out.
    assert deliver().sent == 1


def test_every_run_is_audit_logged_with_its_counts(app, make_initiative):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("x@example.org", state=SignatureState.WITHDRAWN)])
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "anonymised withdrawn: 1" in result.output
    assert app.test_cli_runner().invoke(args=["purge"]).exit_code == 0
    with app.app_context():
        runs = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == retention.PURGE_ACTION)
            .order_by(AuditEvent.id)
        ).all()
        assert [r.details["anonymised_withdrawn"] for r in runs] == [1, 0]
        assert all(r.actor == "cli" and "deleted_unconfirmed" in r.details for r in runs)


def test_the_worker_purges_once_a_day(app, make_initiative, travel):
    make_initiative()
    with app.app_context():
        assert retention.purge_if_due() is not None
        db.session.commit()
        assert retention.purge_if_due() is None
    travel(1.01)
    with app.app_context():
        assert retention.purge_if_due() is not None
        db.session.commit()
        assert (
            db.session.scalar(
                sa.select(sa.func.count(AuditEvent.id)).where(
                    AuditEvent.action == retention.PURGE_ACTION
                )
            )
            == 2
        )


def test_the_retention_for_unconfirmed_signatures_cannot_undercut_the_link(make_app):
    with pytest.raises(ConfigError, match="UNCONFIRMED_RETENTION_DAYS"):
        make_app(UNCONFIRMED_RETENTION_DAYS=3, CONFIRM_DAYS=7)
    with pytest.raises(ConfigError, match="ANONYMISE_AFTER_DAYS"):
        make_app(ANONYMISE_AFTER_DAYS=0)


def test_a_signature_row_never_shows_personal_data_in_its_repr(app, make_initiative):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("amira@example.org")])
    with app.app_context():
        row = db.session.scalars(sa.select(Signature)).one()
        assert "amira" not in repr(row).lower()


def test_anonymisation_also_removes_review_criteria_that_point_at_people(
    app, make_initiative, travel
):
    from initiatives import abuse

    make_initiative()
    add_signatures(
        app,
        "amiralsgatan",
        [Spec(f"p{i}@hassan-family.se", client_hash="d" * 64) for i in range(3)]
        + [Spec("other@example.org")],
    )
    with app.app_context():
        initiative_id = db.session.scalar(sa.select(Signature.initiative_id).limit(1))
        change = abuse.invalidate(
            abuse.Selection(initiative_id, domain="hassan-family.se", client_hash="d" * 12),
            reason="duplicate_person",
            actor="organiser",
        )
        db.session.commit()
    set_initiative(app, "amiralsgatan", state=InitiativeState.ANSWERED, answered_at=clock.utcnow())
    travel(app.config["ANONYMISE_AFTER_DAYS"] + 1)
    purge(app)
    with app.app_context():
        event = db.session.get(AuditEvent, change.event_id)
        assert event.details["criteria"] == {"client_hash": "[removed]", "domain": "[removed]"}
        assert event.details["reason"] == "duplicate_person" and event.details["confirmed"] == 3
        assert len(event.details["signature_ids"]) == 3
        assert "hassan" not in str(event.details)
    assert count_is_exact(app, "amiralsgatan") == 1


def test_a_client_hash_used_to_review_goes_from_the_audit_log_on_the_hash_schedule(
    app, make_initiative, travel
):
    """The privacy notice says coded addresses go after CLIENT_HASH_RETENTION_DAYS; an
    invalidation that selected by one kept it beside the signatures it moved."""
    from initiatives import abuse

    make_initiative()
    add_signatures(
        app, "amiralsgatan", [Spec(f"b{i}@example.org", client_hash="b" * 64) for i in range(3)]
    )
    with app.app_context():
        initiative_id = db.session.scalar(sa.select(Signature.initiative_id).limit(1))
        change = abuse.invalidate(
            abuse.Selection(initiative_id, client_hash="b" * 16, domain="example.org"),
            reason="automated",
            actor="organiser",
        )
        db.session.commit()
    days = app.config["CLIENT_HASH_RETENTION_DAYS"]
    with app.app_context():
        # The review came weeks after the signing: the hash's day is the signing day.
        db.session.get(AuditEvent, change.event_id).at = clock.utcnow() + timedelta(days=days - 2)
        db.session.commit()
    travel(days - 1)
    purge(app)
    with app.app_context():
        criteria = db.session.get(AuditEvent, change.event_id).details["criteria"]
        assert criteria["client_hash"] == "b" * 16
    travel(days + 1)
    purge(app)
    with app.app_context():
        details = db.session.get(AuditEvent, change.event_id).details
    assert details["criteria"] == {"client_hash": "[removed]", "domain": "example.org"}
    assert details["confirmed"] == 3 and len(details["signature_ids"]) == 3


@pytest.mark.parametrize(
    ("state", "stamp"),
    [
        (InitiativeState.CLOSED, "closed_at"),
        (InitiativeState.COLLECTING, "closes_at"),  # the period ended, never closed by hand
    ],
)
def test_the_day_the_names_of_a_list_not_handed_in_go_is_known_from_when_collection_ends(
    app, make_initiative, travel, state, stamp
):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("a@example.org"), Spec("b@example.org")])
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        # Still collecting: nothing is scheduled.
        assert retention.names_deadline(initiative).removes_on is None
    # A minute ago: so that the clock moved by whole days is just past the deadline.
    ended = clock.utcnow() - timedelta(minutes=1)
    set_initiative(app, "amiralsgatan", state=state, **{stamp: ended})
    days = app.config["ANONYMISE_AFTER_DAYS"]
    due = local_date(ended + timedelta(days=days))
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        deadline = retention.names_deadline(initiative)
        assert deadline.removes_on == due and deadline.removed == 0
        assert deadline.days_left == (due - local_date(clock.utcnow())).days > retention.WARN_DAYS
        assert not deadline.soon
        assert retention.names_due_soon() == []
    travel(days - retention.WARN_DAYS)
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        deadline = retention.names_deadline(initiative)
        assert deadline.removes_on == due and deadline.soon
        assert deadline.days_left == (due - local_date(clock.utcnow())).days
        assert [i.slug for i, _ in retention.names_due_soon()] == ["amiralsgatan"]
    # The day said is the day purge takes them: not a day before.
    travel(days - 1)
    assert purge(app).anonymised == 0
    travel(days)
    assert purge(app).anonymised == 2
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        deadline = retention.names_deadline(initiative)
        # Gone: nothing left to warn of, but said that they went, and when.
        assert (deadline.removes_on, deadline.removed, deadline.removed_on) == (None, 2, due)
        assert retention.names_due_soon() == []


@pytest.mark.parametrize(
    "state",
    [InitiativeState.SUBMITTED, InitiativeState.ANSWERED, InitiativeState.WITHDRAWN],
)
def test_no_hand_in_deadline_once_the_list_is_handed_in_or_withdrawn(app, make_initiative, state):
    make_initiative()
    add_signatures(app, "amiralsgatan", [Spec("a@example.org")])
    now = clock.utcnow()
    set_initiative(
        app,
        "amiralsgatan",
        state=state,
        closes_at=now - timedelta(days=80),
        submitted_at=now,
        answered_at=now,
        withdrawn_at=now,
    )
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert retention.names_deadline(initiative).removes_on is None
        assert retention.names_due_soon() == []
