"""How the outbox keeps up: ``flask outbox status`` and the admin start page say when mail
waits too long or fails, so nobody finds out from signers whose links never came."""

from __future__ import annotations

from datetime import timedelta

from initiatives import clock, outbox
from initiatives.extensions import db
from initiatives.mail import compose
from initiatives.models import OutboxMessage
from initiatives.outbox_status import queue_state

from .admin_helpers import logged_in

BEHIND = "E-posten ligger efter"
FAILING = "kunde inte skickas det senaste dygnet"


def status(app, *args: str):
    return app.test_cli_runner().invoke(args=["outbox", "status", *args])


def test_a_quiet_outbox_is_fine(app):
    result = status(app)
    assert result.exit_code == 0, result.output
    assert "waiting 0 (oldest 0 min)" in result.output
    assert "last sent never" in result.output
    page = logged_in(app).get("/admin/").get_data(as_text=True)
    assert BEHIND not in page and FAILING not in page


def test_mail_that_waits_too_long_is_behind_until_the_worker_sends_it(
    app, make_initiative, sign, smtp, monkeypatch
):
    make_initiative()
    sign(email="one@example.org")
    sign(email="two@example.org")
    admin = logged_in(app)
    with app.app_context():
        state = queue_state()
    assert (state.waiting, state.retrying, state.failed_last_day) == (2, 0, 0)
    assert status(app).exit_code == 0
    assert BEHIND not in admin.get("/admin/").get_data(as_text=True)

    # Twenty minutes on and nothing sent: the worker is not running.
    later = clock.utcnow() + timedelta(minutes=20)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    result = status(app)
    assert result.exit_code == 1
    assert "waiting 2 (oldest 20 min)" in result.stdout
    assert "BEHIND" in result.stderr and "flask outbox work" in result.stderr
    assert status(app, "--max-delay", "30").exit_code == 0
    page = admin.get("/admin/").get_data(as_text=True)
    assert f"{BEHIND}: 2 mejl väntar, det äldsta i 20 minuter" in page

    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 2
    result = status(app)
    assert result.exit_code == 0, result.output
    assert "waiting 0" in result.stdout and "sent in the last hour 2" in result.stdout
    assert BEHIND not in admin.get("/admin/").get_data(as_text=True)
    assert len(smtp.wait_for(2)) == 2


def test_mail_given_up_is_reported_with_its_error_and_never_an_address(
    make_app, make_initiative, sign, smtp
):
    app = make_app(OUTBOX_MAX_ATTEMPTS=1)
    make_initiative()
    sign(email="zainab.warsame@example.org")
    smtp.refuse = True  # the real SMTP server on loopback answers 451
    with app.app_context():
        assert outbox.deliver_due(app, compose).failed == 1

    result = status(app)
    assert result.exit_code == 1
    assert "given up in the last 24 hours 1" in result.stdout
    assert "error in the last 24 hours: SMTPDataError 451 ×1" in result.stdout
    assert "FAILING: 1" in result.stderr
    assert "@" not in result.output and "zainab" not in result.output.lower()
    page = logged_in(app).get("/admin/").get_data(as_text=True)
    assert f"1 mejl {FAILING}" in page
    assert "zainab" not in page.lower()

    # A day later the failure is old news: nothing to report any more.
    with app.app_context():
        tomorrow = queue_state(clock.utcnow() + timedelta(days=1, minutes=1))
    assert tomorrow.failed_last_day == 0 and tomorrow.errors == ()


def test_each_figure_counts_only_its_own_mail(app):
    """Every figure against mail on both sides of its time limit, the old sent mail that
    fills the table in a long-lived site included."""
    now = clock.utcnow().replace(microsecond=0)

    def ago(**delta: float):
        return now - timedelta(**delta)

    mails = [
        # status, attempts, queued, sent, last error
        ("sent", 0, ago(days=300), ago(days=300), None),  # long ago: counts for nothing
        ("sent", 0, ago(hours=3), ago(minutes=61), None),  # last sent, not in the hour
        ("sent", 1, ago(minutes=50), ago(minutes=59), None),  # in the hour
        ("sent", 0, ago(minutes=10), ago(minutes=2), None),  # in the hour, the last one
        ("pending", 0, ago(minutes=7), None, None),  # waiting, never tried
        ("pending", 2, ago(minutes=30), None, "SMTPServerDisconnected"),  # the oldest
        ("failed", 5, ago(hours=23), None, "SMTPRecipientsRefused 550"),  # given up today
        ("failed", 5, ago(hours=25), None, "SMTPRecipientsRefused 550"),  # yesterday's
    ]
    with app.app_context():
        for status_, attempts, queued, sent, error in mails:
            db.session.add(
                OutboxMessage(
                    kind="confirm",
                    status=status_,
                    attempts=attempts,
                    created_at=queued,
                    due_at=queued,
                    sent_at=sent,
                    last_error=error,
                )
            )
        db.session.commit()
        state = queue_state(now)
    assert state.waiting == 2
    assert state.retrying == 1
    assert state.oldest_waiting == ago(minutes=30)
    assert state.waited == timedelta(minutes=30)
    assert state.failed_last_day == 1
    assert state.sent_last_hour == 2
    assert state.last_sent == ago(minutes=2)
    assert state.errors == (("SMTPRecipientsRefused 550", 1), ("SMTPServerDisconnected", 1))


def test_mail_given_up_today_is_failing_however_long_ago_it_was_queued(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    """The worker was down for a day (status said BEHIND), then the server refused the
    mail and it was given up: BEHIND cleared, and FAILING never came, because only mail
    queued in the last 24 hours counted.  Signers who never got their links went
    unreported, as did mail sent again by `outbox retry` and given up once more."""
    app = make_app(OUTBOX_MAX_ATTEMPTS=1)
    make_initiative()
    sign(email="one@example.org")
    later = clock.utcnow() + timedelta(hours=25)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    assert status(app).exit_code == 1  # behind
    smtp.refuse = True
    with app.app_context():
        assert outbox.deliver_due(app, compose).failed == 1

    result = status(app)
    assert result.exit_code == 1, result.output
    assert "given up in the last 24 hours 1" in result.stdout
    assert "error in the last 24 hours: SMTPDataError 451 ×1" in result.stdout
    assert "FAILING: 1" in result.stderr
    page = logged_in(app).get("/admin/").get_data(as_text=True)
    assert f"1 mejl {FAILING}" in page

    # What FAILING advises sends it: mail given up in the last 24 hours, not queued.
    smtp.refuse = False
    retried = app.test_cli_runner().invoke(args=["outbox", "retry"])
    assert "queued again 1; left as given up 0" in retried.output
    with app.app_context():
        assert outbox.deliver_due(app, compose).sent == 1
    assert [str(m["To"]) for m in smtp.wait_for(1)] == ["one@example.org"]


def test_the_error_of_mail_still_waiting_is_listed_however_long_ago_it_was_queued(
    make_app, make_initiative, sign, smtp, monkeypatch
):
    """After a day with the worker down the server refuses the mail: status said BEHIND
    but listed no error, so the operator could not see why the mail still waited."""
    app = make_app()
    make_initiative()
    sign(email="one@example.org")
    later = clock.utcnow() + timedelta(hours=25)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    smtp.refuse = True
    with app.app_context():
        assert outbox.deliver_due(app, compose).retried == 1
    result = status(app)
    assert result.exit_code == 1 and "BEHIND" in result.stderr
    assert "error in the last 24 hours: SMTPDataError 451 ×1" in result.stdout
