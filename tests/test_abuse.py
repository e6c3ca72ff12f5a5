"""Abuse review: bursts are shown, selections previewed, invalidated openly and restored."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from initiatives import abuse, bursts
from initiatives.extensions import db
from initiatives.models import AuditEvent, Initiative, InitiativeState, Signature, SignatureState
from initiatives.tokens import Purpose, make_token

from .privacy_support import (
    BOT,
    PERSON,
    count_is_exact,
    set_initiative,
    signature_rows,
)


def initiative(app) -> Initiative:
    return db.session.scalars(sa.select(Initiative)).one()


def test_bursts_show_the_bot_by_client_and_by_domain_but_not_the_people(app, burst_campaign):
    with app.app_context():
        found = bursts.find(initiative(app), window=timedelta(minutes=10), threshold=10)
    assert {(b.signal, b.key, b.count) for b in found} == {
        (bursts.Signal.CLIENT, BOT, 12),
        (bursts.Signal.DOMAIN, "mailbot.example", 12),
    }
    client = next(b for b in found if b.signal == bursts.Signal.CLIENT)
    assert (client.confirmed, client.pending) == (8, 4)
    with app.app_context():
        bot = sa.select(Signature.created_at).where(Signature.id.in_(burst_campaign["bot"]))
        times = db.session.scalars(bot).all()
    # In UTC, to the microsecond: the preview a burst links to starts and ends there.
    assert (client.start, client.end) == (min(times), max(times))
    assert client.start.tzinfo is not None
    # The people are spread out: a lower threshold is needed to see them as a group.
    with app.app_context():
        wide = bursts.find(initiative(app), window=timedelta(hours=3), threshold=6)
    assert any(b.key == PERSON for b in wide)


def test_only_addresses_in_a_dense_stretch_are_decrypted_to_read_domains(
    app, burst_campaign, monkeypatch
):
    """A burst in one domain is a burst among all signatures too: the people signing
    half an hour apart are not decrypted to find the bot's domain."""
    read: list[bytes] = []
    real = bursts.domain_of

    def counted(email_enc: bytes) -> str | None:
        read.append(email_enc)
        return real(email_enc)

    monkeypatch.setattr(bursts, "domain_of", counted)
    with app.app_context():
        found = bursts.find(
            initiative(app),
            window=timedelta(minutes=10),
            threshold=10,
            by=[bursts.Signal.DOMAIN],
        )
    assert [(b.key, b.count) for b in found] == [("mailbot.example", 12)]
    # The bot's twelve and the one person who signed in the same minutes; not the five
    # others (all eighteen were decrypted before).
    assert len(read) == 13


def test_preview_invalidate_and_restore_keep_the_count_exact(app, burst_campaign):
    assert count_is_exact(app, "amiralsgatan") == 6 + 8
    with app.app_context():
        selection = abuse.Selection(initiative(app).id, client_hash=BOT[:12])
        matched = abuse.preview(selection)
        assert (matched.total, matched.count(SignatureState.CONFIRMED)) == (12, 8)
    assert count_is_exact(app, "amiralsgatan") == 14  # a preview changes nothing

    with app.app_context():
        change = abuse.invalidate(
            selection, reason=abuse.Reason.AUTOMATED, actor="organiser@example.org", note="bot"
        )
        db.session.commit()
    assert (change.confirmed, change.pending) == (8, 4)
    assert count_is_exact(app, "amiralsgatan") == 6
    rows = {r.id: r for r in signature_rows(app)}
    assert all(rows[i].state == SignatureState.INVALIDATED for i in burst_campaign["bot"])
    assert all(rows[i].invalidation_reason == "automated" for i in burst_campaign["bot"])
    assert all(rows[i].state == SignatureState.CONFIRMED for i in burst_campaign["people"])

    with app.app_context():
        event = db.session.get(AuditEvent, change.event_id)
        assert event.action == abuse.INVALIDATE_ACTION
        assert event.actor == "organiser@example.org"
        assert event.details["reason"] == "automated" and event.details["confirmed"] == 8
        assert sorted(event.details["signature_ids"]) == sorted(burst_campaign["bot"])
        assert "mailbot" not in str(event.details)  # criteria were a hash prefix only

        restored = abuse.restore(
            abuse.selection_of_event(initiative(app), change.event_id),
            actor="organiser@example.org",
            event_id=change.event_id,
        )
        db.session.commit()
    assert (restored.confirmed, restored.pending) == (8, 4)
    assert count_is_exact(app, "amiralsgatan") == 14
    rows = {r.id: r for r in signature_rows(app)}
    assert sorted(rows[i].state for i in burst_campaign["bot"]).count(SignatureState.PENDING) == 4
    assert all(rows[i].invalidation_reason is None for i in burst_campaign["bot"])


def test_restoring_an_old_invalidation_leaves_a_later_one_in_place(app, burst_campaign):
    """#1 took the bot out and was undone; #2 took the same twelve out again for another
    reason, and one of the people was held out alone.  Restoring #1 again undoes nothing
    that #2 or the single invalidation did; restoring #2 undoes #2."""
    from initiatives import moderation

    actor = "organiser@example.org"
    person = burst_campaign["people"][0]
    with app.app_context():
        initiative_id = initiative(app).id
        first = abuse.invalidate(
            abuse.Selection(initiative_id, client_hash=BOT[:12]), reason="automated", actor=actor
        )
        abuse.restore(
            abuse.selection_of_event(initiative(app), first.event_id),
            actor=actor,
            event_id=first.event_id,
        )
        later = abuse.invalidate(
            abuse.Selection(initiative_id, domain="mailbot.example"),
            reason="fake_identity",
            actor=actor,
        )
        both = abuse.invalidate(
            abuse.Selection(initiative_id, signature_ids=[person]), reason="other", actor=actor
        )
        db.session.commit()
    assert (later.total, both.total) == (12, 1)
    with app.app_context():
        moderation.restore(db.session.get(Signature, person), actor)
        moderation.invalidate(db.session.get(Signature, person), actor, reason="other", note="")
        db.session.commit()
    assert count_is_exact(app, "amiralsgatan") == 5

    with app.app_context():
        assert abuse.selection_of_event(initiative(app), first.event_id).signature_ids == []
        again = abuse.restore(
            abuse.selection_of_event(initiative(app), first.event_id),
            actor=actor,
            event_id=first.event_id,
        )
        db.session.commit()
    assert again.total == 0
    assert count_is_exact(app, "amiralsgatan") == 5
    with app.app_context():
        # #3 (the person alone) was overtaken by the single invalidation after it.
        assert abuse.selection_of_event(initiative(app), both.event_id).signature_ids == []
        undone = abuse.restore(
            abuse.selection_of_event(initiative(app), later.event_id),
            actor=actor,
            event_id=later.event_id,
        )
        db.session.commit()
    assert (undone.confirmed, undone.pending) == (8, 4)
    assert count_is_exact(app, "amiralsgatan") == 5 + 8
    rows = {r.id: r for r in signature_rows(app)}
    assert rows[person].state == SignatureState.INVALIDATED


def test_restoring_an_unconfirmed_one_after_its_link_ran_out_makes_it_expired(app, burst_campaign):
    """Held past its confirmation window, an unconfirmed signature goes back to what
    purge would have made of it: expired (its link no longer works, its signer may sign
    again), not pending as if the link were still waiting to be clicked."""
    from initiatives import clock, moderation

    actor = "organiser@example.org"
    pending = burst_campaign["bot_pending"]
    with app.app_context():
        held = abuse.invalidate(
            abuse.Selection(initiative(app).id, signature_ids=pending[:3]),
            reason="automated",
            actor=actor,
        )
        moderation.invalidate(db.session.get(Signature, pending[3]), actor, reason="other", note="")
        # Two of them signed, and were last sent a link, longer ago than the window.
        old = clock.utcnow() - timedelta(days=app.config["CONFIRM_DAYS"], hours=1)
        db.session.execute(
            sa.update(Signature)
            .where(Signature.id.in_([pending[0], pending[3]]))
            .values(created_at=old, link_sent_at=old)
        )
        db.session.commit()
    with app.app_context():
        change = abuse.restore(
            abuse.selection_of_event(initiative(app), held.event_id),
            actor=actor,
            event_id=held.event_id,
        )
        moderation.restore(db.session.get(Signature, pending[3]), actor)
        db.session.commit()
    assert (change.confirmed, change.pending, change.expired, change.total) == (0, 2, 1, 3)
    rows = {r.id: r for r in signature_rows(app)}
    assert [rows[i].state for i in pending] == ["expired", "pending", "pending", "expired"]
    assert rows[pending[0]].expired_at is not None and rows[pending[1]].expired_at is None
    assert count_is_exact(app, "amiralsgatan") == 14
    with app.app_context():
        event = db.session.get(AuditEvent, change.event_id)
        assert event.details["expired"] == 1


def test_selection_by_domain_and_time_window(app, burst_campaign):
    with app.app_context():
        bot_rows = db.session.scalars(
            sa.select(Signature)
            .where(Signature.id.in_(burst_campaign["bot"]))
            .order_by(Signature.id)
        ).all()
        middle = bot_rows[5].created_at
        selection = abuse.Selection(initiative(app).id, domain="MailBot.example", since=middle)
        assert abuse.preview(selection).total == 7
        assert abuse.preview(abuse.Selection(initiative(app).id, domain="example.org")).total == 6


def test_an_invalidated_signer_is_told_on_the_confirmation_page(app, client, burst_campaign):
    with app.app_context():
        pending = db.session.scalars(
            sa.select(Signature).where(
                Signature.id.in_(burst_campaign["bot"]), Signature.state == SignatureState.PENDING
            )
        ).first()
        token = make_token(Purpose.CONFIRM, pending.public_id)
        abuse.invalidate(
            abuse.Selection(initiative(app).id, signature_ids=[pending.id]),
            reason="fake_identity",
            actor="organiser",
        )
        db.session.commit()
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 410
    assert "granskas" in response.get_data(as_text=True)


def test_selections_must_be_narrow_and_the_list_fixed_once_submitted(app, burst_campaign):
    with app.app_context():
        init = initiative(app)
        with pytest.raises(abuse.SelectionError):
            abuse.preview(abuse.Selection(init.id))
        with pytest.raises(abuse.SelectionError, match="8 characters"):
            abuse.preview(abuse.Selection(init.id, client_hash="b0b0"))
        with pytest.raises(abuse.SelectionError, match="kiosk"):
            abuse.preview(abuse.Selection(init.id, kiosk_id="tablet-1"))
    set_initiative(app, "amiralsgatan", state=InitiativeState.SUBMITTED)
    with app.app_context(), pytest.raises(abuse.ReviewClosedError):
        abuse.invalidate(
            abuse.Selection(initiative(app).id, client_hash=BOT), reason="other", actor="x"
        )
    assert count_is_exact(app, "amiralsgatan") == 14


def test_cli_bursts_dry_run_invalidate_history_and_restore(app, burst_campaign):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["abuse", "bursts", "amiralsgatan", "--by", "client"])
    assert result.exit_code == 0, result.output
    assert f"--client {BOT[:16]}" in result.output
    assert "12 (8 confirmed, 4 pending)" in result.output
    # Each line's criteria, pasted into invalidate, select exactly that burst (the bot
    # signed within a second: times cut to the second would leave most of it out).
    [line] = [line for line in result.output.splitlines() if "--client" in line]
    pasted = line[line.index("--client") :].split()
    dry = runner.invoke(
        args=["abuse", "invalidate", "amiralsgatan", *pasted, "--reason", "automated", "--dry-run"]
    )
    assert "would invalidate 12: 8 confirmed, 4 pending" in dry.output, (line, dry.output)

    args = ["abuse", "invalidate", "amiralsgatan", "--domain", "mailbot.example"]
    dry = runner.invoke(args=[*args, "--reason", "automated", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would invalidate 12: 8 confirmed, 4 pending" in dry.output
    assert count_is_exact(app, "amiralsgatan") == 14

    done = runner.invoke(args=[*args, "--reason", "automated", "--actor", "lina"])
    assert done.exit_code == 0, done.output
    assert "invalidated 12" in done.output
    assert count_is_exact(app, "amiralsgatan") == 6
    event_id = int(done.output.rsplit("--event ", 1)[1].split()[0])

    history = runner.invoke(args=["abuse", "history", "amiralsgatan"])
    assert f"#{event_id}" in history.output and "by cli:lina" in history.output

    restore = ["abuse", "restore", "amiralsgatan", "--event", str(event_id)]
    assert "would restore 12" in runner.invoke(args=[*restore, "--dry-run"]).output
    result = runner.invoke(args=restore)
    assert result.exit_code == 0, result.output
    assert "restored 12 (8 confirmed, 4 pending)" in result.output
    assert count_is_exact(app, "amiralsgatan") == 14
    again = runner.invoke(args=restore)  # the same command twice (shell history)
    assert again.exit_code == 1 and "nothing to restore" in again.output

    nothing = runner.invoke(
        args=["abuse", "invalidate", "amiralsgatan", "--domain", "nobody.example", "--reason",
              "other"]
    )  # fmt: skip
    assert nothing.exit_code == 1 and "nothing was invalidated" in nothing.output
    history = runner.invoke(args=["abuse", "history", "amiralsgatan"])
    assert history.output.count("abuse.invalidate") == 1  # the real one, not the empty one
    assert history.output.count("abuse.restore") == 1
    refused = runner.invoke(args=["abuse", "invalidate", "amiralsgatan", "--reason", "other"])
    assert refused.exit_code != 0 and "a selection needs" in refused.output
    unknown = runner.invoke(args=["abuse", "bursts", "no-such"])
    assert unknown.exit_code != 0 and "no initiative" in unknown.output


def test_cli_bursts_refuses_a_window_or_threshold_that_cannot_find_anything(app, burst_campaign):
    """A negative window found nothing and said "no bursts" over the bot's burst of 12: an
    all-clear the organiser would trust.  The same bounds as the admin's form."""
    runner = app.test_cli_runner()
    for args in (
        ["--window", "-10"],
        ["--window", "0"],
        ["--window", "99999999999"],
        ["--threshold", "0"],
        ["--threshold", "1"],
    ):
        result = runner.invoke(args=["abuse", "bursts", "amiralsgatan", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "no bursts" not in result.output and args[0] in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_kiosk_signal_appears_only_with_a_kiosk_column():
    has_column = "kiosk_id" in Signature.__table__.c
    assert (bursts.Signal.KIOSK in bursts.signals()) == has_column


def test_a_burst_from_one_stand_tablet_is_found_and_reviewed_by_kiosk(app, burst_campaign):
    """Kiosks are one of the signals: a tablet that signs far faster than a queue of
    people can is shown, and its signatures can be held for review and restored."""
    from initiatives import kiosks

    with app.app_context():
        kiosk, _code = kiosks.create("Stand 1", [initiative(app)], actor="test")
        db.session.commit()
        kiosk_id = kiosk.id
        tablet = [s.id for s in db.session.scalars(sa.select(Signature).order_by(Signature.id))][
            -12:
        ]
        db.session.execute(
            sa.update(Signature).where(Signature.id.in_(tablet)).values(kiosk_id=kiosk_id)
        )
        db.session.commit()
        found = bursts.find(
            initiative(app), window=timedelta(minutes=10), threshold=10, by=[bursts.Signal.KIOSK]
        )
        assert [(b.signal, b.key, b.count) for b in found] == [
            (bursts.Signal.KIOSK, str(kiosk_id), 12)
        ]
        selection = abuse.Selection(initiative(app).id, kiosk_id=kiosk_id)
        assert abuse.preview(selection).total == 12
    assert count_is_exact(app, "amiralsgatan") == 14


def test_malmo_clock_times_at_the_summer_time_changes_name_the_right_moments():
    """The review's "from" and "to and including" (and the CLI's --since/--until)."""
    from datetime import UTC, datetime

    from initiatives.clock import local_moment

    def utc(wall: str, latest: bool = False) -> str:
        moment = local_moment(datetime.fromisoformat(wall), latest=latest)
        return moment.astimezone(UTC).strftime("%H:%M")

    # 25 October 2026: 02:30 happens at 00:30 and again at 01:30 UTC.
    assert (utc("2026-10-25T02:30"), utc("2026-10-25T02:30", latest=True)) == ("00:30", "01:30")
    assert utc("2026-10-25T03:00", latest=True) == "02:00"
    # 29 March 2026: 02:30 never happens; it is the moment the clocks jumped to 03:00.
    assert utc("2026-03-29T02:30") == utc("2026-03-29T02:30", latest=True) == "01:00"
    assert utc("2026-03-29T01:59") == "00:59" and utc("2026-07-01T12:00") == "10:00"
